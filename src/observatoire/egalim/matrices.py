"""Supplier matrices: per supplier and article, the labels and origin as the supplier writes them.

``observatoire egalim matrice FICHIER --fournisseur NOM [--siret SIRET]`` lands the file
unchanged (content-addressed), reads it (CSV, TSV or XLSX, see :mod:`reading`), normalises every
raw label string to a characteristic code (:func:`labels.resolve_label`: "AB" and "en conversion"
→ BIO, "LR" → LABEL_ROUGE, MSC → nothing with a warning…), keeps the raw strings for audit, and
writes the rows to ``staging/egalim-matrice/<sha256>.parquet``; the load log records the file
with ``kind = "egalim-matrice"``. The build reads the staged rows into ``egalim_matrix``.

Columns are found by their header (case, accents and punctuation ignored): the supplier's
article reference and/or the nomenclature code (at least one), a designation, the labels (one
cell, several labels separated by ``,`` ``;`` or ``|``) and the origin.

A newer matrix of a supplier replaces the older ones as a whole (the supplier sends its
catalogue again): in the build only the rows of the latest load of each supplier are kept.
"""

from __future__ import annotations

import re
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from observatoire.config import Settings
from observatoire.egalim.kinds import ROWS
from observatoire.egalim.labels import CODE_ORDER, LabelMeaning, normalise_label, resolve_label
from observatoire.egalim.reading import NotATable, open_table
from observatoire.errors import ConfigError
from observatoire.landing.catalog import Load
from observatoire.warehouse import insert_rows

#: Accepted headers (after :func:`labels.normalise_label`) for each role.
HEADERS: dict[str, tuple[str, ...]] = {
    "article_ref": ("reference", "ref", "reference fournisseur", "ref fournisseur",
                    "reference article", "code fournisseur", "article ref"),
    "article_code": ("code", "code article", "code nomenclature", "nomenclature",
                     "article code", "code egalim"),
    "designation": ("designation", "libelle", "description", "produit", "article"),
    "labels": ("labels", "label", "signes de qualite", "signe de qualite", "caracteristiques",
               "certifications"),
    "origin": ("origine", "pays d origine", "provenance"),
}

_LABEL_SPLIT = re.compile(r"[,;|]")

SCHEMA = pa.schema([
    ("line_number", pa.int64()),
    ("supplier", pa.string()),
    ("supplier_siret", pa.string()),
    ("article_ref", pa.string()),
    ("article_code", pa.string()),
    ("designation", pa.string()),
    ("raw_labels", pa.string()),
    ("origin", pa.string()),
    ("characteristics", pa.list_(pa.string())),
    ("warnings", pa.string()),
])

MATRIX_DDL = """
CREATE TABLE egalim_matrix (
    load_id INTEGER, line_number BIGINT, supplier VARCHAR, supplier_siret VARCHAR,
    supplier_key VARCHAR, article_ref VARCHAR, article_code VARCHAR, designation VARCHAR,
    characteristics VARCHAR[], raw_labels VARCHAR, origin VARCHAR, warnings VARCHAR
)"""

#: SQL: the key a supplier is matched on, from a SIRET column and a name column: the SIRET when
#: there is one, else the name in lower case without accents and punctuation.
SUPPLIER_KEY = (
    "coalesce(nullif({siret}, ''), 'nom:' || trim(regexp_replace(lower(strip_accents("
    "coalesce({name}, ''))), '[^a-z0-9]+', ' ', 'g')))"
)


def supplier_key_sql(siret: str, name: str) -> str:
    return SUPPLIER_KEY.format(siret=siret, name=name)


@dataclass
class MatrixReport:
    """What reading one matrix file gave: counts, errors (blocking) and warnings."""

    status: str = "rejected"  # loaded | partial | rejected
    rows_read: int = 0
    kept: int = 0
    set_aside: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "statut": self.status, "lignes_lues": self.rows_read, "gardees": self.kept,
            "ecartees": self.set_aside, "erreurs": self.errors, "avertissements": self.warnings,
            "colonnes": self.columns,
        }


def _roles(header: list[str]) -> dict[str, int]:
    keys = [normalise_label(h) for h in header]
    found: dict[str, int] = {}
    for role, names in HEADERS.items():
        for i, key in enumerate(keys):
            if key in names and i not in found.values():
                found[role] = i
                break
    return found


def split_labels(cell: str) -> list[str]:
    return [part.strip() for part in _LABEL_SPLIT.split(cell) if part.strip()]


