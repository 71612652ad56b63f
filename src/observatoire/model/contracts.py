"""SQL of the model: identity, merging of duplicates, versions, holders, parties and findings.

Runs after :mod:`observatoire.model.clean`. Tables created here that end with ``_work`` are
intermediate and dropped at the end of the build; the others are the documented warehouse.
"""

from observatoire.quality.rules import BUDGET_LABEL, DELTA_CUT, MOJIBAKE, PLACEHOLDER_ID

RECORD_FLAGS = r"""
CREATE TEMP TABLE record_flags_work AS
SELECT r.record_key, count(h.record_key) AS holder_count,
    bool_or(h.id_type = 'SIRET' AND left(h.holder_id, 9) = left(r.buyer_siret, 9)) AS holder_is_buyer,
    bool_or(regexp_full_match(COALESCE(h.holder_id, ''), '0+|1234567890|123456789|9{9,}'))
        AS placeholder_holder
FROM records r LEFT JOIN record_holders h ON h.record_key = r.record_key
GROUP BY r.record_key
"""

IDENTIFIERS = r"""
SELECT DISTINCT siret FROM (
    SELECT buyer_siret AS siret FROM records
    UNION ALL SELECT holder_id FROM record_holders WHERE id_type = 'SIRET'
    UNION ALL SELECT siret_text(a.id) FROM (SELECT unnest(subcontracts) AS a FROM staged)
) WHERE regexp_full_match(siret, '\d{14}') ORDER BY siret
"""

#: What one contract is. Records of one published uid (buyer SIRET + id) are one contract,
#: except when the id was reused for several contracts (the lots of a consultation) or is a
#: placeholder. Then each contract's uid is the published uid, "~" and the first 8 hex digits of
#: the MD5 of its lot signature (see docs/architecture.md, "Identity and merging"):
#: - a native record's signature is its sorted holder ids, amount and CPV; the id was reused
#:   when the records name different holders, or when one file published it several times on
#:   one day with different signatures (the same contract published again later, with a
#:   corrected amount, stays one contract);
#: - a consolidated CSV row's signature is its CPV, procedure and offers received, which a
#:   contract's co-holder and version rows repeat and its lots do not, and the holders of the
#:   rows of its date and amount (its co-holders: a lot has its own, versions repeat them);
#: - a placeholder id (0, 1, "sans objet"…) merges nothing: the signature adds the notification
#:   date and the object, so that only the same contract published twice merges.
#: Every other record keeps its published uid. Only the records that change are listed here.
IDENTITY = r"""
CREATE TEMP TABLE record_identity_work AS
-- one read of the records (no join back on the record key); an ASCII id (nearly all) skips
-- strip_accents, which leaves ASCII as it is and costs a second per million ids
WITH published_twice AS (
    SELECT uid FROM records
    WHERE uid IS NOT NULL AND record_key NOT IN (SELECT record_key FROM set_aside_work)
    GROUP BY uid HAVING count(*) > 1
),
candidates AS MATERIALIZED (
    SELECT e.record_key, e.uid, e.file_hash, e.publication_date, e.notification_date, e.amount,
        e.cpv, e.procedure, e.offers_received, e.raw_object,
        e.source_format = 'decp-tabular-csv' AS consolidated,
        regexp_full_match({folded_id}, '{placeholder}') AS placeholder_id
    FROM records e
    WHERE e.uid IS NOT NULL AND e.record_key NOT IN (SELECT record_key FROM set_aside_work)
      AND (e.uid IN (SELECT uid FROM published_twice)
           OR (length(e.id) <= 16 AND regexp_full_match({folded_id}, '{placeholder}')))
),
holders AS MATERIALIZED (
    SELECT c.record_key, c.uid, c.file_hash, c.notification_date, c.amount, c.consolidated,
        h.holder_id
    FROM candidates c JOIN record_holders h ON h.record_key = c.record_key
    WHERE h.holder_id IS NOT NULL
),
-- a native record's holders
holder_sets AS (
    SELECT record_key, array_to_string(list_sort(list_distinct(list(holder_id))), ',') AS ids
    FROM holders WHERE NOT consolidated GROUP BY record_key
),
-- a consolidated row's contract holders: those of the rows of its date and amount (co-holders)
coholder_sets AS (
    SELECT uid, file_hash, notification_date, amount,
        array_to_string(list_sort(list_distinct(list(holder_id))), ',') AS ids
    FROM holders WHERE consolidated GROUP BY ALL
),
keyed AS (
    SELECT c.*, h.ids,
        CASE WHEN c.consolidated
             THEN concat_ws('|', 'ligne', COALESCE(c.cpv, '∅'), COALESCE(c.procedure, '∅'),
                            COALESCE(CAST(c.offers_received AS VARCHAR), '∅'),
                            COALESCE(ch.ids, '∅'))
             ELSE concat_ws('|', 'marche', COALESCE(h.ids, '∅'),
                            COALESCE(CAST(c.amount AS VARCHAR), '∅'), COALESCE(c.cpv, '∅'))
        END || CASE WHEN c.placeholder_id
                    THEN '|' || COALESCE(CAST(c.notification_date AS VARCHAR), '∅') || '|'
                         || COALESCE(trim(c.raw_object), '∅') ELSE '' END AS lot_key
    FROM candidates c
    LEFT JOIN holder_sets h ON h.record_key = c.record_key
    LEFT JOIN coholder_sets ch ON c.consolidated AND ch.uid = c.uid
        AND ch.file_hash = c.file_hash
        AND ch.notification_date IS NOT DISTINCT FROM c.notification_date
        AND ch.amount IS NOT DISTINCT FROM c.amount
),
batches AS (
    -- one file publishing one id several times on one day with different signatures
    SELECT uid, max(n) AS signatures FROM (
        SELECT uid, count(DISTINCT lot_key) AS n FROM keyed WHERE NOT consolidated
        GROUP BY uid, file_hash, publication_date)
    GROUP BY uid
),
groups AS (
    SELECT uid, bool_or(placeholder_id) AS placeholder_id, count(DISTINCT lot_key) AS lots,
        count(DISTINCT lot_key) FILTER (WHERE consolidated) AS row_signatures,
        count(DISTINCT ids) FILTER (WHERE NOT consolidated) AS holder_sets
    FROM keyed GROUP BY uid
)
SELECT k.record_key, k.uid AS published_uid, k.uid || '~' || left(md5(k.lot_key), 8) AS uid,
    CASE WHEN g.placeholder_id THEN 'placeholder_id' ELSE 'reused_id' END AS reason,
    g.lots AS lot_count
FROM keyed k JOIN groups g ON g.uid = k.uid LEFT JOIN batches b ON b.uid = k.uid
WHERE g.placeholder_id OR g.row_signatures > 1 OR g.holder_sets > 1
    OR COALESCE(b.signatures, 0) > 1
""".replace("{placeholder}", PLACEHOLDER_ID).replace(
    "{folded_id}", "CASE WHEN strlen(e.id) = length(e.id) THEN lower(e.id) "
    "ELSE lower(strip_accents(e.id)) END")

