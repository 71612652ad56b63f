"""Ingestion is idempotent; builds are deterministic, atomic and survive being killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from observatoire import build as build_module
from observatoire import reports
from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest
from observatoire.errors import ObservatoireError
from observatoire.landing.catalog import Catalog
from observatoire.model import contracts

from .conftest import DEMO

SMALL = [
    DEMO / "decp" / "v1" / "e-marchespublics.json",
    DEMO / "decp" / "v2",
    DEMO / "ref" / "cpv_2008_fr.csv",
]
#: Contracts of SMALL: the Dematis keys, 8 of which were reused for several contracts (lots,
#: read from the file by hand: 12, 9, 3 and five times 2 contracts), + Mégalis + GIP - 1 test
SMALL_CONTRACTS = 441 + (12 - 1) + (9 - 1) + (3 - 1) + 5 * (2 - 1) + 5 + 17 - 1


def _landed_files(settings: Settings) -> list[Path]:
    return sorted(p for p in settings.landing_dir.rglob("*") if p.is_file())


def test_same_file_twice_changes_nothing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h")
    first = ingest(settings, SMALL)
    assert [o.new for o in first] == [True, True, True, True]
    landed = _landed_files(settings)
    loads = Catalog(settings.catalog_path).loads()
    # the same content under another name and path is the same file
    copy = tmp_path / "copie.json"
    copy.write_bytes((DEMO / "decp" / "v1" / "e-marchespublics.json").read_bytes())
    second = ingest(settings, [*SMALL, copy])
    assert [o.new for o in second] == [False] * 5
    assert _landed_files(settings) == landed
    assert Catalog(settings.catalog_path).loads() == loads
    assert len(loads) == 4


def test_landed_file_is_unchanged(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h")
    (outcome,) = ingest(settings, [DEMO / "decp" / "v1" / "e-marchespublics.json"])
    landed = settings.landing_dir / outcome.load.sha256[:2] / outcome.load.sha256
    assert landed.read_bytes() == (DEMO / "decp" / "v1" / "e-marchespublics.json").read_bytes()
    assert outcome.load.size_bytes == landed.stat().st_size
    assert (outcome.load.records, outcome.load.status) == (470, "loaded")


def _table_contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [
            n
            for (n,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
        ]
        # build_info holds the build's own id and times, and quality_builds the list of builds
        # (one more each time); everything else must be identical (quality_history too: a
        # build that changes nothing adds no row).
        # A table is a set of rows: compare them in a canonical order (contracts, the widest
        # table, is stored in no particular order: sorting it cost a third of its build time).
        return {
            n: sorted(con.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr)
            for n in names
            if n not in ("build_info", "quality_builds")
        }
    finally:
        con.close()


def test_same_inputs_same_tables(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h")
    ingest(settings, SMALL)
    build(settings)
    first = _table_contents(settings.warehouse_path)
    build(settings)
    second = _table_contents(settings.warehouse_path)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], name
    assert len(first["contracts"]) == SMALL_CONTRACTS


def test_failed_build_keeps_previous_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "h")
    ingest(settings, SMALL)
    good = build(settings)
    before = _table_contents(settings.warehouse_path)
    monkeypatch.setattr(contracts, "CONTRACTS", "CREATE TABLE contracts AS SELECT no_such_col")
    with pytest.raises(duckdb.Error):
        build(settings)
    assert _table_contents(settings.warehouse_path) == before
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    assert con.execute("SELECT build_id FROM build_info").fetchone() == (good.build_id,)
    con.close()
    assert not list(settings.home.glob("warehouse.build-*"))
    last = Catalog(settings.catalog_path).builds(limit=1)[0]
    assert last["status"] == "failed" and "no_such_col" in last["error"]


def test_killed_build_leaves_previous_warehouse_readable(tmp_path: Path) -> None:
    home = tmp_path / "h"
    settings = Settings(home=home)
    ingest(settings, [DEMO / "decp", DEMO / "ref"])
    good = build(settings)
    before = _table_contents(settings.warehouse_path)
    env = {**os.environ, "OBSERVATOIRE_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "observatoire.cli", "build"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not list(home.glob("warehouse.build-*.duckdb")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(home.glob("warehouse.build-*.duckdb")), "the build never started writing"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # the warehouse in service is the previous one, whole and readable
    assert _table_contents(settings.warehouse_path) == before
    # the catalog still says « running »; the status report (CLI and /gestion/etat/) sees
    # that no process holds the lock: the build reads interrupted, its files are removed
    assert Catalog(settings.catalog_path).builds(limit=1)[0]["status"] == "running"
    last = reports.status(settings)["builds"][0]
    assert (last["build_id"], last["status"]) == (good.build_id + 1, "failed")
    assert last["error"] == "interrompue (processus arrêté avant la fin)"
    assert not list(home.glob("warehouse.build-*"))
    # the build log keeps the steps it finished (each is written as it ends), in their order
    killed = [s["name"] for s in last["steps"]]
    assert killed == list(build_module.CORE_ORDER[:len(killed)])
    assert len(killed) < len(build_module.CORE_ORDER)
    # the next build records nothing more and succeeds
    again = build(settings)
    assert again.build_id == good.build_id + 2
    builds = Catalog(settings.catalog_path).builds(limit=3)
    assert [b["status"] for b in builds] == ["succeeded", "failed", "succeeded"]
    assert "interrompue" in builds[1]["error"]
    assert not list(home.glob("warehouse.build-*"))


def test_one_build_at_a_time(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h")
    ingest(settings, [DEMO / "decp" / "v2"])
    first = build(settings)
    # another process holds the lock (a real one: flock locks are per open file)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time\n"
         f"f = open({str(settings.home / 'build.lock')!r}, 'a+')\n"
         "fcntl.flock(f, fcntl.LOCK_EX); f.truncate(0); f.write('4242'); f.flush()\n"
         "print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(ObservatoireError) as exc:
            build(settings)
        assert exc.value.message == ("Une construction de l'entrepôt est déjà en cours dans "
                                     "ce dossier de données (processus 4242).")
        # while it runs, the status report does not call a running build interrupted
        Catalog(settings.catalog_path).start_build("2026-01-01T00:00:00+00:00")
        assert reports.status(settings)["builds"][0]["status"] == "running"
    finally:
        holder.kill()
        holder.communicate()
    # its process gone, the lock is free: the next status says so, the next build runs
    assert reports.status(settings)["builds"][0]["status"] == "failed"
    assert build(settings).build_id == first.build_id + 2


def test_a_build_waits_for_a_lock_held_briefly(tmp_path: Path) -> None:
    """A status report holds the build lock for milliseconds (to see killed builds): a build
    starting then waits for it instead of reporting another build running."""
    settings = Settings(home=tmp_path / "h")
    ingest(settings, [DEMO / "decp" / "v2"])
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, time\n"
         f"f = open({str(settings.home / 'build.lock')!r}, 'a+')\n"
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(0.5)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert build(settings).reconciled
    finally:
        holder.communicate()


def test_outdated_staging_is_reparsed(tmp_path: Path) -> None:
    """Staging files are derived: a missing one is rebuilt from the landed file."""
    settings = Settings(home=tmp_path / "h")
    ingest(settings, SMALL)
    for staged in settings.staging_dir.rglob("*.parquet"):
        staged.unlink()
    summary = build_module.build(settings)
    assert summary.tables["contracts"] == SMALL_CONTRACTS
    assert summary.reconciled


def test_parallel_ingest_logs_in_path_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several worker processes parse; the load log still follows the order of the paths."""
    from observatoire.connectors import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "PARALLEL_FROM_BYTES", 0)
    paths = [
        DEMO / "decp" / "v1",
        DEMO / "decp" / "v2",
        DEMO / "decp" / "v1" / "e-marchespublics.json",
    ]
    parallel = Settings(home=tmp_path / "p", workers=2)
    outcomes = ingest(parallel, paths)
    assert [(o.load.file_name, o.new, o.load.records) for o in outcomes] == [
        ("data.gouv.fr_aife.json", True, 4530),
        ("data.gouv.fr_pes.json", True, 1148),
        ("e-marchespublics.json", True, 470),
        ("gip-maximilien_decp-13001845000028-2024-10-06-01.json", True, 17),
        ("megalis_decp-59920013600241-2024-07-09-01.json", True, 5),
        ("e-marchespublics.json", False, 470),
    ]
    assert [ld.load_id for ld in Catalog(parallel.catalog_path).loads()] == [1, 2, 3, 4, 5]
    sequential = Settings(home=tmp_path / "s", workers=1)
    ingest(sequential, paths)
    build(parallel)
    build(sequential)
    a, b = _table_contents(parallel.warehouse_path), _table_contents(sequential.warehouse_path)
    # the load log itself differs only by its timings
    assert [row[:10] for row in a.pop("loads")] == [row[:10] for row in b.pop("loads")]
    # and the results history by the time each value was recorded (its last column)
    history_a, history_b = a.pop("indicator_history"), b.pop("indicator_history")
    assert history_a and [r[:-1] for r in history_a] == [r[:-1] for r in history_b]
    # the quality history likewise, by its second column (when its build started)
    quality_a, quality_b = a.pop("quality_history"), b.pop("quality_history")
    assert quality_a and [(r[0], *r[2:]) for r in quality_a] == [(r[0], *r[2:]) for r in quality_b]
    assert a == b


