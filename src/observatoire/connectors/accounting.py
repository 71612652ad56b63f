"""The buyer's finance flows: PES V2 (Dépense Aller, Marché, Retour), Chorus extracts
(demandes de paiement, engagements juridiques) and Chorus Pro (pivot invoices, status flux).

One kind, ``accounting``: every flow is recognised from its content (a PES root, a Chorus Pro
root, a Chorus header within the first lines) and read by its reader
(:mod:`observatoire.accounting`) into the accounting staging tables, one Parquet file per table
and landed file under ``staging/accounting/v<STAGING_VERSION>/<table>/``. The file's counts
(records in = kept + duplicates + set aside) and each PES bordereau's totals go beside them
(``files/<sha256>.json``): the build registers them (``accounting_files``,
``payment_batch_checks``) for every file in force, a refused one included, so that the
reconciliation shows what was set aside. The build steps are the payments model's
(:data:`observatoire.model.payments.STEPS`), after one that attaches the staged rows.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import defaultdict
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from observatoire.accounting import staging as shapes
from observatoire.connector import Connector, Documented, Landed, Parsed, StagingTable
from observatoire.errors import InputFileError
from observatoire.staging.detect import Detected

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from observatoire.accounting.result import ReadResult
    from observatoire.config import Settings
    from observatoire.landing.catalog import Load
    from observatoire.pipeline import BuildContext, Step

KIND = "accounting"
VERSION = str(shapes.STAGING_VERSION)
FOLDER = f"accounting/v{VERSION}"
#: The staging tables, named as the readers name them (and the payments model reads them).
TABLES = tuple(
    StagingTable(name, VERSION, f"{FOLDER}/{name}", schema) for name, schema in (
        ("payment_lines", shapes.PAYMENT_LINES), ("payment_events", shapes.PAYMENT_EVENTS),
        ("finance_contracts", shapes.FINANCE_CONTRACTS), ("invoices", shapes.INVOICES),
        ("commitments", shapes.COMMITMENTS), ("invoice_statuses", shapes.INVOICE_STATUSES)))
#: Findings kept in the load log per file (the rest are counted in one line; the PES reader
#: already keeps at most 200 of each code).
LOGGED_FINDINGS = 1000


def detect(path: Path) -> Detected | None:
    """A PES V2, Chorus Pro or Chorus file: its format and label; None for anything else."""
    from observatoire.accounting.chorus import detect_chorus
    from observatoire.accounting.chorus_pro import detect_chorus_pro
    from observatoire.accounting.pes import FORMATS, detect_pes

    with path.open("rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")):
        return None  # JSON (a DECP file): none of ours, said at once (many small files)
    pes = detect_pes(path)
    if pes is not None:
        # A PES whose flow cannot be told (broken, Recette…) is still ours: its reader says why.
        fmt, label = FORMATS.get(pes.flow or "", ("pes", "PES V2"))
        return Detected(KIND, fmt, label)
    pro = detect_chorus_pro(path)
    if pro is not None:
        return Detected(KIND, *pro)
    chorus = detect_chorus(path)
    if chorus is not None:
        return Detected(KIND, chorus.layout.format, chorus.layout.label,
                        encoding=chorus.encoding, delimiter=chorus.separator,
                        notes=list(chorus.notes), errors=chorus.errors)
    return None


class _Sink:
    """Writes each staging table's batches to its Parquet file as they come (memory flat)."""

    def __init__(self, settings: Settings, sha256: str) -> None:
        self.settings, self.sha256 = settings, sha256
        self.writers: dict[str, pq.ParquetWriter] = {}

    def __call__(self, name: str, batch: pa.RecordBatch) -> None:
        import pyarrow.parquet as pq

        writer = self.writers.get(name)
        if writer is None:
            out = _table(name).path(self.settings, self.sha256)
            out.parent.mkdir(parents=True, exist_ok=True)
            writer = self.writers[name] = pq.ParquetWriter(out, batch.schema,
                                                           compression="zstd")
        writer.write_batch(batch)

    def close(self, keep: bool) -> None:
        for name, writer in self.writers.items():
            writer.close()
            if not keep:
                _table(name).path(self.settings, self.sha256).unlink(missing_ok=True)


def _table(name: str) -> StagingTable:
    return next(t for t in TABLES if t.name == name)


def summary_path(settings: Settings, sha256: str) -> Path:
    return settings.staging_dir / FOLDER / "files" / f"{sha256}.json"


