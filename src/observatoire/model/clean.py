"""SQL that turns staged records (raw text) into cleaned records, keeping every raw value.

The statements run in DuckDB over the tables ``staged`` (the staging Parquet files), ``loads``
(the load log) and the reference tables. They are set-based: no per-record Python.
Each cleaned column sits beside its raw column; the rules of :mod:`observatoire.quality.rules`
compare the two to report repairs.
"""

MACROS = r"""
CREATE OR REPLACE MACRO enum_key(x) AS
    trim(regexp_replace(strip_accents(lower(replace(replace(x, 'œ', 'oe'), 'Œ', 'oe'))),
        '[^0-9a-z]+', ' ', 'g'));
CREATE OR REPLACE MACRO date_text(x) AS
    regexp_replace(trim(x), '(T.*|\s+\d{1,2}:\d{2}(:\d{2})?.*|[+-]\d{2}:?\d{2}|Z)$', '');
CREATE OR REPLACE MACRO parse_date(x) AS
    CAST(try_strptime(date_text(x), ['%Y-%m-%d', '%d/%m/%Y', '%Y/%m/%d', '%B, %d %Y']) AS DATE);
CREATE OR REPLACE MACRO plausible_date(d, collected) AS
    CASE WHEN d IS NULL OR year(d) < 1990 OR d > collected THEN NULL ELSE d END;
CREATE OR REPLACE MACRO number_text(x) AS
    replace(regexp_replace(trim(x), '[\s\x{00A0}]', '', 'g'), ',', '.');
CREATE OR REPLACE MACRO to_number(x) AS TRY_CAST(number_text(x) AS DOUBLE);
CREATE OR REPLACE MACRO to_bool(x) AS
    CASE lower(trim(x)) WHEN 'true' THEN true WHEN 'oui' THEN true WHEN '1' THEN true
        WHEN 'false' THEN false WHEN 'non' THEN false WHEN '0' THEN false END;
CREATE OR REPLACE MACRO siret_text(x) AS regexp_replace(x, '\s', '', 'g');
-- The contract's published uid from raw values (the same expression as `id`, `buyer_siret`
-- and `uid` of RECORDS, which a test checks against `consultation_uid`): corrections are
-- attached to it. Lots of a reused id get a suffixed uid later (model.contracts.IDENTITY).
CREATE OR REPLACE MACRO contract_uid(raw_id, raw_buyer_id) AS
    CASE WHEN NULLIF(regexp_replace(trim(raw_id), '[ ,./\\]', '_', 'g'), '') IS NOT NULL
              AND regexp_full_match(NULLIF(siret_text(raw_buyer_id), ''), '\d{14}')
              AND siret_text(raw_buyer_id) <> '00000000000000'
         THEN siret_text(raw_buyer_id) || regexp_replace(trim(raw_id), '[ ,./\\]', '_', 'g') END;
CREATE OR REPLACE MACRO clean_list(l) AS
    list_filter(list_transform(l, lambda v: trim(v)), lambda v: v <> '');
"""

