"""Indicators → SQL → the ``indicator_results`` table, with evidence for every value.

One query per indicator version reads its grain's fact table once and computes every period and
every allowed breakdown with ``GROUPING SETS`` (:func:`indicator_query`, the SQL the catalogue
table shows). The step runs the indicators that read the same rows together, in one query of the
same form (:func:`batch_query`, :class:`Batch`), and keeps their groups' aggregates
(:data:`GROUPS`) for the next incremental build (``indicators.delta``). The queries use a
portable SQL subset (``CASE``,
``SUM``, ``COUNT``, ``GROUPING SETS``, window functions; the tests render every one of them for
Spark with sqlglot) so the same catalogue can run on a distributed engine.

Values follow three-valued logic: a row whose condition is unknown (NULL) is left out of the
numerator *and* the denominator and lowers the coverage; it is never counted as "no".
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from datetime import date

import duckdb
import sqlglot
from sqlglot import exp

from observatoire.indicators.facts import build_facts
from observatoire.indicators.grains import BREAKDOWN_LABELS, GRAINS
from observatoire.indicators.profile import STEP_RESULTS, Indicator, Profile, Target
from observatoire.sqlquote import identifier
from observatoire.warehouse import insert_rows

#: Status codes of a result (French labels in STATUS_LABELS).
STATUS_LABELS = {
    "met": "atteint",
    "not_met": "non atteint",
    "on_track": "en bonne voie",
    "insufficient_data": "données insuffisantes",
    "unavailable": "données non disponibles",
    "small_sample": "échantillon trop petit",
}
#: French names of the bases.
BASIS_LABELS = {
    "count": "nombre",
    "value": "montant",
    "mean": "moyenne",
    "median": "médiane",
    "sum": "somme",
    "distinct": "distincts",
    "ratio": "ratio",
}
ALL_PERIODS = "toutes"
#: The period of the records without a date: counted in ALL_PERIODS, in no year.
UNDATED = "date inconnue"
TOTAL = "total"
#: Sums are exact decimals, so that builds give the same values whatever the thread count.
_EXACT = "DECIMAL(38,6)"

RESULTS_COLUMNS = """indicator_id VARCHAR, version INTEGER, code VARCHAR, period VARCHAR,
    period_year INTEGER, breakdown VARCHAR, breakdown_value VARCHAR, category VARCHAR,
    basis VARCHAR, numerator DOUBLE, denominator DOUBLE, value DOUBLE, record_count BIGINT,
    known_count BIGINT, coverage DOUBLE, undated_count BIGINT, unknown_low DOUBLE,
    unknown_high DOUBLE"""


@dataclass(frozen=True)
class _Basis:
    """SQL of one basis: which rows are known, the numerator, the denominator, the value."""

    name: str
    known: str
    numerator: str
    denominator: str
    value: str | None = None  # default: numerator / denominator
    #: Shares only: the amount whose condition is unknown, for the range it allows...
    unknown: str | None = None
    #: ...or, for a count, the rows that are not known (no aggregate of its own).
    unknown_is_rest: bool = False
    #: The unknowns are already in the denominator (counted as "no" by a legal definition).
    unknown_in_denominator: bool = False


def _restrict(aggregate_sql: str, known: str) -> str:
    """``SUM(x)`` → ``SUM(CAST(CASE WHEN known THEN x END AS DECIMAL))``; same for COUNT."""
    tree = sqlglot.parse_one(aggregate_sql, dialect="duckdb")
    condition = sqlglot.parse_one(known, dialect="duckdb")
    arg = tree.this
    if isinstance(arg, exp.Star):
        tree.set("this", exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))]))
    elif isinstance(arg, exp.Distinct):
        inner = arg.expressions[0]
        arg.set("expressions", [exp.Case(ifs=[exp.If(this=condition, true=inner)])])
    else:
        case = exp.Case(ifs=[exp.If(this=condition, true=arg)])
        tree.set(
            "this",
            exp.Cast(this=case, to=exp.DataType.build(_EXACT)) if isinstance(tree, exp.Sum) else case,
        )
    return tree.sql(dialect="duckdb")


def _not_null(columns: frozenset[str]) -> str:
    return " AND ".join(f"{c} IS NOT NULL" for c in sorted(columns)) or "TRUE"


def _bases(ind: Indicator, undefined: frozenset[str] = frozenset()) -> list[_Basis]:
    """SQL of each basis of ``ind``; ``undefined``: fields the profile cannot know at all
    (no territory: nobody is local or not), which make any condition reading them unknown,
    even one that three-valued logic would settle (FALSE AND unknown)."""
    v = ind.value_field
    out = []
    for basis in ind.bases:
        if ind.measure == "share":
            assert ind.condition is not None
            c = ind.condition.sql
            c_known = " AND ".join(
                [f"({c}) IS NOT NULL",
                 *(f"{col} IS NOT NULL" for col in sorted(ind.condition.columns & undefined))])
            # a legal rate over the whole population: the unknowns stay in the denominator
            as_no = ind.unknown_counts_as_no
            if basis == "count":
                known = c_known
                out.append(_Basis(basis, known,
                                  f"SUM(CASE WHEN ({known}) AND ({c}) THEN 1 ELSE 0 END)",
                                  "SUM(1)" if as_no else
                                  f"SUM(CASE WHEN {known} THEN 1 ELSE 0 END)",
                                  unknown_is_rest=True, unknown_in_denominator=as_no))
            else:
                known = f"{c_known} AND {v} IS NOT NULL"
                out.append(_Basis(basis, known,
                                  f"SUM(CASE WHEN ({known}) AND ({c}) THEN {v} ELSE 0 END)",
                                  f"SUM(CASE WHEN {v} IS NOT NULL THEN {v} ELSE 0 END)" if as_no
                                  else f"SUM(CASE WHEN {known} THEN {v} ELSE 0 END)",
                                  unknown=f"SUM(CASE WHEN NOT ({c_known}) AND {v} IS NOT NULL "
                                          f"THEN {v} ELSE 0 END)",
                                  unknown_in_denominator=as_no))
        elif ind.measure == "average":
            assert ind.expression is not None
            x = ind.expression.sql
            known = f"({x}) IS NOT NULL"
            if basis == "mean":
                out.append(_Basis(basis, known, f"SUM(CAST({x} AS {_EXACT}))", f"COUNT({x})"))
            else:
                out.append(_Basis(basis, known, "NULL", f"COUNT({x})", f"MEDIAN({x})"))
        elif ind.measure == "total":
            if basis == "count":
                out.append(_Basis(basis, "TRUE", "COUNT(*)", "NULL", "COUNT(*)"))
            else:
                out.append(_Basis(basis, f"{v} IS NOT NULL", f"SUM({v})", "NULL", f"SUM({v})"))
        elif ind.measure == "sum":
            assert ind.expression is not None
            x = ind.expression.sql
            total = f"SUM(CAST({x} AS {_EXACT}))"
            out.append(_Basis(basis, f"({x}) IS NOT NULL", total, "NULL", total))
        elif ind.measure == "count_distinct":
            assert ind.expression is not None
            x = ind.expression.sql
            distinct = f"COUNT(DISTINCT {x})"
            out.append(_Basis(basis, f"({x}) IS NOT NULL", distinct, "NULL", distinct))
        elif ind.measure == "ratio":
            assert ind.numerator is not None and ind.denominator is not None
            known = _not_null(ind.numerator.columns | ind.denominator.columns)
            out.append(_Basis(basis, known, _restrict(ind.numerator.sql, known),
                              _restrict(ind.denominator.sql, known)))
        elif ind.measure == "distribution":
            assert ind.expression is not None
            x = ind.expression.sql
            if basis == "count":
                known = f"({x}) IS NOT NULL"
                out.append(_Basis(basis, known, f"SUM(CASE WHEN {known} THEN 1 ELSE 0 END)", "NULL"))
            else:
                known = f"({x}) IS NOT NULL AND {v} IS NOT NULL"
                out.append(_Basis(basis, known, f"SUM(CASE WHEN {known} THEN {v} ELSE 0 END)", "NULL"))
    return out


class _Aggregates:
    """The aggregates of a query, each computed once whatever the bases that read it
    (``agg_<n>``), their arguments taken out into columns ``arg_<n>`` of the rows read, so that
    the engine computes them once a row rather than once a row and grouping set (DuckDB
    evaluates an aggregate's argument in each grouping set's pass)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.arguments: dict[str, str] = {}

    def add(self, sql: str) -> str:
        """The column of the aggregate ``sql`` (one of :func:`_bases`); ``NULL`` (no
        aggregate: a count's denominator) stays itself."""
        if sql == "NULL":
            return sql
        parts = _argument(sql)
        if parts is not None:
            template, argument = parts
            name = self.arguments.setdefault(argument, f"arg_{len(self.arguments)}")
            sql = template.replace(_ARGUMENT, name)
        return self.names.setdefault(sql, f"agg_{len(self.names)}")


