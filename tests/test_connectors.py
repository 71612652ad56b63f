"""The connector contract: source kinds registered in one place, landed by one loop."""

from __future__ import annotations

import gc
import json
import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lxml import etree

from observatoire.accounting import staging as accounting
from observatoire.build import build
from observatoire.config import Settings
from observatoire.connector import Connector, Landed, Parsed, StagingTable
from observatoire.connectors import ingest as ingest_module
from observatoire.connectors import registry
from observatoire.connectors.ingest import ingest
from observatoire.indicators.profile import available_sources, brought_sources, load_profile
from observatoire.landing import archives, store
from observatoire.landing.catalog import Catalog, flow_name, superseded
from observatoire.staging.detect import Detected
from observatoire.staging.records import PARSER_VERSION

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "data"
MEGALIS = DEMO / "decp" / "v2" / "megalis_decp-59920013600241-2024-07-09-01.json"
PES_MARCHE = (Path(__file__).resolve().parent / "fixtures" / "connectors"
              / "dgfip_PES_Marche_example_contrat_initial_nov2017.xml")


def _publications(folder: Path, count: int) -> list[Path]:
    """``count`` distinct per-publication files of the Mégalis flow (5 contracts each), named as
    the national layout names them: ``<platform>_decp-<SIRET>-<date>-<sequence>.json``."""
    data = json.loads(MEGALIS.read_text(encoding="utf-8"))
    folder.mkdir(parents=True)
    paths = []
    for n in range(count):
        for record in data["marches"]["marche"]:
            record["id"] = f"{record['id'].split('~')[0]}~{n}"
        path = folder / f"megalis_decp-59920013600241-2024-07-{n % 28 + 1:02d}-{n:02d}.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        paths.append(path)
    return paths


def test_flow_name_drops_the_per_publication_numbers_only() -> None:
    assert flow_name("megalis_decp-59920013600241-2024-07-09-01.json") == "megalis_decp"
    assert flow_name("aife-0001.json") == "aife"
    assert flow_name("data.gouv.fr_aife.json") == "data.gouv.fr_aife"
    assert flow_name("cpv_2008_fr.csv") == "cpv_2008_fr"
    assert flow_name("2019.json") == "2019"  # nothing but numbers: the name itself


def test_a_folder_of_one_flow_is_one_source(tmp_path: Path) -> None:
    """Three publications of the Mégalis flow in a folder, beside a file of another flow."""
    folder = tmp_path / "depot"
    _publications(folder, 3)
    other = folder / "e-marchespublics.json"
    other.write_bytes((DEMO / "decp" / "v1" / "e-marchespublics.json").read_bytes())
    outcomes = ingest(Settings(home=tmp_path / "h"), [folder])
    assert sorted((o.load.file_name, o.load.source) for o in outcomes) == [
        ("e-marchespublics.json", "e-marchespublics"),
        ("megalis_decp-59920013600241-2024-07-01-00.json", "megalis_decp"),
        ("megalis_decp-59920013600241-2024-07-02-01.json", "megalis_decp"),
        ("megalis_decp-59920013600241-2024-07-03-02.json", "megalis_decp"),
    ]


def test_a_new_version_supersedes_a_file_logged_under_its_whole_name(tmp_path: Path) -> None:
    """A data home from before flows: the file was logged with its whole stem as source; its
    new version, logged under its flow, still replaces it in the build."""
    (path,) = _publications(tmp_path / "flux", 1)
    settings = Settings(home=tmp_path / "h")
    (old,) = ingest(settings, [path], source=path.stem)  # what the default used to be
    data = json.loads(path.read_text(encoding="utf-8"))
    data["marches"]["marche"].pop()
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (new,) = ingest(settings, [path])
    assert (old.load.source, new.load.source) == (path.stem, "megalis_decp")
    assert superseded(Catalog(settings.catalog_path).loads()) == {1: 2}