#: One row per staged record with provenance and parsed values (step 1 of 2: a CTE of RECORDS,
#: not a table, so that it is never materialised).
RECORDS_PARSED = r"""
SELECT
    s.file_hash || '#' || s.position AS record_key,
    s.file_hash, s.position, s.line, l.load_id, l.source, l.file_name, l.format AS source_format,
    CAST(l.loaded_at AS DATE) AS collected_on,
    s.kind, s.family, s.notes,
    s.* EXCLUDE (file_hash, position, line, kind, family, notes, holders, modifications,
                 subcontracts, execution, raw_json),
    NULLIF(regexp_replace(trim(s.raw_id), '[ ,./\\]', '_', 'g'), '') AS id,
    NULLIF(siret_text(s.raw_buyer_id), '') AS buyer_siret,
    -- amounts
    to_number(s.raw_amount) AS amount_value,
    regexp_replace(split_part(number_text(s.raw_amount), '.', 1), '^-', '') AS amount_int_text,
    -- durations
    to_number(s.raw_duration) AS duration_value,
    -- dates
    parse_date(s.raw_notification_date) AS notification_parsed,
    parse_date(s.raw_publication_date) AS publication_parsed,
    parse_date(s.raw_start_date) AS start_parsed,
    -- CPV: digits of the code without its check digit
    regexp_replace(split_part(trim(s.raw_cpv), '-', 1), '[^0-9]', '', 'g') AS cpv_digits,
    -- place
    upper(regexp_replace(trim(s.raw_place_code), '\s', '', 'g')) AS place_code_text,
    -- enums
    ep.canonical AS procedure_canonical, ep.obsolete AS procedure_obsolete,
    en.canonical AS nature_canonical, en.obsolete AS nature_obsolete,
    et.canonical AS place_type_canonical,
    ef.canonical AS price_form_canonical,
    e19.canonical AS price_type_2019,
    ec.canonical AS ccag_canonical,
    eg.canonical AS grouping_canonical,
    clean_list(s.raw_techniques) AS techniques,
    clean_list(s.raw_execution_modes) AS execution_modes,
    clean_list(s.raw_price_types) AS price_types_listed,
    clean_list(s.raw_social) AS social_considerations,
    clean_list(s.raw_environmental) AS environmental_considerations
FROM staged s
JOIN loads l ON l.sha256 = s.file_hash
LEFT JOIN ref_enum_values ep ON ep.field = 'procedure' AND ep.key = enum_key(s.raw_procedure)
LEFT JOIN ref_enum_values en ON en.field = 'nature' AND en.key = enum_key(s.raw_nature)
LEFT JOIN ref_enum_values et ON et.field = 'place_type' AND et.key = enum_key(s.raw_place_type)
LEFT JOIN ref_enum_values ef ON ef.field = 'price_form' AND ef.key = enum_key(s.raw_price_form)
LEFT JOIN ref_enum_values e19 ON e19.field = 'price_type_2019'
    AND e19.key = enum_key(s.raw_price_form)
LEFT JOIN ref_enum_values ec ON ec.field = 'ccag' AND ec.key = enum_key(s.raw_ccag)
LEFT JOIN ref_enum_values eg ON eg.field = 'grouping' AND eg.key = enum_key(s.raw_grouping)
"""