_ARGUMENT = "argument_placeholder"
_AGGREGATE = re.compile(r"(SUM|COUNT|MEDIAN)\((DISTINCT )?(.+)\)", re.DOTALL)
_PLAIN = re.compile(r"\*|[A-Za-z_][A-Za-z_0-9]*|-?[0-9.]+|NULL")


def _argument(sql: str) -> tuple[str, str] | None:
    """``SUM(CASE … END)`` → (``SUM(argument_placeholder)``, ``CASE … END``); None for an
    aggregate of a column, a number or ``*`` (nothing to compute), or anything else. The
    aggregates are the ones :func:`_bases` writes: one call around the whole text."""
    match = _AGGREGATE.fullmatch(sql)
    if not match or not _one_call(match.group(3)) or _PLAIN.fullmatch(match.group(3)):
        return None
    function, distinct, argument = match.groups()
    return f"{function}({distinct or ''}{_ARGUMENT})", argument


def _one_call(argument: str) -> bool:
    """The parentheses of ``argument`` balance outside string literals (so the call's own
    closing parenthesis is the text's last)."""
    depth, quoted = 0, False
    for char in argument:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quoted


def indicator_query(ind: Indicator, undefined: frozenset[str] = frozenset(),
                    skipped: frozenset[str] = frozenset()) -> str:
    """The SELECT that computes one indicator version for every period and breakdown.

    Records without a date belong to the current version (the one without an end): they count
    in ALL_PERIODS and in their own period UNDATED, never in a year.
    """
    return batch_query([ind], undefined, skipped)


def batch_key(ind: Indicator) -> tuple[str, str, str, str | None]:
    """What indicators must share to be computed by one query (:func:`batch_query`): their
    fact table, population, years and distribution category; they read the same rows."""
    category = ind.expression.sql if ind.measure == "distribution" and ind.expression else None
    return (ind.grain, ind.population.sql if ind.population else "TRUE", _years(ind), category)


def batches(indicators: list[Indicator], skipped: frozenset[str] = frozenset()
            ) -> list[list[Indicator]]:
    """``indicators`` in groups of the same :func:`batch_key`, in catalogue order. An
    indicator with a distinct count is grouped only with indicators of the same breakdowns: a
    distinct count costs a hash table of every value in each grouping set (1.3 s of CPU for the
    contracts of 6 grouping sets at a million), where the others' sums cost little more per set."""
    groups: dict[tuple[object, ...], list[Indicator]] = {}
    for ind in indicators:
        distinct = any("DISTINCT" in f"{b.numerator} {b.denominator} {b.value}"
                       for b in _bases(ind))
        key = (*batch_key(ind), tuple(computed_breakdowns(ind, skipped)) if distinct else None)
        groups.setdefault(key, []).append(ind)
    return list(groups.values())