def test_many_small_files_go_to_one_pool_and_every_file_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past PARALLEL_FROM_FILES small files, two workers parse them by batches; every file gets
    its load-log line, in path order, with its five contracts; a second ingest adds nothing."""
    count = ingest_module.PARALLEL_FROM_FILES + 6
    paths = _publications(tmp_path / "flux", count)
    # small batches of the load log, so that several transactions are exercised
    monkeypatch.setattr(ingest_module, "CATALOG_BATCH", 7)
    settings = Settings(home=tmp_path / "h", workers=2)
    outcomes = ingest(settings, [tmp_path / "flux"])
    assert [o.load.file_name for o in outcomes] == [p.name for p in sorted(paths)]
    assert all(o.new and o.load.status == "loaded" for o in outcomes)
    loads = Catalog(settings.catalog_path).loads()
    assert [ld.load_id for ld in loads] == list(range(1, count + 1))
    assert [ld.file_name for ld in loads] == [p.name for p in sorted(paths)]
    assert sum(ld.records for ld in loads) == 5 * count
    # their rows are staged together: fewer staging files than inputs, every row there once
    staged = [pq.read_table(p) for p in settings.staging_dir.rglob("*.parquet")]
    assert len(staged) < count
    assert sum(t.num_rows for t in staged) == 5 * count
    assert len({h for t in staged for h in t.column("file_hash").to_pylist()}) == count
    again = ingest(settings, [tmp_path / "flux"])
    assert not any(o.new for o in again)
    with sqlite3.connect(settings.catalog_path) as con:
        assert con.execute("SELECT count(*) FROM loads").fetchone() == (count,)


def test_a_batch_of_small_files_runs_the_garbage_collector_once_and_leaves_it_on(
    tmp_path: Path,
) -> None:
    """A worker's batch pauses Python's cyclic garbage collector (the rows it holds have no
    cycles: walking them again and again cost a fifth of a small file's parse) and runs a full
    collection once at its end, leaving the collector enabled; every file is parsed."""
    paths = _publications(tmp_path / "flux", 40)
    settings = Settings(home=tmp_path / "h", workers=1)
    settings.ensure_home()
    items = [(archives.plain(p), store.sha256_of(p)) for p in paths]
    started: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.collect()
    gc.callbacks.append(seen)
    try:
        results = ingest_module._land_and_parse_batch(settings, None, None, items, None)
    finally:
        gc.callbacks.remove(seen)
    assert started == [2]
    assert gc.isenabled()
    assert [(load.status, load.records) for load, *_ in results] == [("loaded", 5)] * 40


def test_rows_to_columns_give_the_table_pyarrow_builds_row_by_row() -> None:
    """``StagingTable.to_arrow`` (rows read as one array of structs) gives, on the staging rows of
    real files, exactly what pyarrow's own row-by-row ``from_pylist`` gives; no rows give an
    empty table of the schema; a one-column schema works too."""
    from observatoire.connectors.decp import RECORDS
    from observatoire.staging.detect import detect
    from observatoire.staging.parse import parse_in_memory

    files = [MEGALIS, Path(__file__).resolve().parent / "fixtures" / "decp_publication"
             / "marches_avec_modifications.json"]
    rows = [row for path in files for row in parse_in_memory(path, detect(path), "h" * 64)[1]]
    assert len(rows) > 5
    assert RECORDS.schema is not None
    assert RECORDS.to_arrow(rows).equals(pa.Table.from_pylist(rows, schema=RECORDS.schema))
    assert RECORDS.to_arrow([]).equals(RECORDS.schema.empty_table())
    one = StagingTable("one", "1", "one", pa.schema([("n", pa.int64())]))
    assert one.to_arrow([{"n": 1}, {"n": None}]).column("n").to_pylist() == [1, None]


def _rows(settings: Settings, table: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_small_files_staged_by_batches_build_what_files_staged_one_by_one_build(
    tmp_path: Path,
) -> None:
    """The same publications, parsed by two workers in batches or one by one, give the same
    warehouse; a new version of one publication supersedes it even inside a batch."""
    paths = _publications(tmp_path / "flux", ingest_module.PARALLEL_FROM_FILES + 2)
    batched, alone = Settings(home=tmp_path / "b", workers=2), Settings(home=tmp_path / "a",
                                                                       workers=1)
    ingest(batched, [tmp_path / "flux"])
    ingest(alone, [tmp_path / "flux"])
    assert list((batched.staging_dir / f"v{PARSER_VERSION}" / "lots").iterdir())
    assert not (alone.staging_dir / f"v{PARSER_VERSION}" / "lots").exists()
    build(batched)
    build(alone)
    for table in ("contracts", "source_records", "findings", "reconciliation"):
        assert _rows(batched, table) == _rows(alone, table), table
    # A new version of the third publication drops one of its five contracts.
    data = json.loads(paths[2].read_text(encoding="utf-8"))
    dropped = data["marches"]["marche"].pop()
    with duckdb.connect(str(batched.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM source_records WHERE uid LIKE ?",
                           [f"%{dropped['id']}"]).fetchone() == (1,)
    paths[2].write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (again,) = ingest(batched, [paths[2]])
    assert again.new and again.load.records == 4
    build(batched)
    con = duckdb.connect(str(batched.warehouse_path), read_only=True)
    try:
        assert con.execute("SELECT sum(records_in), sum(kept) FROM reconciliation").fetchone() \
            == (5 * len(paths) - 1, 5 * len(paths) - 1)
        assert con.execute("SELECT count(*) FROM source_records WHERE uid LIKE ?",
                           [f"%{dropped['id']}"]).fetchone() == (0,)
    finally:
        con.close()


def test_indicator_sources_available_are_those_the_registered_kinds_bring() -> None:
    profile = load_profile("generique")
    payment = next(i for i in profile.indicators if i.id == "delai-global-paiement")
    # no grain holds payments: B03 is computed by the payments steps, where payments are loaded
    assert payment.source == "accounting" and not payment.available
    assert available_sources() == {"decp", "catering"}
    # what the kinds bring is what a grain or a step computes indicators on, and nothing else
    assert registry.indicator_sources() == brought_sources() == {
        "decp", "catering", "accounting", "purchasing_system"}


# --- A kind with its own detector and several staging tables, registered by a test ---------

PES_CONTRACTS = StagingTable("pes_finance_contracts", str(accounting.STAGING_VERSION),
                             "pes-essai/contracts", accounting.FINANCE_CONTRACTS)
PES_PAYMENTS = StagingTable("pes_payment_lines", str(accounting.STAGING_VERSION),
                            "pes-essai/payments", accounting.PAYMENT_LINES)


def _detect_pes(path: Path) -> Detected | None:
    with path.open("rb") as fh:
        head = fh.read(4096)
    if b"PES_Aller" not in head:
        return None
    return Detected("pes-essai", "pes-aller-xml", "PES V2 Aller (essai)")


def _parse_pes(landed: Landed) -> Parsed:
    root = etree.parse(str(landed.path)).getroot()
    buyer = root.find("EnTetePES/IdColl").get("V")
    refs = [m.find("IdentifiantMarche/IdContrat").get("V") for m in root.iter("Marche")]
    contracts = {name: [None] * len(refs) for name in accounting.FINANCE_CONTRACTS.names}
    contracts.update(file_hash=[landed.sha256] * len(refs), position=list(range(1, len(refs) + 1)),
                     flow=["pes_marche"] * len(refs), contract_ref=refs,
                     buyer_id=[buyer] * len(refs))
    for table, rows in ((PES_CONTRACTS, pa.table(contracts, schema=PES_CONTRACTS.schema)),
                        (PES_PAYMENTS, PES_PAYMENTS.schema.empty_table())):
        out = table.path(landed.settings, landed.sha256)
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(rows, out)
    return Parsed("loaded", records=len(refs))


def test_a_kind_with_several_staging_tables_comes_in_by_its_registration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unregistered, a PES file is refused by the DECP detector; registered before it, the
    same file is landed, logged under the new kind and staged into both its tables."""
    # the real accounting kind unregistered, to show what registration does
    monkeypatch.setattr(registry, "KINDS",
                        tuple(k for k in registry.KINDS if k.kind != "accounting"))
    refused = ingest(Settings(home=tmp_path / "before"), [PES_MARCHE])[0].load
    assert (refused.kind, refused.status) == ("unknown", "rejected")
    pes = Connector(kind="pes-essai", label="PES V2 (essai)", parse=_parse_pes,
                    detect=_detect_pes, staging=(PES_CONTRACTS, PES_PAYMENTS),
                    indicator_sources=frozenset({"accounting"}))
    monkeypatch.setattr(registry, "KINDS", (pes, *registry.KINDS))
    settings = Settings(home=tmp_path / "after")
    (outcome,) = ingest(settings, [PES_MARCHE])
    text = PES_MARCHE.read_text(encoding="utf-8")
    assert (outcome.load.kind, outcome.load.status, outcome.load.format) == (
        "pes-essai", "loaded", "pes-aller-xml")
    assert outcome.load.records == text.count("<Marche>") == 1
    staged = pq.read_table(PES_CONTRACTS.path(settings, outcome.load.sha256))
    assert staged.schema.equals(accounting.FINANCE_CONTRACTS)
    assert staged.column("contract_ref").to_pylist() == ["20181234"]
    assert staged.column("buyer_id").to_pylist() == ["20005376700014"]
    payments = pq.read_table(PES_PAYMENTS.path(settings, outcome.load.sha256))
    assert payments.num_rows == 0 and payments.schema.equals(accounting.PAYMENT_LINES)


def test_egalim_kinds_steps_write_every_table_they_document() -> None:
    """What a kind documents, its steps make: the tables of the Egalim data dictionary are
    written by the steps of the purchase-line and matrix kinds, and step names are unique."""
    from observatoire.egalim.dictionary import TABLES as EGALIM_TABLES

    kinds = [registry.connector("egalim"), registry.connector("egalim-matrice")]
    written = {table for kind in kinds for step in kind.steps() for table in step.writes}
    documented = {name for kind in kinds for name in kind.tables()}
    assert documented == set(EGALIM_TABLES)
    assert documented <= written
    names = [step.name for step in registry.steps()]
    assert len(names) == len(set(names))