def test_too_little_memory_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h", memory_limit="30MB", threads=1)
    ingest(settings, [DEMO / "decp", DEMO / "ref"])
    with pytest.raises(ObservatoireError) as exc:
        build(settings)
    assert "30MB" in exc.value.message
    assert "OBSERVATOIRE_MEMORY_LIMIT" in exc.value.hint
    assert "par exemple 60MB" in exc.value.hint  # an example above the limit that failed
    assert not settings.warehouse_path.exists()
    assert (settings.work_dir).is_dir()  # DuckDB's spill folder lives there


def test_new_version_of_a_file_replaces_the_old_one(tmp_path: Path) -> None:
    """The same platform file downloaded again (same path, new content) supersedes the earlier
    version in the build; the earlier version stays landed and logged."""
    import json

    settings = Settings(home=tmp_path / "h")
    path = tmp_path / "flux" / "megalis.json"
    path.parent.mkdir()
    original = DEMO / "decp" / "v2" / "megalis_decp-59920013600241-2024-07-09-01.json"
    path.write_bytes(original.read_bytes())
    ingest(settings, [path])
    data = json.loads(original.read_text(encoding="utf-8"))
    removed = data["marches"]["marche"].pop()  # the new version drops one contract...
    data["marches"]["marche"][0]["montant"] = 40000.0  # ...and corrects an amount
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (again,) = ingest(settings, [path])
    assert again.new and again.load.records == 4
    build(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        assert con.execute("SELECT load_id, superseded_by FROM loads ORDER BY 1").fetchall() == [
            (1, 2),
            (2, None),
        ]
        assert con.execute("SELECT load_id, records_in, kept FROM reconciliation").fetchall() == [
            (2, 4, 4)
        ]
        first = data["marches"]["marche"][0]["id"]
        assert con.execute(
            "SELECT amount FROM contracts WHERE contract_id = ?", [first]
        ).fetchall() == [(40000.0,)]
        assert con.execute(
            "SELECT count(*) FROM contracts WHERE contract_id = ?", [removed["id"]]
        ).fetchone() == (0,)
    finally:
        con.close()
    assert len(_landed_files(settings)) == 2


def test_outdated_staging_is_reparsed_in_parallel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from observatoire.connectors import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "PARALLEL_FROM_BYTES", 0)
    settings = Settings(home=tmp_path / "h", workers=2)
    ingest(settings, SMALL)
    build(settings)
    before = _table_contents(settings.warehouse_path)
    for staged in settings.staging_dir.rglob("*.parquet"):
        staged.unlink()
    build(settings)
    assert _table_contents(settings.warehouse_path) == before
    assert len(list(settings.staging_dir.rglob("*.parquet"))) == 3  # Dematis, GIP, Mégalis


