"""Any other finance or purchasing export (CSV or XLSX), read through a column mapping.

The mapping is a TOML file in the same form as the Egalim purchase mappings
(:mod:`observatoire.egalim.mapping`): a ``[mapping]`` table with the file's conventions, then
one table per staging shape naming, for each staging column, the export's column::

    [mapping]
    name = "Export des marchés de la Région (2013-2015)"
    separator = ";"                    # optional: sniffed from the header line otherwise
    date_formats = ["%d/%m/%Y"]
    decimal_separator = ","            # ".", "," or "auto" (the default)

    [mapping.contracts]                # FINANCE_CONTRACTS column = export column
    contract_ref = "Nmarché"           # required when this table is given
    amount_ht = "Montant attribue HT"
    holder_siret = "SIRETContractant"  # the holder of the row (holders list of one)
    holder_name = "DenominationSociale"

    [mapping.payments]                 # PAYMENT_LINES column = export column
    contract_ref = "Nmarché"
    amount_ht = "Montant mandate HT"   # at least one of amount_ht, amount_tva, amount_ttc
    fiscal_year = "MillesimeMandatement"

    [mapping.recode.subcontractor_paid]  # raw value (case ignored) -> value read
    "Sous-traitant" = "oui"

``required = ["Nmarché"]`` in ``[mapping]`` sets aside the rows where one of these export
columns is empty (a totals line): without it, a totals line with an amount would read as a
payment outside contracts.

Each row gives a contract row when it has a contract number, a payment line when it has an
amount paid; a row that gives neither is set aside with a finding. Column names are compared
like the Egalim mappings (case and surrounding spaces ignored). A mapped column absent from the
file refuses the file with the list of the columns it has; a cell that cannot be read is left
empty with a finding naming its line and column; columns the mapping does not read are named.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from observatoire.accounting import staging
from observatoire.accounting.cells import CellError, parse_amount, parse_date, siret_or_none
from observatoire.accounting.result import (
    BatchSink,
    Finding,
    ReadResult,
    TableBuilder,
    file_sha256,
)
from observatoire.column_mapping import (
    ColumnFinder,
    check_number_and_separator,
    load_mapping_toml,
    parse_separator,
)
from observatoire.egalim.reading import NotATable, open_table
from observatoire.errors import ConfigError, InputFileError

_PROVENANCE = {"file_hash", "position", "line", "flow"}
#: Staging columns a mapping may fill, by table (holders are given one per row).
CONTRACT_FIELDS = tuple(
    [n for n in staging.FINANCE_CONTRACTS.names if n not in _PROVENANCE | {"holders"}]
    + ["holder_siret", "holder_name"]
)
PAYMENT_FIELDS = tuple(n for n in staging.PAYMENT_LINES.names if n not in _PROVENANCE)
_PAYMENT_AMOUNTS = ("amount_ht", "amount_tva", "amount_ttc")
_TRUE = {"oui", "o", "vrai", "true", "1", "x", "yes"}
_FALSE = {"non", "n", "faux", "false", "0", "no"}
BATCH = 10_000


@dataclass
class ExportMapping:
    """How to read one kind of export (see the module docstring for the TOML form)."""

    name: str = "correspondance de colonnes"
    separator: str | None = None
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    decimal_separator: str = "auto"
    #: staging column -> export column
    contracts: dict[str, str] = field(default_factory=dict)
    payments: dict[str, str] = field(default_factory=dict)
    #: staging column -> {raw value (lower case, trimmed) -> value read}
    recode: dict[str, dict[str, str]] = field(default_factory=dict)
    #: export columns every record fills: a row with one of them empty (a totals line…) is
    #: set aside
    required: tuple[str, ...] = ()
    where: str = "correspondance"

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise :class:`ConfigError` if the mapping cannot be used."""
        where = self.where
        hint = "Corrigez le fichier de correspondance (voir docs/accounting.md)."
        if not self.contracts and not self.payments:
            raise ConfigError(
                "La correspondance ne remplit ni [mapping.contracts] ni [mapping.payments].",
                where=where,
                hint=hint,
            )
        for table, fields, allowed in (
            ("contracts", self.contracts, CONTRACT_FIELDS),
            ("payments", self.payments, PAYMENT_FIELDS),
        ):
            unknown = sorted(set(fields) - set(allowed))
            if unknown:
                raise ConfigError(
                    f"Champ(s) inconnu(s) dans [mapping.{table}] : {', '.join(unknown)}.",
                    where=where,
                    hint=f"Champs possibles : {', '.join(allowed)}.",
                )
        if self.contracts and "contract_ref" not in self.contracts:
            raise ConfigError(
                "[mapping.contracts] doit indiquer la colonne du numéro de marché "
                "(contract_ref).",
                where=where,
                hint=hint,
            )
        if self.payments and not any(a in self.payments for a in _PAYMENT_AMOUNTS):
            raise ConfigError(
                "[mapping.payments] doit indiquer au moins une colonne de montant payé "
                "(amount_ht, amount_tva ou amount_ttc).",
                where=where,
                hint=hint,
            )
        unknown = sorted(set(self.recode) - set(self.contracts) - set(self.payments))
        if unknown:
            raise ConfigError(
                f"[mapping.recode] recode des champs que la correspondance ne lit pas : "
                f"{', '.join(unknown)}.",
                where=where,
                hint="Ajoutez ces champs à [mapping.contracts] ou [mapping.payments], ou "
                "retirez leur recodage.",
            )
        check_number_and_separator(self.decimal_separator, self.separator, where)
        if not self.date_formats or any("%" not in f for f in self.date_formats):
            raise ConfigError(
                "Formats de date absents ou invalides.",
                where=where,
                hint="Utilisez les codes strftime, par exemple « %d/%m/%Y ».",
            )

    @classmethod
    def from_toml(cls, path: Path) -> ExportMapping:
        return cls.from_dict(load_mapping_toml(path), where=str(path))

    @classmethod
    def from_dict(cls, data: Any, where: str = "correspondance") -> ExportMapping:
        try:
            formats = data.get("date_formats", data.get("date_format", ("%Y-%m-%d",)))
            formats = (formats,) if isinstance(formats, str) else tuple(formats)
            recode = {
                str(name): {str(raw).strip().lower(): str(value) for raw, value in table.items()}
                for name, table in dict(data.get("recode", {})).items()
            }
            return cls(
                name=str(data.get("name", "correspondance de colonnes")),
                separator=parse_separator(data.get("separator")),
                date_formats=tuple(str(f) for f in formats),
                decimal_separator=str(data.get("decimal_separator", "auto")),
                contracts=_columns(data.get("contracts", {})),
                payments=_columns(data.get("payments", {})),
                recode=recode,
                required=tuple(str(c) for c in data.get("required", ())),
                where=where,
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(
                f"Fichier de correspondance mal formé ({exc}).",
                where=where,
                hint="Suivez l'exemple de docs/accounting.md : une section [mapping] avec "
                "[mapping.contracts] et/ou [mapping.payments].",
            ) from exc


def _columns(table: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(table).items() if str(v).strip()}


def read_export(path: Path, mapping: ExportMapping, sink: BatchSink | None = None) -> ReadResult:
    """Read a CSV or XLSX export through ``mapping`` into staging tables (with ``sink``, the
    rows go to it batch by batch instead of into ``result.tables``).

    Raises :class:`InputFileError` when the file is not a table or lacks a mapped column.
    """
    with ExitStack() as stack:
        try:
            table = open_table(path, stack, separator=mapping.separator, batch_size=BATCH)
        except NotATable as exc:
            raise InputFileError(exc.message, where=str(path), hint=exc.hint) from exc
        reader = _Reader(path, mapping, table.header, sink)
        reader.separator = table.separator or ";"
        for note in table.notes:
            reader.finding("EXPORT_READING_NOTE", "information", f"Fichier lu : {note}.",
                           "Rien à faire.", None)
        for lines, rows in table.batches:
            for line, cells in zip(lines, rows, strict=True):
                reader.row(line, cells)
        return reader.finish()


class _Reader:
    def __init__(self, path: Path, mapping: ExportMapping, header: list[str],
                 sink: BatchSink | None) -> None:
        self.path = path
        self.mapping = mapping
        self.header = header
        #: to write a set-aside row back as text in its finding
        self.separator = mapping.separator or ";"
        finder = ColumnFinder(header)
        self.contracts = {f: finder.find(c, f"contracts.{f}") for f, c in mapping.contracts.items()}
        self.payments = {f: finder.find(c, f"payments.{f}") for f, c in mapping.payments.items()}
        self.required = {c: finder.find(c, "required") for c in mapping.required}
        if finder.problems:
            raise InputFileError(
                f"La correspondance « {mapping.name} » nomme "
                + ("une colonne absente ou répétée" if len(finder.problems) == 1
                   else f"{len(finder.problems)} colonnes absentes ou répétées")
                + " : "
                + " ".join(p.message for p in finder.problems),
                where=f"{path}, ligne 1 (en-tête) ; correspondance {mapping.where}",
                hint=finder.problems[0].hint,
            )
        self.result = ReadResult(
            path, file_sha256(path), "export", f"export lu avec la correspondance "
            f"« {mapping.name} »"
        )
        self.contract_rows = TableBuilder("finance_contracts", staging.FINANCE_CONTRACTS, sink)
        self.payment_rows = TableBuilder("payment_lines", staging.PAYMENT_LINES, sink)
        used = {i for i in (*self.contracts.values(), *self.payments.values(),
                            *self.required.values()) if i is not None}
        unread = [h.strip() for i, h in enumerate(header) if i not in used and h.strip()]
        if unread:
            self.finding(
                "EXPORT_COLUMNS_NOT_READ",
                "information",
                f"{len(unread)} colonne(s) de l'export ne sont pas lues par la correspondance : "
                f"{', '.join(unread)}.",
                "Rien à faire si elles ne servent pas ; sinon ajoutez-les à la correspondance.",
                1,
            )

    def finding(self, code: str, severity: str, message: str, hint: str, line: int | None,
                column: str | None = None, raw: str | None = None) -> None:
        where = str(self.path) if line is None else f"{self.path}, ligne {line}"
        if column:
            where += f", colonne « {column} »"
        self.result.findings.append(
            Finding(code, severity, message, where, hint, line, column, raw)
        )

    def row(self, line: int, cells: list[str]) -> None:
        if not any(c.strip() for c in cells):
            return
        self.result.records_in += 1
        position = self.result.records_in
        text = self.separator.join(cells)
        if len(cells) > len(self.header) and any(c.strip() for c in cells[len(self.header):]):
            self._set_aside(line, text, f"la ligne a {len(cells)} colonnes, l'en-tête "
                            f"{len(self.header)} : les valeurs seraient décalées")
            return
        empty = [c for c, i in self.required.items()
                 if i is not None and (i >= len(cells) or not cells[i].strip())]
        if empty:
            self._set_aside(line, text, "la colonne obligatoire "
                            + ", ".join(f"« {c} »" for c in empty) + " est vide")
            return
        if len(cells) < len(self.header):
            self.finding(
                "EXPORT_COLUMNS_MISSING",
                "avertissement",
                f"La ligne a {len(cells)} colonne(s) au lieu de {len(self.header)} : les "
                "dernières sont lues vides.",
                "Vérifiez que la ligne n'est pas coupée.",
                line,
                raw=text,
            )
        provenance = {"file_hash": self.result.file_hash, "position": position, "line": line,
                      "flow": "export"}
        contract = self._values(line, cells, self.contracts, staging.FINANCE_CONTRACTS)
        payment = self._values(line, cells, self.payments, staging.PAYMENT_LINES)
        made = False
        if self.contracts and contract.get("contract_ref"):
            siret, name = contract.pop("holder_siret", None), contract.pop("holder_name", None)
            if siret or name:
                contract["holders"] = [{"siret": siret, "name": name, "natural_person": None}]
            self.contract_rows.append(provenance | contract)
            made = True
        if self.payments and any(payment.get(a) is not None for a in _PAYMENT_AMOUNTS):
            self.payment_rows.append(provenance | payment)
            made = True
        if made:
            self.result.kept += 1
        else:
            wanted = " ni ".join(
                w for w, on in (("numéro de marché", bool(self.contracts)),
                                ("montant payé", bool(self.payments))) if on
            )
            self._set_aside(line, text, f"elle n'a ni {wanted}" if " ni " in wanted
                            else f"elle n'a pas de {wanted}")

    def _set_aside(self, line: int, text: str, why: str) -> None:
        self.result.set_aside += 1
        self.finding(
            "EXPORT_LINE_SET_ASIDE",
            "bloquant",
            f"Ligne écartée : {why}.",
            "Corrigez la ligne dans l'export puis déposez-le à nouveau ; son texte est "
            "conservé dans ce constat.",
            line,
            raw=text,
        )

    def _values(self, line: int, cells: list[str], columns: dict[str, int | None],
                schema: pa.Schema) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for fieldname, index in columns.items():
            if index is None or index >= len(cells):
                continue
            text = cells[index].strip()
            recode = self.mapping.recode.get(fieldname)
            if recode is not None and text.lower() in recode:
                text = recode[text.lower()]
            if not text:
                continue
            kind = schema.field(fieldname).type if fieldname in schema.names else pa.string()
            try:
                values[fieldname] = self._parse(fieldname, kind, text)
            except CellError as exc:
                self.finding(
                    "EXPORT_VALUE_UNREADABLE",
                    "avertissement",
                    f"Valeur « {text} » illisible : {exc.expected} était attendu(e). La ligne "
                    "est gardée, cette valeur reste vide.",
                    "Corrigez la valeur dans l'export, ou le format dans la correspondance "
                    "(date_formats, decimal_separator).",
                    line,
                    self.header[index].strip(),
                    text,
                )
        return values

    def _parse(self, fieldname: str, kind: pa.DataType, text: str) -> Any:
        if pa.types.is_decimal(kind):
            return parse_amount(text, self.mapping.decimal_separator)
        if pa.types.is_date(kind):
            return parse_date(text, self.mapping.date_formats)
        if pa.types.is_integer(kind):
            digits = text.replace(" ", "")
            if not digits.lstrip("-").isdigit():
                raise CellError("un nombre entier")
            return int(digits)
        if pa.types.is_floating(kind):
            try:
                return float(text.replace(",", ".").removesuffix("%").strip())
            except ValueError as exc:
                raise CellError("un nombre") from exc
        if pa.types.is_boolean(kind):
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise CellError("oui ou non")
        if fieldname.endswith("siret"):
            siret = siret_or_none(text)
            if siret is None:
                raise CellError("un SIRET de 14 chiffres")
            return siret
        return text

    def finish(self) -> ReadResult:
        if not self.result.records_in:
            self.finding("EXPORT_EMPTY", "avertissement",
                         "L'export ne contient aucune ligne de données après l'en-tête.",
                         "Vérifiez les filtres de l'export.", 1)
        if self.mapping.contracts:
            self.contract_rows.finish(self.result)
        if self.mapping.payments:
            self.payment_rows.finish(self.result)
        return self.result

