"""Egalim results in SQL: purchase lines → one row per line with its category → sums per canteen,
département and the whole territory, per year and per month.

The SQL is generated from the tables of ``codes`` (precedence, label validity), so the rules live
in one place and stay readable as data. Only portable constructs are used (``list_contains``,
``GROUPING SETS``), so the same queries can move to another engine.

Rules (egalim-rules.md §2.3, CRPM R.230-30-1):
- a characteristic counts only if it is valid on the line's date and applicable to its family;
- a line counts once, in the first category of the precedence order it carries;
- totals are sums of euros HT: every rate above the canteen is Σ numerators ÷ Σ denominators;
- origin (France, Europe, circuit court, local) is information only, with the yearly rules of
  the declaration: in 2025 "France" includes circuit court and local lines; before 2026 there is
  no Europe.
"""

from __future__ import annotations

import duckdb

from observatoire.egalim.codes import CATEGORIES, FAMILIES, GROUPS, LABEL_VALIDITY, MEAT_AND_FISH
from observatoire.sqlquote import literal

#: The input table: lines with ``purchase_date``, ``price_ht``, ``family``, ``characteristics``,
#: ``labels_known``, ``canteen_key`` and ``departement`` (see ``service``).
LINES = "egalim_lines"


def _quote(value: str) -> str:
    return literal(value)


def counts(code: str) -> str:
    """SQL: the line carries ``code`` and it counts on the line's date for the line's family."""
    cond = [f"list_contains(characteristics, {_quote(code)})"]
    for rule in LABEL_VALIDITY:
        if rule.code != code:
            continue
        if rule.valid_from:
            cond.append(f"purchase_date >= DATE '{rule.valid_from.isoformat()}'")
        if rule.valid_to:
            cond.append(f"purchase_date <= DATE '{rule.valid_to.isoformat()}'")
        if rule.families:
            fams = ", ".join(_quote(f) for f in rule.families)
            cond.append(f"(family IS NULL OR family IN ({fams}))")
    return "(" + " AND ".join(cond) + ")"


def _carries(code: str) -> str:
    return f"list_contains(characteristics, {_quote(code)})"


def category_sql() -> str:
    """SQL: the category a line counts in (precedence order), or ``non_egalim``."""
    whens = [
        f"WHEN {' OR '.join(counts(c) for c in codes)} THEN {_quote(category)}"
        for category, codes in CATEGORIES.items()
    ]
    return "CASE " + " ".join(whens) + " ELSE 'non_egalim' END"


def group_sql() -> str:
    """SQL over ``category``: the yearly-summary group (bio, siqo, egalim_autres, ext./perf.)."""
    whens = [
        f"WHEN category IN ({', '.join(_quote(c) for c in cats)}) THEN {_quote(group)}"
        for group, cats in GROUPS.items()
    ]
    return "CASE " + " ".join(whens) + " ELSE NULL END"


