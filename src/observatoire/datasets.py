"""Published datasets: what can be downloaded, in CSV, XLSX, JSON and Parquet, with its dictionary.

Files are written once per warehouse build (``$OBSERVATOIRE_HOME/exports/<build>/``) and reused
until the next build, so a large download costs one export, not one per request. Text that a
spreadsheet would run as a formula is neutralised in CSV and XLSX.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from observatoire import spending
from observatoire.config import Settings
from observatoire.errors import ObservatoireError
from observatoire.model.dictionary import TABLES
from observatoire.public_columns import header
from observatoire.warehouse import open_warehouse, scope_sql

log = logging.getLogger(__name__)

FORMATS = {
    "csv": "text/csv",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: A spreadsheet holds at most 1,048,576 rows; bigger datasets are offered in the other formats.
XLSX_MAX_ROWS = 1_048_575
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Dataset:
    id: str
    title: str
    description: str
    table: str
    order: str
    #: A dataset that is not a stored table as is (payments, whose natural persons are
    #: masked): its columns as SQL expressions (identifier → expression, constants of the
    #: code) over ``source`` (a FROM clause); None: every column of ``table``.
    select: dict[str, str] | None = None
    source: str | None = None
    #: Published only when the deployment loads this table's rows (a source it may not have,
    #: like the finance flows); otherwise listed as not available, with ``unavailable``.
    optional: bool = False
    unavailable: str = ""

    @property
    def columns(self) -> dict[str, str]:
        if self.select is not None:
            return self.select
        return TABLES[self.table][1]

    def query(self, where: str) -> str:
        """The dataset's rows (``where``: its scope, constants only), in its order."""
        if self.select is not None:
            columns = ", ".join(f"{sql} AS {name}" for name, sql in self.select.items())
            return f"SELECT {columns} {self.source} WHERE {where} ORDER BY {self.order}"
        columns = ", ".join(f'"{c}"' for c in self.columns)
        return f'SELECT {columns} FROM "{self.table}" WHERE {where} ORDER BY {self.order}'  # noqa: S608

    def count_query(self, where: str) -> str:
        source = self.source if self.select is not None else f'FROM "{self.table}"'
        return f"SELECT count(*) {source} WHERE {where}"


DATASETS = {
    d.id: d
    for d in (
        Dataset("marches", "Marchés", "Un marché par ligne, dans son état actuel (montant et durée "
                "après modifications).", "contracts", "uid"),
        Dataset("versions", "Versions des marchés", "Le marché initial et chacune de ses "
                "modifications.", "contract_versions", "uid, version"),
        Dataset("titulaires-des-marches", "Titulaires des marchés", "Les titulaires de chaque "
                "marché (sans montant : le montant appartient au marché).", "contract_holders",
                "uid, version, supplier_key"),
        Dataset("acheteurs", "Acheteurs", "Les acheteurs et leurs totaux.", "buyers",
                "buyer_siret"),
        Dataset("titulaires", "Titulaires", "Les entreprises titulaires, avec leur catégorie et "
                "leur localisation SIRENE.", "suppliers", "supplier_key"),
        Dataset("indicateurs", "Résultats des indicateurs", "Chaque indicateur × période × "
                "ventilation × base, avec numérateur, dénominateur, couverture, cible et état.",
                "indicator_results",
                "indicator_id, version, period, breakdown, breakdown_value, category, basis"),
        Dataset("constats", "Constats qualité", "Les constats de qualité des données, avec la "
                "valeur publiée et la valeur retenue.", "findings", "finding_id"),
        Dataset("enregistrements", "Enregistrements publiés", "Chaque enregistrement lu, gardé, "
                "fusionné ou écarté, avec ses valeurs brutes.", "source_records", "record_key"),
        Dataset("paiements", "Paiements", "Chaque ligne de paiement lue dans les flux du "
                "logiciel financier des acheteurs (PES V2, Chorus, exports), avec son marché "
                "quand elle y est rattachée ; les personnes physiques sont masquées (ni nom, "
                "ni SIRET, ni objet), comme dans l'explorateur des dépenses.", "payments",
                "p.payment_key", select={n: spending.COLUMNS[n]
                                         for n in spending.SELECTION_COLUMNS},
                source=spending.FROM_SQL, optional=True,
                unavailable="Ce déploiement ne charge pas les flux du logiciel financier des "
                "acheteurs : aucun paiement n'est publié (ce n'est pas « aucun paiement »)."),
    )
}