#: The records of lots and placeholder ids take their contract's uid (a few rows).
IDENTITY_APPLIED = [
    """UPDATE records SET uid = i.uid FROM record_identity_work i
       WHERE records.record_key = i.record_key""",
    """UPDATE findings_records_work SET uid = i.uid FROM record_identity_work i
       WHERE findings_records_work.record_key = i.record_key""",
]

RANK = r"""
CREATE TEMP TABLE record_rank_work AS
-- Most contracts are published once: their record is primary without sorting. The window
-- runs over the contracts published several times only (7 % of the records at 1M). The
-- records are read twice rather than kept as a CTE: a CTE read twice is materialised, with
-- every column the window sorts on (0.4 GB at 1M contracts, held while the window runs).
WITH repeated AS (
    SELECT uid FROM records
    WHERE uid IS NOT NULL AND record_key NOT IN (SELECT record_key FROM set_aside_work)
    GROUP BY uid HAVING count(*) > 1
)
SELECT r.record_key, r.uid, r.file_hash, r.load_id, r.source, 1 AS rank
FROM records r
WHERE r.record_key NOT IN (SELECT record_key FROM set_aside_work)
  AND r.uid IS NOT NULL AND r.uid NOT IN (SELECT uid FROM repeated)
UNION ALL
SELECT r.record_key, r.uid, r.file_hash, r.load_id, r.source,
    row_number() OVER (
        PARTITION BY r.uid
        -- The primary record of a contract: a native DECP publication rather than a row of a
        -- consolidated CSV; the most recent publication; for CSV rows (one per version), the
        -- initial version (not a row that says it is a modification, then the earliest); then
        -- the most complete; then the first loaded.
        ORDER BY r.source_format = 'decp-tabular-csv', r.publication_date DESC NULLS LAST,
            CASE WHEN r.source_format = 'decp-tabular-csv'
                 THEN NULLIF(NULLIF(trim(r.raw_version), ''), '0') IS NOT NULL END NULLS LAST,
            CASE WHEN r.source_format = 'decp-tabular-csv' THEN r.notification_date END NULLS LAST,
            (CAST(r.amount IS NOT NULL AS INTEGER) + CAST(r.cpv IS NOT NULL AS INTEGER)
             + CAST(r.procedure IS NOT NULL AS INTEGER) + CAST(r.duration_months IS NOT NULL AS INTEGER)
             + CAST(r.place_code IS NOT NULL AS INTEGER)
             + CAST(r.notification_date_source = 'notification' AS INTEGER)) DESC,
            r.load_id, r.position) AS rank
FROM records r
WHERE r.record_key NOT IN (SELECT record_key FROM set_aside_work)
  AND (r.uid IS NULL OR r.uid IN (SELECT uid FROM repeated))
"""

DUPLICATES = r"""
CREATE TEMP TABLE duplicates_work AS
WITH pairs AS MATERIALIZED (
    SELECT d.record_key, d.uid, d.file_hash, d.load_id, p.record_key AS primary_key,
        p.file_hash AS primary_file_hash
    FROM record_rank_work d JOIN record_rank_work p ON p.uid = d.uid AND p.rank = 1
    WHERE d.rank > 1
),
-- the holders of the records in a pair only (a few percent of all holders)
holder_ids AS MATERIALIZED (
    SELECT record_key, list(holder_id ORDER BY holder_id) AS ids FROM record_holders
    WHERE record_key IN (SELECT record_key FROM pairs UNION ALL SELECT primary_key FROM pairs)
    GROUP BY record_key
),
-- consolidated files that say which rows are modifications (their modification_id column)
versioned_files AS (
    SELECT DISTINCT file_hash FROM records
    WHERE source_format = 'decp-tabular-csv' AND NULLIF(trim(raw_version), '') IS NOT NULL
)
SELECT d.record_key, d.uid, d.primary_key,
    d.file_hash = d.primary_file_hash AS same_file,
    -- A consolidated CSV has one row per contract x holder x version: such rows are versions or
    -- holders of the contract, not duplicate publications (its lots are other contracts, see
    -- IDENTITY). A row is a version when it says so (a modification id other than 0); in a
    -- file without that column, when it is of another date than the initial row. Rows of the
    -- initial row's date are never versions: they name co-holders, or disagree with it.
    CASE
        WHEN d.file_hash <> d.primary_file_hash THEN 'other_file'
        WHEN ld.format = 'decp-tabular-csv' AND d.file_hash IN (SELECT file_hash FROM versioned_files)
             AND NULLIF(NULLIF(trim(dr.raw_version), ''), '0') IS NOT NULL THEN 'version_row'
        WHEN ld.format = 'decp-tabular-csv'
             AND d.file_hash NOT IN (SELECT file_hash FROM versioned_files)
             AND dr.notification_date IS DISTINCT FROM pr.notification_date THEN 'version_row'
        WHEN ld.format = 'decp-tabular-csv' AND dh.ids IS DISTINCT FROM ph.ids
             AND dr.amount IS NOT DISTINCT FROM pr.amount
             AND dr.duration_months IS NOT DISTINCT FROM pr.duration_months THEN 'holder_row'
        ELSE 'same_file'
    END AS merge_reason,
    NULLIF(concat_ws(' ; ',
        CASE WHEN dr.amount <> pr.amount
             THEN 'montant ' || dr.amount || ' ≠ ' || pr.amount || ' retenu' END,
        CASE WHEN dr.notification_date <> pr.notification_date
             THEN 'notification ' || dr.notification_date || ' ≠ ' || pr.notification_date || ' retenue' END,
        CASE WHEN dr.duration_months <> pr.duration_months
             THEN 'durée ' || dr.duration_months || ' ≠ ' || pr.duration_months || ' retenue' END,
        CASE WHEN dr.cpv <> pr.cpv THEN 'CPV ' || dr.cpv || ' ≠ ' || pr.cpv || ' retenu' END,
        CASE WHEN dr.procedure <> pr.procedure
             THEN 'procédure « ' || dr.procedure || ' » ≠ « ' || pr.procedure || ' » retenue' END
    ), '') AS conflict
FROM pairs d
LEFT JOIN holder_ids dh ON dh.record_key = d.record_key
LEFT JOIN holder_ids ph ON ph.record_key = d.primary_key
JOIN records dr ON dr.record_key = d.record_key
JOIN records pr ON pr.record_key = d.primary_key
JOIN loads ld ON ld.load_id = d.load_id
"""