def _years(ind: Indicator) -> str:
    years = f"period_year >= {ind.first_year}"
    if ind.last_year is not None:
        return years + f" AND period_year <= {ind.last_year}"
    return f"(period_year IS NULL OR {years})"


class Batch:
    """The query of the indicators of one :func:`batch_key` (:func:`batch_query`), in two
    parts: the fact rows grouped into aggregates (:meth:`grouped`, one row per group: period,
    breakdown value, category) and the result rows those aggregates give (:meth:`finish`).

    The step keeps every batch's aggregates (:data:`GROUPS`): an incremental build patches
    those of the groups its changed fact rows fall in (``indicators.delta``) rather than read
    the fact tables again. A sum or a count is patched by adding the changed rows' own, signed;
    a sum is NULL when no row has a value, so each sum gets a companion count of its values
    (:attr:`companions`)."""

    def __init__(self, inds: list[Indicator], undefined: frozenset[str] = frozenset(),
                 skipped: frozenset[str] = frozenset()) -> None:
        ind = inds[0]
        assert all(batch_key(i) == batch_key(ind) for i in inds)
        self.inds = inds
        self.grain = ind.grain
        self.own = [computed_breakdowns(i, skipped) for i in inds]
        used = {b for breakdowns in self.own for b in breakdowns}
        # the union of the breakdowns, in the order of the grain's breakdowns
        self.dims = [(b, col) for b, col in GRAINS[ind.grain].breakdowns.items() if b in used]
        self.category = batch_key(ind)[3]
        population = ind.population.sql if ind.population else "TRUE"
        self.rows = f"({population}) AND {_years(ind)}"
        # one flat index per (indicator, basis) of the query
        self.bases = [(k, b) for k, i in enumerate(inds) for b in _bases(i, undefined)]
        aggregates = self.aggregates = _Aggregates()
        self.records = aggregates.add("COUNT(*)")
        self.undated = aggregates.add("SUM(CASE WHEN period_year IS NULL THEN 1 ELSE 0 END)")
        # the column of each (indicator, basis)'s known count, numerator, denominator, value
        # and unknown amount (an aggregate two bases share is computed once)
        self.names = [(aggregates.add(f"SUM(CASE WHEN {b.known} THEN 1 ELSE 0 END)"),
                       aggregates.add(b.numerator), aggregates.add(b.denominator),
                       aggregates.add(b.value) if b.value else "NULL",
                       aggregates.add(b.unknown) if b.unknown else "NULL")
                      for _, b in self.bases]
        #: a sum's column → the column counting its non-NULL arguments (the rows', for a
        #: sum whose argument is never NULL: NULL over no row)
        self.companions: dict[str, str] = {}
        arguments = {name: sql for sql, name in aggregates.arguments.items()}
        for sql, name in list(aggregates.names.items()):
            match = _AGGREGATE.fullmatch(sql)
            if match and match.group(1) == "SUM":
                self.companions[name] = (
                    self.records if _never_null(arguments.get(match.group(3), match.group(3)))
                    else aggregates.add(f"COUNT({match.group(3)})"))

    def grouped(self, table: str | None = None, only: list[str] | None = None,
                key: str | None = None) -> str:
        """The SELECT of the groups (``period_year``, ``gp`` = GROUPING(period_year),
        ``breakdown``, ``breakdown_value``, ``category``, then a column per aggregate) of the
        rows of ``table`` (the grain's fact table) in the batch's population and years: the
        whole scope's groups and those of each breakdown; ``only``: these aggregates' columns;
        ``key``: a column of ``table`` that splits every group (first column)."""
        dims = self.dims
        extra = [self.category] if self.category else []
        extra += [key] if key else []
        sets = [["period_year", *extra], extra] + [["period_year", col, *extra] for _, col in dims]
        grouping_sets = ", ".join("(" + ", ".join(s) + ")" for s in sets)
        names = {sql: name for sql, name in self.aggregates.names.items()
                 if only is None or name in only}
        arguments = {sql: name for sql, name in self.aggregates.arguments.items()
                     if any(re.search(rf"\b{name}\b", s) for s in names)}
        dim_columns = "".join(f"{col} AS dim_{j}, GROUPING({col}) AS g_{j}, "
                              for j, (_, col) in enumerate(dims))
        category = (f"CAST({self.category} AS VARCHAR)" if self.category
                    else "CAST(NULL AS VARCHAR)")
        breakdown = ("CASE " + "".join(f"WHEN g_{j} = 0 THEN '{b}' "
                                       for j, (b, _) in enumerate(dims))
                     + f"ELSE '{TOTAL}' END" if dims else f"'{TOTAL}'")
        breakdown_value = ("CASE " + "".join(f"WHEN g_{j} = 0 THEN CAST(dim_{j} AS VARCHAR) "
                                             for j in range(len(dims))) + "END"
                           if dims else "CAST(NULL AS VARCHAR)")
        source = f"{table or GRAINS[self.grain].table}\n    WHERE {self.rows}"
        if arguments:
            # the aggregates' arguments computed once a row, not once a row and grouping set
            # (DuckDB evaluates an aggregate's argument in each grouping set's pass)
            columns = ",\n            ".join(f"{sql} AS {name}" for sql, name in arguments.items())
            source = f"""(SELECT *, {columns}
        FROM {source}) AS facts"""
        aggregate_columns = ",\n        ".join(f"{sql} AS {name}" for sql, name in names.items())
        first = f"{key}, " if key else ""
        return f"""SELECT {first}period_year, gp, {breakdown} AS breakdown,
    {breakdown_value} AS breakdown_value, category, {", ".join(names.values())}
FROM (
    SELECT {first}period_year, GROUPING(period_year) AS gp, {dim_columns}{category} AS category,
        {aggregate_columns}
    FROM {source}
    GROUP BY GROUPING SETS ({grouping_sets})
) AS grouped"""

    def finish(self, groups: str) -> str:
        """The SELECT of the result rows (``results_raw``'s columns) of the groups the SELECT
        ``groups`` gives (as :meth:`grouped`): one row per group and basis, each indicator
        keeping the groups of its own breakdowns (and the whole scope's)."""
        def basis_select(n: int, k: int, b: _Basis) -> str:
            known, num, den, val, unk = self.names[n]
            value = (f"CAST({val} AS DOUBLE)" if b.value
                     else f"CAST({num} AS DOUBLE) / NULLIF({den}, 0)")
            unknown = (f"CAST({self.records} - {known} AS DOUBLE)" if b.unknown_is_rest else
                       f"CAST({unk} AS DOUBLE)")
            # the unknowns a legal rate already counts in its denominator add nothing to it
            extra = f"{unknown} * 0" if b.unknown_in_denominator else unknown
            others = [f"'{d}'" for d, _ in self.dims if d not in self.own[k]]
            where = f"\n    WHERE breakdown NOT IN ({', '.join(others)})" if others else ""
            i = self.inds[k]
            return f"""SELECT {n} AS b_i, '{i.id}' AS indicator_id, {i.version} AS version,
        '{i.code}' AS code, '{b.name}' AS basis, period_year, gp, breakdown, breakdown_value,
        category, {num} AS numerator, {den} AS denominator, {value} AS value,
        {self.records} AS record_count, {known} AS known_count, {self.undated} AS undated,
        {unknown} AS unknown, {extra} AS unknown_extra
    FROM named{where}"""

        long = "\n    UNION ALL ".join(basis_select(n, k, b)
                                       for n, (k, b) in enumerate(self.bases))
        if self.category:
            # shares of each category within its group; rows of unknown category give coverage
            group_key = "b_i, gp, breakdown, breakdown_value, period_year"
            final = f"""SELECT *, numerator AS num,
        SUM(numerator) OVER (PARTITION BY {group_key}) AS den,
        SUM(known_count) OVER (PARTITION BY {group_key}) AS known_total,
        SUM(record_count) OVER (PARTITION BY {group_key}) AS records_total,
        SUM(undated) OVER (PARTITION BY {group_key}) AS undated_total
    FROM long"""
            columns = """CAST(num AS DOUBLE) AS numerator, CAST(den AS DOUBLE) AS denominator,
    CAST(num AS DOUBLE) / NULLIF(den, 0) AS value, CAST(records_total AS BIGINT) AS record_count,
    CAST(COALESCE(known_total, 0) AS BIGINT) AS known_count,
    CAST(known_total AS DOUBLE) / NULLIF(records_total, 0) AS coverage,
    CAST(undated_total AS BIGINT) AS undated_count, CAST(NULL AS DOUBLE) AS unknown_low,
    CAST(NULL AS DOUBLE) AS unknown_high"""
            where = "WHERE category IS NOT NULL OR records_total = 0"
        else:
            final = "SELECT * FROM long"
            columns = """CAST(numerator AS DOUBLE) AS numerator,
    CAST(denominator AS DOUBLE) AS denominator, value, CAST(record_count AS BIGINT) AS record_count,
    CAST(COALESCE(known_count, 0) AS BIGINT) AS known_count,
    CAST(known_count AS DOUBLE) / NULLIF(record_count, 0) AS coverage,
    CAST(undated AS BIGINT) AS undated_count,
    -- the range the unknowns allow: all of them "no", all of them "yes"
    CAST(numerator AS DOUBLE) / NULLIF(denominator + unknown_extra, 0) AS unknown_low,
    (CAST(numerator AS DOUBLE) + unknown) / NULLIF(denominator + unknown_extra, 0)
        AS unknown_high"""
            where = ""
        return f"""WITH named AS (
    {groups}
),
long AS (
    {long}
),
final AS (
    {final}
)
SELECT indicator_id, version, code,
    CASE WHEN gp = 1 THEN '{ALL_PERIODS}' WHEN period_year IS NULL THEN '{UNDATED}'
         ELSE CAST(period_year AS VARCHAR) END AS period,
    CASE WHEN gp = 0 THEN period_year END AS period_year,
    breakdown, breakdown_value, category, basis, {columns}
FROM final
{where}"""

    def columns(self) -> list[str]:
        """The aggregates' columns, in :meth:`grouped`'s order."""
        return list(self.aggregates.names.values())

    def pack(self, n: int, types: dict[str, str], groups: str, digest: str) -> str:
        """The rows of :data:`GROUPS` of the groups the SELECT ``groups`` gives, as batch
        ``n``: the aggregates of exact types (integers, decimals) in ``exact`` (a decimal of
        38 digits holds any of them exactly), the others (medians) in ``approximate``;
        ``digest``: :func:`queries_digest`."""
        exact = [c for c in self.columns() if not _approximate(types[c])]
        approximate = [c for c in self.columns() if _approximate(types[c])]
        if not all(_held_exactly(types[c]) for c in exact):
            digest = ""  # groups no later patch may read: the next build computes them whole
        return f"""SELECT '{digest}' AS digest, {n} AS batch, period_year, gp, breakdown,
    breakdown_value, category,
    CAST([{", ".join(f"CAST({c} AS {_EXACT})" for c in exact)}] AS {_EXACT}[]) AS exact,
    CAST([{", ".join(f"CAST({c} AS DOUBLE)" for c in approximate)}] AS DOUBLE[]) AS approximate
FROM ({groups})"""

    def unpack(self, n: int, types: dict[str, str], where: str = "TRUE") -> str:
        """The SELECT of :meth:`grouped`'s columns from the rows of batch ``n`` of
        :data:`GROUPS` (``g``, of the condition ``where``), each aggregate of its own type
        again."""
        exact = [c for c in self.columns() if not _approximate(types[c])]
        approximate = [c for c in self.columns() if _approximate(types[c])]
        columns = [*(f"CAST(exact[{j}] AS {types[c]}) AS {c}" for j, c in enumerate(exact, 1)),
                   *(f"CAST(approximate[{j}] AS {types[c]}) AS {c}"
                     for j, c in enumerate(approximate, 1))]
        return f"""SELECT period_year, gp, breakdown, breakdown_value, category,
    {", ".join(columns)}
FROM {GROUPS} g WHERE batch = {n} AND ({where})"""

    def additive(self, types: dict[str, str]) -> list[str]:
        """The aggregates a patch adds the changed rows' to: counts, and sums of exact types
        (a sum of doubles depends on the order of its terms)."""
        out = []
        for sql, name in self.aggregates.names.items():
            match = _AGGREGATE.fullmatch(sql)
            if (match and match.group(1) in ("SUM", "COUNT") and not match.group(2)
                    and not _approximate(types[name])):
                out.append(name)
        return out