_IN_SCOPE = "left({column}, 9) IN (SELECT siren FROM profile_buyers)"
_SCOPED_UIDS = ("uid IN (SELECT uid FROM contracts WHERE "  # noqa: S608 (constants only)
                + _IN_SCOPE.format(column="buyer_siret") + ")")
#: Rows a profile limited to its own buyers publishes (see ``explorer.scope_sql``).
SCOPE_FILTERS = {
    "marches": _IN_SCOPE.format(column="buyer_siret"),
    "versions": _SCOPED_UIDS,
    "titulaires-des-marches": _SCOPED_UIDS,
    "acheteurs": _IN_SCOPE.format(column="buyer_siret"),
    "titulaires": "supplier_key IN (SELECT h.supplier_key FROM contract_holders h "  # noqa: S608
                  "JOIN contracts c "
                  "ON c.uid = h.uid WHERE h.is_current AND "
                  + _IN_SCOPE.format(column="c.buyer_siret") + ")",
    "constats": _IN_SCOPE.format(column="buyer_siret"),
    "enregistrements": _SCOPED_UIDS,
    # a State line without buyer SIRET is outside a profile limited to its own buyers
    "paiements": _IN_SCOPE.format(column="p.buyer_id"),
}


#: Characters XML 1.0 refuses (so XLSX files and Atom feeds cannot hold them) and that
#: spreadsheets do not take: C0 controls but tab, line feed and carriage return; lone
#: surrogates; U+FFFE and U+FFFF. Real records carry some (a BEL in an object, a NUL in an id).
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def printable(value: Any) -> Any:
    """Text without the characters XML 1.0 and spreadsheets refuse (the raw value stays in
    the warehouse's raw columns and in the JSON outputs)."""
    if isinstance(value, str):
        return _REFUSED.sub("", value)
    return value


def cell(value: Any) -> Any:
    """A value as a CSV or XLSX cell: plain, without refused characters, never a formula
    (removing a character first, so that what it hid is neutralised too)."""
    return neutralise(printable(plain(value)))