SOURCE_RECORDS = r"""
CREATE TABLE source_records AS
SELECT r.record_key, r.file_hash, r.position, r.line, r.load_id, r.source, r.file_name, r.kind,
    r.family,
    CASE WHEN s.record_key IS NOT NULL THEN 'set_aside'
         WHEN k.rank = 1 THEN 'kept' ELSE 'duplicate' END AS status,
    r.uid, CASE WHEN r.uid IS NOT NULL THEN r.buyer_siret || r.id END AS consultation_uid,
    COALESCE(s.reasons, CASE WHEN d.merge_reason IS NOT NULL THEN [d.merge_reason] END,
             CAST([] AS VARCHAR[])) AS reasons,
    r.* EXCLUDE (record_key, file_hash, position, line, load_id, source, file_name, kind, family,
                 uid, notes)
        LIKE 'raw\_%' ESCAPE '\',
    r.notes AS structure_notes
FROM records r
LEFT JOIN set_aside_work s ON s.record_key = r.record_key
LEFT JOIN record_rank_work k ON k.record_key = r.record_key
LEFT JOIN duplicates_work d ON d.record_key = r.record_key
-- stored by contract (the contract page reads a contract's records by uid: DuckDB skips the
-- row groups whose uids cannot match)
ORDER BY r.uid
"""

MODIFICATIONS = r"""
CREATE TEMP TABLE modifications_work AS
WITH mods AS (
    SELECT k.uid, k.record_key, k.rank, unnest(s.modifications) AS m
    FROM staged s JOIN record_rank_work k ON k.record_key = s.file_hash || '#' || s.position
    -- the few records with modifications only: the join then runs on thousands of rows
    WHERE len(s.modifications) > 0
),
parsed AS (
    SELECT uid, record_key, rank, m.position AS mod_position, m.mod_id, m.object AS mod_object,
        parse_date(m.notification_date) AS notification_date,
        parse_date(m.publication_date) AS publication_date,
        CASE WHEN to_number(m.duration) > 0 AND to_number(m.duration) <= 1200
             THEN CAST(ceil(to_number(m.duration)) AS INTEGER) END AS duration_months,
        CASE WHEN to_number(m.amount) >= 1 AND to_number(m.amount) <= 3e9
             THEN to_number(m.amount) END AS amount,
        m.amount AS amount_raw, m.duration AS duration_raw,
        m.notification_date AS notification_date_raw, m.holders, false AS from_consolidated
    FROM mods
    UNION ALL
    -- versions carried by the rows of a consolidated CSV
    SELECT d.uid, d.record_key, k.rank, 0, NULL, NULL, r.notification_date, r.publication_date,
        r.duration_months, r.amount, r.raw_amount, r.raw_duration, r.raw_notification_date, NULL,
        true
    FROM duplicates_work d
    JOIN records r ON r.record_key = d.record_key
    JOIN record_rank_work k ON k.record_key = d.record_key
    WHERE d.merge_reason = 'version_row'
),
distinct_mods AS (
    SELECT *, row_number() OVER (
        PARTITION BY uid, notification_date, amount, duration_months,
            list_transform(holders, lambda h: siret_text(h.id))
        ORDER BY rank, mod_position) AS copy
    FROM parsed
)
SELECT * EXCLUDE (copy),
    row_number() OVER (PARTITION BY uid ORDER BY notification_date NULLS LAST,
        TRY_CAST(mod_id AS INTEGER) NULLS LAST, rank, mod_position) AS version
FROM distinct_mods WHERE copy = 1
"""

