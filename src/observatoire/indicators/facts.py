"""Fact tables the indicators count (see ``grains``), built from the model and the profile."""

from __future__ import annotations

import duckdb

from observatoire.indicators.domains import (
    DEFAULT_DOMAIN,
    DOMAIN_COLUMNS,
    OVERRIDES,
    PROFILE_DOMAINS,
    domain_match_sql,
    domain_rows,
)
from observatoire.indicators.profile import Profile
from observatoire.sqlquote import literal_list
from observatoire.warehouse import insert_rows


def profile_tables(con: duckdb.DuckDBPyConnection, profile: Profile) -> None:
    """The profile's reference data, as tables (documented, and joined by the fact SQL)."""
    con.execute("CREATE TABLE profile_buyers (siren VARCHAR, name VARCHAR, role VARCHAR)")
    insert_rows(con, "profile_buyers", [(b.siren, b.name, b.role) for b in profile.buyers])
    con.execute("CREATE TABLE profile_territory (level VARCHAR, code VARCHAR)")
    insert_rows(
        con,
        "profile_territory",
        [("region", c) for c in profile.territory.regions]
        + [("departement", c) for c in profile.territory.departements],
    )
    con.execute(f"CREATE TABLE {PROFILE_DOMAINS} ({DOMAIN_COLUMNS})")
    insert_rows(con, PROFILE_DOMAINS, domain_rows(profile))
    # Written by the build's corrections step; created empty for warehouses built before it.
    con.execute(OVERRIDES)
    con.execute(
        "CREATE TABLE profile_eu_thresholds (valid_from DATE, works DECIMAL(38,2), "
        "supplies_services DECIMAL(38,2), source VARCHAR)"
    )
    insert_rows(
        con,
        "profile_eu_thresholds",
        [(t.valid_from, t.works, t.supplies_services, t.source) for t in profile.eu_thresholds],
    )


def scope_condition(profile: Profile, siret_column: str, inline: bool = False) -> str:
    """The profile's scope on a buyer SIRET column; ``inline``: the SIRENs written in the SQL,
    for a step that runs before ``profile_buyers`` exists (the directorates)."""
    if profile.scope_all_buyers:
        return "TRUE"
    if inline:
        sirens = [b.siren for b in profile.buyers]
        return f"list_contains({literal_list(sirens)}, left({siret_column}, 9))"
    return f"left({siret_column}, 9) IN (SELECT siren FROM profile_buyers)"


def _scoped_sql(profile: Profile, uids: str | None = None) -> str:
    """The contracts in scope with the profile's dimensions (buyer's name, purchase domain,
    directorate, the buyer's département and région).

    A temporary table, read by every fact table below, so that the scope, the domain mapping
    and the buyer names are worked out once. ``uids``: a table of the contracts to take (an
    incremental build's), else all.
    """
    only = f"AND c.uid IN (SELECT uid FROM {uids})" if uids else ""
    cpvs = f"SELECT cpv FROM contracts WHERE uid IN (SELECT uid FROM {uids})" if uids else (
        "SELECT cpv FROM contracts")
    # the copies of those contracts' framework agreements only: the others of their keys
    copies = f"""AND EXISTS (SELECT 1 FROM contracts k WHERE k.uid IN (SELECT uid FROM {uids})
        AND k.buyer_siret IS NOT DISTINCT FROM x.buyer_siret
        AND k.notification_date IS NOT DISTINCT FROM x.notification_date
        AND k.object = x.object AND k.amount = x.amount)""" if uids else ""
    return f"""
CREATE TEMP TABLE indicator_scope_work AS
SELECT c.uid, CAST(c.notification_year AS INTEGER) AS period_year, c.kind, c.buyer_siret,
    COALESCE(pb.name, 'Autres acheteurs') AS mandate,
    COALESCE(dm.domain_id, {DEFAULT_DOMAIN}) AS purchase_domain,
    c.purchase_category, c.cpv_division, c.procedure,
    -- the perimeters of the barometer: the directorate the step before gave the contract,
    -- the territory of its buyer (its SIRENE establishment, else as published with it)
    c.directorate_id AS directorate, b.departement_code AS buyer_departement,
    b.region_code AS buyer_region,
    CAST(c.amount / COALESCE(fc.copies, 1) AS DECIMAL(38,6)) AS amount,
    CASE WHEN c.is_framework_agreement THEN 'accord-cadre'
         WHEN c.is_framework_agreement = FALSE THEN 'ferme' END AS amount_type,
    c.notification_date, c.primary_record_key, c.holder_count
FROM contracts c
LEFT JOIN profile_buyers pb ON pb.siren = left(c.buyer_siret, 9)
LEFT JOIN buyers b ON b.buyer_siret = c.buyer_siret
LEFT JOIN ({domain_match_sql(cpvs)}) dm ON dm.cpv = c.cpv
-- A framework agreement published once per holder (same buyer, day, object and maximum,
-- another id) is one maximum: its copies share it, so that sums count it once. Without an
-- object nothing says two records are copies: each keeps its maximum.
LEFT JOIN (
    SELECT uid, count(*) OVER (PARTITION BY buyer_siret, notification_date, object, amount)
        AS copies
    FROM contracts x
    WHERE is_framework_agreement AND amount IS NOT NULL AND object IS NOT NULL {copies}
) fc ON fc.uid = c.uid
WHERE {scope_condition(profile, "c.buyer_siret")} {only}
"""


