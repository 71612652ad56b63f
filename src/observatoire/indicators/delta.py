"""An incremental build's indicator results, from the fact rows that changed.

The complete build keeps every batch's groups and their aggregates (``compute.GROUPS``, see
``compute.Batch``). Here, for each batch of a grain whose fact rows changed
(``changed_<fact table>``, a row as it was with ``change`` -1, as it is with 1):

1. the changed rows are grouped by the batch's own query, old and new apart: the groups they
   fall in are the touched ones;
2. a touched group's counts and sums become the kept ones, less the old rows', plus the new
   rows' (exact: integers and decimals); its other aggregates (medians, distinct counts) are
   computed again from the fact rows; a group left without rows goes;
3. the result rows of the touched breakdown values, every period (a status compares a year
   with the one before), are made again from their groups, judged, and replace theirs.

The cost follows the changed rows and the groups they touch, not the fact tables' size, but
for the aggregates that are not sums (three indicators of the generic profile).
"""

from __future__ import annotations

import logging
from datetime import date

import duckdb

from observatoire.indicators import compute
from observatoire.indicators.compute import GROUPS, Batch, column_types
from observatoire.indicators.grains import GRAINS
from observatoire.indicators.profile import Profile

#: A group of the kept table ``g`` is one of ``t``'s (the category aside).
_SAME_GROUP = """g.gp = t.gp AND g.period_year IS NOT DISTINCT FROM t.period_year
    AND g.breakdown = t.breakdown AND g.breakdown_value IS NOT DISTINCT FROM t.breakdown_value"""
_SAME_SERIES = """g.breakdown = t.breakdown
    AND g.breakdown_value IS NOT DISTINCT FROM t.breakdown_value"""
log = logging.getLogger(__name__)
_WORK = ("delta_work", "touched_work", "merged_work", "others_work")