CONTRACT_VERSIONS = r"""
CREATE TABLE contract_versions AS
WITH initial AS (
    SELECT r.uid, 0 AS version, 'initial' AS version_kind, r.record_key, NULL AS modification_id,
        NULL AS modification_object, r.notification_date, r.publication_date,
        r.amount, r.raw_amount AS amount_raw, r.duration_months, r.raw_duration AS duration_raw,
        false AS changes_holders
    FROM records r JOIN record_rank_work k ON k.record_key = r.record_key AND k.rank = 1
),
mods AS (
    SELECT m.uid, m.version,
        CASE WHEN m.from_consolidated THEN 'consolidated_version' ELSE 'modification' END,
        m.record_key, m.mod_id, m.mod_object,
        m.notification_date, m.publication_date, m.amount, m.amount_raw, m.duration_months,
        m.duration_raw, len(COALESCE(m.holders, [])) > 0
    FROM modifications_work m
),
modified AS (SELECT DISTINCT uid FROM mods),
versions AS (SELECT * FROM initial WHERE uid IN (SELECT uid FROM modified)
             UNION ALL SELECT * FROM mods),
-- A modification's amount is the contract's new total (DECP), unless it would cut the amount in
-- force (approximated by the largest amount published before it) by more than {cut}: such an
-- amendment would upset the contract, the publisher wrote the change ("AVENANT N°01": 308 after
-- 30,000). It is then read as a delta, added to the amount in force.
read AS (
    SELECT v.*,
        CASE WHEN v.amount IS NULL THEN NULL
             WHEN v.version_kind = 'modification'
                  AND v.amount < (1 - {cut}) * max(v.amount) OVER before THEN 'delta'
             ELSE 'total' END AS amount_reading
    FROM versions v
    WINDOW before AS (PARTITION BY v.uid ORDER BY v.version
                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
-- each total starts a run; the amount in force is that total plus the deltas after it
runs AS (
    SELECT *, count(*) FILTER (WHERE amount_reading = 'total') OVER (
        PARTITION BY uid ORDER BY version ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run
    FROM read
)
SELECT * FROM (
    -- Most contracts have no modification: their one version is its own running state. The
    -- window runs over the others only (a million one-row partitions cost a fifth of the step).
    SELECT i.*, CASE WHEN i.amount IS NOT NULL THEN 'total' END AS amount_reading,
        i.amount AS amount_after, i.duration_months AS duration_months_after,
        i.notification_date AS contract_notification_date
    FROM initial i WHERE i.uid NOT IN (SELECT uid FROM modified)
    UNION ALL
    SELECT v.* EXCLUDE (run),
        sum(v.amount) OVER (PARTITION BY v.uid, v.run ORDER BY v.version
                            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS amount_after,
        last_value(v.duration_months IGNORE NULLS) OVER w AS duration_months_after,
        first_value(v.notification_date) OVER w AS contract_notification_date
    FROM runs v
    WINDOW w AS (PARTITION BY v.uid ORDER BY v.version
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
ORDER BY uid, version
""".replace("{cut}", str(DELTA_CUT))

CONTRACT_HOLDERS = r"""
CREATE TABLE contract_holders AS
WITH initial AS (
    SELECT k.uid, 0 AS version, h.id_type, h.holder_id, h.holder_name, k.rank, h.holder_position
    FROM record_holders h JOIN record_rank_work k ON k.record_key = h.record_key
),
mod_holders AS (
    SELECT uid, version, rank, unnest(holders) AS h, generate_subscripts(holders, 1) AS pos
    FROM modifications_work WHERE len(COALESCE(holders, [])) > 0
),
from_mods AS (
    SELECT m.uid, m.version, et.canonical AS id_type_c, m.h.id_type AS id_type_raw,
        NULLIF(siret_text(m.h.id), '') AS holder_id, NULLIF(trim(m.h.name), '') AS holder_name,
        m.rank, m.pos AS holder_position
    FROM mod_holders m
    LEFT JOIN ref_enum_values et ON et.field = 'holder_type' AND et.key = enum_key(m.h.id_type)
),
all_holders AS (
    SELECT uid, version, id_type, holder_id, holder_name, rank, holder_position FROM initial
    UNION ALL
    SELECT uid, version,
        COALESCE(id_type_c, CASE WHEN NULLIF(trim(id_type_raw), '') IS NULL
            AND regexp_full_match(COALESCE(holder_id, ''), '\d{14}') THEN 'SIRET' END),
        holder_id, holder_name, rank, holder_position
    FROM from_mods
),
keyed AS (
    -- `seen` orders holders by record rank, then position in the record, as one integer: the
    -- (rank, holder_position) struct it replaces cost a third of this statement to compare.
    SELECT * FROM (
        SELECT *,
            CASE WHEN holder_id IS NOT NULL THEN COALESCE(id_type, 'INCONNU') || ':' || holder_id
                 WHEN holder_name IS NOT NULL THEN 'NOM:' || upper(trim(holder_name))
            END AS supplier_key,
            rank * 4294967296 + holder_position AS seen
        FROM all_holders)
    WHERE supplier_key IS NOT NULL
),
-- A holder named more than once in a version of a contract (by several records of it, or
-- twice by one): the only ones to aggregate. The text states of arg_min over every holder are
-- memory DuckDB does not spill (0.1 GB at 1 M contracts).
repeated AS (
    SELECT uid, version, supplier_key FROM keyed
    GROUP BY uid, version, supplier_key HAVING count(*) > 1
),
one_per_version AS (
    SELECT k.uid, k.version, k.supplier_key, k.id_type, k.holder_id, k.holder_name,
        k.seen AS first_seen
    FROM keyed k ANTI JOIN repeated r ON r.uid IS NOT DISTINCT FROM k.uid
        AND r.version = k.version AND r.supplier_key = k.supplier_key
    UNION ALL
    SELECT k.uid, k.version, k.supplier_key,
        arg_min(k.id_type, k.seen) AS id_type,
        arg_min(k.holder_id, k.seen) AS holder_id,
        arg_min(k.holder_name, k.seen) FILTER (WHERE k.holder_name IS NOT NULL) AS holder_name,
        min(k.seen) AS first_seen
    FROM keyed k SEMI JOIN repeated r ON r.uid IS NOT DISTINCT FROM k.uid
        AND r.version = k.version AND r.supplier_key = k.supplier_key
    GROUP BY k.uid, k.version, k.supplier_key
),
latest AS (SELECT uid, max(version) AS current_version FROM one_per_version GROUP BY uid)
SELECT o.uid, o.supplier_key, o.id_type, o.holder_id, o.holder_name, o.version,
    o.version = l.current_version AS is_current
FROM one_per_version o JOIN latest l USING (uid)
ORDER BY o.uid, o.version, o.first_seen
"""