#: The aggregates of every batch's groups, kept for the next incremental build (see
#: :class:`Batch`); ``batch``: the batch's position in :func:`batches` of the available
#: indicators; ``digest``: :func:`queries_digest` (kept groups of other queries cannot be
#: patched).
GROUPS = "indicator_groups"
GROUPS_COLUMNS = """digest VARCHAR, batch INTEGER, period_year INTEGER, gp BIGINT, breakdown VARCHAR,
    breakdown_value VARCHAR, category VARCHAR, exact DECIMAL(38,6)[], approximate DOUBLE[]"""


def _approximate(sql_type: str) -> bool:
    return sql_type in ("DOUBLE", "FLOAT")


def _held_exactly(sql_type: str) -> bool:
    """Whether the kept groups' ``DECIMAL(38,6)`` holds every value of an exact type: a decimal
    of at most 6 places, or an integer (the counts and sums of a warehouse stay far below the
    10^32 it holds before the point, whatever the 38 digits their types declare)."""
    decimal_type = re.fullmatch(r"DECIMAL\(\d+,\s*(\d+)\)", sql_type)
    if decimal_type:
        return int(decimal_type[1]) <= 6
    return sql_type.removeprefix("U") in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")


@functools.cache
def _never_null(argument: str) -> bool:
    """Whether an aggregate's argument is never NULL: a number, or a ``CASE`` whose results
    are numbers or columns its condition requires not NULL, with a number ``ELSE`` (as
    :func:`_bases` writes its sums)."""
    tree = sqlglot.parse_one(argument, dialect="duckdb")
    if isinstance(tree, exp.Literal):
        return True
    if not isinstance(tree, exp.Case) or not isinstance(tree.args.get("default"), exp.Literal):
        return False
    for branch in tree.args.get("ifs", []):
        result, condition = branch.args["true"], branch.this
        if isinstance(result, exp.Literal):
            continue
        # only what every row of the branch satisfies: the terms of a chain of ANDs
        terms = condition.flatten() if isinstance(condition, exp.And) else [condition]
        required = {t.this.this for t in terms if isinstance(t, exp.Not)
                    and isinstance(t.this, exp.Is) and isinstance(t.this.expression, exp.Null)}
        if not (isinstance(result, exp.Column) and result in required):
            return False
    return True