#: Cleaned records (step 2 of 2): repaired values, derived flags and the contract uid.
RECORDS = r"""
CREATE TEMP TABLE records AS
WITH records_parsed AS ({records_parsed}),
checks AS (
    -- Without a reference file, codes cannot be checked: they are kept as published (well
    -- formed) and no finding claims they are unknown.
    SELECT (SELECT count(*) > 0 FROM ref_cpv) AS cpv_checked,
           (SELECT count(*) > 0 FROM ref_communes) AS place_checked
),
-- One pass over the parsed records: repaired CPV, place code and amount diagnosis are computed
-- beside the record (lookups in the reference tables, no self-joins on the record key).
p AS (
    SELECT r.*, checks.cpv_checked, checks.place_checked,
        CASE
            WHEN NOT checks.cpv_checked AND length(r.cpv_digits) = 8 THEN r.cpv_digits
            WHEN length(r.cpv_digits) = 8 AND c8.code IS NOT NULL THEN r.cpv_digits
            WHEN length(r.cpv_digits) = 7 AND c7.code IS NOT NULL THEN lpad(r.cpv_digits, 8, '0')
            WHEN length(r.cpv_digits) = 7 AND c7r.code IS NOT NULL THEN r.cpv_digits || '0'
            WHEN length(r.cpv_digits) > 8 AND c9.code IS NOT NULL THEN left(r.cpv_digits, 8)
            WHEN length(r.cpv_digits) = 8 AND cd.code IS NOT NULL
                THEN left(r.cpv_digits, 2) || '000000'
        END AS cpv,
        CASE
            WHEN length(r.cpv_digits) = 8 AND c8.code IS NOT NULL THEN NULL
            WHEN length(r.cpv_digits) = 7 AND c7.code IS NOT NULL THEN 'padded'
            WHEN length(r.cpv_digits) = 7 AND c7r.code IS NOT NULL THEN 'padded_right'
            WHEN length(r.cpv_digits) > 8 AND c9.code IS NOT NULL THEN 'truncated'
            WHEN length(r.cpv_digits) = 8 AND cd.code IS NOT NULL THEN 'division'
        END AS cpv_repair,
        -- the check digit CPV 2008 gives the exact code, to compare with the published one
        CASE WHEN length(r.cpv_digits) = 8 THEN split_part(c8.code_with_check, '-', 2) END
            AS cpv_check_digit,
        CASE WHEN r.place_type_canonical = 'Code postal' AND regexp_full_match(r.place_code_text, '\d{4}')
             THEN '0' || r.place_code_text ELSE NULLIF(r.place_code_text, '') END AS place_code,
        CASE
            WHEN r.raw_amount IS NULL OR trim(r.raw_amount) = '' THEN 'missing'
            WHEN r.amount_value IS NULL THEN 'not_a_number'
            WHEN r.amount_value = 0 THEN 'zero'
            WHEN r.amount_value < 1 OR r.amount_value > 3e9 THEN 'absurd'
            WHEN r.amount_int_text LIKE '123456789%'
                 OR r.amount_value IN (123456.78, 987654.32, 1234567.89, 12345678.9, 111111.21)
                 OR (length(r.amount_int_text) >= 6
                     AND length(replace(r.amount_int_text, left(r.amount_int_text, 1), '')) = 0)
                 OR (r.amount_value > 1e8 AND list_max(list_transform(range(1, 10),
                        lambda d: length(r.amount_int_text)
                             - length(replace(r.amount_int_text, CAST(d AS VARCHAR), '')))) > 6)
                THEN 'placeholder'
        END AS amount_issue
    FROM records_parsed r CROSS JOIN checks
    LEFT JOIN ref_cpv c8 ON c8.code = r.cpv_digits
    LEFT JOIN ref_cpv c7 ON length(r.cpv_digits) = 7 AND c7.code = lpad(r.cpv_digits, 8, '0')
    LEFT JOIN ref_cpv c7r ON length(r.cpv_digits) = 7 AND c7r.code = r.cpv_digits || '0'
    LEFT JOIN ref_cpv c9 ON length(r.cpv_digits) > 8 AND c9.code = left(r.cpv_digits, 8)
    LEFT JOIN ref_cpv cd ON length(r.cpv_digits) = 8
        AND cd.code = left(r.cpv_digits, 2) || '000000'
)
SELECT
    p.* EXCLUDE (amount_int_text, place_code_text),
    CASE WHEN p.id IS NOT NULL AND regexp_full_match(p.buyer_siret, '\d{14}')
              AND p.buyer_siret <> '00000000000000'
         THEN p.buyer_siret || p.id END AS uid,
    p.nature_canonical AS nature,
    (enum_key(p.raw_nature) = 'accord cadre'
        OR list_contains(list_transform(p.techniques, lambda t: enum_key(t)), 'accord cadre'))
        AS is_framework_agreement,
    (enum_key(p.raw_nature) IN ('marche subsequent')
        OR list_contains(list_transform(p.execution_modes, lambda t: enum_key(t)), 'marches subsequents')
        OR p.raw_framework_id IS NOT NULL) AS is_subsequent_contract,
    p.procedure_canonical AS procedure,
    p.place_type_canonical AS place_type,
    -- Département and région of the place of execution, from the COG (postal codes by prefix:
    -- 97x overseas, 200/201 Corse-du-Sud, other 20x Haute-Corse).
    CASE p.place_type_canonical
        WHEN 'Code postal' THEN pd.departement_code
        WHEN 'Code commune' THEN cc.departement_code
        WHEN 'Code département' THEN dd.departement_code
    END AS place_departement_code,
    COALESCE(CASE p.place_type_canonical
        WHEN 'Code postal' THEN pd.region_code
        WHEN 'Code commune' THEN cc.region_code
        WHEN 'Code département' THEN dd.region_code
    END, rr.region_code) AS place_region_code,
    CASE WHEN p.family = '2024' AND p.price_type_2019 IS NULL THEN p.price_form_canonical END
        AS price_form,
    CASE WHEN len(p.price_types_listed) > 0 THEN p.price_types_listed
         WHEN p.price_type_2019 IS NOT NULL THEN [p.price_type_2019] ELSE [] END AS price_types,
    CASE WHEN p.duration_value IS NULL OR p.duration_value <= 0 OR p.duration_value > 1200 THEN NULL
         ELSE CAST(ceil(p.duration_value) AS INTEGER) END AS duration_months,
    CASE WHEN p.amount_issue IS NULL THEN p.amount_value END AS amount,
    to_number(p.raw_subsidy) AS public_subsidy,
    plausible_date(p.notification_parsed, p.collected_on) AS notification_date_checked,
    plausible_date(p.publication_parsed, p.collected_on) AS publication_date,
    COALESCE(plausible_date(p.notification_parsed, p.collected_on),
             plausible_date(p.publication_parsed, p.collected_on)) AS notification_date,
    CASE WHEN plausible_date(p.notification_parsed, p.collected_on) IS NOT NULL THEN 'notification'
         WHEN plausible_date(p.publication_parsed, p.collected_on) IS NOT NULL THEN 'publication'
    END AS notification_date_source,
    plausible_date(p.start_parsed, p.collected_on) AS start_date,
    to_bool(p.raw_innovative) AS is_innovative,
    p.ccag_canonical AS ccag,
    CAST(CASE WHEN to_number(p.raw_offers) >= 0 AND to_number(p.raw_offers) < 100000
              THEN to_number(p.raw_offers) END AS INTEGER) AS offers_received,
    to_bool(p.raw_advance_granted) AS advance_granted,
    -- Schema 2.0.2: a rate of 0 with an advance granted means "granted, rate unknown".
    CASE WHEN to_bool(p.raw_advance_granted) AND to_number(p.raw_advance_rate) = 0 THEN NULL
         WHEN to_number(p.raw_advance_rate) BETWEEN 0 AND 1 THEN to_number(p.raw_advance_rate)
    END AS advance_rate,
    p.grouping_canonical AS grouping_type,
    to_bool(p.raw_subcontracting_declared) AS subcontracting_declared,
    CASE WHEN to_number(p.raw_origin_eu) BETWEEN 0 AND 1 THEN to_number(p.raw_origin_eu) END
        AS origin_eu_share,
    CASE WHEN to_number(p.raw_origin_fr) BETWEEN 0 AND 1 THEN to_number(p.raw_origin_fr) END
        AS origin_fr_share,
    CASE WHEN len(p.social_considerations) = 0 THEN NULL
         ELSE len(list_filter(p.social_considerations,
                  lambda v: NOT starts_with(enum_key(v), 'pas de') AND enum_key(v) <> 'sans objet')) > 0
    END AS has_social_consideration,
    CASE WHEN len(p.environmental_considerations) = 0 THEN NULL
         ELSE len(list_filter(p.environmental_considerations,
                  lambda v: NOT starts_with(enum_key(v), 'pas de') AND enum_key(v) <> 'sans objet')) > 0
    END AS has_environmental_consideration
FROM p
LEFT JOIN ref_departements pd ON p.place_type_canonical = 'Code postal'
    AND regexp_full_match(p.place_code, '\d{5}')
    AND pd.departement_code = CASE
        WHEN left(p.place_code, 2) = '97' THEN left(p.place_code, 3)
        WHEN left(p.place_code, 2) = '20'
            THEN CASE WHEN left(p.place_code, 3) IN ('200', '201') THEN '2A' ELSE '2B' END
        ELSE left(p.place_code, 2) END
LEFT JOIN ref_communes cc ON p.place_type_canonical = 'Code commune'
    AND cc.commune_code = p.place_code
LEFT JOIN ref_departements dd ON p.place_type_canonical = 'Code département'
    AND dd.departement_code = CASE WHEN regexp_full_match(p.place_code, '\d')
                                   THEN '0' || p.place_code ELSE p.place_code END
LEFT JOIN ref_regions rr ON p.place_type_canonical = 'Code région'
    AND rr.region_code = p.place_code
"""