SUBCONTRACTS = r"""
CREATE TABLE subcontracts AS
WITH acts AS (
    SELECT k.uid, k.record_key, k.rank, unnest(s.subcontracts) AS a
    FROM staged s JOIN record_rank_work k ON k.record_key = s.file_hash || '#' || s.position
    -- the few records with subcontracting acts only (as for modifications)
    WHERE len(s.subcontracts) > 0
),
parsed AS (
    SELECT uid, record_key, rank, a.act_id,
        COALESCE(et.canonical, CASE WHEN regexp_full_match(siret_text(COALESCE(a.id, '')), '\d{14}')
                                    THEN 'SIRET' END) AS id_type,
        NULLIF(siret_text(a.id), '') AS subcontractor_id,
        CASE WHEN to_number(a.amount) >= 1 THEN to_number(a.amount) END AS amount,
        a.amount AS amount_raw,
        CASE WHEN to_number(a.duration) > 0 THEN CAST(ceil(to_number(a.duration)) AS INTEGER) END
            AS duration_months,
        parse_date(a.notification_date) AS notification_date,
        parse_date(a.publication_date) AS publication_date,
        a.price_variation
    FROM acts LEFT JOIN ref_enum_values et ON et.field = 'holder_type' AND et.key = enum_key(a.id_type)
)
SELECT * EXCLUDE (rank, copy) FROM (
    SELECT *, row_number() OVER (PARTITION BY uid, act_id, subcontractor_id ORDER BY rank) AS copy
    FROM parsed)
WHERE copy = 1
ORDER BY uid, act_id, subcontractor_id
"""

CONCESSION_EXECUTION = r"""
CREATE TABLE concession_execution AS
WITH years AS (
    SELECT k.uid, k.record_key, k.rank, unnest(s.execution) AS e,
        generate_subscripts(s.execution, 1) AS year_position
    FROM staged s JOIN record_rank_work k ON k.record_key = s.file_hash || '#' || s.position
    WHERE len(s.execution) > 0
),
parsed AS (
    SELECT uid, record_key, rank, year_position,
        parse_date(e.publication_date) AS publication_date,
        e.publication_date AS publication_date_raw,
        CASE WHEN to_number(e.investment) >= 0 THEN to_number(e.investment) END
            AS investment_spending,
        e.investment AS investment_raw,
        list_transform(e.tariffs, lambda t: struct_pack(
            label := t.label,
            tariff := CASE WHEN to_number(t.tariff) >= 0 THEN to_number(t.tariff) END,
            tariff_raw := t.tariff)) AS tariffs
    FROM years
)
SELECT * EXCLUDE (rank, year_position, copy) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY uid, publication_date_raw, investment_raw ORDER BY rank, year_position) AS copy
    FROM parsed)
WHERE copy = 1
ORDER BY uid, publication_date, investment_raw
"""

#: Where each buyer is: its SIRENE establishment (commune, then COG), else the département and
#: région consolidated CSV rows publish for it (the most frequent pair, ties broken by the
#: codes; codes the COG does not know dropped when it is loaded), as for the holders.
#: The département and région a file publishes for a buyer or holder (``published_places``,
#: keyed by ``{key}``), kept when the COG knows them (or when no COG is loaded); a known
#: département gives its région when the published one is missing or unknown.
PUBLISHED_PLACES = r"""published AS (
    SELECT p.{key},
        CASE WHEN NOT (SELECT count(*) > 0 FROM ref_departements) OR d.departement_code IS NOT NULL
             THEN p.departement_code END AS departement_code,
        COALESCE(CASE WHEN NOT (SELECT count(*) > 0 FROM ref_regions)
                           OR rg.region_code IS NOT NULL THEN p.region_code END,
                 d.region_code) AS region_code
    FROM published_places p
    LEFT JOIN ref_departements d ON d.departement_code = p.departement_code
    LEFT JOIN ref_regions rg ON rg.region_code = p.region_code
)"""


BUYER_PLACES = r"""
CREATE TEMP TABLE buyer_places_work AS
WITH buyer_ids AS (SELECT DISTINCT buyer_siret FROM records WHERE buyer_siret IS NOT NULL),
sirene AS (
    SELECT e.siret AS buyer_siret, min(com.commune_code) AS commune_code,
        min(com.departement_code) AS departement_code, min(com.region_code) AS region_code
    FROM ref_sirene_establishments e JOIN ref_communes com ON com.commune_code = e.commune_code
    WHERE e.siret IN (SELECT buyer_siret FROM buyer_ids)
      AND (com.departement_code IS NOT NULL OR com.region_code IS NOT NULL)
    GROUP BY e.siret
),
published_places AS (
    SELECT buyer_siret,
        arg_max(departement_code, (n, departement_code, region_code)) AS departement_code,
        arg_max(region_code, (n, departement_code, region_code)) AS region_code
    FROM (
        SELECT r.buyer_siret, NULLIF(upper(trim(r.raw_buyer_departement)), '') AS departement_code,
            NULLIF(trim(r.raw_buyer_region), '') AS region_code, count(*) AS n
        FROM records r
        WHERE (r.raw_buyer_departement IS NOT NULL OR r.raw_buyer_region IS NOT NULL)
          AND r.buyer_siret IS NOT NULL
          AND r.record_key IN (SELECT record_key FROM record_rank_work)
        GROUP BY ALL)
    WHERE departement_code IS NOT NULL OR region_code IS NOT NULL
    GROUP BY buyer_siret
),
{published}
SELECT COALESCE(s.buyer_siret, p.buyer_siret) AS buyer_siret, s.commune_code,
    CASE WHEN s.buyer_siret IS NOT NULL THEN s.departement_code ELSE p.departement_code END
        AS departement_code,
    CASE WHEN s.buyer_siret IS NOT NULL THEN s.region_code ELSE p.region_code END AS region_code,
    CASE WHEN s.buyer_siret IS NOT NULL THEN 'sirene' ELSE 'publication' END AS location_source
FROM sirene s FULL OUTER JOIN published p ON p.buyer_siret = s.buyer_siret
WHERE s.buyer_siret IS NOT NULL OR p.departement_code IS NOT NULL OR p.region_code IS NOT NULL
""".replace("{published}", PUBLISHED_PLACES.replace("{key}", "buyer_siret"))

