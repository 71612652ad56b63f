"""Fast path of the JSON parser: well-formed DECP JSON files normalised in DuckDB SQL.

The streaming Python parser (:func:`observatoire.staging.parse.iter_json`) costs ~50 µs a record
(building dicts, :func:`~observatoire.staging.records.normalise`, rows to columns). DuckDB reads a
whole file in a fraction of that. This module handles, in SQL, the records of the common shape
(DECP 2019 marchés: scalar fields, ``acheteur`` and ``lieuExecution`` objects, lists of holder and
modification objects) and hands every other record, as JSON text, to the same Python
``normalise``, as does any record whose text orjson would write differently (so ``raw_json`` is
the same too); rows are then put back in file order. The output is the same staging table, column
for column (``tests/test_json_sql.py`` checks it on the demo files and the fixtures).

Only files the two readers see alike take this path: UTF-8 without BOM or NaN, no trailing commas
(DuckDB accepts them, ijson does not), below :data:`MAX_BYTES` (the file is read whole). Anything
DuckDB rejects, or any number ijson would reject (``Infinity``, integers beyond 64 bits, overflowing
exponents), sends the whole file back to the streaming parser, which then reports the problem as
before.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from observatoire.sqlquote import literal
from observatoire.staging.detect import Detected
from observatoire.staging.records import (
    HOLDER_KEYS,
    PARTY_KEYS,
    PLACE_KEYS,
    SCHEMA,
    V2_KEYS,
    normalise,
    to_batch,
)

#: Files up to this size are read whole by DuckDB; larger ones are streamed by ijson.
MAX_BYTES = 128 * 1024 * 1024
#: Below this size the streaming parser is cheaper than DuckDB's fixed cost (a connection, its
#: macros, six statements: about 60 ms a file; the national per-publication files are a few
#: kilobytes each). Measured by ``bench/small_files.py``.
MIN_BYTES = 1024 * 1024
FORMATS = {"decp-json-list", "decp-json-wrapped"}
#: Invalid JSON that DuckDB accepts (ijson does not): a comma before a closing bracket, or anything
#: but a comma or a closing bracket after one (a second document). Inside a string such bytes are
#: harmless but send the file to the streaming parser all the same.
DUCKDB_ONLY = re.compile(rb",\s*[\]}]|[}\]]\s*[^\s,}\]]")

#: Top-level scalar fields of a 2019 marché: staging column -> JSON key.
SCALAR_KEYS = {
    "raw_type": "_type",
    "raw_source": "source",
    "raw_uid": "uid",
    "raw_id": "id",
    "raw_nature": "nature",
    "raw_object": "objet",
    "raw_cpv": "codeCPV",
    "raw_procedure": "procedure",
    "raw_duration": "dureeMois",
    "raw_notification_date": "dateNotification",
    "raw_publication_date": "datePublicationDonnees",
    "raw_amount": "montant",
    "raw_price_form": "formePrix",
    "raw_signature_date": "dateSignature",
    "raw_start_date": "dateDebutExecution",
    "raw_subsidy": "montantSubventionPublique",
}
#: Keys whose presence sends a record to Python: 2024 fields, concessions, flat buyer keys,
#: wrappers ({"titulaire": ...}, {"modification": ...}) and the concession variants of
#: modification fields (their "key or else other key" choice depends on presence, not value).
PYTHON_KEYS = sorted(
    V2_KEYS
    | {
        "autoriteConcedante",
        "autoriteConcedante.id",
        "concessionnaires",
        "concessionnaire",
        "acheteur.id",
        "acheteur_id",
        "titulaire",
        "modification",
        "dateSignatureModification",
        "valeurGlobale",
    }
)
HOLDER = "STRUCT(typeIdentifiant VARCHAR, id VARCHAR, denominationSociale VARCHAR)"
MODIFICATION = (
    "STRUCT(id VARCHAR, objetModification VARCHAR, dateNotificationModification VARCHAR, "
    "datePublicationDonneesModification VARCHAR, dureeMois VARCHAR, montant VARCHAR, "
    f"titulaires {HOLDER}[])"
)
#: The record as DuckDB's JSON reader converts it: any other shape (an object where a list is
#: expected, duplicate keys...) is an error, and the file is streamed by Python instead.
RECORD = (
    "STRUCT("
    + ", ".join(f'"{key}" VARCHAR' for key in SCALAR_KEYS.values())
    + ", acheteur STRUCT(id VARCHAR, nom VARCHAR), "
    "lieuExecution STRUCT(code VARCHAR, typeCode VARCHAR, nom VARCHAR), "
    f"titulaires {HOLDER}[], modifications {MODIFICATION}[])"
)


def _quote(text: str) -> str:
    return literal(text)


# A value read as VARCHAR is what Python's text() gives for strings, integers, booleans and
# floats in plain notation; containers (read as JSON text) go to Python.
MACROS = r"""
CREATE OR REPLACE TEMP MACRO plain(x) AS x IS NULL OR NOT (x[1] IN ('{', '['));
-- true for an empty list (list_bool_and gives NULL), false if any item is not true
CREATE OR REPLACE TEMP MACRO all_true(l) AS len(list_filter(l, lambda x: x IS NOT TRUE)) = 0;
CREATE OR REPLACE TEMP MACRO holders_ok(l) AS l IS NULL OR all_true(list_transform(l,
    lambda h: h IS NOT NULL AND plain(h.typeIdentifiant) AND plain(h.id)
              AND plain(h.denominationSociale)));
