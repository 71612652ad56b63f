#!/usr/bin/env python3
"""National-scale benchmark of ``observatoire ingest`` + ``observatoire build``.

Run it from the project root with the project's virtual environment::

    .venv/bin/python bench/national_scale.py --contracts 1000000

What it does, in one run:

1. **Input.** Generates (or reuses, if already generated for that size) a national-scale DECP
   collection under ``bench/out/decp-<N>/`` by replicating the *real* records of the demo files
   (``demo/data/decp/v1/*.json``, DECP 2019 ``{"marches": [...]}``, and
   ``demo/data/decp/v2/*.json``, DECP 2024 ``{"marches": {"marche": [...]}}``). Every copy gets a
   new contract identifier and its dates shifted back by whole days; everything else (including
   the real defects: broken encoding, test records, missing ids, odd CPV codes...) is kept as is.
   Files are written in a streaming way, ``--file-records`` records per file.
2. **Baseline.** A plain DuckDB scan of the same files with ``read_json``, which parses every
   record into typed columns (see :data:`BASELINE_SQL`), with the same number of threads and the
   same memory limit as the build: ``--baseline-repeats`` runs in a process started before the
   pipeline and as many in one started after it, the fastest counting (timings vary from one
   process to the next on a shared machine). A stricter JSON-text scan (``read_json_objects``)
   is measured the same way, for information.
3. **Pipeline.** ``observatoire ingest`` of the generated folder into a fresh data home (after
   an untimed ingest of the demo reference files), then ``observatoire build``, each run as a
   subprocess of the installed CLI so that its wall time and peak memory are measured per
   command: the kernel's high-water mark of the process (``wait4`` ``ru_maxrss``, which includes
   DuckDB's native allocations) and, sampled every 0.1 s, the memory of its whole process tree
   (sum of PSS, for the worker processes of a parallel ingest). The build's steps are timed by
   the build itself, into the build log of the catalog (``build_steps``: start, wall and CPU
   seconds, rows written), which the benchmark reads once the build has ended.
4. **Write floor.** Every table of the built warehouse is written once more into a new DuckDB
   file, from a copy in memory: what persisting the model costs by itself, a share of the build
   no design of the pipeline avoids (reported with its ratio to the baseline).
5. **Report.** Prints the figures and the targets (``(ingest+build)/baseline <= 3``, peak memory
   ``<= 2 GB`` per command) and writes them as JSON to ``bench/out/results-<N>.json``.

``--git-ref REF`` benchmarks the code of a commit (extracted with ``git archive`` under
``bench/out/code-<sha>/`` and put first on ``PYTHONPATH``) instead of the working tree, which is
useful while ``src/`` is being edited.

Everything the benchmark writes stays under ``--out`` (``bench/out/`` by default, git-ignored).
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import dataclasses
import datetime as dt
import io
import json
import math
import os
import platform
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import orjson
import psutil

ROOT = Path(__file__).resolve().parents[1]
DEMO_DECP = ROOT / "demo" / "data" / "decp"
DEMO_REF = ROOT / "demo" / "data" / "ref"
#: The installed command line (console script of the project's virtual environment).
CLI = Path(sys.executable).with_name("observatoire")

#: Bump when the generated files change, so that cached inputs are regenerated.
GENERATOR_VERSION = 1
#: Targets the figures are compared with.
TARGET_RATIO = 3.0
#: Build steps that later issues added to what issue 2 (the foundation) specified and benchmarked:
#: the ratio is also given without them, for the scope the target was set for.
LATER_STEPS = {
    "gestion.corrections": "stewardship",
    "gestion.exclusions": "stewardship",
    "gestion.publication": "stewardship",
    "egalim": "Egalim",
    "indicateurs": "indicators",
    "modele.directions": "indicators",
    "qualite.historique": "stewardship",
}
TARGET_PEAK_BYTES = 2 * 1000**3  # 2 GB
#: Dates of copy ``r`` are moved back by ``(r * DATE_STEP_DAYS) % DATE_SPAN_DAYS`` days: copies
#: spread over the six years before the real dates, and no date is ever moved into the future.
DATE_STEP_DAYS = 97
DATE_SPAN_DAYS = 6 * 365
ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

#: The demo files and the layout each replica group is written in. One group = one stream of
#: output files (``<layout>/<group>-<part>.json``), like one platform in the national collection.
SOURCES: list[tuple[str, str, Path]] = [
    ("aife", "2019", DEMO_DECP / "v1" / "data.gouv.fr_aife.json"),
    ("pes", "2019", DEMO_DECP / "v1" / "data.gouv.fr_pes.json"),
    ("e-marchespublics", "2019", DEMO_DECP / "v1" / "e-marchespublics.json"),
    ("gip-maximilien", "2024",
     DEMO_DECP / "v2" / "gip-maximilien_decp-13001845000028-2024-10-06-01.json"),
    ("megalis", "2024", DEMO_DECP / "v2" / "megalis_decp-59920013600241-2024-07-09-01.json"),
]
#: Opening and closing bytes of a file of each layout (records go in between, one per line).
LAYOUTS: dict[str, tuple[bytes, bytes]] = {
    "2019": (b'{"marches":[\n', b'\n]}\n'),
    "2024": (b'{"marches":{"marche":[\n', b'\n],"contrat-concession":[]}}\n'),
}

#: The baseline queries, run over the files of each layout (``{files}`` is a glob, ``{path}`` the
#: path of the record list). Both read every byte, parse every record and touch several of its
#: fields, so that no record can be skipped.
#:
#: * ``typed`` (the reference for the ratio): DuckDB's ``read_json`` reads each file as one JSON
#:   document (``format='unstructured'``), infers the schema of the records (a pass over every
#:   file), turns every record into a typed STRUCT (``unnest`` of the record list) and aggregates
#:   a few of its fields. This is what "load these files with DuckDB" costs.
#: * ``json_text`` (a stricter, informative floor): ``read_json_objects`` parses each file, the
#:   record list is unnested as JSON values and the same fields are extracted, with no schema
#:   inference and no typed conversion.
BASELINE_SQL = {
    "typed": """