#: The current holders' company categories and départements (SIRENE), as lists: the explorer
#: filters on them with one scan instead of a semi-join over every holder. An aggregate only for
#: the contracts with several holder rows (see CONTRACT_FIGURES).
CONTRACT_HOLDINGS = r"""
CREATE TEMP TABLE contract_holdings_work AS
WITH several_holders AS (
    SELECT uid FROM contract_holders WHERE uid IS NOT NULL GROUP BY uid HAVING count(*) > 1
)
SELECT h.uid, CASE WHEN h.is_current THEN 1 ELSE 0 END AS holder_count,
        CASE WHEN h.is_current AND s.category IS NOT NULL THEN [s.category] END
            AS holder_categories,
        CASE WHEN h.is_current AND s.departement_code IS NOT NULL THEN [s.departement_code] END
            AS holder_departements,
        CASE WHEN h.is_current AND (s.departement_code IS NOT NULL OR s.region_code IS NOT NULL)
             THEN struct_pack(
                commune := CASE WHEN s.location_source = 'sirene' THEN s.commune_code END,
                departement := s.departement_code, region := s.region_code) END AS holder_place
FROM contract_holders h LEFT JOIN suppliers s ON s.supplier_key = h.supplier_key
WHERE h.uid NOT IN (SELECT uid FROM several_holders)
UNION ALL
SELECT h.uid, count(*) FILTER (WHERE h.is_current) AS holder_count,
        list_sort(list_distinct(list(s.category)
            FILTER (WHERE h.is_current AND s.category IS NOT NULL))) AS holder_categories,
        list_sort(list_distinct(list(s.departement_code)
            FILTER (WHERE h.is_current AND s.departement_code IS NOT NULL))) AS holder_departements,
        -- The place of the first current holder (in publication order: contract_holders is
        -- stored sorted by version and position) whose establishment is placed. The commune
        -- only when SIRENE gives it (then it is in the COG); the consolidated CSV's holder
        -- département and région otherwise (suppliers.location_source).
        arg_min(struct_pack(
                commune := CASE WHEN s.location_source = 'sirene' THEN s.commune_code END,
                departement := s.departement_code, region := s.region_code), h.rowid)
            FILTER (WHERE h.is_current AND (s.departement_code IS NOT NULL
                                            OR s.region_code IS NOT NULL)) AS holder_place
FROM contract_holders h LEFT JOIN suppliers s ON s.supplier_key = h.supplier_key
WHERE h.uid IN (SELECT uid FROM several_holders)
GROUP BY h.uid
"""

#: What CONTRACTS joins to each contract's primary record: provenance, amount and duration in
#: force, holders.
CONTRACT_FIGURES = r"""
CREATE TEMP TABLE contract_figures_work AS
-- Aggregates per uid only for the contracts with several versions or holder rows: most
-- contracts have one, whose row gives the figures. (The list, struct and text states of an
-- aggregate are memory DuckDB does not spill, `ALLOCATOR` in duckdb_memory(): 0.2 GB at 1 M
-- contracts when aggregated over every uid, beyond the memory limit at 3.5 M.)
WITH modified AS (SELECT uid FROM modifications_work WHERE uid IS NOT NULL),
cur AS (
    SELECT uid, amount_after AS amount_current, duration_months_after AS duration_months_current,
        0 AS modification_count
    FROM contract_versions WHERE uid NOT IN (SELECT uid FROM modified)
    UNION ALL
    SELECT uid, arg_max(amount_after, version) AS amount_current,
        arg_max(duration_months_after, version) AS duration_months_current,
        count(*) - 1 AS modification_count
    FROM contract_versions WHERE uid IN (SELECT uid FROM modified) GROUP BY uid
),
repeated AS (SELECT uid FROM record_rank_work WHERE rank = 2 AND uid IS NOT NULL),
prov AS (
    -- a contract published once: its one record is primary (no aggregate over a million uids)
    SELECT uid, record_key AS primary_key, 1 AS record_count,
        CAST(source IS NOT NULL AS BIGINT) AS source_count, list_distinct([source]) AS sources
    FROM record_rank_work WHERE rank = 1 AND uid NOT IN (SELECT uid FROM repeated)
    UNION ALL
    SELECT uid, arg_min(record_key, rank) AS primary_key, count(*) AS record_count,
        count(DISTINCT source) AS source_count, list_sort(list_distinct(list(source))) AS sources
    FROM record_rank_work WHERE uid IN (SELECT uid FROM repeated) GROUP BY uid
)
SELECT prov.*, cur.amount_current, cur.duration_months_current, cur.modification_count,
    COALESCE(hold.holder_count, 0) AS holder_count,
    COALESCE(hold.holder_categories, []) AS holder_categories,
    COALESCE(hold.holder_departements, []) AS holder_departements, hold.holder_place
FROM prov JOIN cur ON cur.uid = prov.uid
LEFT JOIN contract_holdings_work hold ON hold.uid = prov.uid
"""