CREATE OR REPLACE TEMP MACRO holders_of(l) AS list_transform(l, lambda h: struct_pack(
    id_type := h.typeIdentifiant, id := h.id, name := h.denominationSociale));
"""

#: Keys handled in Python, and numbers that Python's text() writes in exponent notation
#: (below 1e-4, from 1e16), unlike DuckDB.
PYTHON_TEXT = (
    r"[:,\[]-?([0-9]{16}|0\.0000|[0-9.]+[eE])|\"("
    + "|".join(k.replace(".", r"\.") for k in PYTHON_KEYS)
    + r')\":'
    # NUL characters (see records.normalise); keys with stray spaces fail only_known_keys
    + r"|\\u0000"
)
#: The keys a record of the common shape may have, at the top and in its objects: a record with
#: any other key (which Python names in the record's notes) goes to Python.
TOP_KEYS = frozenset(
    [*SCALAR_KEYS.values(), "acheteur", "lieuExecution", "titulaires", "modifications"]
)
MODIFICATION_KEYS = frozenset(
    {"id", "objetModification", "dateNotificationModification",
     "datePublicationDonneesModification", "dureeMois", "montant", "titulaires"}
)


def only_known_keys(record: Any) -> bool:
    """Whether every key of a record of the common shape is one the SQL path reads (anything
    unexpected, such as a text where an object should be, goes to Python as well)."""
    if not isinstance(record, dict) or not record.keys() <= TOP_KEYS:
        return False
    for name, known in (("acheteur", PARTY_KEYS), ("lieuExecution", PLACE_KEYS)):
        part = record.get(name)
        if part is not None and not (isinstance(part, dict) and part.keys() <= known):
            return False
    mods = record.get("modifications") or []
    holders = list(record.get("titulaires") or [])
    for m in mods:
        if not (isinstance(m, dict) and m.keys() <= MODIFICATION_KEYS):
            return False
        holders.extend(m.get("titulaires") or [])
    return all(h is None or (isinstance(h, dict) and h.keys() <= HOLDER_KEYS) for h in holders)


#: A number token ijson rejects (infinities, NaN, integers past 64 bits, 3-digit exponents).
BAD_NUMBER = r"[:,\[]-?([Ii]nf|[Nn]a[Nn]|[0-9]{19}|[0-9.]+[eE][-+]?[0-9]{3})"
STRING = r'"([^"\\]|\\.)*"'


def _query(file_hash: str) -> tuple[str, str]:
    """SQL over ``recs`` (pos, listed_as, j) and ``typed`` (pos, r): the records with their
    shape checked (``checked``), then the staging rows of those of the common shape."""
    scalars = ",\n    ".join(f'r."{key}" AS {col}' for col, key in SCALAR_KEYS.items())
    plain = " AND ".join(f'plain(r."{key}")' for key in SCALAR_KEYS.values())
    checked = f"""