SELECT count(*) AS records, count(r.id) AS with_id, sum(length(r.objet)) AS object_chars,
       count(r.acheteur.id) AS with_buyer, count(r.dateNotification) AS with_date
FROM (SELECT unnest({path}) AS r
      FROM read_json('{files}', format = 'unstructured', records = true,
                     maximum_object_size = {max_object}))
""",
    "json_text": """
SELECT count(*) AS records, count(r->>'id') AS with_id, sum(length(r->>'objet')) AS object_chars,
       count(r->'acheteur'->>'id') AS with_buyer, count(r->>'dateNotification') AS with_date
FROM (SELECT unnest(json_extract(json, '$.{path}[*]')) AS r
      FROM read_json_objects('{files}', format = 'unstructured',
                             maximum_object_size = {max_object}))
""",
}
BASELINE_PATHS = {"2019": "marches", "2024": "marches.marche"}


# --------------------------------------------------------------------------------------------
# Input generation
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Template:
    """One real record of a demo file, serialised once (compact JSON)."""

    group: str
    layout: str
    raw: bytes


def load_templates() -> list[Template]:
    """Every record of the demo files, in file order."""
    templates: list[Template] = []
    for group, layout, path in SOURCES:
        doc = orjson.loads(path.read_bytes())
        marches = doc["marches"]
        records = marches["marche"] if layout == "2024" else marches
        templates.extend(Template(group, layout, orjson.dumps(rec)) for rec in records)
    return templates


def base36(number: int, width: int) -> str:
    digits = ""
    for _ in range(width):
        number, rest = divmod(number, 36)
        digits = BASE36[rest] + digits
    if number:
        raise ValueError("replica number too large for the tag width")
    return digits


def retag(identifier: str, tag: str) -> str:
    """The identifier of a copy: ``tag`` overwrites the first characters, so the length is kept.

    Keeping the length matters: most real ids have the 16 characters the DECP format allows, and
    an appended suffix would make every copy trip the "id too long" quality rule. An id too short
    or not starting with letters/digits gets the tag as a prefix instead (its defects are kept).
    """
    width = len(tag)
    if len(identifier) > width and identifier[:width].isalnum():
        return tag + identifier[width:]
    return tag + identifier


def buyer_of(record: dict[str, Any]) -> str:
    party = record.get("acheteur", record.get("autoriteConcedante"))
    return str(party.get("id") if isinstance(party, dict) else party)


def check_retag_injective(templates: list[Template], width: int) -> None:
    """Fail if two different real contracts of one buyer would get the same copy identifier.

    Copies of different replicas differ by their tag (a fixed-width prefix), so checking one
    replica is enough: within a replica, the mapping does not depend on the tag's value.
    """
    seen: dict[tuple[str, str], str] = {}
    tag = "0" * width
    for t in templates:
        rec = orjson.loads(t.raw)
        if rec.get("id") is None:
            continue
        original = str(rec["id"])
        key = (buyer_of(rec), retag(original, tag))
        if seen.setdefault(key, original) != original:
            raise SystemExit(f"identifier rewriting is not injective: {seen[key]!r} / {original!r}")


def shift_date(value: str, days: int) -> str:
    """``YYYY-MM-DD...`` moved back by ``days``; anything else (real defects) is left as is."""
    match = ISO_DATE.match(value)
    if not match:
        return value
    try:
        day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        return (day - dt.timedelta(days=days)).isoformat() + value[10:]
    except (ValueError, OverflowError):
        return value


def shift_dates(node: Any, days: int) -> None:
    """Shift, in place, every string under a key starting with ``date`` (at any depth)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and key.startswith("date"):
                node[key] = shift_date(value, days)
            elif isinstance(value, (dict, list)):
                shift_dates(value, days)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                shift_dates(item, days)


def make_copy(template: Template, tag: str, days: int) -> bytes:
    """Copy ``tag`` of a real record: new id (and uid, when the record carries one), dates moved."""
    rec = orjson.loads(template.raw)
    original = rec.get("id")
    if original is not None:  # a missing id is a real defect: keep it missing
        new_id = retag(str(original), tag)
        rec["id"] = new_id
        uid = rec.get("uid")
        if isinstance(uid, str) and uid.endswith(str(original)):
            rec["uid"] = uid[: len(uid) - len(str(original))] + new_id
    if days:
        shift_dates(rec, days)
    return orjson.dumps(rec)