CONTRACTS = r"""
CREATE TABLE contracts AS
-- The per-contract figures are computed first (narrow rows, in statements of their own: their
-- aggregates and joins do not hold memory while the wide records are read), then joined once
-- to the primary record: joining the wide records rows three times on uid cost most of this.
SELECT r.uid, r.buyer_siret || r.id AS consultation_uid, r.kind, r.family AS format_family,
    r.buyer_siret, r.id AS contract_id,
    r.raw_object AS object, r.nature, r.is_framework_agreement, r.is_subsequent_contract,
    r.raw_framework_id AS framework_id, r.procedure,
    r.cpv, cpv.label AS cpv_label, left(r.cpv, 2) AS cpv_division,
    CASE WHEN r.cpv IS NULL THEN NULL WHEN left(r.cpv, 2) = '45' THEN 'Travaux'
         WHEN CAST(left(r.cpv, 2) AS INTEGER) <= 44 OR left(r.cpv, 2) = '48' THEN 'Fournitures'
         ELSE 'Services' END AS purchase_category,
    r.place_type, r.place_code, r.place_departement_code, r.place_region_code,
    -- The best known place (docs/architecture.md, "The place of a contract"): the place of
    -- execution when the COG resolves it, else the first placed holder's establishment, else
    -- the buyer's; each level (commune, département, région) from that one basis.
    CASE WHEN r.place_departement_code IS NOT NULL OR r.place_region_code IS NOT NULL
         THEN CASE WHEN r.place_type = 'Code commune' AND r.place_departement_code IS NOT NULL
                   THEN r.place_code END
         WHEN agg.holder_place IS NOT NULL THEN agg.holder_place.commune
         ELSE bp.commune_code END AS location_commune_code,
    CASE WHEN r.place_departement_code IS NOT NULL OR r.place_region_code IS NOT NULL
         THEN r.place_departement_code
         WHEN agg.holder_place IS NOT NULL THEN agg.holder_place.departement
         ELSE bp.departement_code END AS location_departement_code,
    CASE WHEN r.place_departement_code IS NOT NULL OR r.place_region_code IS NOT NULL
         THEN r.place_region_code
         WHEN agg.holder_place IS NOT NULL THEN agg.holder_place.region
         ELSE bp.region_code END AS location_region_code,
    CASE WHEN r.place_departement_code IS NOT NULL OR r.place_region_code IS NOT NULL
         THEN 'execution_place'
         WHEN agg.holder_place IS NOT NULL THEN 'holder_establishment'
         WHEN bp.buyer_siret IS NOT NULL THEN 'buyer_establishment'
         ELSE 'unknown' END AS location_basis,
    r.notification_date, r.notification_date_source, year(r.notification_date) AS notification_year,
    r.publication_date, r.start_date,
    r.amount AS amount_initial, agg.amount_current AS amount, r.amount_issue,
    r.duration_months AS duration_months_initial, agg.duration_months_current AS duration_months,
    CASE WHEN agg.duration_months_current IS NOT NULL
         THEN CAST(r.notification_date + to_months(agg.duration_months_current) AS DATE) END
        AS estimated_end_date,
    r.price_form, r.price_types, r.techniques, r.execution_modes, r.ccag, r.offers_received,
    r.advance_granted, r.advance_rate, r.grouping_type, r.subcontracting_declared,
    r.is_innovative, r.social_considerations, r.environmental_considerations,
    r.has_social_consideration, r.has_environmental_consideration,
    r.origin_eu_share, r.origin_fr_share, r.public_subsidy,
    agg.holder_count, agg.holder_categories, agg.holder_departements, agg.modification_count,
    agg.record_count, agg.source_count, agg.sources, r.record_key AS primary_record_key,
    -- filled by the corrections step (stewardship.apply.publish) for corrected contracts
    CAST([] AS VARCHAR[]) AS corrected_fields,
    -- filled from the profile's directorates (model.directorates) after the indicators
    CAST(NULL AS VARCHAR) AS directorate_id, CAST(NULL AS VARCHAR) AS directorate_source
FROM records r
JOIN contract_figures_work agg ON agg.primary_key = r.record_key
LEFT JOIN ref_cpv cpv ON cpv.code = r.cpv
LEFT JOIN buyer_places_work bp ON bp.buyer_siret = r.buyer_siret
-- stored by uid, hence by buyer (a uid starts with its buyer's SIRET): a contract's or a
-- buyer's rows are found in one row group instead of a scan of every contract
ORDER BY r.uid
"""

BUYERS_TEMPLATE = r"""
CREATE TABLE buyers AS
WITH raw_names AS (
    -- each distinct published name once: the two patterns below then run on thousands of
    -- names, not on a million records
    SELECT r.buyer_siret, r.raw_buyer_name, count(*) AS n, max(r.publication_date) AS last_seen
    FROM records r JOIN record_rank_work k ON k.record_key = r.record_key
    WHERE NULLIF(trim(r.raw_buyer_name), '') IS NOT NULL
    GROUP BY ALL
),
names AS (
    SELECT buyer_siret, trim(raw_buyer_name) AS name,
        NOT regexp_matches(raw_buyer_name, '{mojibake}')
        AND NOT regexp_matches(upper(raw_buyer_name), '{budget}') AS reliable,
        n, last_seen
    FROM raw_names
),
best AS (
    SELECT buyer_siret,
        arg_max(name, (reliable, n, last_seen, name)) AS name,
        arg_max(reliable, (reliable, n, last_seen, name)) AS name_is_reliable
    FROM (SELECT buyer_siret, name, reliable, sum(n) AS n, max(last_seen) AS last_seen
          FROM names GROUP BY ALL)
    GROUP BY buyer_siret
)
SELECT c.buyer_siret, left(c.buyer_siret, 9) AS buyer_siren, b.name, b.name_is_reliable,
    NOT COALESCE(sc.valid, false) AS siret_checksum_invalid,
    count(*) AS contract_count,
    -- summed as exact decimals (cents): a float sum would depend on the row order
    CAST(sum(CAST(c.amount AS DECIMAL(38, 2))) AS DOUBLE) AS amount_total,
    min(c.notification_date) AS first_notification_date,
    max(c.notification_date) AS last_notification_date,
    bp.commune_code, bp.departement_code, bp.region_code, bp.location_source
FROM contracts c
LEFT JOIN best b ON b.buyer_siret = c.buyer_siret
LEFT JOIN siret_checks sc ON sc.siret = c.buyer_siret
LEFT JOIN buyer_places_work bp ON bp.buyer_siret = c.buyer_siret
GROUP BY ALL
ORDER BY c.buyer_siret
"""

BUYERS = BUYERS_TEMPLATE.replace("{budget}", BUDGET_LABEL).replace("{mojibake}", MOJIBAKE)

