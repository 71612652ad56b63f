"""The indicator service: the build's computation (:func:`compute_into`, run by the indicator
step) and the read side used by the CLI, the web and the API."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import duckdb

from observatoire.config import Settings
from observatoire.errors import WarehouseMissing
from observatoire.indicators import history, increment
from observatoire.indicators import targets as changed_targets
from observatoire.indicators.compute import ALL_PERIODS, TOTAL, UNDATED, compute
from observatoire.indicators.grains import BREAKDOWN_LABELS
from observatoire.indicators.profile import Profile
from observatoire.warehouse import open_warehouse

log = logging.getLogger(__name__)

#: Tables written by the indicator step (``indicators.steps``).
TABLES = (
    "profile_buyers", "profile_territory", "profile_purchase_domains", "profile_eu_thresholds",
    "indicator_contracts", "indicator_holders", "indicator_subcontracts", "indicator_records",
    "indicator_profile", "indicator_axes", "indicators", "indicator_targets",
    "indicator_breakdowns", "indicator_results", "indicator_groups", "indicator_history",
    "indicator_target_changes",
)


def compute_into(
    con: duckdb.DuckDBPyConnection, settings: Settings, profile: Profile, build_id: int,
    recorded_at: str, target_changes: list[dict[str, Any]] | None = None,
    kept: bool = False,
) -> list[tuple[Any, ...]]:
    """Compute every indicator into ``con``, with the targets changed in the application
    applied on top of the profile's; return the history rows to commit once published.

    ``kept``: an incremental build set the tables aside (``increment.keep``): they are patched
    for what it touched, unless something reaches every row or the warehouse is small
    (``settings.indicators_patch_min_contracts``)."""
    profile, change_rows = changed_targets.apply_changes(profile, target_changes or [])
    today = date.today()
    why = (increment.update(con, profile, today, settings.indicators_patch_min_contracts)
           if kept else None)
    if why:
        log.info("Indicateurs calculés en entier : %s.", why)
    if not kept or why:
        compute(con, profile, today)
    changed_targets.write_changes(con, change_rows)
    return history.stage(con, settings.catalog_path, profile.id, build_id, recorded_at)


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _has_results(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'indicator_results'"
    ).fetchall()[0][0])


#: Perimeters a barometer can be read for: the URL's parameter → the breakdown of the stored
#: results that holds it. Each indicator is read for the perimeter from its own results
#: (computed at build time with its population, targets, statuses and minimum sample), so an
#: indicator whose catalogue entry does not break down by that dimension is "not computed"
#: for it, never recomputed differently.
PERIMETERS = {"acheteur": "buyer", "mandataire": "mandate", "domaine": "purchase_domain",
              "direction": "directorate"}
#: The territory perimeter (« territoire=departement-35 », « territoire=region-53 »): the
#: buyer's place, level → breakdown. A code alone would not do: « 53 » is a région (Bretagne)
#: and a département (Mayenne).
TERRITORY = "territoire"
TERRITORY_LEVELS = {"departement": "buyer_departement", "region": "buyer_region"}
#: French names of the perimeters.
PERIMETER_LABELS = {"acheteur": "Acheteur", "mandataire": "Mandataire ou acheteur du profil",
                    "domaine": "Domaine d'achat", "direction": "Direction",
                    TERRITORY: "Territoire de l'acheteur"}
#: What the territory is, in words (the barometer and the API say it).
TERRITORY_MEANING = (
    "le territoire d'un marché est celui de son acheteur (le département et la région de son "
    "établissement dans SIRENE, sinon ceux publiés avec ses marchés), pas son lieu "
    "d'exécution : le lieu retenu d'un marché se replie sur l'établissement de son titulaire, "
    "que mesurent les indicateurs d'achat local ; pour les indicateurs Egalim, c'est celui de "
    "la cantine, qui achète ses denrées")


def territory_breakdown(value: str) -> tuple[str, str] | None:
    """``departement-35`` → ``("buyer_departement", "35")``; None when the value is not of
    that form."""
    level, _, code = value.partition("-")
    if level in TERRITORY_LEVELS and code and code.isalnum() and len(code) <= 3:
        return TERRITORY_LEVELS[level], code.upper()
    return None


def territory_value(breakdown: str, code: str) -> str:
    """The URL value of a territory: ``("buyer_region", "53")`` → ``region-53``."""
    level = next(k for k, v in TERRITORY_LEVELS.items() if v == breakdown)
    return f"{level}-{code}"

#: The summary of the scheme: each objective (an indicator of kind « target ») falls in one
#: bucket, with what it means in words (never colour alone).
SUMMARY_BUCKETS = {
    "met": ("atteint", "la valeur de la période atteint la cible en vigueur."),
    "on_track": ("en bonne voie", "la cible n'est pas atteinte mais son échéance n'est pas "
                 "passée et la valeur progresse par rapport à l'année précédente."),
    "not_met": ("non atteint", "la cible n'est pas atteinte, et son échéance est passée ou "
                "la valeur ne progresse pas."),
    "insufficient_data": ("données insuffisantes", "aucune valeur publiable : trop peu "
                          "d'enregistrements connus, une couverture trop faible, ou aucun "
                          "marché sur la période."),
    "unavailable": ("données non disponibles", "l'observatoire ne collecte pas encore les "
                    "données nécessaires."),
    "not_computed": ("non calculé pour ce périmètre", "la définition de l'indicateur ne le "
                     "ventile pas selon ce périmètre."),
    "no_target": ("sans cible", "aucune cible n'est fixée pour cet objectif."),
}


def summary_bucket(row: dict[str, Any]) -> str | None:
    """The bucket of one barometer row in the summary; None for a transparency indicator."""
    if row["kind"] != "target":
        return None
    if not row["available"]:
        return "unavailable"
    if not row.get("computed", True):
        return "not_computed"
    if row["status"] in ("met", "on_track", "not_met"):
        return str(row["status"])
    if not row["has_target"]:
        return "no_target"
    return "insufficient_data"


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How many objectives fall in each bucket, with the meaning of each; the indicators
    without a target by design (transparency) are counted apart."""
    counts = {key: 0 for key in SUMMARY_BUCKETS}
    for row in rows:
        bucket = summary_bucket(row)
        if bucket is not None:
            counts[bucket] += 1
    return {
        "objectifs": sum(counts.values()),
        "transparence": sum(1 for r in rows if r["kind"] != "target"),
        # « principal »: always shown; the other buckets only when they hold an objective
        "etats": [{"etat": key, "libelle": label, "sens": meaning, "nombre": counts[key],
                   "principal": key not in ("not_computed", "no_target")}
                  for key, (label, meaning) in SUMMARY_BUCKETS.items()],
    }