RECORDS = RECORDS.replace("{records_parsed}", RECORDS_PARSED)

#: One row per holder listed in a record (initial holders; modifications are handled apart).
RECORD_HOLDERS = r"""
CREATE TEMP TABLE record_holders AS
WITH exploded AS (
    SELECT s.file_hash || '#' || s.position AS record_key,
           unnest(s.holders) AS h, generate_subscripts(s.holders, 1) AS holder_position
    FROM staged s
)
SELECT e.record_key, e.holder_position,
       e.h.id_type AS id_type_raw, e.h.id AS holder_id_raw, e.h.name AS holder_name_raw,
       NULLIF(CASE WHEN COALESCE(et.canonical, '') IN ('SIRET', '')
                   THEN siret_text(e.h.id) ELSE trim(e.h.id) END, '') AS holder_id,
       CASE WHEN et.canonical IS NOT NULL THEN et.canonical
            WHEN NULLIF(trim(e.h.id_type), '') IS NULL
                 AND regexp_full_match(siret_text(e.h.id), '\d{14}') THEN 'SIRET'
       END AS id_type,
       NULLIF(trim(e.h.name), '') AS holder_name
FROM exploded e
LEFT JOIN ref_enum_values et ON et.field = 'holder_type' AND et.key = enum_key(e.h.id_type)
"""