SUPPLIERS = r"""
CREATE TABLE suppliers AS
WITH names AS (
    SELECT supplier_key, holder_name, count(*) AS n FROM contract_holders
    WHERE holder_name IS NOT NULL GROUP BY supplier_key, holder_name
),
best_name AS (
    -- the most frequent name; ties broken by the name itself, so that builds are reproducible
    SELECT supplier_key, arg_max(holder_name, (n, holder_name)) AS name
    FROM names GROUP BY supplier_key
),
-- The holder's département and région as consolidated CSV rows publish them (one holder a
-- row), for the holders SIRENE does not place: the most frequent published pair, ties broken
-- by the codes. A département unknown to the COG is dropped (when the COG is loaded); a région
-- missing is the département's.
published_places AS (
    SELECT supplier_key,
        arg_max(departement_code, (n, departement_code, region_code)) AS departement_code,
        arg_max(region_code, (n, departement_code, region_code)) AS region_code
    FROM (
        SELECT CASE WHEN rh.holder_id IS NOT NULL
                    THEN COALESCE(rh.id_type, 'INCONNU') || ':' || rh.holder_id
                    WHEN rh.holder_name IS NOT NULL THEN 'NOM:' || upper(trim(rh.holder_name))
               END AS supplier_key,
            NULLIF(upper(trim(r.raw_holder_departement)), '') AS departement_code,
            NULLIF(trim(r.raw_holder_region), '') AS region_code, count(*) AS n
        FROM records r JOIN record_holders rh ON rh.record_key = r.record_key
        WHERE (r.raw_holder_departement IS NOT NULL OR r.raw_holder_region IS NOT NULL)
          AND r.record_key IN (SELECT record_key FROM record_rank_work)
        GROUP BY ALL)
    WHERE supplier_key IS NOT NULL AND (departement_code IS NOT NULL OR region_code IS NOT NULL)
    GROUP BY supplier_key
),
{published},
h AS (
    SELECT ch.supplier_key, arg_min(ch.id_type, (ch.uid, ch.version)) AS id_type,
        arg_min(ch.holder_id, (ch.uid, ch.version)) AS holder_id, any_value(bn.name) AS name,
        count(DISTINCT ch.uid) AS contract_count
    FROM contract_holders ch LEFT JOIN best_name bn USING (supplier_key)
    GROUP BY ch.supplier_key
)
SELECT h.supplier_key, h.id_type, h.holder_id,
    CASE WHEN h.id_type = 'SIRET' AND regexp_full_match(h.holder_id, '\d{14}') THEN h.holder_id END
        AS siret,
    CASE WHEN h.id_type = 'SIRET' AND regexp_full_match(h.holder_id, '\d{14}')
         THEN left(h.holder_id, 9)
         WHEN COALESCE(h.id_type, 'SIRET') = 'SIRET' AND regexp_full_match(h.holder_id, '\d{9}')
         THEN h.holder_id END AS siren,
    h.name,
    CASE WHEN h.id_type = 'SIRET' THEN COALESCE(sc.valid, false) END AS siret_is_valid,
    cat.category, e.postal_code, e.commune_code, e.naf_code,
    com.commune_name,
    CASE WHEN com.departement_code IS NOT NULL OR com.region_code IS NOT NULL
         THEN com.departement_code ELSE pub.departement_code END AS departement_code,
    CASE WHEN com.departement_code IS NOT NULL OR com.region_code IS NOT NULL
         THEN com.region_code ELSE pub.region_code END AS region_code,
    CASE WHEN com.departement_code IS NOT NULL OR com.region_code IS NOT NULL THEN 'sirene'
         WHEN pub.departement_code IS NOT NULL OR pub.region_code IS NOT NULL THEN 'publication'
    END AS location_source,
    h.contract_count
FROM h
LEFT JOIN siret_checks sc ON sc.siret = h.holder_id
-- the company category is the SIREN's: a SIRET's first 9 digits, or a holder published by its
-- SIREN alone (9 digits, typed SIRET or untyped)
LEFT JOIN ref_sirene_categories cat ON cat.siren = CASE
    WHEN h.id_type = 'SIRET' THEN left(h.holder_id, 9)
    WHEN h.id_type IS NULL AND regexp_full_match(h.holder_id, '\d{9}') THEN h.holder_id END
LEFT JOIN ref_sirene_establishments e ON h.id_type = 'SIRET' AND e.siret = h.holder_id
LEFT JOIN ref_communes com ON com.commune_code = e.commune_code
LEFT JOIN published pub ON pub.supplier_key = h.supplier_key
ORDER BY h.supplier_key
""".replace("{published}", PUBLISHED_PLACES.replace("{key}", "supplier_key"))

OVERLAP = r"""
CREATE TABLE source_overlap AS
WITH per_source AS (SELECT DISTINCT uid, source FROM source_records WHERE status <> 'set_aside'),
sizes AS (SELECT source, count(*) AS contracts FROM per_source GROUP BY source)
SELECT a.source AS source_a, b.source AS source_b, count(*) AS shared_contracts,
    any_value(sa.contracts) AS contracts_a, any_value(sb.contracts) AS contracts_b
FROM per_source a JOIN per_source b ON a.uid = b.uid AND a.source < b.source
JOIN sizes sa ON sa.source = a.source JOIN sizes sb ON sb.source = b.source
GROUP BY a.source, b.source
ORDER BY a.source, b.source
"""

RECONCILIATION = r"""
CREATE TABLE reconciliation AS
SELECT l.load_id, l.file_name, l.source, l.records AS records_in,
    count(sr.record_key) AS records_staged,
    count(*) FILTER (WHERE sr.status = 'kept') AS kept,
    count(*) FILTER (WHERE sr.status = 'duplicate') AS duplicates,
    count(*) FILTER (WHERE sr.status = 'set_aside') AS set_aside,
    l.records = count(*) FILTER (WHERE sr.status = 'kept')
        + count(*) FILTER (WHERE sr.status = 'duplicate')
        + count(*) FILTER (WHERE sr.status = 'set_aside') AS balanced
FROM loads l LEFT JOIN source_records sr ON sr.load_id = l.load_id
WHERE l.kind = 'decp' AND l.status IN ('loaded', 'partial') AND l.superseded_by IS NULL
GROUP BY l.load_id, l.file_name, l.source, l.records
ORDER BY l.load_id
"""