WITH base AS (
    -- Both reads list the records in file order (one thread): rows are paired by position.
    -- Concessions of a wrapped file come last in recs and have no typed row.
    SELECT recs.pos, recs.listed_as, CAST(recs.j AS VARCHAR) AS t, typed.r,
        typed.pos IS NOT NULL AND typed.pos <> recs.pos AS misaligned
    FROM recs POSITIONAL JOIN typed
),
flags AS (
    SELECT *, (r IS NOT NULL
        AND NOT regexp_matches(t, {_quote(PYTHON_TEXT)})
        AND (r._type IS NULL OR r._type IN ('', 'Marché'))
        AND {plain}
        AND plain(r.acheteur.id) AND plain(r.acheteur.nom)
        AND plain(r.lieuExecution.code) AND plain(r.lieuExecution.typeCode)
        AND plain(r.lieuExecution.nom)
        AND holders_ok(r.titulaires)

        AND (r.modifications IS NULL OR all_true(list_transform(r.modifications, lambda m:
            m IS NOT NULL AND plain(m.id) AND plain(m.objetModification)
            AND plain(m.dateNotificationModification)
            AND plain(m.datePublicationDonneesModification) AND plain(m.dureeMois)
            AND plain(m.montant) AND holders_ok(m.titulaires))))) IS TRUE AS simple,
        CASE WHEN regexp_matches(t, {_quote(BAD_NUMBER)}) THEN regexp_matches(
            regexp_replace(t, {_quote(STRING)}, '""', 'g'), {_quote(BAD_NUMBER)}) END
        IS TRUE AS bad_number
    FROM base
)
SELECT pos, listed_as, t, r, simple, bad_number OR misaligned AS stream_file FROM flags
"""
    simple = f"""
SELECT
    {_quote(file_hash)} AS file_hash, CAST(pos AS BIGINT) AS position,
    CAST(NULL AS BIGINT) AS line, 'marche' AS kind, '2019' AS family,
    {scalars},
    r.acheteur.id AS raw_buyer_id, r.acheteur.nom AS raw_buyer_name,
    r.lieuExecution.code AS raw_place_code, r.lieuExecution.typeCode AS raw_place_type,
    r.lieuExecution.nom AS raw_place_name,
    NULL AS raw_framework_id, NULL AS raw_innovative, NULL AS raw_ccag, NULL AS raw_offers,
    NULL AS raw_advance_granted, NULL AS raw_advance_rate, NULL AS raw_grouping,
    NULL AS raw_subcontracting_declared, NULL AS raw_origin_eu, NULL AS raw_origin_fr,
    NULL AS raw_version, NULL AS raw_holder_departement, NULL AS raw_holder_region,
    NULL AS raw_buyer_departement, NULL AS raw_buyer_region,
    CAST([] AS VARCHAR[]) AS raw_techniques, CAST([] AS VARCHAR[]) AS raw_execution_modes,
    CAST([] AS VARCHAR[]) AS raw_price_types, CAST([] AS VARCHAR[]) AS raw_social,
    CAST([] AS VARCHAR[]) AS raw_environmental,
    COALESCE(holders_of(r.titulaires), []) AS holders,
    COALESCE(list_transform(r.modifications, lambda m, i: struct_pack(
        position := CAST(i - 1 AS INTEGER), mod_id := m.id, object := m.objetModification,
        notification_date := m.dateNotificationModification,
        publication_date := m.datePublicationDonneesModification,
        duration := m.dureeMois, amount := m.montant,
        holders := CASE WHEN len(m.titulaires) > 0 THEN holders_of(m.titulaires) END)), [])
        AS modifications,
    [] AS subcontracts, [] AS execution, CAST([] AS VARCHAR[]) AS notes,
    CAST([] AS VARCHAR[]) AS absent_fields, t AS raw_json