def _holders_sql(profile: Profile, restricted: bool = False) -> str:
    """Current holders of the contracts in scope, with what each one is (category, place, new).

    ``restricted``: ``indicator_scope_work`` holds some contracts only (an incremental build);
    whether a holder is new is then judged over every contract in scope of its SIREN, and the
    years the data covers over every contract in scope, as when it holds them all."""
    years = int(profile.parameters.new_supplier_lookback_years)
    if restricted:
        scope = scope_condition(profile, "c.buyer_siret")
        dates = f"""SELECT DISTINCT s.siren, c.notification_date
          FROM contract_holders h JOIN contracts c ON c.uid = h.uid
          JOIN suppliers s ON s.supplier_key = h.supplier_key
          WHERE h.is_current AND {scope} AND c.notification_date IS NOT NULL
            AND s.siren IN (SELECT siren FROM holders WHERE siren IS NOT NULL)"""
        everyone = f"(SELECT notification_date FROM contracts c WHERE {scope})"
    else:
        dates = """SELECT DISTINCT siren, notification_date FROM holders
          WHERE siren IS NOT NULL AND notification_date IS NOT NULL"""
        everyone = "indicator_scope_work"
    # Without a territory nobody is known to be local or not.
    no_territory = "FALSE" if profile.territory.regions or profile.territory.departements else "TRUE"
    # The holders' own facts go through the CTEs as narrow rows (the new-supplier window, the
    # lead holder's window); the contract's dimensions are joined once, at the end, by the
    # scope table's row number (a string key would be hashed again).
    return f"""
WITH holders AS MATERIALIZED (
    SELECT c.rowid AS scope_row, h.uid, c.notification_date, c.holder_count, h.supplier_key,
        h.holder_id, s.siren, s.category, s.departement_code,
        CASE
            WHEN {no_territory} THEN NULL
            WHEN s.region_code IS NOT NULL OR s.departement_code IS NOT NULL THEN
                s.region_code IN (SELECT code FROM profile_territory WHERE level = 'region')
                OR s.departement_code IN (SELECT code FROM profile_territory
                                          WHERE level = 'departement')
            -- a holder from outside France is known not to be local
            WHEN h.id_type = 'HORS-UE' THEN FALSE
            WHEN h.id_type = 'TVA' AND NOT starts_with(upper(h.holder_id), 'FR') THEN FALSE
        END AS is_local
    FROM contract_holders h
    JOIN indicator_scope_work c ON c.uid = h.uid
    LEFT JOIN suppliers s ON s.supplier_key = h.supplier_key
    WHERE h.is_current
),
siren_previous AS (
    -- distinct dates first, so that two contracts of one day are both new (or both not)
    SELECT siren, notification_date,
        lag(notification_date) OVER (PARTITION BY siren ORDER BY notification_date)
            AS previous_date
    FROM ({dates})
),
data_start AS (SELECT min(notification_date) AS first_date FROM {everyone}),
data_years AS (
    SELECT DISTINCT CAST(year(notification_date) AS INTEGER) AS y FROM {everyone}
    WHERE notification_date IS NOT NULL
),
covered_years AS (
    -- a year can be judged when each of the look-back years before it holds data
    SELECT d.y + 1 + k.k AS y FROM data_years d CROSS JOIN range(0, {years}) k(k)
    GROUP BY d.y + 1 + k.k
    HAVING count(*) = {years}
),
primary_positions AS (
    -- only contracts with several holders need their order (most have one)
    SELECT c.uid, r.holder_id, min(r.holder_position) AS position
    FROM indicator_scope_work c
    JOIN source_record_holders r ON r.record_key = c.primary_record_key
    WHERE c.holder_count > 1 AND r.holder_id IS NOT NULL
    GROUP BY c.uid, r.holder_id
),
holder_facts AS MATERIALIZED (
    SELECT h.*,
        -- judged only where the data covers the whole window: elsewhere only the "not new"
        -- would be known, and a share of them would read 0 %
        CASE
            WHEN h.siren IS NULL OR h.notification_date IS NULL THEN NULL
            WHEN NOT (h.notification_date - INTERVAL {years} YEAR >= ds.first_date
                      AND year(h.notification_date) IN (SELECT y FROM covered_years)) THEN NULL
            WHEN p.previous_date >= h.notification_date - INTERVAL {years} YEAR THEN FALSE
            ELSE TRUE
        END AS is_new
    FROM holders h
    CROSS JOIN data_start ds
    LEFT JOIN siren_previous p ON p.siren = h.siren AND p.notification_date = h.notification_date
),
ranked AS (
    SELECT *, 1 AS lead_rank FROM holder_facts WHERE holder_count = 1
    UNION ALL
    -- the lead holder (mandataire of a grouping) is the one the publication lists first
    SELECT h.*, row_number() OVER (PARTITION BY h.uid
                                   ORDER BY pp.position NULLS LAST, h.supplier_key)
    FROM holder_facts h
    LEFT JOIN primary_positions pp ON pp.uid = h.uid AND pp.holder_id = h.holder_id
    WHERE h.holder_count <> 1
)
SELECT c.uid, c.period_year, c.kind, c.buyer_siret, c.mandate, c.purchase_domain,
    c.purchase_category, c.cpv_division, c.procedure, c.directorate, c.buyer_departement,
    c.buyer_region, c.amount, r.supplier_key,
    r.siren AS supplier_siren,
    r.category AS supplier_category, r.departement_code AS supplier_departement,
    CASE WHEN r.category IS NOT NULL THEN r.category = 'PME' END AS supplier_is_sme,
    r.is_local AS supplier_is_local, r.is_new AS supplier_is_new,
    CAST(r.holder_count AS INTEGER) AS holder_count, CAST(r.lead_rank AS INTEGER) AS lead_rank
FROM ranked r
JOIN indicator_scope_work c ON c.rowid = r.scope_row
"""