def recompute(con: duckdb.DuckDBPyConnection, profile: Profile, today: date,
              grains: set[str], digest: str) -> None:
    """The results of an incremental build (see the module) for the ``grains`` whose fact
    rows changed (``digest``: :func:`compute.queries_digest`); the catalogue tables again; the indicators a step computes (payments) and
    the unavailable ones again (a few rows each); the others' rows as they were."""
    computed = compute.step_computed(con, profile)
    compute.catalogue_tables(con, profile, today, computed)
    con.execute(f"CREATE TEMP TABLE results_raw ({compute.RESULTS_COLUMNS})")
    con.execute("""CREATE TEMP TABLE refinished_work (indicator_id VARCHAR, version INTEGER,
        breakdown VARCHAR, breakdown_value VARCHAR)""")
    undefined, skipped = compute.undefined_fields(profile), compute.skipped_breakdowns(profile)
    log.info("Indicateurs mis à jour par les lignes de faits changées : %s.",
             ", ".join(sorted(grains)) or "aucune")
    available = [i for i in profile.indicators if i.available]
    for n, inds in enumerate(compute.batches(available, skipped)):
        if inds[0].grain in grains:
            _patch(con, n, Batch(inds, undefined, skipped), digest)
    again = [(i.id, i.version) for i in profile.indicators if not i.available]
    for ind in profile.indicators:
        if not ind.available and (ind.id, ind.version) in computed:
            compute.step_rows(con, ind, computed[(ind.id, ind.version)])
    compute.judge(con, profile, today, "TEMP TABLE new_results_work")
    # (one join on equalities each: an OR of the two would compare every pair of rows)
    con.execute("""DELETE FROM indicator_results r USING refinished_work w
        WHERE r.indicator_id = w.indicator_id AND r.version = w.version
          AND r.breakdown = w.breakdown
          AND r.breakdown_value IS NOT DISTINCT FROM w.breakdown_value""")
    if again:
        con.execute("""DELETE FROM indicator_results r
            USING (SELECT unnest(?) AS indicator_id, unnest(?) AS version) w
            WHERE r.indicator_id = w.indicator_id AND r.version = w.version""",
                    [[i for i, _ in again], [v for _, v in again]])
    con.execute("INSERT INTO indicator_results BY NAME SELECT * FROM new_results_work")
    compute.unavailable_rows(con, profile, computed)
    # a buyer's name is its rows' label: kept rows of a buyer the new files renamed
    con.execute("""UPDATE indicator_results r SET breakdown_label = b.name FROM buyers b
        WHERE r.breakdown = 'buyer' AND b.buyer_siret = r.breakdown_value
          AND r.breakdown_label IS DISTINCT FROM b.name""")
    for table in ("new_results_work", "refinished_work", *_WORK):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _patch(con: duckdb.DuckDBPyConnection, n: int, batch: Batch, digest: str) -> None:
    """Batch ``n``'s touched groups patched in :data:`GROUPS`, the result rows of their
    breakdown values into ``results_raw``, and those values into ``refinished_work``."""
    changed = f"changed_{GRAINS[batch.grain].table}"
    types = column_types(con, batch.grouped())
    additive = batch.additive(types)
    others = [c for c in batch.columns() if c not in additive]
    # the changed rows' own groups, the old rows' (change -1) apart from the new rows' (1)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE delta_work AS
        {batch.grouped(changed, only=additive, key="change")}""")
    if not con.execute("""CREATE OR REPLACE TEMP TABLE touched_work AS
            SELECT DISTINCT period_year, gp, breakdown, breakdown_value FROM delta_work
            """).fetchall()[0][0]:
        return  # no changed row in the batch's population and years
    touched = f"EXISTS (SELECT 1 FROM touched_work t WHERE {_SAME_GROUP})"
    kept = batch.unpack(n, types, touched)

    def patched(column: str) -> str:
        total = f"CAST(SUM(sign * {column}) AS {types[column]})"
        count = batch.companions.get(column)
        # a sum of no value is NULL
        return f"CASE WHEN SUM(sign * {count}) > 0 THEN {total} END" if count else total

    keep_empty = ("FALSE" if batch.category
                  else f"(gp = 1 AND breakdown = '{compute.TOTAL}')")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE merged_work AS
        SELECT period_year, gp, breakdown, breakdown_value, category,
            {", ".join(f"{patched(c)} AS {c}" for c in additive)}
        FROM (SELECT 1 AS sign, * FROM ({kept})
              UNION ALL BY NAME SELECT change AS sign, * EXCLUDE (change) FROM delta_work)
        GROUP BY period_year, gp, breakdown, breakdown_value, category
        -- a group left without rows is no more, but the whole scope's (an empty set)
        HAVING SUM(sign * {batch.records}) > 0 OR {keep_empty}""")
    groups = "SELECT * FROM merged_work"
    if others:
        # computed again from every row (the touched groups kept): a daily file touches
        # most values of most breakdowns, where reading the rows of each touched value apart
        # costs more than one grouping of every row
        con.execute(f"CREATE OR REPLACE TEMP TABLE others_work AS {batch.grouped(only=others)}")
        groups = f"""SELECT m.*, {", ".join(f"o.{c}" for c in others)}
            FROM merged_work m LEFT JOIN others_work o
            ON o.gp = m.gp AND o.period_year IS NOT DISTINCT FROM m.period_year
               AND o.breakdown = m.breakdown
               AND o.breakdown_value IS NOT DISTINCT FROM m.breakdown_value
               AND o.category IS NOT DISTINCT FROM m.category"""
    con.execute(f"DELETE FROM {GROUPS} g WHERE batch = {n} AND {touched}")
    con.execute(f"INSERT INTO {GROUPS} {batch.pack(n, types, groups, digest)}")
    # every period of the touched values: a status compares a year with the one before
    series = f"EXISTS (SELECT 1 FROM touched_work t WHERE {_SAME_SERIES})"
    con.execute(f"INSERT INTO results_raw {batch.finish(batch.unpack(n, types, series))}")
    con.execute("""INSERT INTO refinished_work
        SELECT i.id, i.version, s.breakdown, s.breakdown_value
        FROM (SELECT DISTINCT breakdown, breakdown_value FROM touched_work) s
        CROSS JOIN (SELECT unnest(?) AS id, unnest(?) AS version) i""",
                [[i.id for i in batch.inds], [i.version for i in batch.inds]])
