"""The quality history: how complete and valid the data of each scope was, build after build.

At every build the step computes, per scope — the whole warehouse (``total``), each buyer
(``buyer``: a SIRET; a canteen is a buyer, a SIREN is the sum of its SIRETs) and each
directorate (``directorate``) — the contracts, how many have their key fields, how many have
an open finding of each severity, the open findings, the corrections applied, and the findings
opened and closed since the previous build.

An open finding is a finding no applied "not a defect" decision accepts. It is followed from one
build to the next by what it says: contract (or, without one, the record), rule, field and
published value. A finding id also digests the record (file and position), which changes with a
new version of a file although the finding does not. "Since the previous build" compares with
the warehouse in service when the build starts (attached read-only).

Like the indicators' history, the rows live in the catalog (SQLite), are copied into the
warehouse (``quality_history``, ``quality_builds``), and are committed only once their warehouse
is in service: a failed or killed build records nothing. A scope gets a row when one of its
numbers changed since its last row (or findings were opened or closed); a build without a row
for a scope carries the scope's last row forward, with nothing opened or closed. That keeps the
history small where thousands of buyers change rarely.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from observatoire.sqlquote import literal
from observatoire.warehouse import insert_rows

#: Key fields of a contract whose presence makes its completeness (as the dashboard shows it).
KEY_FIELDS = {
    "with_amount": "amount_initial IS NOT NULL",
    "with_cpv": "cpv IS NOT NULL",
    "with_notification_date": "notification_date_source = 'notification'",
    "with_holders": "holder_count > 0",
    "with_place": "place_code IS NOT NULL",
}
SEVERITIES = {"blocking": "bloquant", "warning": "avertissement", "correction": "correction",
              "information": "information"}
#: Numbers of a scope at a build (a row is recorded when one of them changes).
STOCKS = ("contracts", *KEY_FIELDS, "contracts_valid",
          *(f"contracts_{s}" for s in SEVERITIES), "open_findings", "corrections_applied")
FLOWS = ("findings_opened", "findings_closed")
COLUMNS = ("build_id", "recorded_at", "scope_kind", "scope_id", *STOCKS, *FLOWS)
BUILD_COLUMNS = ("build_id", "recorded_at", "profile_id", "compared_with")

_HISTORY_DDL = ("CREATE TABLE IF NOT EXISTS quality_history (build_id INTEGER, recorded_at TEXT, "
                "scope_kind TEXT, scope_id TEXT, "
                + ", ".join(f"{c} INTEGER" for c in (*STOCKS, *FLOWS)) + ")")
_BUILDS_DDL = ("CREATE TABLE IF NOT EXISTS quality_builds (build_id INTEGER, recorded_at TEXT, "
               "profile_id TEXT, compared_with INTEGER)")


@dataclass
class QualityChanges:
    """What a build adds to the history, committed once its warehouse is in service."""

    builds: list[tuple[Any, ...]] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)


def _published(catalog_path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with sqlite3.connect(catalog_path) as db:
        db.execute(_BUILDS_DDL)
        db.execute(_HISTORY_DDL)
        builds = db.execute(f"SELECT {', '.join(BUILD_COLUMNS)} FROM quality_builds "
                            "ORDER BY build_id").fetchall()
        rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM quality_history "
                          "ORDER BY build_id, scope_kind, scope_id").fetchall()
    return builds, rows


#: What a finding is followed by from one build to the next (see the module's docstring), over
#: ``findings f``. The build writes it as ``findings.follow_key``, so that the warehouse in
#: service need not digest its two million findings again at the next build.
FOLLOW_KEY = ("md5_number(concat_ws('|', COALESCE(f.uid, f.record_key), f.rule_id, f.field, "
              "COALESCE(f.raw_value, '∅')))")


#: Temporary tables an incremental build leaves for the steps after its patch: the record keys
#: whose findings it replaced (old and new records) and the uids of the corrections applied it
#: replaced (``observatoire.build_incremental``).
PATCHED_RECORDS = "patched_records_work"
PATCHED_CORRECTIONS = "patched_corrections_work"


def _open_keys(schema: str, directorate: bool, follow_key: bool = True,
               where: str = "TRUE") -> str:
    """Open findings of a warehouse (``schema``: main or the attached previous one), one row per
    finding key with its contract, severity, buyer and directorate (all follow from the key:
    the uid names the buyer, the rule its severity). ``follow_key``: whether its findings have
    the column (a warehouse built before it is digested here). ``where``: on findings ``f``."""
    return f"""
SELECT DISTINCT {"f.follow_key" if follow_key else FOLLOW_KEY} AS finding_key,
    f.uid, f.severity, f.buyer_siret, {"f.directorate_id" if directorate else "CAST(NULL AS VARCHAR)"}
        AS directorate_id