def meaning_of(raw: str, decided: dict[str, LabelMeaning] | None = None
               ) -> LabelMeaning | None:
    """What a raw matrix label means: the normaliser's table first (a person cannot override
    the regulated meanings), else what a person decided for it (``decided``: normalised raw
    label → meaning, see :func:`decisions.label_mappings`), else unknown (None)."""
    meaning = resolve_label(raw)
    if meaning is None and decided:
        meaning = decided.get(normalise_label(raw))
    return meaning


def normalise_row(raw_labels: str, origin: str,
                  decided: dict[str, LabelMeaning] | None = None
                  ) -> tuple[list[str], list[str]]:
    """Characteristic codes (stable order) and warnings for one row's raw labels and origin."""
    codes: set[str] = set()
    warnings: list[str] = []
    for raw in split_labels(raw_labels):
        meaning = meaning_of(raw, decided)
        if meaning is None:
            warnings.append(f"libellé inconnu « {raw} » : ignoré")
            continue
        if meaning.code:
            codes.add(meaning.code)
        if meaning.warning:
            warnings.append(f"« {raw} » : {meaning.warning}")
    if origin.strip():
        meaning = resolve_label(origin)
        if meaning is not None and meaning.code:
            codes.add(meaning.code)
    return [c for c in CODE_ORDER if c in codes], warnings


def read_matrix(path: Path, out: Path, supplier: str, siret: str | None,
                decided: dict[str, LabelMeaning] | None = None) -> MatrixReport:
    """Read one matrix file and write its rows to ``out`` (Parquet) unless it is rejected;
    labels a person has decided (``decided``) are read with that meaning, not reported."""
    report = MatrixReport()
    rows: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    with ExitStack() as stack:
        try:
            table = open_table(path, stack, separator=None, batch_size=10_000)
        except NotATable as exc:
            report.errors.append({"message": exc.message, "hint": exc.hint})
            return report
        roles = _roles(table.header)
        report.columns = {role: table.header[i] for role, i in roles.items()}
        if "article_ref" not in roles and "article_code" not in roles:
            report.errors.append({
                "line": 1, "column": "",
                "message": "Aucune colonne de référence d'article ni de code de nomenclature.",
                "hint": "Nommez une colonne « reference » (référence du fournisseur) ou "
                "« code » (code de la nomenclature), et une colonne « labels ».",
            })
            return report
        if "labels" not in roles:
            report.errors.append({
                "line": 1, "column": "", "message": "Aucune colonne de labels.",
                "hint": "Nommez « labels » la colonne des signes de qualité.",
            })
            return report

        def cell(cells: list[str], role: str) -> str:
            i = roles.get(role)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        for lines, batch in table.batches:
            for number, cells in zip(lines, batch, strict=True):
                if not any(c.strip() for c in cells):
                    continue
                report.rows_read += 1
                ref, code = cell(cells, "article_ref"), cell(cells, "article_code")
                if not (ref or code):
                    report.set_aside += 1
                    report.errors.append({
                        "line": number, "column": "", "message":
                        "Ligne sans référence ni code d'article.",
                        "hint": "Donnez la référence ou le code de l'article.",
                    })
                    continue
                raw, origin = cell(cells, "labels"), cell(cells, "origin")
                codes, warnings = normalise_row(raw, origin, decided)
                for w in warnings:
                    report.warnings.append({
                        "line": number, "column": report.columns["labels"], "message": w,
                        "hint": "Vérifiez le libellé avec le fournisseur ; il est gardé tel "
                        "quel (raw_labels) mais ne compte pas. Une personne peut décider ce "
                        "qu'il veut dire (/gestion/correspondances/egalim/labels/) : la "
                        "décision s'appliquera à la prochaine construction.",
                    })
                for name, value in (
                    ("line_number", number), ("supplier", supplier),
                    ("supplier_siret", siret or None), ("article_ref", ref or None),
                    ("article_code", code or None),
                    ("designation", cell(cells, "designation") or None),
                    ("raw_labels", raw or None), ("origin", origin or None),
                    ("characteristics", codes), ("warnings", " ; ".join(warnings) or None),
                ):
                    rows[name].append(value)
                report.kept += 1
    if report.kept == 0:
        if not report.errors:
            report.errors.append({"message": "La matrice ne contient aucun article.",
                                  "hint": "Vérifiez le fichier : une ligne par article."})
        return report
    pq.write_table(pa.table(rows, schema=SCHEMA), out)
    report.status = "partial" if report.set_aside else "loaded"
    return report