def batch_query(inds: list[Indicator], undefined: frozenset[str] = frozenset(),
                skipped: frozenset[str] = frozenset()) -> str:
    """The SELECT of :func:`indicator_query` for several indicators of one :func:`batch_key`
    at once: their rows are read and grouped once, over the union of their breakdowns (one
    grouping set each), and each indicator keeps the rows of its own breakdowns. The same
    rows as one query per indicator: every aggregate of an indicator sees the same rows in a
    group, whatever the other indicators of the query."""
    batch = Batch(inds, undefined, skipped)
    return batch.finish(batch.grouped())


def queries_digest(profile: Profile) -> str:
    """SHA-256 of the grouping queries of the profile's batches (:data:`GROUPS`)."""
    undefined, skipped = undefined_fields(profile), skipped_breakdowns(profile)
    queries = [Batch(inds, undefined, skipped).grouped()
               for inds in batches([i for i in profile.indicators if i.available], skipped)]
    return hashlib.sha256("\n;\n".join(queries).encode()).hexdigest()


def target_in_force(targets: tuple[Target, ...], basis: str, year: int) -> Target | None:
    """The target a period is judged against.

    The earliest target whose deadline falls on or after the end of the period; once every
    deadline has passed, the last one still holds (a target reached must be kept). A target
    with a start date (``from``) does not apply to periods that end before it.
    """
    end = date(year, 12, 31)
    usable = [t for t in targets if t.basis == basis and (t.from_date is None or t.from_date <= end)]
    upcoming = [t for t in usable if t.date >= end]
    if upcoming:
        return min(upcoming, key=lambda t: t.date)
    past = [t for t in usable if t.date < end]
    return max(past, key=lambda t: t.date) if past else None


def computed_breakdowns(ind: Indicator, skipped: frozenset[str]) -> list[str]:
    """The breakdowns of ``ind`` its results hold: those of its catalogue entry but the
    ``skipped`` ones (``skipped_breakdowns``)."""
    return [b for b in ind.breakdowns if b not in skipped]


