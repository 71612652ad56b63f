"""The landing's packs: the small files of a worker's batch landed in one file each batch,
every byte kept, found again by content hash, read back checked."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import tarfile
from pathlib import Path

import duckdb
import pytest

from observatoire import reports
from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors import ingest as ingest_module
from observatoire.connectors.ingest import ingest
from observatoire.landing import archives, packs, store
from observatoire.landing.catalog import Catalog, superseded
from observatoire.landing.packs import DamagedLanding

from .conftest import DEMO

MEGALIS = DEMO / "decp" / "v2" / "megalis_decp-59920013600241-2024-07-09-01.json"
CPV = DEMO / "ref" / "cpv_2008_fr.csv"
#: Enough files for the pool of workers and its batches (PARALLEL_FROM_FILES).
COUNT = ingest_module.PARALLEL_FROM_FILES + 4


def _publications(folder: Path, count: int, first: int = 0) -> list[Path]:
    """``count`` distinct publications of the real Mégalis file (its 5 contracts each, their
    ids made distinct), named as the national per-publication layout names them."""
    data = json.loads(MEGALIS.read_text(encoding="utf-8"))
    assert len(data["marches"]["marche"]) == 5
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(first, first + count):
        for record in data["marches"]["marche"]:
            record["id"] = f"{record['id'].split('~')[0]}~{n}"
        path = folder / f"megalis_decp-59920013600241-2024-07-{n % 28 + 1:02d}-{n:03d}.json"
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        paths.append(path)
    return paths


def _pack_files(settings: Settings) -> list[Path]:
    return sorted((settings.landing_dir / packs.FOLDER).rglob(f"*{packs.SUFFIX}"))


def _own_files(settings: Settings) -> list[Path]:
    """Files landed on their own (``landing/<aa>/<sha256>``)."""
    return sorted(p for p in settings.landing_dir.glob("??/*") if p.is_file())


def _packed_rows(settings: Settings) -> list[tuple[str, str, int, int]]:
    with sqlite3.connect(settings.catalog_path) as con:
        return con.execute("SELECT * FROM packed ORDER BY sha256").fetchall()


def test_small_files_of_a_batch_land_in_packs_whose_bytes_are_the_files(
    tmp_path: Path,
) -> None:
    """Every small file is in a pack, none landed on its own; read back through the catalog,
    and by ``tar`` itself, each one's bytes are exactly the file given; the pack's name is
    the hash of its bytes; the counts reconcile (one load-log line and one pack entry per
    file, every record staged once)."""
    paths = _publications(tmp_path / "flux", COUNT)
    settings = Settings(home=tmp_path / "h", workers=2)
    outcomes = ingest(settings, [tmp_path / "flux"])
    assert all(o.new and o.load.status == "loaded" for o in outcomes)
    assert _own_files(settings) == []
    pack_files = _pack_files(settings)
    # a pack per worker batch: ceil(COUNT / (2 workers * 4)) files a batch
    size = -(-COUNT // 8)
    assert len(pack_files) == -(-COUNT // size)
    for pack in pack_files:
        assert pack.name == hashlib.sha256(pack.read_bytes()).hexdigest() + ".tar"
    index = Catalog(settings.catalog_path).packed()
    by_sha = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in paths}
    assert sorted(index) == sorted(by_sha)
    for sha, path in by_sha.items():
        entry = index[sha]
        assert entry.length == path.stat().st_size
        assert packs.read(settings.landing_dir, entry) == path.read_bytes()
        copy = store.landed_copy(settings, sha)
        assert copy is not None and copy.read_bytes() == path.read_bytes()
    # A plain tar archive: its members are the files, named by their hash.
    seen = {}
    for pack in pack_files:
        with tarfile.open(pack) as tar:
            for member in tar.getmembers():
                extracted = tar.extractfile(member)
                assert extracted is not None
                seen[member.name] = extracted.read()
    assert seen == {sha: path.read_bytes() for sha, path in by_sha.items()}
    # Counts reconcile: loads, pack entries, staged rows.
    loads = Catalog(settings.catalog_path).loads()
    assert len(loads) == COUNT == len(index)
    assert sum(ld.records for ld in loads) == 5 * COUNT
    assert {ld.sha256: ld.size_bytes for ld in loads} == {
        sha: e.length for sha, e in index.items()}
    with duckdb.connect() as con:
        staged = con.execute(
            "SELECT count(*), count(DISTINCT file_hash) FROM read_parquet(?)",
            [[str(p) for p in settings.staging_dir.rglob("*.parquet")]]).fetchone()
    assert staged == (5 * COUNT, COUNT)


def test_the_same_file_twice_changes_nothing(tmp_path: Path) -> None:
    """The same content under two names in one run (one sorted first, one last) is landed
    and logged once; the folder ingested again adds no pack, no line, no index entry."""
    paths = _publications(tmp_path / "flux", COUNT)
    twin = tmp_path / "flux" / "zz_autre_nom.json"  # sorted last: another batch than paths[0]
    shutil.copyfile(paths[0], twin)
    settings = Settings(home=tmp_path / "h", workers=2)
    first = ingest(settings, [tmp_path / "flux"])
    assert len(first) == COUNT + 1
    assert [o.new for o in first].count(True) == COUNT
    assert first[-1].load.sha256 == first[0].load.sha256 and not first[-1].new
    pack_files, index = _pack_files(settings), _packed_rows(settings)
    loads = Catalog(settings.catalog_path).loads()
    assert len(index) == len(loads) == COUNT
    again = ingest(settings, [tmp_path / "flux"])
    assert not any(o.new for o in again)
    assert _pack_files(settings) == pack_files
    assert _packed_rows(settings) == index
    assert Catalog(settings.catalog_path).loads() == loads
    assert _own_files(settings) == []


def test_a_file_landed_by_a_batch_that_was_never_logged_is_landed_again(
    tmp_path: Path,
) -> None:
    """A batch whose pack was written but whose files were never logged (the run stopped in
    between): the next run lands them again, in another batch and pack, with other files;
    each file is logged once, its index entry points into a pack that holds it, and the
    orphan pack changes nothing."""
    paths = _publications(tmp_path / "flux", COUNT)
    settings = Settings(home=tmp_path / "h", workers=2)
    settings.ensure_home()
    first = paths[:10]
    results = ingest_module._land_and_parse_batch(
        settings, None, None, [(archives.plain(p), store.sha256_of(p)) for p in first], None)
    assert all(packed for *_, packed in results)  # landed in a pack…
    (orphan,) = _pack_files(settings)
    assert Catalog(settings.catalog_path).loads() == []  # …but never logged
    outcomes = ingest(settings, [tmp_path / "flux"])
    assert all(o.new for o in outcomes) and len(outcomes) == COUNT
    assert orphan in _pack_files(settings) and len(_pack_files(settings)) > 1
    index = Catalog(settings.catalog_path).packed()
    assert len(index) == COUNT
    for path in paths:
        entry = index[store.sha256_of(path)]
        assert entry.pack != str(orphan.relative_to(settings.landing_dir))
        assert packs.read(settings.landing_dir, entry) == path.read_bytes()
    assert sum(ld.records for ld in Catalog(settings.catalog_path).loads()) == 5 * COUNT


def _same(row: dict[str, object]) -> dict[str, object]:
    """A report line without what differs between two homes ingesting the same files."""
    return {k: v for k, v in row.items() if k not in ("loaded_at", "duration_s")}


def _rows(settings: Settings, table: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def test_an_old_data_home_of_landed_files_takes_packs_and_builds_the_same(
    tmp_path: Path,
) -> None:
    """A data home of one landed file per load (landed one at a time) takes new files in
    packs; it builds the same contracts as a home where every file is on its own; a staging
    lost (as after a new parser version) is parsed again from both layouts; a new version of
    a packed publication supersedes it; a reference file in a pack feeds its table."""
    _publications(tmp_path / "avant", 3)
    new = _publications(tmp_path / "flux", COUNT, first=3)
    shutil.copyfile(CPV, tmp_path / "flux" / CPV.name)
    mixed = Settings(home=tmp_path / "mixte", workers=2)
    alone = Settings(home=tmp_path / "seul", workers=1)
    for settings in (mixed, alone):
        ingest(settings, [tmp_path / "avant"])  # three files: landed one at a time
    assert len(_own_files(mixed)) == 3 and _pack_files(mixed) == []
    for settings in (mixed, alone):
        ingest(settings, [tmp_path / "flux"])
    assert len(_own_files(mixed)) == 3 and len(_pack_files(mixed)) >= 2
    assert len(_own_files(alone)) == 3 + COUNT + 1 and _pack_files(alone) == []
    cpv_sha = store.sha256_of(CPV)
    assert cpv_sha in Catalog(mixed.catalog_path).packed()
    for settings in (mixed, alone):
        build(settings)
    tables = ("contracts", "source_records", "reconciliation", "ref_cpv")
    reference = {t: _rows(alone, t) for t in tables}
    assert len(reference["contracts"]) == 5 * (3 + COUNT)
    # the CPV file's rows, counted from the file by hand: one line a code, after the header
    codes = len(CPV.read_text(encoding="utf-8").splitlines()) - 1
    assert len(reference["ref_cpv"]) == codes
    for t in tables:
        assert _rows(mixed, t) == reference[t], t
    # status and quality by file read the load log and the warehouse: the same in both homes
    for report in (reports.status, reports.quality):
        got, want = report(mixed), report(alone)
        key = "loads" if report is reports.status else "by_file"
        assert [_same(r) for r in got[key]] == [_same(r) for r in want[key]]
    assert len(reports.quality(mixed)["by_file"]) == 3 + COUNT
    # Staging lost: every file is parsed again from its landed bytes, packed or not.
    shutil.rmtree(mixed.staging_dir)
    build(mixed)
    for t in tables:
        assert _rows(mixed, t) == reference[t], t
    # A new version of a packed publication (its last contract dropped) supersedes it.
    data = json.loads(new[5].read_text(encoding="utf-8"))
    data["marches"]["marche"].pop()
    new[5].write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (again,) = ingest(mixed, [new[5]])
    assert again.new and again.load.records == 4
    loads = Catalog(mixed.catalog_path).loads()
    replaced = [ld for ld in loads if ld.file_name == new[5].name]
    assert superseded(loads) == {replaced[0].load_id: replaced[1].load_id}
    build(mixed)
    assert len(_rows(mixed, "contracts")) == 5 * (3 + COUNT) - 1
    # The warehouse's load log: every load, the replaced one with its successor.
    with duckdb.connect(str(mixed.warehouse_path), read_only=True) as con:
        logged = con.execute("SELECT load_id, sha256, size_bytes, records, status, error_count, "
                             "superseded_by, typeof(loaded_at) FROM loads ORDER BY load_id"
                             ).fetchall()
    assert logged == [
        (ld.load_id, ld.sha256, Path(ld.original_path).stat().st_size if ld.load_id !=
         replaced[0].load_id else ld.size_bytes, ld.records, ld.status, len(ld.errors),
         replaced[1].load_id if ld.load_id == replaced[0].load_id else None, "TIMESTAMP")
        for ld in loads]


def test_a_truncated_pack_is_said_so_and_never_read(tmp_path: Path) -> None:
    """A pack cut short (a copy interrupted, a disk fault): reading a file it no longer holds
    whole raises a French message naming the file and the pack; listing the pack stops at the
    cut; a build that must read it again fails with that message, the warehouse in service
    unchanged."""
    _publications(tmp_path / "flux", COUNT)
    settings = Settings(home=tmp_path / "h", workers=2)
    ingest(settings, [tmp_path / "flux"])
    build(settings)
    before = _rows(settings, "contracts")
    pack = _pack_files(settings)[-1]
    rel = str(pack.relative_to(settings.landing_dir))
    index = Catalog(settings.catalog_path).packed()
    inside = sorted((e for e in index.values() if e.pack == rel), key=lambda e: e.offset)
    cut = inside[-1].offset + inside[-1].length // 2  # halfway through its last file
    pack.chmod(0o644)
    with pack.open("r+b") as fh:
        fh.truncate(cut)
    for entry in inside[:-1]:  # the files before the cut are whole
        assert hashlib.sha256(packs.read(settings.landing_dir, entry)).hexdigest() \
            == entry.sha256
    with pytest.raises(DamagedLanding) as raised:
        packs.read(settings.landing_dir, inside[-1], "megalis.json")
    assert "incomplète ou altérée" in raised.value.message
    assert "megalis.json" in raised.value.where and str(pack) in raised.value.where
    with pytest.raises(DamagedLanding, match="s'arrête avant la fin"):
        list(packs.members(settings.landing_dir, rel))
    # An altered byte (same length) is caught by the hash as well.
    first = inside[0]
    with pack.open("r+b") as fh:
        fh.seek(first.offset)
        fh.write(b"[" if fh.read(1) != b"[" else b"{")
    with pytest.raises(DamagedLanding):
        packs.read(settings.landing_dir, first)
    # The build must parse these files again: it stops and says why.
    shutil.rmtree(settings.staging_dir)
    with pytest.raises(DamagedLanding, match="incomplète ou altérée"):
        build(settings)
    assert _rows(settings, "contracts") == before


def test_a_file_written_to_while_ingested_is_not_landed(tmp_path: Path) -> None:
    """Its content changed between its hash and its landing: refused with a French message,
    nothing of it in a pack."""
    paths = _publications(tmp_path / "flux", 3)
    settings = Settings(home=tmp_path / "h", workers=1)
    settings.ensure_home()
    items = [(archives.plain(p), store.sha256_of(p)) for p in paths]
    paths[1].write_text(paths[1].read_text(encoding="utf-8") + " ", encoding="utf-8")
    results = ingest_module._land_and_parse_batch(settings, None, None, items, None)
    statuses = [(load.status, load.errors[0]["code"] if load.errors else None, bool(packed))
                for load, _, _, packed in results]
    assert statuses == [("loaded", None, True), ("rejected", "fichier_modifie", False),
                        ("loaded", None, True)]
    assert sorted(e.sha256 for pack in _pack_files(settings)
                  for e in packs.members(settings.landing_dir,
                                         str(pack.relative_to(settings.landing_dir)))) \
        == sorted([items[0][1], items[2][1]])


def _json_files() -> list[Path]:
    roots = (DEMO, Path(__file__).resolve().parent / "fixtures", Path("/work/shared/data"))
    return sorted(p for root in roots if root.exists() for p in root.rglob("*.json"))


def test_detection_of_small_files_in_hand_and_by_2_kib_finds_what_it_found_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Detection hands ijson 2 KiB at a time and, for a file shorter than its sample, scans and
    parses the bytes it already has: on every small real JSON file (demo, fixtures, shared
    data), the encoding scan, and the layout found or the French refusal, are those of the
    former way (the file read again from disk, parsed by 64 KiB)."""
    from observatoire.errors import InputFileError
    from observatoire.staging import detect as detection

    def outcome(path: Path, encoding: str, whole: bytes | None) -> object:
        try:
            return detection._detect_json(path, encoding, [], whole)
        except InputFileError as exc:
            return (exc.message, exc.where, exc.hint)

    files = [p for p in _json_files() if p.stat().st_size < detection.SAMPLE]
    assert len(files) > 50
    refused = 0
    for path in files:
        sample = path.read_bytes()
        in_hand = detection.scan_text(path, sample)
        # a sample as long as SAMPLE makes the scan read the file from disk, as it used to
        assert in_hand == detection.scan_text(path, sample + b" " * detection.SAMPLE), path
        new = outcome(path, in_hand.encoding, sample)
        monkeypatch.setattr(detection, "DETECT_CHUNK", 64 * 1024)
        assert new == outcome(path, in_hand.encoding, None), path
        monkeypatch.setattr(detection, "DETECT_CHUNK", 2048)
        refused += isinstance(new, tuple)
    assert 0 < refused < len(files)  # broken fixtures are among them, refused the same way