def _threshold(profile: Profile, column: str) -> str:
    """The EU threshold in force at each contract's notification date, as a CASE expression.

    A handful of dated values: a CASE on the date is far cheaper than a range join over every
    contract. Dates and amounts come from the checked profile (dates and numbers only).
    """
    cases = " ".join(
        f"WHEN c.notification_date >= DATE '{t.valid_from.isoformat()}' "
        f"THEN {float(getattr(t, column))!r}"
        for t in sorted(profile.eu_thresholds, key=lambda t: t.valid_from, reverse=True)
    )
    return f"(CASE {cases} END)" if cases else "NULL"


def _contracts_sql(profile: Profile, holders: str = "indicator_holders") -> str:
    works, supplies = _threshold(profile, "works"), _threshold(profile, "supplies_services")
    return f"""
WITH per_contract AS (
    -- One holder: its own facts. Several (a grouping): the lead holder's category and place,
    -- as the national reference does (OECP: the mandataire's), with the alternatives beside
    -- it (any holder; each holder's share of the amount); new: a new holder among them.
    SELECT uid, supplier_is_sme, supplier_category, supplier_is_local, supplier_is_new,
        supplier_departement, supplier_is_sme AS any_holder_is_sme,
        supplier_is_local AS any_holder_is_local,
        CAST(supplier_is_sme AS DOUBLE) AS sme_holder_share,
        CAST(supplier_is_local AS DOUBLE) AS local_holder_share
    FROM {holders} WHERE holder_count = 1
    UNION ALL
    SELECT uid,
        bool_or(supplier_is_sme) FILTER (WHERE lead_rank = 1) AS supplier_is_sme,
        min(supplier_category) FILTER (WHERE lead_rank = 1) AS supplier_category,
        bool_or(supplier_is_local) FILTER (WHERE lead_rank = 1) AS supplier_is_local,
        CASE WHEN bool_or(supplier_is_new) THEN TRUE
             WHEN count(supplier_is_new) = count(*) THEN FALSE END AS supplier_is_new,
        min(supplier_departement) FILTER (WHERE lead_rank = 1) AS supplier_departement,
        CASE WHEN bool_or(supplier_is_sme) THEN TRUE
             WHEN count(supplier_is_sme) = count(*) THEN FALSE END AS any_holder_is_sme,
        CASE WHEN bool_or(supplier_is_local) THEN TRUE
             WHEN count(supplier_is_local) = count(*) THEN FALSE END AS any_holder_is_local,
        CASE WHEN count(supplier_is_sme) = count(*) THEN
            avg(CAST(supplier_is_sme AS DOUBLE)) END AS sme_holder_share,
        CASE WHEN count(supplier_is_local) = count(*) THEN
            avg(CAST(supplier_is_local AS DOUBLE)) END AS local_holder_share
    FROM {holders} WHERE holder_count <> 1 GROUP BY uid
)
SELECT c.uid, w.period_year, c.kind, c.buyer_siret, w.mandate, w.purchase_domain,
    c.purchase_category, c.cpv_division, c.procedure, w.directorate, w.buyer_departement,
    w.buyer_region, w.amount, w.amount_type,
    c.nature,
    c.cpv,
    c.format_family,
    c.notification_date,
    c.publication_date,
    CAST(c.amount_initial AS DECIMAL(38,2)) AS amount_initial,
    c.duration_months,
    c.is_framework_agreement,
    c.is_subsequent_contract,
    CAST(c.offers_received AS INTEGER) AS offers_received,
    c.advance_granted,
    c.advance_rate,
    CASE WHEN c.grouping_type IS NOT NULL THEN c.grouping_type <> 'Pas de groupement' END
        AS is_grouping,
    c.subcontracting_declared,
    c.is_innovative,
    CASE WHEN len(c.price_types) > 0 THEN
        list_has_any(c.price_types, ['Définitif révisable', 'Définitif actualisable']) END
        AS has_revisable_price,
    c.has_social_consideration,
    CASE WHEN c.has_social_consideration IS NOT NULL THEN
        list_contains(c.social_considerations, 'Clause sociale') END AS has_social_clause,
    CASE WHEN c.has_social_consideration IS NOT NULL THEN
        list_contains(c.social_considerations, 'Critère social') END AS has_social_criterion,
    CASE WHEN c.has_social_consideration IS NOT NULL THEN
        list_contains(c.social_considerations, 'Marché réservé') END AS is_reserved_contract,
    c.has_environmental_consideration,
    CASE WHEN c.has_environmental_consideration IS NOT NULL THEN
        list_contains(c.environmental_considerations, 'Clause environnementale') END
        AS has_environmental_clause,
    CASE WHEN c.has_environmental_consideration IS NOT NULL THEN
        list_contains(c.environmental_considerations, 'Critère environnemental') END
        AS has_environmental_criterion,
    c.origin_fr_share,
    c.origin_eu_share,
    CAST(c.modification_count AS INTEGER) AS modification_count,
    c.modification_count > 0 AS is_modified,
    c.amount_initial >= CASE WHEN c.purchase_category = 'Travaux' THEN {works}
                             ELSE {supplies} END AS above_eu_threshold,
    CASE WHEN c.notification_date_source = 'notification' AND c.publication_date IS NOT NULL
         THEN c.publication_date <= c.notification_date + INTERVAL 2 MONTH END
        AS published_within_two_months,
    CAST(c.holder_count AS INTEGER) AS holder_count,
    pc.supplier_category,
    pc.supplier_departement,
    pc.supplier_is_sme,
    pc.supplier_is_local,
    pc.supplier_is_new,
    pc.any_holder_is_sme,
    pc.any_holder_is_local,
    pc.sme_holder_share,
    pc.local_holder_share
FROM indicator_scope_work w
JOIN contracts c ON c.uid = w.uid
LEFT JOIN per_contract pc ON pc.uid = c.uid
"""