def skipped_breakdowns(profile: Profile) -> frozenset[str]:
    """Breakdowns that would say nothing for this profile, so are not computed: one group for
    every record, the same as the total. No directorate defined: every directorate is NULL;
    no buyer named: every mandate is « Autres acheteurs »."""
    skipped = set()
    if not profile.directorates:
        skipped.add("directorate")
    if not profile.buyers:
        skipped.add("mandate")
    return frozenset(skipped)


def undefined_fields(profile: Profile) -> frozenset[str]:
    """Fields the profile cannot know for any record: without a territory, nobody is local."""
    if profile.territory.regions or profile.territory.departements:
        return frozenset()
    return frozenset({"supplier_is_local"})


def reference_year(profile: Profile, today: date) -> int:
    """The period every headline shows: the profile's, else the last complete year."""
    return profile.parameters.reference_year or today.year - 1


def provisional_since(today: date) -> int:
    """The first provisional year: the current one, and the last one for the two months its
    contracts may still be published in (DECP: within two months of notification)."""
    return today.year - 1 if today < date(today.year, 3, 1) else today.year


def step_computed(con: duckdb.DuckDBPyConnection, profile: Profile) -> dict[tuple[str, int], str]:
    """The profile's indicators a build step computed in this warehouse (payments loaded):
    (id, version) → the table holding their rows (see ``profile.STEP_RESULTS``)."""
    tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    # the (id, version) each step's table holds, read once
    held = {table: set(con.execute(
                f"SELECT DISTINCT indicator_id, version FROM {identifier(table)}").fetchall())
            for table in set(STEP_RESULTS.values()) & tables}
    out: dict[tuple[str, int], str] = {}
    for i in profile.indicators:
        table = STEP_RESULTS.get(i.source)
        if not i.available and i.collected and table in held and (i.id, i.version) in held[table]:
            out[(i.id, i.version)] = table
    return out


def _step_sql(table: str, indicator_id: str) -> str:
    """The SQL a step's results come from (the indicator's technical definition)."""
    from observatoire.indicators import payments  # it imports this module

    return {"payment_indicator_results": payments.definition_sql}[table](indicator_id)


def catalogue_tables(con: duckdb.DuckDBPyConnection, profile: Profile, today: date,
                      computed: dict[tuple[str, int], str]) -> None:
    con.execute("""CREATE TABLE indicator_profile (profile_id VARCHAR, name VARCHAR,
        organisation VARCHAR, territory VARCHAR, scope VARCHAR, new_supplier_lookback_years INTEGER,
        min_coverage DOUBLE, min_population INTEGER, reference_year INTEGER,
        provisional_from INTEGER, computed_on DATE, digest VARCHAR)""")
    con.execute(
        "INSERT INTO indicator_profile VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [profile.id, profile.name, profile.organisation, profile.territory.name,
         "all_buyers" if profile.scope_all_buyers else "profile_buyers",
         profile.parameters.new_supplier_lookback_years, profile.parameters.min_coverage,
         profile.parameters.min_population, reference_year(profile, today),
         provisional_since(today), today, profile.digest],
    )
    con.execute("CREATE TABLE indicator_axes (axis_id VARCHAR, position INTEGER, title VARCHAR, description VARCHAR)")
    insert_rows(con, "indicator_axes",
                [(a.id, n, a.title, a.description) for n, a in enumerate(profile.axes, 1)])
    con.execute("""CREATE TABLE indicators (indicator_id VARCHAR, version INTEGER, code VARCHAR,
        title VARCHAR, definition VARCHAR, axis_id VARCHAR, kind VARCHAR, regulatory BOOLEAN,
        legal_reference VARCHAR, unit VARCHAR, grain VARCHAR, source VARCHAR, available BOOLEAN,
        data_requirement VARCHAR, measure VARCHAR, bases VARCHAR[], population VARCHAR,
        condition VARCHAR, expression VARCHAR, numerator VARCHAR, denominator VARCHAR,
        value_field VARCHAR, breakdowns VARCHAR[], valid_from DATE, valid_to DATE, notes VARCHAR,
        catalogue_file VARCHAR, query VARCHAR, unknown_counts_as_no BOOLEAN)""")
    rows = []
    undefined, skipped = undefined_fields(profile), skipped_breakdowns(profile)
    for i in profile.indicators:
        rows.append((
            i.id, i.version, i.code, i.title, i.definition, i.axis, i.kind, i.regulatory,
            # an indicator a step computed: its table stands for the grain, its SQL for the query
            i.legal_reference, i.unit, computed.get((i.id, i.version), i.grain), i.source,
            i.available or (i.id, i.version) in computed, i.data_requirement,
            i.measure, list(i.bases), i.population.sql if i.population else None,
            i.condition.sql if i.condition else None, i.expression.sql if i.expression else None,
            i.numerator.sql if i.numerator else None,
            i.denominator.sql if i.denominator else None, i.value_field,
            computed_breakdowns(i, skipped),
            i.valid_from, i.valid_to, i.notes, _relative(i.file),
            indicator_query(i, undefined, skipped) if i.available
            else _step_sql(computed[(i.id, i.version)], i.id) if (i.id, i.version) in computed
            else None,
            i.unknown_counts_as_no,
        ))
    insert_rows(con, "indicators", rows)
    con.execute("""CREATE TABLE indicator_targets (indicator_id VARCHAR, version INTEGER,
        basis VARCHAR, target_value DOUBLE, comparator VARCHAR, target_date DATE, from_date DATE,
        source VARCHAR, label VARCHAR, change_id BIGINT)""")
    insert_rows(
        con,
        "indicator_targets",
        [(i.id, i.version, t.basis, t.value, t.comparator, t.date, t.from_date, t.source, t.label,
          t.change_id)
         for i in profile.indicators for t in i.targets],
    )
    con.execute("CREATE TABLE indicator_breakdowns (breakdown VARCHAR, label VARCHAR)")
    insert_rows(con, "indicator_breakdowns",
                [(k, v) for k, v in BREAKDOWN_LABELS.items()])