def test_catalog_of_an_earlier_version_gains_the_new_columns(tmp_path: Path) -> None:
    """A load log written before encoding and delimiter were recorded keeps working."""
    import sqlite3

    from observatoire.landing.catalog import SCHEMA

    path = tmp_path / "catalog.sqlite"
    old = SCHEMA.replace(",\n    encoding       TEXT,", "").replace(
        "    delimiter      TEXT                 -- CSV delimiter\n", ""
    )
    old = old.replace("-- Python codec name)\n", "")
    con = sqlite3.connect(path)
    con.executescript(old)
    assert "encoding" not in {r[1] for r in con.execute("PRAGMA table_info(loads)")}
    con.close()
    Catalog(path)
    con = sqlite3.connect(path)
    assert {"encoding", "delimiter"} <= {r[1] for r in con.execute("PRAGMA table_info(loads)")}
    con.close()


def test_readers_see_the_new_warehouse_after_a_build(tmp_path: Path) -> None:
    """A process that keeps reading (the web server) sees each new build once it is swapped in,
    with that file's identity, while a cursor opened before the swap finishes on the old file."""
    from observatoire.warehouse import open_identified, open_warehouse

    settings = Settings(home=tmp_path / "h")
    ingest(settings, SMALL)
    first = build(settings)
    before = open_warehouse(settings)
    first_file = settings.warehouse_path.stat()
    assert before.execute("SELECT build_id FROM build_info").fetchall() == [(first.build_id,)]
    second = build(settings)
    after, identity = open_identified(settings)
    assert after.execute("SELECT build_id FROM build_info").fetchall() == [(second.build_id,)]
    assert before.execute("SELECT build_id FROM build_info").fetchall() == [(first.build_id,)]
    # the identity is the file the cursor reads (what the explorer's caches are keyed by)
    second_file = settings.warehouse_path.stat()
    assert identity == (second_file.st_ino, second_file.st_mtime_ns)
    assert identity != (first_file.st_ino, first_file.st_mtime_ns)
    before.close()
    after.close()
    assert not list(settings.home.glob(".warehouse-reader-*"))