def mapping_path(settings: Settings, sha256: str) -> Path:
    """The mapping a mapped export was read with (kept across staging versions, so that the
    file can be read again without its user)."""
    return settings.staging_dir / "accounting" / "mappings" / f"{sha256}.json"


def _read(path: Path, fmt: str, sha256: str, sink: _Sink, workers: int) -> ReadResult:
    from observatoire.accounting.chorus import read_chorus
    from observatoire.accounting.chorus_pro import read_chorus_pro
    from observatoire.accounting.pes import read_pes

    if fmt.startswith("pes"):
        # A large PES Dépense file is read in parts side by side, unless this process is
        # already one of the ingest's workers (files read side by side: no nested pools).
        alone = multiprocessing.parent_process() is None
        return read_pes(path, file_hash=sha256, sink=sink, workers=workers if alone else 1)
    if fmt.startswith("chorus-pro"):
        return read_chorus_pro(path, sink=sink)
    return read_chorus(path, sink=sink)


def parse(landed: Landed) -> Parsed:
    from observatoire.accounting import provenance
    from observatoire.accounting.exports import ExportMapping, read_export

    det = landed.detected
    sink = _Sink(landed.settings, landed.sha256)
    mapping = landed.options if isinstance(landed.options, ExportMapping) else None
    # An export is read from the file as given (its findings name it so).
    here = str(landed.original if mapping is not None else landed.path)
    declared = None
    try:
        # What the folder the file was given from declares (a simulated set): kept in the
        # file's load-log line, which the build reads.
        declared = provenance.declared(landed.original.parent)
        if mapping is not None:
            kept = mapping_path(landed.settings, landed.sha256)
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(json.dumps(asdict(mapping)), encoding="utf-8")
            result = read_export(landed.original, mapping, sink=sink)
        elif det is None:
            raise InputFileError(
                "Ce fichier n'est ni un flux PES V2, ni une extraction Chorus, ni un flux "
                "Chorus Pro.", where=here,
                hint="Pour un autre export comptable, donnez sa correspondance de colonnes "
                "(observatoire ingest --correspondance fichier.toml).")
        else:
            result = _read(landed.path, det.format, landed.sha256, sink,
                           landed.settings.workers)
    except InputFileError as exc:
        sink.close(keep=False)
        return Parsed(status="rejected", errors=[{
            "code": "comptabilite_illisible", "message": exc.message,
            "where": (exc.where or here).replace(here, landed.shown), "hint": exc.hint}],
            format="export" if mapping else None,
            format_label=f"export lu avec la correspondance « {mapping.name} »" if mapping
            else None, parser_version=VERSION)
    status = result.status
    # A PES recognised whose flow is not read (Recette…): nothing is loaded, its finding says why.
    status = "rejected" if status == "not_handled" else status
    sink.close(keep=status != "rejected")
    _write_summary(landed.settings, landed.sha256, result)
    errors = [{**f.as_dict(), "where": f.where.replace(here, landed.shown)}
              for f in result.findings[:LOGGED_FINDINGS]]
    if declared is not None and declared.simulated:
        errors.insert(0, provenance.finding(declared, landed.shown))
    hidden = len(result.findings) - len(errors) + sum(
        getattr(result, "findings_not_listed", {}).values())
    if hidden:
        errors.append({"code": "constats_non_listes", "severity": "information",
                       "message": f"{hidden} autre(s) constat(s) sur ce fichier ne sont pas "
                       "listés ici.", "where": landed.shown,
                       "hint": "Les nombres de lignes gardées, en double et écartées sont "
                       "dans le rapprochement (payment_reconciliation) ; corrigez les causes "
                       "listées et déposez de nouveau le fichier pour voir les suivantes."})
    return Parsed(status=status, records=result.kept, errors=errors, format=result.format,
                  format_label=result.label, encoding=getattr(result, "encoding", None),
                  parser_version=VERSION)


def _write_summary(settings: Settings, sha256: str, result: ReadResult) -> None:
    """The file's counts and bordereau checks, read back by the build (``_registered``)."""
    out = summary_path(settings, sha256)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "format": result.format, "label": result.label, "flow": getattr(result, "flow", None),
        "state": getattr(result, "state", None),
        "counts": {"records_in": result.records_in, "kept": result.kept,
                   "set_aside": result.set_aside,
                   "duplicates": getattr(result, "duplicates", 0)},
        "batches": [asdict(b) for b in getattr(result, "batches", ())],
    }
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(summary, default=str), encoding="utf-8")
    tmp.replace(out)


