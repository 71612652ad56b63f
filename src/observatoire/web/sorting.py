"""Column headers that sort a table through the URL (``tri``), for the lists and the explorer:
plain links, so sorting works without JavaScript and a sorted list can be shared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


@dataclass(frozen=True)
class Column:
    """A column header; ``first`` is the order a first click asks for, ``second`` the other way
    round; ``descending`` tells which of the two goes from large to small."""

    label: str
    first: str | None = None
    second: str | None = None
    descending: bool = True
    numeric: bool = False


def headers(columns: list[Column], sort: str, state: dict[str, str]) -> list[dict[str, Any]]:
    """The headers of a table whose rows the URL sorts (``tri``): a link per sortable column
    that keeps the other parameters and goes back to page 1, and ``aria-sort`` on the one in
    force."""
    out = []
    for col in columns:
        item: dict[str, Any] = {"label": col.label, "numeric": col.numeric, "href": None,
                                "aria_sort": None, "direction": ""}
        if col.first:
            current = sort in (col.first, col.second)
            target = col.second if sort == col.first and col.second else col.first
            item["href"] = "?" + urlencode({**state, "tri": target})
            if current:
                down = (sort == col.first) == col.descending
                item["aria_sort"] = "descending" if down else "ascending"
                item["direction"] = "↓" if down else "↑"
        out.append(item)
    return out


#: the explorer's columns (``explorer.SORTS``)
CONTRACT_HEADERS = [
    Column("Notification", "date", "date_asc"),
    Column("Acheteur", "acheteur", descending=False),
    Column("Objet"),
    Column("Titulaire(s)"),
    Column("Procédure"),
    Column("Montant (€ HT)", "montant", "montant_asc", numeric=True),
]