def neutralise(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe (OWASP)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def plain(value: Any) -> Any:
    """A value as JSON, CSV and spreadsheets take it (dates as ISO text, lists joined)."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return " | ".join("" if v is None else str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def _build_id(con: Any) -> int:
    return int(con.execute("SELECT max(build_id) FROM build_info").fetchall()[0][0])


def available(con: Any, dataset: Dataset) -> bool:
    """Whether the deployment publishes a dataset: an optional one only when its table holds
    rows (a deployment that loads no finance flow has no payment to publish)."""
    if not dataset.optional:
        return True
    found = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                        [dataset.table]).fetchall()[0][0]
    return bool(found) and bool(con.execute(
        f'SELECT EXISTS (SELECT 1 FROM "{dataset.table}")').fetchall()[0][0])  # noqa: S608


class NotAvailable(ObservatoireError):
    """A dataset this deployment does not publish (its source is not loaded)."""


def _where(con: Any, dataset: Dataset) -> str:
    scoped = scope_sql(con) != "TRUE" and dataset.id in SCOPE_FILTERS
    return SCOPE_FILTERS[dataset.id] if scoped else "TRUE"


#: One writer per file in a process: a second request for a file being written waits for it.
_WRITING: dict[Path, threading.Lock] = {}
_WRITING_GUARD = threading.Lock()


def export(settings: Settings, dataset_id: str, fmt: str) -> Path:
    """The file of a dataset in a format for the build in service, written once (by the
    publisher after the build, or by the first request that needs it) and reused until the
    next build. A failed write leaves no temporary file; only the current and the previous
    build's files are kept."""
    dataset = DATASETS[dataset_id]
    con = open_warehouse(settings)
    try:
        build_id = _build_id(con)
        folder = settings.home / "exports" / str(build_id)
        target = folder / f"{dataset.id}.{fmt}"
        if target.exists():
            return target
        if not available(con, dataset):
            raise NotAvailable(f"« {dataset.title} » : {dataset.unavailable}",
                               hint="Voir la liste des jeux de données sur /donnees/.")
        with _WRITING_GUARD:
            lock = _WRITING.setdefault(target, threading.Lock())
        with lock:
            if not target.exists():
                folder.mkdir(parents=True, exist_ok=True)
                _write(con, dataset, fmt, folder, target)
    finally:
        con.close()
    prune(settings.home / "exports", build_id)
    return target


def _write(con: Any, dataset: Dataset, fmt: str, folder: Path, target: Path) -> None:
    # one temporary name per process and thread: concurrent writers do not collide
    tmp = folder / f".{dataset.id}.{fmt}.{os.getpid()}.{threading.get_ident()}"
    where = _where(con, dataset)
    query = dataset.query(where)
    try:
        if fmt == "parquet":
            path = str(tmp).replace("'", "''")
            con.execute(f"COPY ({query}) TO '{path}' (FORMAT parquet)")
        else:
            if fmt == "xlsx":
                count = con.execute(dataset.count_query(where)).fetchall()[0][0]
                if count > XLSX_MAX_ROWS:
                    raise TooManyRows(
                        f"« {dataset.title} » compte {count} lignes, plus qu'un tableur n'en "
                        "contient.",
                        hint="Téléchargez-le en CSV ou en Parquet.",
                    )
            # the result is read in batches; no other query may run on the connection meanwhile
            cursor = con.execute(query)
            names = list(dataset.columns)
            headers = [header(dataset.table, c) for c in names]
            if fmt == "csv":
                _write_csv(cursor, headers, tmp)
            elif fmt == "json":
                _write_json(cursor, names, tmp)
            else:
                _write_xlsx(cursor, headers, dataset.title, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class TooManyRows(ObservatoireError):
    """A dataset too large for a spreadsheet."""


def prune(exports: Path, current: int) -> None:
    """Remove the export folders of builds other than ``current`` and the one before it (a
    reader may still be downloading the previous build's file)."""
    builds = sorted(int(p.name) for p in exports.iterdir() if p.is_dir() and p.name.isdigit())
    keep = {current, max((b for b in builds if b < current), default=current)}
    for build in builds:
        if build not in keep:
            shutil.rmtree(exports / str(build), ignore_errors=True)


def row_counts(settings: Settings) -> dict[str, int | None]:
    """The rows of each dataset for the build in service, counted once per build (kept in
    ``exports/<build>/lignes.json``); None for a dataset the deployment does not publish."""
    con = open_warehouse(settings)
    try:
        folder = settings.home / "exports" / str(_build_id(con))
        saved = folder / "lignes.json"
        if saved.exists():
            return dict(json.loads(saved.read_text(encoding="utf-8")))
        counts = {
            d.id: int(con.execute(d.count_query(_where(con, d))).fetchall()[0][0])
            if available(con, d) else None
            for d in DATASETS.values()
        }
    finally:
        con.close()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".lignes.json.{os.getpid()}.{threading.get_ident()}"
    tmp.write_text(json.dumps(counts), encoding="utf-8")
    os.replace(tmp, saved)
    return counts


def catalogue(settings: Settings) -> list[dict[str, Any]]:
    """Every dataset with its row count and, per format, the size of its file when written
    (None while it is being prepared; ``too_large`` for a spreadsheet past its row limit);
    ``available`` False (rows None, no file) for a dataset the deployment does not publish."""
    counts = row_counts(settings)
    con = open_warehouse(settings)
    try:
        folder = settings.home / "exports" / str(_build_id(con))
    finally:
        con.close()
    out = []
    for d in DATASETS.values():
        rows = counts.get(d.id)
        files = {}
        if rows is not None:
            for fmt in FORMATS:
                path = folder / f"{d.id}.{fmt}"
                files[fmt] = {
                    "size": path.stat().st_size if path.exists() else None,
                    "too_large": fmt == "xlsx" and rows > XLSX_MAX_ROWS,
                }
        out.append({"dataset": d, "rows": rows, "files": files, "available": rows is not None})
    return out


def publish(settings: Settings) -> list[Path]:
    """Write every dataset in every format for the build in service (what is already written
    is kept): run after each build, so that no reader waits for a file to be made."""
    written = []
    for d in DATASETS.values():
        for fmt in FORMATS:
            try:
                written.append(export(settings, d.id, fmt))
            except (TooManyRows, NotAvailable):
                continue
    return written


class Publisher(threading.Thread):
    """Publishes the datasets of each new build in the background of the web server
    (``observatoire serve``): it looks at the warehouse every ``interval`` seconds, and writes a
    build's datasets once that build has stayed in service from one look to the next."""

    def __init__(self, settings: Settings, interval: float = 30.0) -> None:
        super().__init__(name="publication-des-jeux-de-donnees", daemon=True)
        self.settings, self.interval = settings, interval
        self.stopped = threading.Event()
        #: The warehouse file (inode, modification time) published, and the one seen last.
        self.seen: tuple[int, int] | None = None
        self.pending: tuple[int, int] | None = None

    def run(self) -> None:
        # Linux: this thread's CPU priority only; pages and builds come first
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while not self.stopped.is_set():
            try:
                self.look()
            except FileNotFoundError:
                pass  # no warehouse yet
            except Exception:  # a failed write is retried at the next look, never fatal
                log.exception("Publication des jeux de données interrompue")
            self.stopped.wait(self.interval)

    def look(self) -> bool:
        """One look at the warehouse; whether it published.

        A new build's datasets are written once it has stayed in service from one look to the
        next (the first build seen, at once): a collector building every few seconds would
        otherwise have the server export every dataset after every build (about 40 s of CPU
        at the demo's size), slowing the pages that show the new data."""
        stat = self.settings.warehouse_path.stat()
        identity = (stat.st_ino, stat.st_mtime_ns)
        published = False
        if identity != self.seen and (self.seen is None or identity == self.pending):
            publish(self.settings)
            self.seen, published = identity, True
        self.pending = identity
        return published


def _batches(cursor: Any) -> Any:
    while rows := cursor.fetchmany(10_000):
        yield from rows


def _write_csv(cursor: Any, names: list[str], path: Path) -> None:
    # UTF-8 with a BOM: spreadsheets then read the accents right
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        for row in _batches(cursor):
            writer.writerow([cell(v) for v in row])


def _write_json(cursor: Any, names: list[str], path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[\n")
        first = True
        for row in _batches(cursor):
            record = {n: plain(v) for n, v in zip(names, row, strict=True)}
            fh.write(("" if first else ",\n") + json.dumps(record, ensure_ascii=False, default=str))
            first = False
        fh.write("\n]\n")


def _write_xlsx(cursor: Any, names: list[str], title: str, path: Path) -> None:
    with path.open("wb") as fh:
        write_xlsx(_batches(cursor), names, title, fh)


def write_xlsx(rows: Iterable[Iterable[Any]], headers: list[str], title: str,
               fh: Any) -> None:
    """Rows as a one-sheet workbook in openpyxl's write-only mode: rows go to a temporary
    file as they come, so memory stays flat whatever the number of rows."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    # a sheet's name holds at most 31 characters and none of \\ / ? * [ ] :
    sheet = book.create_sheet(re.sub(r"[\\/?*\[\]:]", "_", printable(title))[:31] or "données")
    sheet.append([cell(h) for h in headers])
    for row in rows:
        sheet.append([cell(v) for v in row])
    book.save(fh)