class RollingWriter:
    """Writes the records of one group into numbered files of at most ``per_file`` records."""

    def __init__(self, folder: Path, group: str, layout: str, per_file: int) -> None:
        self.folder = folder / layout
        self.group = group
        self.head, self.tail = LAYOUTS[layout]
        self.per_file = per_file
        self.part = 0
        self.in_file = 0
        self.fh: BinaryIO | None = None
        self.files: list[Path] = []

    def write(self, record: bytes) -> None:
        if self.fh is None or self.in_file == self.per_file:
            self._roll()
        assert self.fh is not None
        if self.in_file:
            self.fh.write(b",\n")
        self.fh.write(record)
        self.in_file += 1

    def _roll(self) -> None:
        self.close()
        self.part += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.group}-{self.part:04d}.json"
        self.files.append(path)
        self.fh = path.open("wb", buffering=1 << 20)
        self.fh.write(self.head)
        self.in_file = 0

    def close(self) -> None:
        if self.fh is not None:
            self.fh.write(self.tail)
            self.fh.close()
            self.fh = None


def manifest_matches(folder: Path, records: int, per_file: int) -> bool:
    manifest = folder / "manifest.json"
    if not manifest.exists():
        return False
    data = json.loads(manifest.read_text())
    if (data.get("generator_version"), data.get("records"), data.get("file_records")) != (
        GENERATOR_VERSION, records, per_file):
        return False
    return all((folder / f["path"]).is_file() and (folder / f["path"]).stat().st_size == f["bytes"]
               for f in data["files"])


def generate(folder: Path, records: int, per_file: int) -> dict[str, Any]:
    """Write ``records`` copies of the real records under ``folder`` (reused if already there)."""
    if manifest_matches(folder, records, per_file):
        print(f"Input: reusing {folder} (already generated for {records:,} records)")
        return dict(json.loads((folder / "manifest.json").read_text()))
    if folder.exists():
        shutil.rmtree(folder)
    templates = load_templates()
    replicas = math.ceil(records / len(templates))
    width = max(2, math.ceil(math.log(replicas + 1, 36)))
    check_retag_injective(templates, width)
    print(f"Input: generating {records:,} records in {folder} "
          f"({replicas:,} copies of the {len(templates):,} real records)…", flush=True)
    started = time.perf_counter()
    writers = {g: RollingWriter(folder, g, layout, per_file) for g, layout, _ in SOURCES}
    written = 0
    for replica in range(replicas):
        tag = base36(replica, width)
        days = (replica * DATE_STEP_DAYS) % DATE_SPAN_DAYS
        for template in templates:
            if written == records:
                break
            writers[template.group].write(make_copy(template, tag, days))
            written += 1
    files: list[dict[str, Any]] = []
    for writer in writers.values():
        writer.close()
        files.extend({"path": str(p.relative_to(folder)), "bytes": p.stat().st_size}
                     for p in writer.files)
    manifest = {"generator_version": GENERATOR_VERSION, "records": written,
                "file_records": per_file, "replicas": replicas, "real_records": len(templates),
                "files": files, "seconds": round(time.perf_counter() - started, 1)}
    # The manifest is written last: its presence means the input is complete.
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"Input: {written:,} records in {len(files)} files, "
          f"{manifest['seconds']} s", flush=True)
    return manifest


# --------------------------------------------------------------------------------------------
# Measuring a child process
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Measured:
    """Wall time, peak memory and output of one child process."""

    seconds: float
    peak_rss: int  # bytes, kernel high-water mark of the child (wait4 ru_maxrss)
    #: bytes, max over 0.1 s samples of the memory of the child's whole process tree (sum of the
    #: proportional set sizes, so that pages shared by forked workers are counted once)
    peak_rss_sampled: int
    returncode: int
    output: str
    started_epoch: float  # time.time() when the process was started
    spill_peak: int = 0  # bytes, max over samples of the size of ``watch`` (DuckDB spill files)
    peak_at: float = 0.0  # seconds after start of the sampled peak
    #: CPU seconds (user + system) of the child and its waited-for children (the ingest's
    #: workers): unlike wall time, hardly changed by other work on a shared machine
    cpu_seconds: float = 0.0

    @property
    def peak(self) -> int:
        """The figure compared with the target: the larger of the two measures."""
        return max(self.peak_rss, self.peak_rss_sampled)