def create_line_facts(con: duckdb.DuckDBPyConnection, lines: str = LINES) -> None:
    """``egalim_line_facts``: one row per line with its category, group and origin flags."""
    year = "year(purchase_date)"
    fr, cc, loc, eu = (_carries(c) for c in ("FRANCE", "CIRCUIT_COURT", "LOCAL", "EUROPE"))
    meat_fish = ", ".join(_quote(f) for f in MEAT_AND_FISH)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE egalim_categorised AS
        SELECT line_key, canteen_key, departement, family, purchase_date, price_ht,
            labels_known, characteristics, {category_sql()} AS category
        FROM {lines}
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE egalim_line_facts AS
        SELECT
            line_key, canteen_key, departement, family, purchase_date,
            {year} AS year, month(purchase_date) AS month,
            price_ht, labels_known, category,
            {group_sql()} AS egalim_group,
            category <> 'non_egalim' AS is_egalim,
            category = 'bio' AND {counts("COMMERCE_EQUITABLE")} AS bio_fair_trade,
            category IN ({", ".join(_quote(c) for c in GROUPS["egalim_autres"])})
                AND {counts("COMMERCE_EQUITABLE")} AS others_fair_trade,
            coalesce(family IN ({meat_fish}), false) AS meat_fish,
            CASE WHEN {year} = 2025 THEN {fr} OR {cc} OR {loc} ELSE {fr} END AS origin_france,
            {year} >= 2026 AND {eu} AS origin_europe,
            {cc} AS short_circuit,
            {loc} AS local
        FROM egalim_categorised
        """
    )
    con.execute("DROP TABLE egalim_categorised")


def _sum(cond: str) -> str:
    return f"coalesce(sum(price_ht) FILTER (WHERE {cond}), 0)"


#: The sums of a result row: name → condition on ``egalim_line_facts``.
SUMS: dict[str, str] = {
    "total": "true",
    "known": "labels_known",
    "egalim": "is_egalim",
    "bio": "egalim_group = 'bio'",
    "bio_fair_trade": "bio_fair_trade",
    "siqo": "egalim_group = 'siqo'",
    "egalim_others": "egalim_group = 'egalim_autres'",
    "egalim_others_fair_trade": "others_fair_trade",
    "externalities_performance": "egalim_group = 'externalites_performance'",
    "meat_fish": "meat_fish",
    "meat_fish_egalim": "meat_fish AND is_egalim",
    "meat": "family = 'VIANDES_VOLAILLES'",
    "meat_egalim": "family = 'VIANDES_VOLAILLES' AND is_egalim",
    "meat_france": "family = 'VIANDES_VOLAILLES' AND origin_france",
    "fish": "family = 'PRODUITS_DE_LA_MER'",
    "fish_egalim": "family = 'PRODUITS_DE_LA_MER' AND is_egalim",
    "fish_france": "family = 'PRODUITS_DE_LA_MER' AND origin_france",
    "france": "origin_france",
    "europe": "origin_europe",
    "short_circuit": "short_circuit",
    "local": "local",
    "no_family": "family IS NULL",
    **{f"category_{c}": f"category = {_quote(c)}" for c in [*CATEGORIES, "non_egalim"]},
}

#: Rates stored with each result row: name → (numerator, denominator).
RATES: dict[str, tuple[str, str]] = {
    "egalim_rate": ("egalim", "total"),
    "bio_rate": ("bio", "total"),
    "meat_fish_egalim_rate": ("meat_fish_egalim", "meat_fish"),
    "coverage": ("known", "total"),
    "france_rate": ("france", "total"),
    "local_rate": ("local", "total"),
}


def create_results(con: duckdb.DuckDBPyConnection) -> None:
    """``egalim_results``: sums and rates per scope (canteen / département / territory) and
    period (year, or year and month).

    The lines are read once, into sums per canteen and month; every other scope and period is a
    roll-up of those sums (exact: all measures are sums), so the cost does not grow with the
    number of grouping sets.
    """
    sums = ",\n            ".join(f"{_sum(cond)} AS {name}" for name, cond in SUMS.items())
    rollup = ",\n            ".join(f"sum({name}) AS {name}" for name in SUMS)
    rates = ",\n            ".join(
        f"CAST({num} AS DOUBLE) / NULLIF(CAST({den} AS DOUBLE), 0) AS {name}"
        for name, (num, den) in RATES.items()
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE egalim_monthly AS
        SELECT canteen_key, departement, year, month, count(*) AS lines,
            {sums}
        FROM egalim_line_facts
        GROUP BY canteen_key, departement, year, month
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE egalim_results AS
        WITH sums AS (
            SELECT
                CASE WHEN GROUPING(canteen_key) = 0 THEN 'canteen'
                     WHEN GROUPING(departement) = 0 THEN 'departement'
                     ELSE 'territory' END AS scope,
                CASE WHEN GROUPING(canteen_key) = 0 THEN canteen_key
                     WHEN GROUPING(departement) = 0 THEN departement
                     ELSE '' END AS scope_key,
                year,
                CASE WHEN GROUPING(month) = 0 THEN month ELSE 0 END AS month,
                CAST(sum(lines) AS BIGINT) AS lines,
            {rollup}
            FROM egalim_monthly
            GROUP BY GROUPING SETS (
                (canteen_key, year), (canteen_key, year, month),
                (departement, year), (departement, year, month),
                (year), (year, month)
            )
        )
        SELECT *, {rates} FROM sums
        """
    )
    con.execute("DROP TABLE egalim_monthly")


def create_family_details(con: duckdb.DuckDBPyConnection) -> None:
    """``egalim_family_details``: per canteen, year and family, the value in each category
    (precedence order), the non-Egalim value and the information sums, as the detailed
    yearly declaration asks. Lines without a family have no row here (as in ma-cantine)."""
    fams = ", ".join(_quote(f) for f in FAMILIES)
    cats = ",\n            ".join(
        f"{_sum(f'category = {_quote(c)}')} AS {c}" for c in [*CATEGORIES, "non_egalim"]
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE egalim_family_details AS
        SELECT canteen_key, year, family,
            {_sum("true")} AS total,
            {cats},
            {_sum("bio_fair_trade")} AS bio_dont_commerce_equitable,
            {_sum("origin_france")} AS france,
            {_sum("origin_europe")} AS europe,
            {_sum("short_circuit")} AS circuit_court,
            {_sum("local")} AS local
        FROM egalim_line_facts
        WHERE family IN ({fams})
        GROUP BY canteen_key, year, family
        """
    )


def compute(con: duckdb.DuckDBPyConnection, lines: str = LINES) -> None:
    """All Egalim result tables from ``lines`` (a table or view with the columns of ``LINES``)."""
    create_line_facts(con, lines)
    create_results(con)
    create_family_details(con)