_SUBCONTRACTS_SQL = """
SELECT c.uid, c.period_year, c.kind, c.buyer_siret, c.mandate, c.purchase_domain,
    c.purchase_category, c.cpv_division, c.procedure, c.directorate, c.buyer_departement,
    c.buyer_region,
    CAST(sc.amount AS DECIMAL(38,2)) AS amount,
    CASE WHEN sc.id_type = 'SIRET' AND length(sc.subcontractor_id) = 14
         THEN left(sc.subcontractor_id, 9) END AS subcontractor_siren,
    cat.category AS subcontractor_category,
    CASE WHEN cat.category IS NOT NULL THEN cat.category = 'PME' END AS subcontractor_is_sme
FROM {contracts} c
JOIN subcontracts sc ON sc.uid = c.uid
LEFT JOIN ref_sirene_categories cat
    ON sc.id_type = 'SIRET' AND cat.siren = left(sc.subcontractor_id, 9)
"""


def _records_sql(profile: Profile, records: str | None = None) -> str:
    """``records``: a table of the record keys to take (an incremental build's), else all."""
    only = f"record_key IN (SELECT record_key FROM {records})" if records else "TRUE"
    only_sr = f"sr.{only}" if records else "TRUE"
    # A record's directorate is its contract's; one that made no contract (set aside) has the
    # one its findings got from a buyer rule (it has at least its blocking finding).
    if profile.directorates:
        directorates = f"""record_directorates AS (
    SELECT record_key, min(directorate_id) AS directorate_id FROM findings
    WHERE directorate_id IS NOT NULL AND (uid IS NULL OR uid NOT IN (SELECT uid FROM contracts))
      AND {only}
    GROUP BY record_key
),"""
        directorate = "COALESCE(r.contract_directorate, rd.directorate_id)"
        join = "LEFT JOIN record_directorates rd ON rd.record_key = r.record_key"
    else:  # no pass over the findings: every directorate is NULL
        directorates, directorate, join = "", "CAST(NULL AS VARCHAR)", ""
    return f"""
WITH flags AS (
    SELECT record_key,
        bool_or(field IN ('acheteur.id', 'id', 'titulaire.id', 'titulaire.typeIdentifiant',
                          'titulaires')) AS identifier_issue,
        bool_or(field = 'codeCPV') AS cpv_issue,
        bool_or(field = 'lieuExecution.code') AS place_issue
    FROM findings
    WHERE severity <> 'information'
      AND field IN ('acheteur.id', 'id', 'titulaire.id', 'titulaire.typeIdentifiant',
                    'titulaires', 'codeCPV', 'lieuExecution.code')
      AND {only}
    GROUP BY record_key
),
{directorates}
records AS (
    SELECT sr.record_key, sr.source, sr.status, c.notification_year,
        c.directorate_id AS contract_directorate,
        -- a record without identity still names its buyer: attribute it when the SIRET reads
        CASE WHEN sr.uid IS NOT NULL THEN left(sr.uid, 14)
             WHEN regexp_full_match(regexp_replace(sr.raw_buyer_id, '\\s', '', 'g'), '[0-9]{{14}}')
             THEN regexp_replace(sr.raw_buyer_id, '\\s', '', 'g') END AS buyer_siret,
        COALESCE(try_cast(substr(sr.raw_notification_date, 1, 4) AS INTEGER),
                 try_cast(substr(sr.raw_publication_date, 1, 4) AS INTEGER)) AS written_year
    FROM source_records sr LEFT JOIN contracts c ON c.uid = sr.uid
    WHERE {only_sr}
)
SELECT r.record_key,
    CAST(COALESCE(r.notification_year,
                  CASE WHEN r.written_year BETWEEN 1990 AND 2100 THEN r.written_year END)
         AS INTEGER) AS period_year,
    r.buyer_siret,
    COALESCE(pb.name, 'Autres acheteurs') AS mandate,
    {directorate} AS directorate,
    b.departement_code AS buyer_departement,
    b.region_code AS buyer_region,
    r.source,
    r.status,
    r.status = 'set_aside' AS is_set_aside,
    NOT COALESCE(f.identifier_issue, FALSE) AS identifiers_valid,
    NOT COALESCE(f.cpv_issue, FALSE) AS cpv_valid,
    NOT COALESCE(f.place_issue, FALSE) AS place_valid
FROM records r
LEFT JOIN flags f ON f.record_key = r.record_key
LEFT JOIN profile_buyers pb ON pb.siren = left(r.buyer_siret, 9)
LEFT JOIN buyers b ON b.buyer_siret = r.buyer_siret
{join}
WHERE {scope_condition(profile, "r.buyer_siret")}
"""