def staging_path(settings: Settings, sha256: str) -> Path:
    return ROWS.path(settings, sha256)


def create_matrix(con: duckdb.DuckDBPyConnection, settings: Settings, loads: list[Load],
                  decided: dict[str, LabelMeaning] | None = None) -> None:
    """``egalim_matrix``: the rows of the latest usable matrix of each supplier, their labels
    normalised again with the label mappings people decided (``decided``)."""
    con.execute(MATRIX_DDL)
    for load in loads:
        path = staging_path(settings, load.sha256)
        if not path.exists():
            raise ConfigError(
                f"Les articles de la matrice « {load.file_name} » sont introuvables.",
                where=str(path),
                hint="Réimportez la matrice avec « observatoire egalim matrice ».",
            )
        con.execute(
            f"""INSERT INTO egalim_matrix
                SELECT ?, line_number, supplier, supplier_siret,
                    {supplier_key_sql("supplier_siret", "supplier")}, article_ref, article_code,
                    designation, characteristics, raw_labels, origin, warnings
                FROM read_parquet(?)""",
            [load.load_id, str(path)],
        )
    # A newer matrix of the same supplier replaces the older ones as a whole.
    con.execute(
        """DELETE FROM egalim_matrix WHERE load_id < (
               SELECT max(m.load_id) FROM egalim_matrix m
               WHERE m.supplier_key = egalim_matrix.supplier_key)"""
    )
    renormalise(con, decided or {})


def renormalise(con: duckdb.DuckDBPyConnection, decided: dict[str, LabelMeaning]) -> None:
    """Normalise the raw labels of ``egalim_matrix`` again, with the normaliser of this version
    and the label mappings in force: the staged codes are those of the import, and a decision
    made (or withdrawn) since must apply at the next build. One pass in Python per distinct
    (labels, origin) pair, then one UPDATE."""
    pairs = con.execute(
        "SELECT DISTINCT raw_labels, origin FROM egalim_matrix").fetchall()
    rows = []
    for raw, origin in pairs:
        codes, warnings = normalise_row(raw or "", origin or "", decided)
        rows.append((raw, origin, codes, " ; ".join(warnings) or None))
    if not rows:
        return
    con.execute("CREATE OR REPLACE TEMP TABLE egalim_matrix_labels (raw_labels VARCHAR, "
                "origin VARCHAR, characteristics VARCHAR[], warnings VARCHAR)")
    insert_rows(con, "egalim_matrix_labels", rows)
    con.execute(
        """UPDATE egalim_matrix SET characteristics = n.characteristics, warnings = n.warnings
           FROM egalim_matrix_labels n
           WHERE egalim_matrix.raw_labels IS NOT DISTINCT FROM n.raw_labels
             AND egalim_matrix.origin IS NOT DISTINCT FROM n.origin""")
    con.execute("DROP TABLE egalim_matrix_labels")


def unknown_labels(con: duckdb.DuckDBPyConnection, load_ids: list[int] | None = None
                   ) -> list[dict[str, Any]]:
    """The raw labels of the matrices in service (``load_ids``: only these matrices) that the
    normaliser does not know, one per normalised key: as first written, matrix rows, suppliers.
    Labels a person has decided are listed too (they stay unknown to the normaliser)."""
    where = ""
    params: list[Any] = []
    if load_ids is not None:
        if not load_ids:
            return []
        where = f"AND load_id IN ({', '.join('?' for _ in load_ids)})"
        params = list(load_ids)
    found: dict[str, dict[str, Any]] = {}
    for raw, supplier, rows in con.execute(
        f"""SELECT raw_labels, supplier, count(*) FROM egalim_matrix
            WHERE raw_labels IS NOT NULL {where}
            GROUP BY raw_labels, supplier ORDER BY raw_labels, supplier""",
        params,
    ).fetchall():
        for label in split_labels(raw):
            if resolve_label(label) is not None:
                continue
            key = normalise_label(label)
            item = found.setdefault(key, {"key": key, "label": label, "rows": 0,
                                          "suppliers": []})
            item["rows"] += int(rows)
            if supplier not in item["suppliers"]:
                item["suppliers"].append(supplier)
    return sorted(found.values(), key=lambda i: (-i["rows"], i["key"]))