def _relative(path: str) -> str:
    marker = "/profiles/"
    return path[path.rindex(marker) + 1:] if marker in path else path


_LABELS_SQL = """
CREATE TEMP TABLE result_labels AS
SELECT 'buyer' AS dimension, buyer_siret AS code, name AS label FROM buyers
UNION ALL SELECT 'purchase_domain', domain_id, min(label) FROM profile_purchase_domains GROUP BY domain_id
UNION ALL SELECT 'cpv_division', division, min(label) FROM ref_cpv WHERE code = division || '000000' GROUP BY division
UNION ALL SELECT 'supplier_departement', departement_code, min(departement_name) FROM ref_departements GROUP BY departement_code
UNION ALL SELECT 'buyer_departement', departement_code, min(departement_name) FROM ref_departements GROUP BY departement_code
UNION ALL SELECT 'buyer_region', region_code, min(region_name) FROM ref_regions GROUP BY region_code
UNION ALL SELECT 'subcontractor_category', c, c FROM (VALUES ('PME'), ('ETI'), ('GE')) v(c)
UNION ALL SELECT 'amount_type', c, l FROM (VALUES ('accord-cadre', 'Accord-cadre (montant maximum)'),
    ('ferme', 'Montant ferme')) v(c, l)
"""


def compute(con: duckdb.DuckDBPyConnection, profile: Profile, today: date | None = None) -> int:
    """Build the fact tables, the catalogue tables and ``indicator_results``; rows written.

    ``today`` (the computation date) tells which years are provisional and, unless the profile
    sets one, the reference year of the headlines.
    """
    today = today or date.today()
    # Row order of these tables carries no meaning (readers sort): let DuckDB write in parallel.
    con.execute("SET preserve_insertion_order = false")
    build_facts(con, profile)
    return results(con, profile, today)


def results(con: duckdb.DuckDBPyConnection, profile: Profile, today: date) -> int:
    """The catalogue tables, :data:`GROUPS` and ``indicator_results`` from the fact tables;
    result rows written."""
    computed = step_computed(con, profile)
    catalogue_tables(con, profile, today, computed)
    con.execute(f"CREATE TEMP TABLE results_raw ({RESULTS_COLUMNS})")
    undefined, skipped = undefined_fields(profile), skipped_breakdowns(profile)
    # the indicators that read the same rows, in one query each (see Batch), their groups
    # kept for the next incremental build
    con.execute(f"CREATE TABLE {GROUPS} ({GROUPS_COLUMNS})")
    digest = queries_digest(profile)
    for n, inds in enumerate(batches([i for i in profile.indicators if i.available], skipped)):
        batch = Batch(inds, undefined, skipped)
        con.execute(f"CREATE TEMP TABLE groups_work AS {batch.grouped()}")
        groups = "SELECT * FROM groups_work"
        types = column_types(con, groups)
        con.execute(f"INSERT INTO {GROUPS} {batch.pack(n, types, groups, digest)}")
        con.execute(f"INSERT INTO results_raw {batch.finish(groups)}")
        con.execute("DROP TABLE groups_work")
    for ind in profile.indicators:
        if not ind.available and (ind.id, ind.version) in computed:
            step_rows(con, ind, computed[(ind.id, ind.version)])
    judge(con, profile, today, "TABLE indicator_results")
    unavailable_rows(con, profile, computed)
    return int(con.execute("SELECT count(*) FROM indicator_results").fetchall()[0][0])


def column_types(con: duckdb.DuckDBPyConnection, query: str) -> dict[str, str]:
    """The type of each column of the SELECT ``query``, by name (bound, not run)."""
    return {name: sql_type for name, sql_type, *_ in con.execute(f"DESCRIBE {query}").fetchall()}


def step_rows(con: duckdb.DuckDBPyConnection, ind: Indicator, table: str) -> None:
    """Rows a step computed (same columns) into ``results_raw``: the bases and breakdowns the
    catalogue declares; statuses, targets and the minimum sample are applied by :func:`judge`,
    as to any."""
    con.execute(
        f"""INSERT INTO results_raw SELECT * FROM {identifier(table)}
            WHERE indicator_id = ? AND version = ? AND list_contains(?, basis)
              AND (breakdown = '{TOTAL}' OR list_contains(?, breakdown))""",
        [ind.id, ind.version, list(ind.bases), list(ind.breakdowns)])


def unavailable_rows(con: duckdb.DuckDBPyConnection, profile: Profile,
                      computed: dict[tuple[str, int], str]) -> None:
    """Indicators whose data the observatory does not collect yet: one row saying so."""
    unavailable = [(i.id, i.version, i.code, i.bases[0]) for i in profile.indicators
                   if not i.available and (i.id, i.version) not in computed]
    if unavailable:
        # in one statement (``executemany`` runs one a row)
        con.execute("CREATE TEMP TABLE unavailable_work (indicator_id VARCHAR, version INTEGER, "
                    "code VARCHAR, basis VARCHAR)")
        insert_rows(con, "unavailable_work", unavailable)
        con.execute(f"""INSERT INTO indicator_results (indicator_id, version, code, period,
                breakdown, basis, status)
            SELECT indicator_id, version, code, '{ALL_PERIODS}', '{TOTAL}', basis, 'unavailable'
            FROM unavailable_work""")
        con.execute("DROP TABLE unavailable_work")