def _registered(settings: Settings, load: Load) -> ReadResult | None:
    """The counts of a landed file as its parse left them (parsed again when missing, e.g.
    after a new staging version); None when its landed copy is gone too."""
    from observatoire.accounting.exports import ExportMapping
    from observatoire.accounting.pes_common import BatchCheck, PesResult
    from observatoire.accounting.result import ReadResult
    from observatoire.landing import store

    path = summary_path(settings, load.sha256)
    landed = store.landed_path(settings.landing_dir, load.sha256)
    if not path.exists():
        # Its landed file, or a copy taken out of its pack.
        copy = store.landed_copy(settings, load.sha256, load.original_path) \
            if load.status != "rejected" else None
        if copy is None:
            # A file refused before any record was read has no counts: its load-log line
            # says why; nothing of it is in the warehouse.
            return None
        kept = mapping_path(settings, load.sha256)
        mapping = (ExportMapping(**json.loads(kept.read_text(encoding="utf-8")))
                   if kept.exists() else None)
        landed = copy
        parse(Landed(settings, landed, landed, load.file_name, load.sha256,
                     None if mapping else detect(landed), mapping))
        if not path.exists():  # refused as a whole this time
            return None
    data = json.loads(path.read_text(encoding="utf-8"))
    counts = data["counts"]
    result: ReadResult
    if data["flow"]:
        money = ("amount_ht_announced", "amount_ht_lines", "amount_tva_announced",
                 "amount_tva_lines")
        batches: list[dict[str, Any]] = [
            {k: Decimal(v) if k in money and v is not None else v for k, v in b.items()}
            for b in data["batches"]]
        result = PesResult(landed, load.sha256, data["format"], data["label"], flow=data["flow"],
                           duplicates=counts["duplicates"], state=data["state"],
                           batches=[BatchCheck(**b) for b in batches])
    else:
        result = ReadResult(landed, load.sha256, data["format"], data["label"])
    result.records_in, result.kept, result.set_aside = (
        counts["records_in"], counts["kept"], counts["set_aside"])
    return result


def _staged(ctx: BuildContext) -> None:
    """``staged_<table>`` views over the staged rows of the accounting loads in force, and
    the counts of every one of them (``accounting_files``, ``payment_batch_checks``)."""
    from observatoire.accounting.provenance import is_simulated
    from observatoire.model.payments import attach_staging, register_files

    files: dict[str, list[Path]] = defaultdict(list)
    registered: list[tuple[str, ReadResult]] = []
    simulated: list[str] = []
    for load in ctx.loads:
        if load.kind != KIND:
            continue
        result = _registered(ctx.settings, load)
        if result is None:
            continue
        registered.append((load.file_name, result))
        if is_simulated(load.file_name, load.errors):
            simulated.append(load.sha256)
        if load.status in ("loaded", "partial"):
            for table in TABLES:
                staged = table.path(ctx.settings, load.sha256)
                if staged.exists():
                    files[table.name].append(staged)
    attach_staging(ctx.con, files)
    # The provenance the load log records, carried to every row through the file's hash
    # (``accounting_files.simulated``; the pages, API and datasets read it from there).
    register_files(ctx.con, registered, frozenset(simulated))


def steps() -> list[Step]:
    from observatoire.model.payments import STAGED, STEPS
    from observatoire.pipeline import Step

    return [Step("paiements.depot", "Paiements : lecture des flux comptables déposés", _staged,
                 writes=STAGED | {"payment_batch_checks"}), *STEPS]


def tables() -> Documented:
    from observatoire.model.payment_dictionary import PAYMENT_TABLES

    return PAYMENT_TABLES


CONNECTOR = Connector(
    kind=KIND,
    label="Flux comptables et financiers (PES V2, Chorus, Chorus Pro)",
    parse=parse,
    detect=detect,
    staging=TABLES,
    steps=steps,
    tables=tables,
    # PES Marché and mapped exports bring the purchasing system's contracts (G07)
    indicator_sources=frozenset({"accounting", "purchasing_system"}),
    # Named with a mapping (``ingest --correspondance``), an XLSX export is read as given (an
    # XLSX is a ZIP: never opened as an archive).
    expand_archives=False,
)
