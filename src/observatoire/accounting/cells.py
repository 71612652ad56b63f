"""Cell values of finance extracts and exports: amounts, dates, SIRET, as the flows write them.

Each parser returns the value, or raises :class:`CellError` with what was expected (in French)
so that the reader can keep the record and name the cell in a finding.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
_SPACES = re.compile(r"[ \u00a0\u202f']")
_POINT = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)")
_COMMA = re.compile(r"[-+]?\d+(,\d*)?")
_POINT_GROUPED = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")
_COMMA_GROUPED = re.compile(r"[-+]?\d{1,3}(\.\d{3})+(,\d+)?")


class CellError(ValueError):
    """A cell that does not hold what its column should; ``expected`` says what should."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def parse_amount(text: str, decimal: str = "auto") -> Decimal:
    """An amount in euros, rounded half up to the cent (the staging precision).

    ``decimal`` is ``.``, ``,`` or ``auto`` (either, without thousands grouping); spaces and
    apostrophes between digit groups are ignored, like a trailing ``€``.
    """
    cleaned = _SPACES.sub("", text.strip()).removesuffix("€").removesuffix("EUR")
    if decimal == "." and _POINT_GROUPED.fullmatch(cleaned):
        cleaned = cleaned.replace(",", "")
    elif decimal == "," and _COMMA_GROUPED.fullmatch(cleaned):
        cleaned = cleaned.replace(".", "")
    if decimal in (",", "auto") and _COMMA.fullmatch(cleaned):
        cleaned = cleaned.replace(",", ".")
    elif not (decimal in (".", "auto") and _POINT.fullmatch(cleaned)):
        sep = {"auto": "point ou virgule", ".": "point", ",": "virgule"}[decimal]
        raise CellError(f"un montant (décimales après une {sep})")
    try:
        return Decimal(cleaned).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:  # pragma: no cover - the patterns above exclude it
        raise CellError("un montant") from exc


def parse_date(text: str, formats: tuple[str, ...]) -> dt.date:
    """A date written in one of ``formats`` (strftime codes); a time part is ignored."""
    value = text.strip()
    for fmt in formats:
        quick = _quick_date(value, fmt)
        if quick is not None:
            return quick
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    # A timestamp (2018-12-18T16:51:55.000+01:00) gives its local date.
    if len(value) > 10 and value[10] in "T ":
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    shown = " ou ".join(_human_format(f) for f in formats)
    raise CellError(f"une date au format {shown}")


def _quick_date(value: str, fmt: str) -> dt.date | None:
    """The common layouts without strptime (ten times slower); None to let it decide."""
    if len(value) != 10 or not value[:2].isdigit():
        return None
    try:
        if fmt == "%Y-%m-%d" and value[4] == value[7] == "-":
            return dt.date(int(value[:4]), int(value[5:7]), int(value[8:]))
        if fmt in ("%d/%m/%Y", "%d.%m.%Y") and value[2] == value[5] == fmt[2]:
            return dt.date(int(value[6:]), int(value[3:5]), int(value[:2]))
    except ValueError:
        return None
    return None


def _human_format(fmt: str) -> str:
    return fmt.replace("%d", "JJ").replace("%m", "MM").replace("%Y", "AAAA").replace("%y", "AA")


def parse_year(text: str) -> int:
    value = text.strip()
    if re.fullmatch(r"\d{4}", value):
        return int(value)
    raise CellError("une année sur quatre chiffres")


def cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV export would hold (dates in ISO form, integral
    numbers without ``.0``: a SIRET or an EJ number stored as a number)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def siret_or_none(text: str) -> str | None:
    """The SIRET written in a cell (spaces removed) when it has 14 digits, else None.

    The checksum is the model's business (it knows La Poste's exception): here only the shape.
    """
    digits = re.sub(r"[\s.]", "", text)
    return digits if re.fullmatch(r"\d{14}", digits) else None