def test_a_data_home_whose_path_holds_quotes_builds_the_same_warehouse(tmp_path: Path) -> None:
    """The data home's path goes into DuckDB statements (SET temp_directory, the staged files,
    the reference files, ATTACH of the previous warehouse): quoted, never pasted."""
    plain = Settings(home=tmp_path / "observatoire")
    quoted = Settings(home=tmp_path / "l'observatoire \"de\" la région")
    for settings in (plain, quoted):
        ingest(settings, [DEMO / "decp" / "v2", DEMO / "ref" / "cpv_2008_fr.csv"])
        build(settings)
    # the same tables but for the times of the load log and of the histories
    contents = [_table_contents(s.warehouse_path) for s in (plain, quoted)]
    for tables in contents:
        for timed in ("loads", "quality_history", "indicator_history"):
            tables.pop(timed)
    assert contents[0] == contents[1]
    again = build(quoted)  # the second build attaches the first warehouse, by its path
    assert again.reconciled
    assert [b["status"] for b in Catalog(quoted.catalog_path).builds()] == ["succeeded"] * 2


@pytest.mark.parametrize("ident", ["marches-pme'", "marches pme", "Marchés-PME", "-pme", "x" * 64])
def test_an_indicator_id_outside_its_url_pattern_is_refused_at_load(
    ident: str, tmp_path: Path
) -> None:
    """An id holding a quote used to load, then broke the build's SQL; ids are those of the
    pages' addresses (/indicateurs/<id>/: lower-case letters, digits, hyphens)."""
    import shutil

    from observatoire.indicators.profile import BUILTIN_DIR, load_profile

    folder = tmp_path / "profil"
    shutil.copytree(BUILTIN_DIR / "generique", folder)
    catalogue = folder / "indicators" / "a-acces.toml"
    text = catalogue.read_text(encoding="utf-8")
    assert text.count('id = "marches-pme"\n') == 1
    catalogue.write_text(text.replace('id = "marches-pme"\n', f'id = "{ident}"\n'),
                         encoding="utf-8")
    with pytest.raises(ObservatoireError) as refused:
        load_profile(str(folder))
    assert refused.value.message == (
        f"Profil « {folder} » : Identifiant d'indicateur invalide : « {ident} ».")
    assert "a-acces.toml" in refused.value.where
    # the unchanged catalogue loads
    catalogue.write_text(text, encoding="utf-8")
    assert "marches-pme" in [i.id for i in load_profile(str(folder)).indicators]