def _check_results(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    if not _has_results(con):
        raise WarehouseMissing(
            "L'entrepôt en service n'a pas encore d'indicateurs.",
            where=str(settings.warehouse_path),
            hint="Lancez « observatoire indicators » (ou « observatoire build »).",
        )


def barometer_years(settings: Settings) -> list[int]:
    """The years the barometer can be read for: those with results, and the reference year."""
    con = open_warehouse(settings)
    try:
        _check_results(con, settings)
        years = {int(y) for (y,) in con.execute(
            f"""SELECT DISTINCT period_year FROM indicator_results
                WHERE breakdown = '{TOTAL}' AND period_year IS NOT NULL""").fetchall()}
        years.add(int(con.execute(
            "SELECT reference_year FROM indicator_profile").fetchall()[0][0]))
    finally:
        con.close()
    return sorted(years)


def perimeter_values(settings: Settings, *breakdowns: str) -> dict[str, list[dict[str, Any]]]:
    """The values each perimeter can take (those the results hold), with their labels and the
    records of their largest group: the choices of the perimeter selector."""
    con = open_warehouse(settings)
    try:
        _check_results(con, settings)
        rows = _dicts(con.execute(
            """SELECT breakdown, breakdown_value AS value, min(breakdown_label) AS label,
                   max(record_count) AS records
               FROM indicator_results
               WHERE list_contains(?, breakdown) AND breakdown_value IS NOT NULL
               GROUP BY 1, 2 ORDER BY records DESC, label, value""", [list(breakdowns)]))
    finally:
        con.close()
    out: dict[str, list[dict[str, Any]]] = {b: [] for b in breakdowns}
    for row in rows:
        out[row.pop("breakdown")].append(row)
    return out


def barometer(settings: Settings, year: int | None = None,
              perimeter: tuple[str, str] | None = None,
              latest_if_empty: bool = False) -> dict[str, Any]:
    """Every indicator at one year (the profile's reference year by default) for the whole
    scope or one perimeter (``(breakdown, value)``, e.g. ``("buyer", siret)``): value,
    evidence, target and status, as the results were computed at build time.

    ``latest_if_empty``: with no year asked, a perimeter without results at the reference
    year is read at its last year with results (a buyer's scorecard)."""
    con = open_warehouse(settings)
    try:
        _check_results(con, settings)
        profile = _dicts(con.execute("SELECT * FROM indicator_profile"))[0]
        breakdown, value = perimeter if perimeter else (TOTAL, None)
        years: list[int] = []
        if value is not None:
            years = [int(y) for (y,) in con.execute(
                """SELECT DISTINCT period_year FROM indicator_results
                   WHERE breakdown = ? AND breakdown_value = ? AND period_year IS NOT NULL
                   ORDER BY 1""", [breakdown, value]).fetchall()]
        # Every headline shows the same period, the reference year (never the latest year
        # that happens to have data): cards can be compared and quoted together.
        chosen = int(year if year is not None else profile["reference_year"])
        if latest_if_empty and year is None and years and chosen not in years:
            chosen = years[-1]
        group = "r.breakdown_value IS NULL" if value is None else "r.breakdown_value = ?"
        # the rows read first, by constant conditions (a scan DuckDB can prune), then joined
        rows = _dicts(con.execute(f"""
            WITH current AS (
                SELECT i.*, i.bases[1] AS first_basis,
                    row_number() OVER (PARTITION BY i.indicator_id
                                       ORDER BY i.version DESC) AS rn
                FROM indicators i
            ),
            res AS (
                SELECT * FROM indicator_results r
                WHERE r.category IS NULL
                  AND ((r.period_year = ? AND r.breakdown = ? AND {group})
                       OR r.status = 'unavailable')
            ),
            targeted AS (SELECT DISTINCT indicator_id, version, basis FROM indicator_targets)
            SELECT i.indicator_id, i.version, i.code, i.title, i.axis_id, a.title AS axis_title,
                a.position AS axis_position, i.kind, i.regulatory, i.unit, i.measure, i.available,
                i.data_requirement,
                (? = '{TOTAL}' OR list_contains(i.breakdowns, ?)) AS computed,
                t.indicator_id IS NOT NULL AS has_target,
                COALESCE(r.period, CASE WHEN i.available THEN CAST(? AS VARCHAR)
                                        ELSE '{ALL_PERIODS}' END) AS period,
                COALESCE(r.basis, i.first_basis) AS basis, r.value, r.numerator, r.denominator,
                r.record_count, r.known_count, r.coverage, r.undated_count, r.unknown_low,
                r.unknown_high, r.small_sample,
                CASE WHEN i.available THEN ? >= p.provisional_from END AS provisional,
                r.target_value, r.target_comparator, r.target_date, r.status
            FROM current i
            CROSS JOIN indicator_profile p
            JOIN indicator_axes a ON a.axis_id = i.axis_id
            LEFT JOIN targeted t ON t.indicator_id = i.indicator_id AND t.version = i.version
                AND t.basis = i.first_basis
            LEFT JOIN res r ON r.indicator_id = i.indicator_id AND r.version = i.version
                AND r.basis = i.first_basis
                AND (i.available = (r.status IS DISTINCT FROM 'unavailable'))
            WHERE i.rn = 1
            ORDER BY a.position, i.code, i.indicator_id
        """, [chosen, breakdown, *([value] if value is not None else []), breakdown, breakdown,
              chosen, chosen]))
        label, known = None, 0
        if value is not None:
            label, known = con.execute(
                """SELECT min(breakdown_label), count(*) FROM indicator_results
                   WHERE breakdown = ? AND breakdown_value = ?""", [breakdown, value]).fetchall()[0]
        # a distribution's headline is its largest categories (no single value)
        shares: dict[str, list[dict[str, Any]]] = {}
        for share in _dicts(con.execute(f"""
                SELECT r.indicator_id, r.category, r.category_label, r.value, r.numerator,
                    r.known_count, r.small_sample
                FROM indicator_results r
                JOIN indicators i ON i.indicator_id = r.indicator_id AND i.version = r.version
                WHERE i.measure = 'distribution' AND r.category IS NOT NULL
                  AND r.basis = i.bases[1] AND r.period_year = ? AND r.breakdown = ? AND {group}
                ORDER BY r.indicator_id, r.value DESC NULLS LAST, r.category""",
                [chosen, breakdown, *([value] if value is not None else [])])):
            shares.setdefault(share.pop("indicator_id"), []).append(share)
        for row in rows:
            row["summary_status"] = summary_bucket(row)
            if row["measure"] == "distribution":
                row["categories"] = shares.get(row["indicator_id"], [])[:3]
        return {
            "profile": profile, "year": chosen, "indicators": rows,
            "perimeter": None if value is None else {
                "breakdown": breakdown, "value": value, "label": label or value,
                "kind": BREAKDOWN_LABELS.get(breakdown, breakdown),
                "has_results": bool(known), "years": years},
            "summary": summary(rows),
        }
    finally:
        con.close()


def results(
    settings: Settings,
    indicator: str | None = None,
    period: str | None = None,
    breakdown: str | None = TOTAL,
    limit: int = 10_000,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Rows of ``indicator_results``, filtered (parameterised), in a stable order."""
    con = open_warehouse(settings)
    try:
        if not _has_results(con):
            return []
        where: list[str] = ["TRUE"]
        params: list[object] = []
        for column, value in (("indicator_id", indicator), ("period", period),
                              ("breakdown", breakdown)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        params += [max(1, min(limit, 1_000_000)), max(0, offset)]
        return _dicts(con.execute(
            f"""SELECT * FROM indicator_results WHERE {' AND '.join(where)}
                ORDER BY code, indicator_id, version, period, breakdown, breakdown_value NULLS FIRST,
                    category NULLS FIRST, basis
                LIMIT ? OFFSET ?""",
            params,
        ))
    finally:
        con.close()


def series(settings: Settings,
           perimeter: tuple[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Headline values of every indicator by year (first basis), for the whole scope or one
    perimeter (``(breakdown, value)``): the trends."""
    breakdown, value = perimeter if perimeter else (TOTAL, None)
    con = open_warehouse(settings)
    try:
        if not _has_results(con):
            return {}
        rows = _dicts(con.execute(f"""
            SELECT r.indicator_id, r.period_year, r.value, r.coverage, r.status
            FROM indicator_results r
            JOIN indicators i ON i.indicator_id = r.indicator_id AND i.version = r.version
            WHERE r.breakdown = ? AND {"r.breakdown_value IS NULL" if value is None
                                       else "r.breakdown_value = ?"}
              AND r.category IS NULL AND r.period_year IS NOT NULL
              AND r.basis = i.bases[1]
            ORDER BY r.indicator_id, r.period_year""",
            [breakdown, *([value] if value is not None else [])]))
    finally:
        con.close()
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.pop("indicator_id"), []).append(row)
    return out


#: Contract facts with several holders, and the columns of their alternative methods: any
#: holder, and the share of the holders (each holder's share of the amount).
HOLDER_METHODS = {
    "supplier_is_sme": ("any_holder_is_sme", "sme_holder_share"),
    "supplier_is_local": ("any_holder_is_local", "local_holder_share"),
}
HOLDER_METHOD_LABELS = {
    "lead": "Titulaire principal (mandataire du groupement) — méthode publiée, celle de l'OECP",
    "any": "Au moins un titulaire",
    "shared": "Montant (ou marché) partagé entre les titulaires",
}


def holder_methods(
    con: duckdb.DuckDBPyConnection, current: dict[str, Any], period: str, basis: str,
    min_population: int = 1,
) -> list[dict[str, Any]]:
    """An indicator on a holder fact (PME, local) computed by each method for contracts with
    several holders: the lead holder (published), any holder, shared between the holders.

    Empty for other indicators. Runs on the indicator's fact table with its checked population.
    """
    condition = current.get("condition")
    if current.get("grain") != "contract" or current.get("measure") != "share" or (
        condition not in HOLDER_METHODS
    ):
        return []
    any_column, share_column = HOLDER_METHODS[condition]
    weight = current["value_field"] if basis == "value" else "1"
    clauses = [current["population"] or "TRUE"]
    params: list[Any] = []
    if period == UNDATED:
        clauses.append("period_year IS NULL")
    elif period != ALL_PERIODS:
        clauses.append("period_year = ?")
        params.append(int(period) if period.isdigit() else -1)
    if basis == "value":
        clauses.append(f"{weight} IS NOT NULL")
    where = " AND ".join(f"({c})" for c in clauses)
    row = con.execute(f"""
        SELECT count(*),
            SUM(CASE WHEN {condition} THEN {weight} ELSE 0 END),
            SUM(CASE WHEN {condition} IS NOT NULL THEN {weight} ELSE 0 END),
            count({condition}),
            SUM(CASE WHEN {any_column} THEN {weight} ELSE 0 END),
            SUM(CASE WHEN {any_column} IS NOT NULL THEN {weight} ELSE 0 END),
            count({any_column}),
            SUM({weight} * {share_column}),
            SUM(CASE WHEN {share_column} IS NOT NULL THEN {weight} ELSE 0 END),
            count({share_column})
        FROM indicator_contracts WHERE {where}""", params).fetchall()[0]
    records = int(row[0])
    out = []
    for i, method in enumerate(("lead", "any", "shared")):
        num, den, known = row[1 + 3 * i], row[2 + 3 * i], row[3 + 3 * i]
        out.append({
            "method": method, "label": HOLDER_METHOD_LABELS[method],
            "numerator": float(num) if num is not None else None,
            "denominator": float(den) if den is not None else None,
            # too small a sample publishes no value, as in the results
            "value": float(num) / float(den)
            if num is not None and den and int(known) >= min_population else None,
            "record_count": records, "known_count": int(known),
        })
    return out


def indicator_detail(
    settings: Settings,
    indicator_id: str,
    breakdown: str | None = None,
    period: str | None = None,
    basis: str | None = None,
    limit: int = 100,
    offset: int = 0,
    group: str | None = None,
) -> dict[str, Any] | None:
    """Everything the indicator page shows: definition, targets, series, one breakdown (and,
    with ``group``, that group's rows of it, wherever they fall in its pages)."""
    con = open_warehouse(settings)
    try:
        if not _has_results(con):
            return None
        versions = _dicts(con.execute(
            "SELECT * FROM indicators WHERE indicator_id = ? ORDER BY version DESC",
            [indicator_id]))
        if not versions:
            return None
        current = versions[0]
        axis = _dicts(con.execute(
            "SELECT * FROM indicator_axes WHERE axis_id = ?", [current["axis_id"]]))[0]
        targets = _dicts(con.execute(
            """SELECT * FROM indicator_targets WHERE indicator_id = ?
               ORDER BY version, basis, target_date""", [indicator_id]))
        # targets changed in the application, newest first, with what they replaced
        target_changes = _dicts(con.execute(
            """SELECT * FROM indicator_target_changes WHERE indicator_id = ?
                 AND (version = ? OR version IS NULL)
               ORDER BY changed_at DESC, change_id DESC""",
            [indicator_id, current["version"]]))
        series_rows = _dicts(con.execute(
            f"""SELECT * FROM indicator_results WHERE indicator_id = ? AND breakdown = '{TOTAL}'
                ORDER BY period_year NULLS LAST, basis, category""", [indicator_id]))
        years = sorted({r["period_year"] for r in series_rows if r["period_year"] is not None})
        bases = list(current["bases"])
        chosen_basis = basis if basis in bases else bases[0]
        allowed = list(current["breakdowns"])
        # the mandate breakdown only says something when the profile names its buyers
        named = con.execute("SELECT count(*) FROM profile_buyers").fetchall()[0][0] > 0
        useful = [b for b in allowed if named or b != "mandate"] or allowed
        chosen_breakdown = breakdown if breakdown in allowed else (useful[0] if useful else None)
        undated = any(r["period"] == UNDATED for r in series_rows)
        periods = [str(y) for y in years] + ([UNDATED] if undated else []) + [ALL_PERIODS]
        profile_row = _dicts(con.execute("SELECT * FROM indicator_profile"))[0]
        # the page opens on the barometer's period, the reference year, when it has data
        reference = str(profile_row["reference_year"])
        default = reference if reference in periods else (
            str(years[-1]) if years else ALL_PERIODS)
        chosen_period = period if period in periods else default
        groups: list[dict[str, Any]] = []
        group_count = 0
        if chosen_breakdown:
            where = """indicator_id = ? AND breakdown = ? AND period = ? AND basis = ?"""
            params: list[Any] = [indicator_id, chosen_breakdown, chosen_period, chosen_basis]
            group_count = int(con.execute(
                f"SELECT count(*) FROM indicator_results WHERE {where}", params
            ).fetchall()[0][0])
            groups = _dicts(con.execute(
                f"""SELECT * FROM indicator_results WHERE {where}
                    ORDER BY record_count DESC, breakdown_value NULLS LAST, category
                    LIMIT ? OFFSET ?""",
                [*params, max(1, min(limit, 1000)), max(0, offset)]))
        chosen_group: list[dict[str, Any]] = []
        if chosen_breakdown and group:
            chosen_group = _dicts(con.execute(
                """SELECT * FROM indicator_results WHERE indicator_id = ? AND breakdown = ?
                     AND period = ? AND basis = ? AND breakdown_value = ?
                   ORDER BY category NULLS FIRST""",
                [indicator_id, chosen_breakdown, chosen_period, chosen_basis, group]))
        labels = dict(con.execute("SELECT breakdown, label FROM indicator_breakdowns").fetchall())
        methods = holder_methods(con, current, chosen_period, str(chosen_basis),
                                 int(profile_row.get("min_population") or 1))
    finally:
        con.close()
    return {
        "indicator": current,
        "versions": versions,
        "axis": axis,
        "profile": profile_row,
        "targets": targets,
        "target_changes": target_changes,
        "series": series_rows,
        "bases": bases,
        "basis": chosen_basis,
        "breakdowns": [{"id": b, "label": labels.get(b, b)} for b in allowed],
        "breakdown": chosen_breakdown,
        "periods": periods,
        "period": chosen_period,
        "groups": groups,
        "group_count": group_count,
        "holder_methods": methods,
        "group": group if chosen_breakdown and group else None,
        "group_rows": chosen_group,
        "limit": limit,
        "offset": offset,
    }


def records_behind(
    settings: Settings,
    indicator_id: str,
    period: str,
    part: str = "numerator",
    breakdown: str | None = None,
    breakdown_value: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any] | None:
    """The contracts (or records) behind a figure: its population, known rows or numerator.

    Runs the indicator's own checked SQL (population, condition) on its fact table, so the list
    is exactly what was counted. ``part``: ``population``, ``known`` or ``numerator``.
    """
    from observatoire.indicators.grains import GRAINS

    con = open_warehouse(settings)
    try:
        # the definitions the results were computed with, as stored in the warehouse
        versions = _dicts(con.execute(
            """SELECT * FROM indicators WHERE indicator_id = ? AND available
               ORDER BY version DESC""", [indicator_id])) if _has_results(con) else []
    finally:
        con.close()
    year = int(period) if period.isdigit() else None
    ind = next((v for v in versions if year is None or (
        v["valid_from"].year <= year and (v["valid_to"] is None or v["valid_to"].year >= year))),
        None)
    if ind is None or ind["grain"] not in GRAINS:  # computed by a step (payments): no facts
        return None
    grain = GRAINS[ind["grain"]]
    years = f"period_year >= {ind['valid_from'].year}"
    if ind["valid_to"] is not None:
        years += f" AND period_year <= {ind['valid_to'].year}"
    else:  # undated records count in the current version, as in the results
        years = f"period_year IS NULL OR {years}"
    clauses = [ind["population"] or "TRUE", years]
    params: list[Any] = []
    if period == UNDATED:
        clauses.append("period_year IS NULL")
    elif period != ALL_PERIODS:
        clauses.append("period_year = ?")
        params.append(year if year is not None else -1)
    if breakdown in grain.breakdowns:
        column = grain.breakdowns[breakdown]
        if breakdown_value is None:
            clauses.append(f"{column} IS NULL")
        else:
            clauses.append(f"CAST({column} AS VARCHAR) = ?")
            params.append(breakdown_value)
    measured = ind["condition"] or ind["expression"]
    if part in ("known", "numerator") and measured is not None:
        clauses.append(f"({measured}) IS NOT NULL")
    if part == "numerator" and ind["condition"] is not None:
        clauses.append(f"({ind['condition']})")
    key = {"record": "record_key", "purchase_line": "line_key",
           "canteen": "canteen_key"}.get(ind["grain"], "uid")
    where = " AND ".join(f"({c})" for c in clauses)
    con = open_warehouse(settings)
    try:
        total = int(con.execute(
            f"SELECT count(DISTINCT {key}) FROM {grain.table} WHERE {where}", params
        ).fetchall()[0][0])
        page = [*params, max(1, min(limit, 500)), max(0, offset)]
        if ind["grain"] == "purchase_line":
            rows = _dicts(con.execute(
                f"""SELECT l.line_key, l.purchase_date, l.canteen_key, c.nom AS canteen,
                        l.description, l.supplier, l.family, l.raw_labels, l.price_ht,
                        l.file_name, l.line_number, l.simulated
                    FROM egalim_lines l LEFT JOIN egalim_canteens c USING (canteen_key)
                    WHERE l.line_key IN (SELECT line_key FROM {grain.table} WHERE {where})
                    ORDER BY l.price_ht DESC, l.line_key LIMIT ? OFFSET ?""", page))
        elif ind["grain"] == "canteen":
            rows = _dicts(con.execute(
                f"""SELECT canteen_key, canteen, departement, period_year, amount, egalim_rate,
                        bio_rate FROM {grain.table} WHERE {where}
                    ORDER BY canteen, period_year LIMIT ? OFFSET ?""", page))
        elif ind["grain"] == "record":
            rows = _dicts(con.execute(
                f"""SELECT sr.record_key, sr.file_name, sr.position, sr.status, sr.uid
                    FROM source_records sr
                    WHERE sr.record_key IN (SELECT record_key FROM {grain.table} WHERE {where})
                    ORDER BY sr.record_key LIMIT ? OFFSET ?""",
                [*params, max(1, min(limit, 500)), max(0, offset)]))
        else:
            rows = _dicts(con.execute(
                f"""SELECT c.uid, c.notification_date, c.buyer_siret, b.name AS buyer_name,
                        c.object, c.cpv_label, c.amount
                    FROM contracts c LEFT JOIN buyers b ON b.buyer_siret = c.buyer_siret
                    WHERE c.uid IN (SELECT uid FROM {grain.table} WHERE {where})
                    ORDER BY c.amount DESC NULLS LAST, c.uid LIMIT ? OFFSET ?""",
                [*params, max(1, min(limit, 500)), max(0, offset)]))
    finally:
        con.close()
    return {"indicator": ind["indicator_id"], "title": ind["title"], "period": period, "part": part,
            "breakdown": breakdown, "breakdown_value": breakdown_value, "total": total,
            "rows": rows, "grain": ind["grain"]}