FROM checked WHERE simple AND pos NOT IN (SELECT position FROM fallback)
"""
    return simple, checked


def eligible(path: Path, det: Detected) -> bool:
    """Whether the file may take the SQL path (see the module's docstring)."""
    if det.format not in FORMATS or det.encoding != "utf-8" or det.errors != "strict":
        return False
    if det.has_nan or det.notes or path.stat().st_size > MAX_BYTES:
        return False
    # RE2 in DuckDB scans the file about four times faster than Python's re (a third of the
    # time of the whole fast path went to this check).
    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")
        found = con.execute(
            "SELECT regexp_matches(content, ?) FROM read_text(?)",
            [DUCKDB_ONLY.pattern.decode(), str(path)],
        ).fetchone()
    except duckdb.Error:
        return False
    finally:
        con.close()
    return found is not None and found[0] is False


def _reads(path: Path, det: Detected) -> tuple[str, str]:
    """SQL reading the file: each record as JSON text (``recs``: pos, listed_as, j) and the
    marchés as typed structs (``typed``: pos, r)."""
    source = (
        f"read_json({_quote(str(path))}, format = 'unstructured', records = true, "
        f"maximum_object_size = {path.stat().st_size + 1024}, columns = "
    )
    if det.format == "decp-json-list":
        recs = (
            "SELECT unnest(marches) AS j, generate_subscripts(marches, 1) AS pos, "
            f"NULL::VARCHAR AS listed_as FROM {source}{{marches: 'JSON[]'}})"
        )
        typed = (
            "SELECT unnest(marches) AS r, generate_subscripts(marches, 1) AS pos "
            f"FROM {source}{{marches: '{RECORD}[]'}})"
        )
        return recs, typed
    wrapped = f"{source}{{marches: 'STRUCT(marche JSON[], \"contrat-concession\" JSON[])'}})"
    recs = (
        "SELECT unnest(m) AS j, generate_subscripts(m, 1) + base AS pos, listed_as FROM ("
        f"SELECT marches.marche AS m, 0 AS base, 'marche' AS listed_as FROM {wrapped}"
        " UNION ALL SELECT marches.\"contrat-concession\", COALESCE(len(marches.marche), 0), "
        f"'contrat-concession' FROM {wrapped})"
    )
    typed = (
        "SELECT unnest(marches.marche) AS r, generate_subscripts(marches.marche, 1) AS pos "
        f"FROM {source}{{marches: 'STRUCT(marche {RECORD}[])'}})"
    )
    return recs, typed


def duck_type(t: pa.DataType) -> str:
    """The DuckDB type of an Arrow type of :data:`SCHEMA`."""
    if pa.types.is_list(t):
        return duck_type(t.value_type) + "[]"
    if pa.types.is_struct(t):
        fields = ", ".join(f'"{f.name}" {duck_type(f.type)}' for f in t)
        return f"STRUCT({fields})"
    return {pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.int32(): "INTEGER"}[t]


def parse(path: Path, det: Detected, file_hash: str, out: Path) -> tuple[int, int] | None:
    """Write the staging rows of ``path``, in file order, to the Parquet file ``out`` and return
    the counts of marchés and concessions; None (nothing written) if the file must be streamed."""
    con = duckdb.connect()
    try:
        # One thread: the ingest already parses several files at once, one per process. No
        # spilling (it would write to the current folder): a file too big is streamed instead.
        con.execute("SET threads = 1")
        con.execute("SET memory_limit = '1GB'")
        con.execute("SET temp_directory = ''")
        for statement in MACROS.split(";"):
            if statement.strip():
                con.execute(statement)
        recs, typed = _reads(path, det)
        con.execute(f"CREATE TEMP TABLE recs AS {recs}")
        con.execute(f"CREATE TEMP TABLE typed AS {typed}")
        simple_sql, checked_sql = _query(file_hash)
        con.execute(f"CREATE TEMP TABLE checked AS {checked_sql}")
        con.execute("DROP TABLE recs")
        con.execute("DROP TABLE typed")
        if con.execute("SELECT bool_or(stream_file) FROM checked").fetchall() == [(True,)]:
            return None
        # raw_json must be what orjson writes for the record: a record whose text orjson would
        # write differently (float notation, escapes, duplicate keys) goes to Python too.
        texts = con.sql("SELECT pos, encode(t) AS b FROM checked WHERE simple").to_arrow_table()
        redo = {
            pos
            for pos, text in zip(
                texts.column("pos").to_pylist(), texts.column("b").to_pylist(), strict=True
            )
            if not only_known_keys(record := orjson.loads(text)) or orjson.dumps(record) != text
        }
        del texts
        others = con.execute(
            "SELECT pos, t, listed_as FROM checked WHERE NOT simple OR list_contains(?, pos) "
            "ORDER BY pos",
            [sorted(redo)],
        ).fetchall()
        rows = [
            normalise(json.loads(text), file_hash=file_hash, position=pos, listed_as=listed_as)
            for pos, text, listed_as in others
        ]
        fallback = pa.Table.from_batches([to_batch(rows)] if rows else [], SCHEMA)
        con.register("fallback", fallback)
        columns = ", ".join(f"CAST({f.name} AS {duck_type(f.type)}) AS {f.name}" for f in SCHEMA)
        con.execute(
            f"COPY (SELECT {columns} FROM ({simple_sql} UNION ALL BY NAME "
            f"SELECT * FROM fallback) ORDER BY position) "
            f"TO {_quote(str(out))} (FORMAT parquet, COMPRESSION zstd)"
        )
        total = con.execute("SELECT count(*) FROM checked").fetchall()[0]
    except (duckdb.Error, orjson.JSONDecodeError, UnicodeDecodeError):
        # UnicodeDecodeError: DuckDB can cut a long odd key mid-character; the stream reads it.
        out.unlink(missing_ok=True)
        return None
    finally:
        con.close()
    concessions = sum(1 for row in rows if row["kind"] == "concession")
    records = total[0] if total else 0
    return records - concessions, concessions