def tree_memory(parent: psutil.Process) -> int:
    """Physical memory of a process and its descendants: sum of their PSS (RSS if unknown)."""
    total = 0
    for process in [parent, *parent.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            info = process.memory_full_info()
            total += getattr(info, "pss", info.rss)
    return total


def run_measured(cmd: list[str], env: dict[str, str], log: Path,
                 watch: Path | None = None) -> Measured:
    """Run ``cmd``; time it and sample its memory.

    ``watch`` is a folder whose size is sampled too (DuckDB's spill folder during a build).
    """
    started, started_epoch = time.perf_counter(), time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    chunks: list[str] = []
    sampled = 0
    spill = 0
    peak_at = 0.0
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := os.read(proc.stdout.fileno(), 1 << 16):
            chunks.append(decoder.decode(chunk))

    def sample() -> None:
        nonlocal sampled, spill, peak_at
        try:
            parent = psutil.Process(proc.pid)
            while not done.is_set():
                rss = tree_memory(parent)
                if rss > sampled:
                    sampled, peak_at = rss, time.perf_counter() - started
                if watch is not None:
                    with contextlib.suppress(OSError):
                        spill = max(spill, folder_bytes(watch))
                done.wait(0.1)
        except psutil.Error:  # the process has ended
            pass

    threads = [threading.Thread(target=read), threading.Thread(target=sample)]
    for t in threads:
        t.start()
    # wait4 gives the resource usage of this very child: ru_maxrss is its peak resident set
    # (KiB on Linux), counting every allocation of the process, Python's and DuckDB's alike.
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    for t in threads:
        t.join()
    proc.stdout.close()
    output = "".join(chunks)
    log.write_text(output)
    return Measured(seconds, usage.ru_maxrss * 1024, sampled, proc.returncode, output,
                    started_epoch, spill, peak_at, usage.ru_utime + usage.ru_stime)


def child_env(home: Path | None, threads: int, memory_limit: str,
              code: Path | None = None) -> dict[str, str]:
    """The environment of the child processes: our settings only, none inherited.

    ``code`` is a ``src`` folder to import ``observatoire`` from instead of the working tree's
    (``PYTHONPATH`` comes before the editable install's path, which may point to another
    checkout, e.g. from a git worktree sharing the main checkout's virtual environment).
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OBSERVATOIRE_") and k != "PYTHONPATH"}
    # The same parallelism everywhere: DuckDB threads of the build, parse processes of the ingest.
    env.update(OBSERVATOIRE_THREADS=str(threads), OBSERVATOIRE_WORKERS=str(threads),
               OBSERVATOIRE_MEMORY_LIMIT=memory_limit, PYTHONUNBUFFERED="1")
    if home is not None:
        env["OBSERVATOIRE_HOME"] = str(home)
    env["PYTHONPATH"] = str(code if code is not None else ROOT / "src")
    return env


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def snapshot(ref: str, out: Path) -> Path:
    """The ``src`` folder of commit ``ref``, extracted once under ``out`` (``git archive``)."""
    sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    target = out / f"code-{sha[:12]}"
    if not (target / "src" / "observatoire" / "__init__.py").exists():
        tmp = out / f".code-{sha[:12]}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", sha, "src"],
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target / "src"


def code_under_test(env: dict[str, str], ref: str | None) -> dict[str, str]:
    """Which code the CLI runs: the module it imports, its version and the git state."""
    probe = subprocess.run(
        [sys.executable, "-c", "import observatoire; print(observatoire.__file__); "
         "print(observatoire.__version__)"], env=env, capture_output=True, text=True, check=True)
    module, version = probe.stdout.split()
    head = git("rev-parse", "--short", "HEAD")
    if ref is not None:
        state = f"snapshot of {ref} ({git('rev-parse', '--short', ref)}), HEAD {head}"
    else:
        dirty = git("status", "--porcelain", "--", "src")
        state = f"working tree, HEAD {head}" + (" + uncommitted changes in src/" if dirty else "")
    return {"module": module, "version": version, "code": state}


# --------------------------------------------------------------------------------------------
# Baseline (runs in a child process: ``national_scale.py --baseline-worker DIR``)
# --------------------------------------------------------------------------------------------


def baseline_worker(folder: Path, threads: int, memory_limit: str, repeats: int) -> None:
    """Run each baseline query ``repeats`` times over every generated file; print JSON.

    For each variant, the time of one repeat is the sum over the two layouts; the best repeat is
    kept (the fastest DuckDB managed, i.e. the hardest baseline to be compared with).
    """
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    result: dict[str, Any] = {}
    for variant, template in BASELINE_SQL.items():
        runs: list[float] = []
        cpu_runs: list[float] = []
        counts: dict[str, Any] = {}
        for _ in range(repeats):
            seconds = 0.0
            cpu = 0.0
            for layout, path in BASELINE_PATHS.items():
                files = sorted((folder / layout).glob("*.json"))
                if not files:
                    continue
                biggest = max(f.stat().st_size for f in files)
                sql = template.format(path=path, files=str(folder / layout / "*.json"),
                                      max_object=max(biggest * 2, 16 << 20))
                t0 = time.perf_counter()
                u0 = resource.getrusage(resource.RUSAGE_SELF)
                row = con.execute(sql).fetchone()
                seconds += time.perf_counter() - t0
                u1 = resource.getrusage(resource.RUSAGE_SELF)
                cpu += u1.ru_utime - u0.ru_utime + u1.ru_stime - u0.ru_stime
                assert row is not None
                counts[layout] = dict(zip(["records", "with_id", "object_chars", "with_buyer",
                                           "with_date"], row, strict=True))
            runs.append(round(seconds, 3))
            cpu_runs.append(round(cpu, 3))
        result[variant] = {"seconds": min(runs), "runs": runs, "cpu_seconds": min(cpu_runs),
                           "cpu_runs": cpu_runs, "counts": counts,
                           "records": sum(c["records"] for c in counts.values())}
    print(json.dumps(result))


# Write floor (runs in a child process: ``national_scale.py --write-floor-worker WAREHOUSE``)
# --------------------------------------------------------------------------------------------


def write_floor_worker(warehouse: Path, threads: int, memory_limit: str) -> None:
    """Time writing every table of the built warehouse once more into a new DuckDB file; print
    JSON.

    Each table is first copied into memory (untimed), then written from there with ``CREATE
    TABLE ... AS SELECT *``: what persisting the model costs by itself, without computing any of
    it. Whatever the pipeline does, it has to pay this once.
    """
    target = warehouse.with_name("write-floor.duckdb")
    for leftover in (target, Path(str(target) + ".wal")):
        leftover.unlink(missing_ok=True)
    con = duckdb.connect(str(target))
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"ATTACH '{warehouse}' AS built (READ_ONLY)")
        tables = [row[0] for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'built' "
            "ORDER BY estimated_size DESC, table_name").fetchall()]
        seconds = cpu = 0.0
        per_table: dict[str, float] = {}
        for table in tables:  # names read from the warehouse's own catalog
            con.execute(f'CREATE TEMP TABLE copied AS SELECT * FROM built."{table}"')  # noqa: S608
            t0 = time.perf_counter()
            u0 = resource.getrusage(resource.RUSAGE_SELF)
            con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM copied')  # noqa: S608
            con.execute("CHECKPOINT")
            elapsed = time.perf_counter() - t0
            u1 = resource.getrusage(resource.RUSAGE_SELF)
            seconds += elapsed
            cpu += u1.ru_utime - u0.ru_utime + u1.ru_stime - u0.ru_stime
            per_table[table] = round(elapsed, 3)
            con.execute("DROP TABLE copied")
        print(json.dumps({"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                          "tables": len(tables), "bytes": target.stat().st_size,
                          "largest": dict(sorted(per_table.items(), key=lambda kv: -kv[1])[:6])}))
    finally:
        con.close()
        for leftover in (target, Path(str(target) + ".wal")):
            leftover.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


def mb(n_bytes: float) -> float:
    return n_bytes / 1e6


def warm(folder: Path) -> None:
    """Read every file under ``folder`` once, so that timed runs read from the page cache."""
    for path in sorted(folder.rglob("*.json")):
        with path.open("rb") as fh:
            while fh.read(1 << 24):
                pass


def folder_bytes(path: Path) -> int:
    """Size of a file, or of all the files under a folder (0 if it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def last_message(output: str) -> str:
    """The last line a CLI printed, without terminal control codes."""
    lines = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line).strip()
             for line in re.split(r"[\r\n]", output)]
    lines = [line for line in lines if line]
    return " / ".join(lines[-2:])


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
            "cpu": cpu, "python": platform.python_version(), "duckdb": duckdb.__version__}