FROM {schema}.findings f
WHERE ({where}) AND NOT EXISTS (SELECT 1 FROM {schema}.corrections_applied d
                  WHERE d.action = 'not_a_defect' AND d.status = 'applied'
                    AND d.uid = f.uid AND d.rule_id = f.rule_id AND d.field = f.field
                    AND d.source_value IS NOT DISTINCT FROM f.raw_value)"""


def _by_scope(metrics: str, source: str) -> str:
    """``metrics`` of ``source`` (with ``buyer_siret`` and ``directorate_id`` columns) for the
    whole, each buyer and each directorate."""
    return f"""
SELECT CASE WHEN GROUPING(buyer_siret) = 0 THEN 'buyer'
            WHEN GROUPING(directorate_id) = 0 THEN 'directorate' ELSE 'total' END AS scope_kind,
    CASE WHEN GROUPING(buyer_siret) = 0 THEN buyer_siret
         WHEN GROUPING(directorate_id) = 0 THEN directorate_id ELSE '' END AS scope_id,
    {metrics}
FROM ({source}) s
GROUP BY GROUPING SETS ((), (buyer_siret), (directorate_id))
HAVING NOT (GROUPING(buyer_siret) = 0 AND buyer_siret IS NULL)
   AND NOT (GROUPING(directorate_id) = 0 AND directorate_id IS NULL)"""


def _previous(con: duckdb.DuckDBPyConnection, path: Path, where: str = "TRUE") -> int | None:
    """Attach the warehouse in service as ``previous`` and make ``quality_previous_work`` (its
    open finding keys; ``where``: of those findings ``f`` only); returns its build id, None when
    there is none to compare with."""
    if not path.exists():
        return None
    con.execute(f"ATTACH {literal(path)} AS previous (READ_ONLY)")
    try:
        columns = {(t, c) for t, c in con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE database_name = 'previous'").fetchall()}
        needed = {("findings", "uid"), ("findings", "raw_value"), ("findings", "severity"),
                  ("corrections_applied", "uid"), ("build_info", "build_id")}
        if not needed <= columns:
            return None
        con.execute("CREATE TEMP TABLE quality_previous_work AS "
                    + _open_keys("previous", ("findings", "directorate_id") in columns,
                                 ("findings", "follow_key") in columns, where))
        row = con.execute("SELECT max(build_id) FROM previous.build_info").fetchone()
        return int(row[0]) if row and row[0] is not None else None
    finally:
        con.execute("DETACH previous")


def _patched(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this warehouse is the one in service patched by an incremental build that says
    which findings it replaced (:data:`PATCHED_RECORDS`: the others are the rows in service,
    their directorate apart), and the findings it left are open or not as in service: none is
    of a contract whose corrections applied it replaced (a finding is open unless a "not a
    defect" correction of its contract accepts it)."""
    present = {t for (t,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
    if not {PATCHED_RECORDS, PATCHED_CORRECTIONS} <= present:
        return False
    return not con.execute(f"""SELECT EXISTS (SELECT 1 FROM findings f
        WHERE f.uid IN (SELECT uid FROM {PATCHED_CORRECTIONS})
          AND f.record_key NOT IN (SELECT record_key FROM {PATCHED_RECORDS}))""").fetchall()[0][0]


def stage(con: duckdb.DuckDBPyConnection, catalog_path: Path, previous_warehouse: Path,
          build_id: int, recorded_at: str, profile_id: str) -> QualityChanges:
    """Write ``quality_builds`` and ``quality_history`` (published rows + this build's) into the
    new warehouse; return this build's rows, to commit once the warehouse is in service."""
    con.execute("CREATE TABLE quality_builds (build_id INTEGER, recorded_at TIMESTAMP, "
                "profile_id VARCHAR, compared_with INTEGER)")
    con.execute("CREATE TABLE quality_history (build_id INTEGER, recorded_at TIMESTAMP, "
                "scope_kind VARCHAR, scope_id VARCHAR, "
                + ", ".join(f"{c} BIGINT" for c in (*STOCKS, *FLOWS)) + ")")
    builds, rows = _published(catalog_path)
    insert_rows(con, "quality_builds", builds)
    insert_rows(con, "quality_history", rows)
    patched = _patched(con)
    replaced = f"f.record_key IN (SELECT record_key FROM {PATCHED_RECORDS})"
    compared_with = _previous(con, previous_warehouse, replaced if patched else "TRUE")
    con.execute("CREATE TEMP TABLE quality_open_work AS " + _open_keys("main", True))
    if compared_with is None:  # nothing to compare with: flows stay NULL
        con.execute("CREATE OR REPLACE TEMP TABLE quality_previous_work AS "
                    "SELECT * FROM quality_open_work LIMIT 0")
    # opened: open now, not in service; closed: open in service, not now
    opened = """SELECT * FROM quality_open_work WHERE finding_key NOT IN
        (SELECT finding_key FROM quality_previous_work)"""
    closed = """SELECT * FROM quality_previous_work WHERE finding_key NOT IN
        (SELECT finding_key FROM quality_open_work)"""
    if patched and compared_with is not None:
        # quality_previous_work holds the open keys in service of the replaced findings only;
        # the other findings are open or not as in service (_patched): a key is opened or
        # closed when it is one of the replaced findings' and no other finding has it open
        con.execute("CREATE TEMP TABLE quality_replaced_now_work AS SELECT DISTINCT finding_key "
                    f"FROM ({_open_keys('main', True, where=replaced)})")
        others = f"""f.follow_key IN (SELECT finding_key FROM quality_replaced_now_work
                                     UNION SELECT finding_key FROM quality_previous_work)
            AND f.record_key NOT IN (SELECT record_key FROM {PATCHED_RECORDS})"""
        con.execute("CREATE TEMP TABLE quality_kept_work AS SELECT DISTINCT finding_key "
                    f"FROM ({_open_keys('main', True, where=others)})")
        opened = """SELECT * FROM quality_open_work
            WHERE finding_key IN (SELECT finding_key FROM quality_replaced_now_work)
              AND finding_key NOT IN (SELECT finding_key FROM quality_previous_work)
              AND finding_key NOT IN (SELECT finding_key FROM quality_kept_work)"""
        closed = """SELECT * FROM quality_previous_work
            WHERE finding_key NOT IN (SELECT finding_key FROM quality_replaced_now_work)
              AND finding_key NOT IN (SELECT finding_key FROM quality_kept_work)"""
    key_sums = ", ".join(f"sum(CAST({sql} AS INTEGER)) AS {name}"
                         for name, sql in KEY_FIELDS.items())
    severity_flags = ", ".join(f"bool_or(o.severity = '{s}') AS {name}"
                               for name, s in SEVERITIES.items())
    severity_sums = ", ".join(f"count(*) FILTER (WHERE {name}) AS contracts_{name}"
                              for name in SEVERITIES)
    # each contract with whether it has an open finding of each severity
    contracts = f"""
        SELECT c.*, pc.* EXCLUDE (uid) FROM contracts c
        LEFT JOIN (SELECT o.uid, {severity_flags} FROM quality_open_work o
                   WHERE o.uid IS NOT NULL GROUP BY o.uid) pc ON pc.uid = c.uid"""
    valid = "count(*) FILTER (WHERE NOT COALESCE(blocking OR warning, false))"
    con.execute(f"""CREATE TEMP TABLE quality_now_work AS
        WITH by_contract AS ({_by_scope(
            f"count(*) AS contracts, {key_sums}, {valid} AS contracts_valid, {severity_sums}",
            contracts)}),
        open_now AS ({_by_scope("count(*) AS n", "SELECT * FROM quality_open_work")}),
        applied AS ({_by_scope("count(*) AS n", '''
            SELECT a.buyer_siret, k.directorate_id FROM corrections_applied a
            LEFT JOIN contracts k ON k.uid = a.uid WHERE a.status = 'applied' ''')}),
        opened AS ({_by_scope("count(*) AS n", opened)}),
        closed AS ({_by_scope("count(*) AS n", closed)}),
        scopes AS (SELECT scope_kind, scope_id FROM by_contract
                   UNION SELECT scope_kind, scope_id FROM open_now
                   UNION SELECT scope_kind, scope_id FROM applied
                   UNION SELECT scope_kind, scope_id FROM closed)
        SELECT s.scope_kind, s.scope_id,
            {", ".join(f"COALESCE(b.{c}, 0) AS {c}" for c in STOCKS[:-2])},
            COALESCE(o.n, 0) AS open_findings, COALESCE(a.n, 0) AS corrections_applied,
            CASE WHEN ? THEN COALESCE(op.n, 0) END AS findings_opened,
            CASE WHEN ? THEN COALESCE(cl.n, 0) END AS findings_closed
        FROM scopes s
        LEFT JOIN by_contract b USING (scope_kind, scope_id)
        LEFT JOIN open_now o USING (scope_kind, scope_id)
        LEFT JOIN applied a USING (scope_kind, scope_id)
        LEFT JOIN opened op USING (scope_kind, scope_id)
        LEFT JOIN closed cl USING (scope_kind, scope_id)""",
                [compared_with is not None, compared_with is not None])
    differs = " OR ".join(f"l.{c} IS DISTINCT FROM n.{c}" for c in STOCKS)
    con.execute(f"""CREATE TEMP TABLE quality_changes_work AS
        WITH latest AS (
            SELECT * FROM quality_history
            QUALIFY row_number() OVER (PARTITION BY scope_kind, scope_id
                                       ORDER BY build_id DESC) = 1
        ),
        now_or_gone AS (
            SELECT * FROM quality_now_work
            UNION ALL
            -- a scope that had contracts or findings and has nothing left: a row of zeros
            SELECT l.scope_kind, l.scope_id, {", ".join("0" for _ in STOCKS)},
                CASE WHEN ? THEN 0 END, CASE WHEN ? THEN 0 END
            FROM latest l
            WHERE ({" OR ".join(f"l.{c} <> 0" for c in STOCKS)})
              AND NOT EXISTS (SELECT 1 FROM quality_now_work n
                              WHERE n.scope_kind = l.scope_kind AND n.scope_id = l.scope_id)
        )
        SELECT CAST(? AS INTEGER) AS build_id, CAST(? AS TIMESTAMP) AS recorded_at, n.*
        FROM now_or_gone n
        LEFT JOIN latest l USING (scope_kind, scope_id)
        WHERE l.scope_kind IS NULL OR {differs}
           OR COALESCE(n.findings_opened, 0) > 0 OR COALESCE(n.findings_closed, 0) > 0
        ORDER BY n.scope_kind, n.scope_id""",
        [compared_with is not None, compared_with is not None, build_id, recorded_at])
    con.execute("INSERT INTO quality_history SELECT * FROM quality_changes_work")
    changed = [(build_id, recorded_at, *row[2:]) for row in con.execute(
        "SELECT * FROM quality_changes_work").fetchall()]
    build_row = (build_id, recorded_at, profile_id, compared_with)
    con.execute("INSERT INTO quality_builds VALUES (?, CAST(? AS TIMESTAMP), ?, ?)",
                list(build_row))
    for table in ("quality_open_work", "quality_previous_work", "quality_now_work",
                  "quality_changes_work", "quality_replaced_now_work", "quality_kept_work"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return QualityChanges([build_row], changed)


def commit(catalog_path: Path, changes: QualityChanges) -> None:
    """Record a build's snapshot whose warehouse is now in service."""
    if not changes.builds:
        return
    with sqlite3.connect(catalog_path) as db:
        db.execute(_BUILDS_DDL)
        db.execute(_HISTORY_DDL)
        db.executemany(f"INSERT INTO quality_builds VALUES ({', '.join('?' * 4)})",
                       changes.builds)
        db.executemany(
            f"INSERT INTO quality_history VALUES ({', '.join('?' * len(COLUMNS))})",
            changes.rows)


def series(con: duckdb.DuckDBPyConnection, kind: str, scope_id: str, *, prefix: bool = False,
           limit: int = 60) -> list[dict[str, Any]]:
    """A scope's numbers at each of the last ``limit`` builds (oldest first), its last row
    carried forward where a build recorded none. ``prefix``: the buyers whose SIRET starts with
    ``scope_id`` (a SIREN), summed."""
    rows = con.execute(f"""
        WITH chosen AS (
            SELECT * FROM quality_history
            WHERE scope_kind = ? AND (scope_id = ? OR (? AND starts_with(scope_id, ?)))
        ),
        ids AS (SELECT DISTINCT scope_id FROM chosen),
        builds AS (SELECT * FROM quality_builds ORDER BY build_id DESC LIMIT ?),
        grid AS (SELECT b.build_id, b.recorded_at, b.compared_with, i.scope_id
                 FROM builds b CROSS JOIN ids i),
        carried AS (
            SELECT g.build_id AS at_build, g.recorded_at AS at_time, g.compared_with,
                h.* EXCLUDE (recorded_at)
            FROM grid g ASOF LEFT JOIN chosen h
                ON g.scope_id = h.scope_id AND g.build_id >= h.build_id
        )
        SELECT at_build AS build_id, any_value(at_time) AS recorded_at,
            {", ".join(f"sum({c}) AS {c}" for c in STOCKS)},
            {", ".join(f'''CASE WHEN any_value(compared_with) IS NULL THEN NULL
                ELSE COALESCE(sum({c}) FILTER (WHERE build_id = at_build), 0) END AS {c}'''
                       for c in FLOWS)}
        FROM carried
        GROUP BY at_build HAVING count(build_id) > 0
        ORDER BY at_build""", [kind, scope_id, prefix, scope_id, limit])
    names = [d[0] for d in rows.description or []]
    result = []
    for values in rows.fetchall():
        row = dict(zip(names, values, strict=True))
        contracts = row["contracts"] or 0
        row["completeness"] = (sum(row[k] for k in KEY_FIELDS) / (len(KEY_FIELDS) * contracts)
                               if contracts else None)
        row["validity"] = row["contracts_valid"] / contracts if contracts else None
        result.append(row)
    return result
