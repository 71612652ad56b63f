"""Contract-level Egalim characteristics (``[egalim] marches`` of the profile).

"Externalités environnementales" and "performance environnementale et approvisionnements
directs" are award criteria of a contract or a lot, not labels of a product: they are written
once per contract and every purchase line of that contract inherits them. The file is a
``;``-separated CSV: ``reference;fournisseur_siret;externalites;performance;debut;fin``
(``externalites`` / ``performance``: ``oui`` or empty; ``debut`` / ``fin``: ISO dates, empty for
an open bound), and an optional ``famille`` (a ma-cantine family code: the family of the lot).
A line belongs to a contract when its supplier SIRET is the contract's, its date lies within the
contract's dates and, when the contract names a family, the line is of that family (purchase
files rarely carry a contract reference): a criterion of one lot never reaches every line of
its supplier.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from observatoire.egalim.codes import FAMILIES
from observatoire.errors import ConfigError
from observatoire.warehouse import insert_rows

COLUMNS = ("reference", "fournisseur_siret", "externalites", "performance", "debut", "fin")
#: Optional: the family (lot) the criteria apply to.
FAMILY = "famille"

CONTRACTS_DDL = (
    "CREATE TABLE egalim_contracts (reference VARCHAR, supplier_siret VARCHAR, "
    "externalites BOOLEAN, performance BOOLEAN, start_date DATE, end_date DATE, "
    "family VARCHAR)"
)

_YES = {"oui", "o", "x", "1", "true", "vrai", "yes"}
_NO = {"", "non", "n", "0", "false", "faux", "no"}


@dataclass(frozen=True)
class Contract:
    reference: str
    supplier_siret: str
    externalites: bool
    performance: bool
    start: dt.date | None
    end: dt.date | None
    family: str | None = None


def _flag(value: str, column: str, where: str) -> bool:
    v = value.strip().lower()
    if v in _YES:
        return True
    if v in _NO:
        return False
    raise ConfigError(f"Valeur « {value} » illisible dans la colonne « {column} ».", where=where,
                      hint="Écrivez « oui » ou laissez la case vide.")


def _date(value: str, column: str, where: str) -> dt.date | None:
    if not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"Date « {value} » illisible dans la colonne « {column} ».",
                          where=where, hint="Écrivez la date au format AAAA-MM-JJ.") from None


def read_contracts(path: Path | None) -> list[Contract]:
    """The contracts of the file, checked; ``[]`` when the profile has none."""
    if path is None:
        return []
    out: list[Contract] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=";")
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ConfigError(
                f"Colonnes manquantes dans le fichier des marchés : {', '.join(missing)}.",
                where=str(path),
                hint=f"Colonnes attendues (séparateur « ; ») : {';'.join(COLUMNS)}.",
            )
        reader.fieldnames = header
        for n, row in enumerate(reader, start=2):
            where = f"{path}, ligne {n}"
            cells = {c: (row.get(c) or "").strip() for c in (*COLUMNS, FAMILY)}
            if not any(cells.values()):
                continue
            siret = cells["fournisseur_siret"].replace(" ", "")
            if not siret:
                raise ConfigError("Marché sans SIRET de fournisseur.", where=where,
                                  hint="Les lignes d'achat sont rattachées au marché par ce SIRET.")
            start = _date(cells["debut"], "debut", where)
            end = _date(cells["fin"], "fin", where)
            if start and end and end < start:
                raise ConfigError("La fin du marché précède son début.", where=where,
                                  hint="Vérifiez les dates debut et fin.")
            family = cells[FAMILY].upper() or None
            if family is not None and family not in FAMILIES:
                raise ConfigError(
                    f"Famille « {cells[FAMILY]} » inconnue dans la colonne « famille ».",
                    where=where,
                    hint=f"Codes possibles : {', '.join(FAMILIES)} ; ou laissez la case vide "
                    "(toutes les familles du fournisseur).")
            out.append(Contract(
                cells["reference"] or f"ligne {n}", siret,
                _flag(cells["externalites"], "externalites", where),
                _flag(cells["performance"], "performance", where), start, end, family,
            ))
    return out


def create_contracts(con: duckdb.DuckDBPyConnection, contracts: list[Contract]) -> None:
    """``egalim_contracts`` (empty when the profile has none)."""
    con.execute(CONTRACTS_DDL)
    if contracts:
        insert_rows(con, "egalim_contracts", [
            (c.reference, c.supplier_siret, c.externalites, c.performance, c.start, c.end,
             c.family)
            for c in contracts])