@dataclasses.dataclass
class LoggedStep:
    """A build step as the build log of the catalog records it."""

    name: str
    label: str
    offset: float  # seconds after the build process started
    seconds: float
    cpu_seconds: float
    rows: int | None


def build_steps(home: Path, measured: Measured) -> list[LoggedStep]:
    """The steps of the latest build of ``home``, from the build log (``build_steps`` of the
    catalog); none for code that did not log them (before the declared pipeline)."""
    with contextlib.closing(sqlite3.connect(home / "catalog.sqlite")) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'build_steps'").fetchone():
            return []
        rows = db.execute(
            "SELECT name, label, started_at, seconds, cpu_seconds, rows FROM build_steps "
            "WHERE build_id = (SELECT max(build_id) FROM builds) ORDER BY position").fetchall()
    return [LoggedStep(name, label,
                       dt.datetime.fromisoformat(started).timestamp() - measured.started_epoch,
                       seconds, cpu, count)
            for name, label, started, seconds, cpu, count in rows]


def step_at(steps: list[LoggedStep], moment: float) -> str | None:
    """The step running ``moment`` seconds after the process started (None: outside them)."""
    for s in steps:
        if s.offset <= moment <= s.offset + s.seconds:
            return s.name
    return None


def warehouse_figures(path: Path) -> dict[str, Any]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        def one(sql: str) -> Any:
            row = con.execute(sql).fetchone()
            return row[0] if row else None

        statuses = dict(con.execute(
            "SELECT status, count(*) FROM source_records GROUP BY status").fetchall())
        return {
            "contracts": one("SELECT count(*) FROM contracts"),
            "reconciled": one("SELECT bool_and(balanced) FROM reconciliation"),
            "source_records": one("SELECT count(*) FROM source_records"),
            "kept": statuses.get("kept", 0), "duplicates": statuses.get("duplicate", 0),
            "set_aside": statuses.get("set_aside", 0),
            "findings": one("SELECT count(*) FROM findings"),
            "contract_versions": one("SELECT count(*) FROM contract_versions"),
            "buyers": one("SELECT count(*) FROM buyers"),
            "suppliers": one("SELECT count(*) FROM suppliers"),
        }
    finally:
        con.close()


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    records: int = args.contracts
    inputs = out / f"decp-{records}"
    manifest = generate(inputs, records, args.file_records)
    input_bytes = sum(f["bytes"] for f in manifest["files"])

    run_dir = out / f"run-{records}"
    run_dir.mkdir(exist_ok=True)
    home = out / f"home-{records}"
    if home.exists():
        shutil.rmtree(home)
    code = snapshot(args.git_ref, out) if args.git_ref else None
    env = child_env(home, args.threads, args.memory_limit, code)
    tested = code_under_test(env, args.git_ref)
    print(f"Code under test: {tested['code']} ({tested['module']})", flush=True)

    # (a) Baseline: DuckDB scans of the same files, in a child process of its own; once before
    # and once after the pipeline (timings vary from one process to the next on a shared VM).
    def baseline(when: str) -> tuple[Measured | None, dict[str, Any]]:
        if not args.baseline_repeats:
            return None, {}
        print(f"Baseline ({when}): DuckDB scans, {args.baseline_repeats} runs each…", flush=True)
        warm(inputs)
        base = run_measured([sys.executable, str(Path(__file__).resolve()), "--baseline-worker",
                             str(inputs), "--threads", str(args.threads), "--memory-limit",
                             args.memory_limit, "--baseline-repeats", str(args.baseline_repeats)],
                            child_env(None, args.threads, args.memory_limit),
                            run_dir / f"baseline-{when}.log")
        if base.returncode:
            raise SystemExit(f"baseline failed:\n{base.output}")
        figures: dict[str, Any] = json.loads(base.output.strip().splitlines()[-1])
        for variant, counts in figures.items():
            if counts["records"] != records:
                raise SystemExit(f"baseline {variant} read {counts['records']} records, "
                                 f"expected {records}")
        return base, figures

    base_before, baselines = baseline("before")

    # Reference files (CPV, geography, SIRENE) as a deployment has them; untimed.
    if not args.no_references:
        ref = run_measured([str(CLI), "ingest", str(DEMO_REF)], env, run_dir / "ingest-ref.log")
        if ref.returncode:
            raise SystemExit(f"reference ingest failed:\n{ref.output}")

    # (b) observatoire ingest of the generated folder.
    print("Pipeline: observatoire ingest…", flush=True)
    warm(inputs)
    ingest = run_measured([str(CLI), "ingest", "--json", str(inputs / "2019"),
                           str(inputs / "2024")], env, run_dir / "ingest.log")
    if ingest.returncode:
        raise SystemExit(f"ingest failed (exit {ingest.returncode}), see {run_dir / 'ingest.log'}")
    loads = json.loads(ingest.output[ingest.output.index("["):])
    ingested = sum(ld["records"] for ld in loads)
    per_file = [ld["duration_s"] for ld in loads]
    if ingested != records or any(ld["status"] != "loaded" for ld in loads):
        print(f"  warning: ingest loaded {ingested:,} records; statuses: "
              f"{sorted({ld['status'] for ld in loads})}", flush=True)

    # (c) observatoire build. It times its steps into the build log, read once it has ended.
    spill_dir = home / "work" / "duckdb"  # DuckDB's temp_directory, set by the build
    print("Pipeline: observatoire build…", flush=True)
    build = run_measured([str(CLI), "build"], env, run_dir / "build.log", spill_dir)
    built = build.returncode in (0, 1) and (home / "warehouse.duckdb").exists()
    wh = warehouse_figures(home / "warehouse.duckdb") if built else None

    # (d) The write floor: persisting the built tables alone, in a child process of its own.
    floor = None
    if built:
        print("Write floor: the warehouse's tables written once more…", flush=True)
        written = run_measured([sys.executable, str(Path(__file__).resolve()),
                                "--write-floor-worker", str(home / "warehouse.duckdb"),
                                "--threads", str(args.threads), "--memory-limit",
                                args.memory_limit],
                               child_env(None, args.threads, args.memory_limit),
                               run_dir / "write-floor.log")
        if written.returncode == 0:
            floor = json.loads(written.output.strip().splitlines()[-1])
        else:  # reported, not hidden: the ratio's floor is missing from this run
            print(f"  write floor failed (exit {written.returncode}), see "
                  f"{run_dir / 'write-floor.log'}", flush=True)

    base_after, after = baseline("after")
    for variant, figures in baselines.items() if after else ():
        figures["runs"] += after[variant]["runs"]
        figures["seconds"] = min(figures["runs"])
        figures["cpu_runs"] += after[variant]["cpu_runs"]
        figures["cpu_seconds"] = min(figures["cpu_runs"])
    base_seconds = baselines["typed"]["seconds"] if baselines else None
    cpu_ratio = ((ingest.cpu_seconds + build.cpu_seconds) / baselines["typed"]["cpu_seconds"]
                 if baselines and built else None)

    total = ingest.seconds + build.seconds
    ratio = total / base_seconds if built and base_seconds else None
    steps = build_steps(home, build)
    later = {s.name: s.seconds for s in steps if s.name in LATER_STEPS}
    foundation = total - sum(later.values())
    peak = max(ingest.peak, build.peak)
    return {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "code": tested,
        "settings": {"threads": args.threads, "memory_limit": args.memory_limit,
                     "file_records": args.file_records, "references": not args.no_references},
        "input": {"records": records, "files": len(manifest["files"]), "bytes": input_bytes,
                  "real_records": manifest["real_records"], "replicas": manifest["replicas"]},
        "baseline": {"seconds": base_seconds,
                     "peak_rss": max(base_before.peak_rss, base_after.peak_rss),
                     "repeats": args.baseline_repeats, "variants": baselines}
        if base_before and base_after else None,
        "cpu_ratio": cpu_ratio,
        "ingest": {"seconds": ingest.seconds, "cpu_seconds": ingest.cpu_seconds,
                   "peak": ingest.peak, "peak_rss": ingest.peak_rss,
                   "peak_rss_sampled": ingest.peak_rss_sampled, "records": ingested,
                   "files": len(loads), "file_seconds_sum": round(sum(per_file), 2),
                   "file_seconds_max": max(per_file)},
        "build": {"seconds": build.seconds, "cpu_seconds": build.cpu_seconds,
                  "peak": build.peak, "peak_rss": build.peak_rss,
                  "peak_rss_sampled": build.peak_rss_sampled, "exit_code": build.returncode,
                  "ok": built, "message": last_message(build.output),
                  "spill_peak": build.spill_peak,
                  "steps": [dataclasses.asdict(s) for s in steps],
                  "outside_steps": build.seconds - sum(s.seconds for s in steps),
                  "peak_step": step_at(steps, build.peak_at)},
        "total_seconds": total,
        "ratio": ratio,
        "ratio_json_text": total / baselines["json_text"]["seconds"]
        if built and baselines else None,
        "foundation": {"seconds": foundation, "ratio": foundation / base_seconds,
                       "later_steps": later} if built and later and base_seconds else None,
        "targets": {"ratio": TARGET_RATIO, "peak_rss": TARGET_PEAK_BYTES,
                    "ratio_met": ratio is not None and ratio <= TARGET_RATIO,
                    "peak_met": peak <= TARGET_PEAK_BYTES},
        "data_home": {"landing_bytes": folder_bytes(home / "landing"),
                      "staging_bytes": folder_bytes(home / "staging"),
                      "warehouse_bytes": folder_bytes(home / "warehouse.duckdb")
                      if built else 0},
        "warehouse": wh,
        "write_floor": floor,
    }


