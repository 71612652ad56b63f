"""Property-based tests of every reader: random and mutated real records never crash a reader,
every input record is accounted for, and what the reader says is French.

The records are real (the demo DECP files, the official XML examples, the demo reference
extracts, the lycées' purchase lines of the Egalim fixtures); hypothesis mutates them: values
replaced by arbitrary JSON or text, keys removed or respelt, rows cut, bytes inserted or the file
truncated. The invariants are the product's promises, not values copied from a run:

- a reader never raises for a file's content (only ``InputFileError`` for a path that cannot be
  opened), and its load is ``loaded``, ``partial`` or ``rejected``;
- a well-formed file of N records is read as N records; after a build each file reconciles
  (records in = kept + duplicates + set aside);
- every message a user reads is French: none of the parsers' English phrases leaks through.

The example budget is small in CI (profile ``ci``, derandomised so a run is reproducible);
``bench/properties.py`` runs the same tests with a long random budget
(``HYPOTHESIS_PROFILE=long``).
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest
from observatoire.egalim.importer import CanteenDirectory, import_purchases
from observatoire.landing.catalog import Catalog, Load

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

settings.register_profile(
    "ci", max_examples=15, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long", max_examples=400, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: Phrases of the parsers and libraries underneath (ijson, lxml, csv, DuckDB, Python) that
#: must never reach a user: each reader's messages are French.
ENGLISH = re.compile(
    r"\b(parse error|premature|unexpected|expected|invalid|error|traceback|line \d+|"
    r"column \d+|not found|cannot|could not|failed|unterminated|malformed|overflow)\b",
    re.IGNORECASE,
)
#: The statuses a load can end with.
STATUSES = {"loaded", "partial", "rejected"}


# --- Seeds: real records --------------------------------------------------------------------


def _json_records(path: Path, count: int) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    marches = data["marches"]
    items = marches if isinstance(marches, list) else marches.get("marche", [])
    return [r for r in items if isinstance(r, dict)][:count]


V1_RECORDS = _json_records(DEMO / "decp" / "v1" / "e-marchespublics.json", 30)
V2_RECORDS = _json_records(
    DEMO / "decp" / "v2" / "megalis_decp-59920013600241-2024-07-09-01.json", 30)
XML_FILES = sorted((FIXTURES / "decp" / "official_v1.5").glob("*.xml")) + sorted(
    (FIXTURES / "decp" / "official_v2").glob("*.xml"))
with (DEMO / "decp" / "tabular" / "decpinfo_tabular_2024H2_travaux_cpv4521.csv").open(
        encoding="utf-8", newline="") as _fh:
    _rows = csv.reader(_fh)
    TABULAR_HEADER = next(_rows)
    TABULAR_ROWS = [next(_rows) for _ in range(40)]
PURCHASES = FIXTURES / "egalim" / "lycees" / "achats-2024-2025.csv"
with PURCHASES.open(encoding="utf-8", newline="") as _fh:
    _rows = csv.reader(_fh)
    PURCHASE_HEADER = next(_rows)
    PURCHASE_ROWS = list(_rows)
#: The canteen the purchase fixture is about (its first column).
CANTEENS = CanteenDirectory.of(sirets={row[0] for row in PURCHASE_ROWS})


# --- Strategies -----------------------------------------------------------------------------

#: Text that real exports carry: accents, quotes, separators, control characters, U+FFFD.
texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from(
        list("éèàçÉ;,\"'<>&\t\n\r\x00\x07\ufffd€ ")),
    max_size=30,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def mutated_record(draw: st.DrawFn, pool: list[dict[str, Any]]) -> dict[str, Any]:
    """A real record with a few of its values replaced, keys removed or respelt."""
    record = copy.deepcopy(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(0, 3))):
        if not record:
            break
        key = draw(st.sampled_from(sorted(record)))
        action = draw(st.sampled_from(["replace", "delete", "respell"]))
        if action == "replace":
            record[key] = draw(json_values)
        elif action == "delete":
            del record[key]
        else:  # a stray space or another case, as real exports have
            record[draw(st.sampled_from([key + " ", " " + key, key.upper()]))] = record.pop(key)
    return record


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """The bytes of a file, truncated or with bytes inserted somewhere."""
    if not data:
        return data
    at = draw(st.integers(0, len(data)))
    if draw(st.booleans()):
        return data[:at]
    return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]


# --- Helpers --------------------------------------------------------------------------------


@contextmanager
def data_home() -> Iterator[Settings]:
    # hypothesis runs the test body many times: a fresh folder each time, not a fixture.
    with tempfile.TemporaryDirectory(prefix="obs-prop-") as tmp:
        yield Settings(home=Path(tmp) / "home")


def load_file(settings: Settings, name: str, content: bytes) -> Load:
    path = settings.home.parent / name
    path.write_bytes(content)
    outcomes = ingest(settings, [path])
    assert len(outcomes) == 1
    [load] = [ld for ld in Catalog(settings.catalog_path).loads() if ld.file_name == name]
    return load


def assert_french(load: Load) -> None:
    assert load.status in STATUSES, load.status
    for problem in load.errors:
        for part in ("message", "hint"):
            text = str(problem.get(part, ""))
            assert not ENGLISH.search(text), (part, text)


def staged_rows(settings: Settings, load: Load) -> int:
    staged = sorted(settings.staging_dir.rglob(f"{load.sha256}.parquet"))
    if not staged:
        return 0
    con = duckdb.connect()
    try:
        row = con.execute("SELECT count(*) FROM read_parquet(?)", [str(staged[0])]).fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


def wrap_v1(records: list[Any]) -> bytes:
    return json.dumps({"marches": records}, ensure_ascii=False).encode()


def wrap_v2(records: list[Any]) -> bytes:
    return json.dumps({"marches": {"marche": records}}, ensure_ascii=False).encode()


# --- DECP JSON ------------------------------------------------------------------------------


@given(
    records=st.lists(mutated_record(V1_RECORDS), min_size=1, max_size=6)
    | st.lists(mutated_record(V2_RECORDS), min_size=1, max_size=6),
    layout=st.sampled_from([wrap_v1, wrap_v2]),
)
# Found by the long run: an integer past 64 bits (yajl's C parser overflows) and an odd key that
# DuckDB's JSON reader cut in the middle of a character (a UnicodeDecodeError escaped).
@example(records=[dict(V1_RECORDS[0], _type=2**63)], layout=wrap_v1)
@example(records=[dict(V2_RECORDS[0], titulaires={'0000""' + "\x1f" * 5 + "\x80\x80\u0800": None})],
         layout=wrap_v1)
def test_mutated_json_records_are_each_read_once(
        records: list[dict[str, Any]], layout: Any) -> None:
    with data_home() as home:
        load = load_file(home, "decp.json", layout(records))
        assert_french(load)
        # Every object of the list is one record of the load and one staging row.
        assert load.records == len(records), load.errors
        assert staged_rows(home, load) == len(records)


@given(
    records=st.lists(mutated_record(V1_RECORDS), min_size=1, max_size=4),
    data=st.data(),
)
def test_damaged_json_never_crashes_and_counts_what_it_read(
        records: list[dict[str, Any]], data: st.DataObject) -> None:
    content = data.draw(damaged(wrap_v1(records)))
    with data_home() as home:
        load = load_file(home, "decp.json", content)
        assert_french(load)
        assert load.records == staged_rows(home, load)
        # A damaged file may lose what follows the damage, never invent records.
        assert load.records <= len(records) + 1


@settings(max_examples=int(os.environ.get("PROPERTY_BUILDS", "4")))
@given(
    records=st.lists(mutated_record(V1_RECORDS), min_size=1, max_size=5),
    others=st.lists(mutated_record(V2_RECORDS), min_size=1, max_size=5),
)
def test_every_record_of_mutated_files_is_kept_merged_or_set_aside(
        records: list[dict[str, Any]], others: list[dict[str, Any]]) -> None:
    with data_home() as home:
        load_file(home, "v1.json", wrap_v1(records))
        load_file(home, "v2.json", wrap_v2(others))
        build(home)
        con = duckdb.connect(str(home.warehouse_path), read_only=True)
        try:
            rows = con.execute(
                "SELECT file_name, records_in, kept + duplicates + set_aside FROM reconciliation "
                "ORDER BY file_name").fetchall()
        finally:
            con.close()
        assert rows == [("v1.json", len(records), len(records)),
                        ("v2.json", len(others), len(others))]


# --- DECP XML -------------------------------------------------------------------------------


@st.composite
def mutated_xml(draw: st.DrawFn) -> tuple[bytes, int]:
    """An official XML example with element texts replaced or elements removed, and how many
    records (marché / contrat-concession elements under the root) it holds."""
    path = draw(st.sampled_from(XML_FILES))
    tree = etree.parse(str(path))
    root = tree.getroot()
    elements = [el for el in root.iter() if el is not root and isinstance(el.tag, str)]
    for _ in range(draw(st.integers(0, 4))):
        el = draw(st.sampled_from(elements))
        if draw(st.booleans()):
            # XML 1.0 cannot carry these characters at all: lxml refuses them, so do real files.
            el.text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", "",
                             draw(texts))
        elif el.getparent() is not None and el.getparent() is not root:
            el.getparent().remove(el)
            elements = [e for e in root.iter() if e is not root and isinstance(e.tag, str)]
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8"), len(root)


@given(sample=mutated_xml(), data=st.data())
def test_mutated_xml_never_crashes(sample: tuple[bytes, int], data: st.DataObject) -> None:
    content, _ = sample
    if data.draw(st.booleans()):
        content = data.draw(damaged(content))
    with data_home() as home:
        load = load_file(home, "decp.xml", content)
        assert_french(load)
        assert load.records == staged_rows(home, load)


# --- DECP consolidated CSV ------------------------------------------------------------------


@given(
    rows=st.lists(st.sampled_from(TABULAR_ROWS), min_size=1, max_size=8),
    edits=st.lists(st.tuples(st.integers(0, 7), st.integers(0, len(TABULAR_HEADER) - 1), texts),
                   max_size=6),
)
def test_mutated_tabular_rows_are_each_read_once(
        rows: list[list[str]], edits: list[tuple[int, int, str]]) -> None:
    rows = [list(r) for r in rows]
    for row, column, value in edits:
        if row < len(rows):
            rows[row][column] = value.replace("\x00", "")  # a NUL ends a CSV field for good
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(TABULAR_HEADER)
    writer.writerows(rows)
    with data_home() as home:
        load = load_file(home, "decp.csv", buffer.getvalue().encode())
        assert_french(load)
        assert load.records == len(rows), load.errors
        assert staged_rows(home, load) == len(rows)


# --- Reference files ------------------------------------------------------------------------

REFERENCE_FILES = [
    DEMO / "ref" / "cpv_2008_fr.csv",
    DEMO / "ref" / "sirene_categorieEntreprise_titulaires_decp_2022.csv",
    DEMO / "ref" / "sirene_etablissements_titulaires_decp_2022.csv",
    DEMO / "ref" / "code_officiel_geographique_communes.csv",
]


@settings(max_examples=int(os.environ.get("PROPERTY_BUILDS", "4")))
@given(
    path=st.sampled_from(REFERENCE_FILES),
    edits=st.lists(st.tuples(st.integers(1, 30), st.integers(0, 20), texts), max_size=6),
)
def test_mutated_reference_files_never_crash_a_build(
        path: Path, edits: list[tuple[int, int, str]]) -> None:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [row for _, row in zip(range(31), csv.reader(fh), strict=False)]
    for line, column, value in edits:
        if line < len(rows) and rows[line]:
            rows[line][column % len(rows[line])] = value.replace("\x00", "")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    with data_home() as home:
        load = load_file(home, path.name, buffer.getvalue().encode())
        assert_french(load)
        build(home)
        assert home.warehouse_path.exists()


# --- Egalim purchase lines ------------------------------------------------------------------


@given(
    rows=st.lists(st.sampled_from(PURCHASE_ROWS), min_size=1, max_size=10),
    edits=st.lists(st.tuples(st.integers(0, 9), st.integers(0, len(PURCHASE_HEADER) - 1), texts),
                   max_size=6),
    cut=st.lists(st.integers(0, 9), max_size=2),
)
def test_mutated_purchase_lines_are_each_kept_or_set_aside(
        rows: list[list[str]], edits: list[tuple[int, int, str]], cut: list[int]) -> None:
    rows = [list(r) for r in rows]
    for row, column, value in edits:
        if row < len(rows):
            rows[row][column] = value.replace("\x00", "")
    for row in cut:  # a ragged row: a cell missing
        if row < len(rows) and rows[row]:
            rows[row].pop()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(PURCHASE_HEADER)
    writer.writerows(rows)
    with tempfile.TemporaryDirectory(prefix="obs-prop-") as tmp:
        source = Path(tmp) / "achats.csv"
        source.write_bytes(buffer.getvalue().encode())
        report = import_purchases(source, Path(tmp) / "out.parquet", canteens=CANTEENS,
                                  accept_partial=True, today=dt.date(2026, 7, 1))
    for problem in report.errors:
        assert not ENGLISH.search(problem.message), problem
        assert not ENGLISH.search(problem.hint), problem
    if report.status == "rejeté" and report.lines_read == 0:
        # The whole file was refused (its header): one error says why, on line 0 or 1.
        assert report.errors and report.errors[0].line in (0, 1)
        return
    # A cell with a line break is quoted (CRLF files): it spans physical lines, not records.
    assert report.lines_read == len(rows), report
    assert report.kept + report.set_aside + report.blank == report.lines_read, report