def judge(con: duckdb.DuckDBPyConnection, profile: Profile, today: date, target: str) -> None:
    """``results_raw`` judged (targets, statuses, minimum sample, labels) into ``target``
    (``TABLE name`` or ``TEMP TABLE name``); the work tables dropped."""
    # the target each (indicator, basis, year) is judged against
    con.execute("""CREATE TEMP TABLE targets_in_force (indicator_id VARCHAR, version INTEGER,
        basis VARCHAR, period_year INTEGER, target_value DOUBLE, comparator VARCHAR,
        target_date DATE, source VARCHAR)""")
    keys = con.execute("""SELECT DISTINCT indicator_id, version, basis, period_year FROM results_raw
                          WHERE period_year IS NOT NULL""").fetchall()
    by_key = {(i.id, i.version): i for i in profile.indicators}
    rows = []
    for ident, version, basis, year in keys:
        t = target_in_force(by_key[(ident, version)].targets, basis, year)
        if t:
            rows.append((ident, version, basis, year, t.value, t.comparator, t.date, t.source))
    if rows:
        insert_rows(con, "targets_in_force", rows)
    con.execute(_LABELS_SQL)
    if profile.directorates:  # their table is the directorate step's
        con.execute("""INSERT INTO result_labels SELECT 'directorate', directorate_id, min(label)
                       FROM profile_directorates GROUP BY directorate_id""")
    # Categories of a distribution take the labels of the column they come from.
    category_dims = {
        (i.id, i.version): next((b for b, col in GRAINS[i.grain].breakdowns.items()
                                 if i.expression and i.expression.sql == col), None)
        for i in profile.indicators if i.measure == "distribution"
    }
    con.execute("CREATE TEMP TABLE category_dimensions (indicator_id VARCHAR, version INTEGER, dimension VARCHAR)")
    if category_dims:
        insert_rows(con, "category_dimensions",
                    [(k[0], k[1], d) for k, d in category_dims.items()])
    min_coverage = float(profile.parameters.min_coverage)
    min_population = int(profile.parameters.min_population)
    provisional_from = provisional_since(today)
    con.execute(f"""
CREATE {target} AS
WITH targeted AS (SELECT DISTINCT indicator_id, version, basis FROM targets_in_force),
r AS (
    -- the previous year's value says whether a value improved, which only a status against
    -- a target reads: computed for the (indicator, basis) that have one (a window over
    -- every row costs more than the rest of this statement)
    SELECT *, lag(value) OVER (PARTITION BY indicator_id, version, basis, breakdown,
                                            breakdown_value, category
                               ORDER BY period_year) AS previous_value
    FROM results_raw x WHERE period_year IS NOT NULL AND EXISTS (
        SELECT 1 FROM targeted t WHERE t.indicator_id = x.indicator_id
            AND t.version = x.version AND t.basis = x.basis)
    UNION ALL
    SELECT *, NULL FROM results_raw x WHERE period_year IS NULL OR NOT EXISTS (
        SELECT 1 FROM targeted t WHERE t.indicator_id = x.indicator_id
            AND t.version = x.version AND t.basis = x.basis)
),
judged AS (
    SELECT r.*, t.target_value, t.comparator AS target_comparator, t.target_date,
        t.source AS target_source,
        CASE WHEN t.comparator IN ('>=', '>') THEN r.value > r.previous_value
             ELSE r.value < r.previous_value END AS improved,
        CASE t.comparator
            WHEN '>=' THEN r.value >= t.target_value - 1e-9
            WHEN '>' THEN r.value > t.target_value
            WHEN '<=' THEN r.value <= t.target_value + 1e-9
            WHEN '<' THEN r.value < t.target_value END AS reached
    FROM r LEFT JOIN targets_in_force t
        ON t.indicator_id = r.indicator_id AND t.version = r.version AND t.basis = r.basis
        AND t.period_year = r.period_year
)
SELECT j.indicator_id, j.version, j.code, j.period, j.period_year, j.breakdown,
    j.breakdown_value, bl.label AS breakdown_label, j.category, cl.label AS category_label,
    j.basis, j.numerator, j.denominator,
    -- too small a sample publishes no value, no range and no status
    CASE WHEN NOT j.small_sample THEN j.value END AS value,
    j.record_count, j.known_count, j.coverage, j.undated_count,
    CASE WHEN NOT j.small_sample AND j.known_count > 0 THEN j.unknown_low END AS unknown_low,
    CASE WHEN NOT j.small_sample AND j.known_count > 0 THEN j.unknown_high END AS unknown_high,
    j.small_sample,
    j.period_year >= {provisional_from} AS provisional,
    j.target_value, j.target_comparator, j.target_date, j.target_source,
    CASE
        WHEN j.small_sample THEN 'small_sample'
        WHEN j.target_value IS NULL THEN NULL
        WHEN j.value IS NULL OR j.known_count = 0 OR j.coverage < {min_coverage}
            THEN 'insufficient_data'
        WHEN j.reached THEN 'met'
        WHEN j.target_date > make_date(j.period_year, 12, 31) AND j.improved THEN 'on_track'
        ELSE 'not_met'
    END AS status
FROM (SELECT *, known_count > 0 AND known_count < {min_population} AS small_sample
      FROM judged) j
LEFT JOIN result_labels bl ON bl.dimension = j.breakdown AND bl.code = j.breakdown_value
LEFT JOIN category_dimensions cd ON cd.indicator_id = j.indicator_id AND cd.version = j.version
LEFT JOIN result_labels cl ON cl.dimension = cd.dimension AND cl.code = j.category
""")
    for temp in ("results_raw", "targets_in_force", "result_labels", "category_dimensions"):
        con.execute(f"DROP TABLE {temp}")