def report(r: dict[str, Any]) -> None:
    m, t = r["machine"], r["targets"]
    peak_mb = mb(TARGET_PEAK_BYTES)
    print()
    print(f"National-scale benchmark — {r['date']} — {m['nproc']} cores, {m['memory_gb']} GB, "
          f"{m['cpu']}")
    print(f"  observatoire {r['code']['version']} ({r['code']['code']}), DuckDB {m['duckdb']}, "
          f"Python {m['python']}; threads={r['settings']['threads']}, "
          f"memory_limit={r['settings']['memory_limit']}")
    i = r["input"]
    print(f"Input            {i['records']:>12,} records   {i['files']} files, "
          f"{mb(i['bytes']):,.1f} MB "
          f"({i['replicas']} copies of {i['real_records']:,} real records)")
    b = r["baseline"]
    if b is None:
        print("Baseline         not measured (--baseline-repeats 0): no ratio")
    else:
        typed, text = b["variants"]["typed"], b["variants"]["json_text"]
        print(f"Baseline         {b['seconds']:>12.1f} s         DuckDB read_json, typed: best "
              f"of {len(typed['runs'])} runs ({min(typed['runs']):.1f}–{max(typed['runs']):.1f}"
              f" s), peak {mb(b['peak_rss']):,.0f} MB")
        print(f"  JSON-text floor {text['seconds']:.1f} s: read_json_objects, best of "
              f"{len(text['runs'])} runs ({min(text['runs']):.1f}–{max(text['runs']):.1f} s)")
    ing, bld = r["ingest"], r["build"]
    print(f"Ingest           {ing['seconds']:>12.1f} s         peak {mb(ing['peak']):,.0f} MB "
          f"(process {mb(ing['peak_rss']):,.0f} MB, process tree "
          f"{mb(ing['peak_rss_sampled']):,.0f} MB), {ing['records']:,} records, "
          f"{ing['records'] / ing['seconds']:,.0f} records/s")
    print(f"Build            {bld['seconds']:>12.1f} s         peak {mb(bld['peak']):,.0f} MB "
          f"(process {mb(bld['peak_rss']):,.0f} MB, process tree "
          f"{mb(bld['peak_rss_sampled']):,.0f} MB), DuckDB spill up to "
          f"{mb(bld['spill_peak']):,.0f} MB" + ("" if bld["ok"] else
                                              f" — BUILD FAILED: {bld['message']}"))
    if not bld["steps"]:
        print("    (no step timings: this code's build log does not record them)")
    for s in bld["steps"]:
        peak = "  <- memory peak" if s["name"] == bld["peak_step"] else ""
        rows = "" if s["rows"] is None else f"{s['rows']:>12,} rows"
        print(f"    {s['label']:<52} {s['seconds']:>8.1f} s {s['cpu_seconds']:>6.1f} s CPU"
              f" {rows}{peak}")
    if bld["steps"]:
        print(f"    {'outside the steps (start-up, table counts, checkpoint)':<52} "
              f"{bld['outside_steps']:>8.1f} s")
    print(f"Ingest + build   {r['total_seconds']:>12.1f} s")
    if r["ratio"] is not None:
        print(f"Ratio            {r['ratio']:>12.2f}           target <= {t['ratio']:g}: "
              f"{verdict(t['ratio_met'])} (against the JSON-text floor: "
              f"{r['ratio_json_text']:.2f})")
    fo = r.get("foundation")
    if fo:
        by_issue: dict[str, float] = {}
        for name, seconds in fo["later_steps"].items():
            by_issue[LATER_STEPS[name]] = by_issue.get(LATER_STEPS[name], 0.0) + seconds
        print(f"  foundation only {fo['seconds']:.1f} s, ratio {fo['ratio']:.2f}: without the "
              "build steps later issues added (" + ", ".join(
                  f"{k} {v:.1f} s" for k, v in by_issue.items()) + ")")
    if b is not None and r.get("cpu_ratio") is not None:
        print(f"CPU time         ingest {ing['cpu_seconds']:.1f} s + build "
              f"{bld['cpu_seconds']:.1f} s vs baseline "
              f"{b['variants']['typed']['cpu_seconds']:.1f} s (best run): "
              f"{r['cpu_ratio']:.2f} (less sensitive to other work on the machine)")
    f = r.get("write_floor")
    if f:
        versus = f": {f['seconds'] / b['seconds']:.2f} × baseline" if b else ""
        print(f"Write floor      {f['seconds']:>12.1f} s         writing the {f['tables']} built "
              f"tables once more from memory ({f['cpu_seconds']:.1f} s CPU, "
              f"{mb(f['bytes']):,.0f} MB){versus}; "
              f"largest: " + ", ".join(f"{k} {v:.1f} s" for k, v in f["largest"].items()))
    print(f"Peak memory      {mb(max(ing['peak'], bld['peak'])):>12,.0f} MB        "
          f"target <= {peak_mb:,.0f} MB per command: {verdict(t['peak_met'])}")
    w = r["warehouse"]
    if w is None:
        print("Warehouse        none (the build failed)")
        return
    print(f"Warehouse        {w['contracts']:>12,} contracts   reconciled: {w['reconciled']}; "
          f"{w['source_records']:,} source records ({w['kept']:,} kept, "
          f"{w['duplicates']:,} duplicates, {w['set_aside']:,} set aside), "
          f"{w['findings']:,} findings")
    d = r["data_home"]
    print(f"Data home        landing {mb(d['landing_bytes']):,.0f} MB, staging "
          f"{mb(d['staging_bytes']):,.0f} MB, warehouse {mb(d['warehouse_bytes']):,.0f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--contracts", type=int, default=1_000_000,
                        help="records (published contracts) to generate (default 1,000,000)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out",
                        help="folder for the input, the data home and the results")
    parser.add_argument("--file-records", type=int, default=50_000,
                        help="records per generated file (default 50,000)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="DuckDB threads of the baseline and the build, parse processes of "
                             "the ingest (default: all cores)")
    parser.add_argument("--memory-limit",
                        default=os.environ.get("OBSERVATOIRE_MEMORY_LIMIT", "1500MB"),
                        help="DuckDB memory limit for the baseline and the build (default 1500MB, "
                             "the observatoire's own default)")
    parser.add_argument("--baseline-repeats", type=int, default=3,
                        help="runs of each baseline query before and after the pipeline; the "
                             "fastest counts (default 3; 0: no baseline, no ratio, e.g. for many "
                             "small files, on which DuckDB's schema inference fails)")
    parser.add_argument("--no-references", action="store_true",
                        help="do not load the demo reference files (CPV, COG, SIRENE) first")
    parser.add_argument("--git-ref",
                        help="benchmark the code of this commit (extracted under --out with git "
                             "archive) instead of the working tree, e.g. HEAD")
    parser.add_argument("--generate-only", action="store_true", help="only write the input")
    parser.add_argument("--baseline-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--write-floor-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.write_floor_worker:
        write_floor_worker(args.write_floor_worker, args.threads, args.memory_limit)
        return
    if args.baseline_worker:
        baseline_worker(args.baseline_worker, args.threads, args.memory_limit,
                        args.baseline_repeats)
        return
    if min(args.contracts, args.file_records, args.threads) < 1 or args.baseline_repeats < 0:
        parser.error("--contracts, --file-records and --threads must be positive, "
                     "--baseline-repeats positive or zero")
    if args.generate_only:
        generate(args.out.resolve() / f"decp-{args.contracts}", args.contracts, args.file_records)
        return
    result = run(args)
    report(result)
    path = args.out.resolve() / f"results-{args.contracts}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"\nResults written to {path}")


if __name__ == "__main__":
    main()