def build_facts(con: duckdb.DuckDBPyConnection, profile: Profile) -> None:
    """Create the profile tables and the fact table of every grain."""
    profile_tables(con, profile)
    con.execute(_scoped_sql(profile))
    con.execute("CREATE TABLE indicator_holders AS" + _holders_sql(profile))
    # stored by uid, as ``contracts``: the pages of a contract and of a buyer read theirs
    con.execute("CREATE TABLE indicator_contracts AS" + _contracts_sql(profile) + "ORDER BY c.uid")
    con.execute("CREATE TABLE indicator_subcontracts AS"
                + _SUBCONTRACTS_SQL.format(contracts="indicator_contracts"))
    con.execute("CREATE TABLE indicator_records AS" + _records_sql(profile))
    con.execute("DROP TABLE indicator_scope_work")


def build_some_facts(con: duckdb.DuckDBPyConnection, profile: Profile, uids: str,
                     records: str) -> None:
    """The fact rows of the contracts of the table ``uids`` and of the records of the table
    ``records`` only, as :func:`build_facts` computes them, into the temporary tables
    ``new_`` + the fact table's name (an incremental build; the profile tables exist)."""
    con.execute(_scoped_sql(profile, uids))
    con.execute("CREATE TEMP TABLE new_indicator_holders AS"
                + _holders_sql(profile, restricted=True))
    con.execute("CREATE TEMP TABLE new_indicator_contracts AS"
                + _contracts_sql(profile, holders="new_indicator_holders"))
    con.execute("CREATE TEMP TABLE new_indicator_subcontracts AS"
                + _SUBCONTRACTS_SQL.format(contracts="new_indicator_contracts"))
    con.execute("CREATE TEMP TABLE new_indicator_records AS" + _records_sql(profile, records))
    con.execute("DROP TABLE indicator_scope_work")
