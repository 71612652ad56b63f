"""Build step for finding things by name: official names, masked persons, and search keys.

What it does, in this order, after the model (buyers, suppliers and holders exist):

1. **Official names.** A buyer or supplier whose published name is garbled (U+FFFD, mojibake),
   a budget label or missing gets its SIRENE name (``denominationUniteLegale``) when the
   reference data holds one; the published name is kept beside it (``published_name``).
2. **Natural persons.** A holder that SIRENE marks as not diffusible (``statutDiffusion…`` other
   than ``O``) loses its name everywhere the public reads it (``suppliers``, ``contract_holders``)
   and in the search tables: it is shown and found by identifier only.
3. **Search keys.** ``search_names`` holds one row per buyer and supplier with a normalised key
   (lower case, no accents, ligatures spelled out: see :func:`normalised`), ``cpv_search`` one
   per CPV code (its label) and ``contract_search`` one per contract (its object and its
   current holders' keys, with its buyer and CPV code). The read side
   (``observatoire.search``) normalises a query with the same SQL, so "ecole", "École" and
   "ÉCOLE" find the same rows.

Why precomputed: ``strip_accents`` costs about 1 µs a string; over a million objects at every
query that is a second, once at build time it is a second per build.
"""

from __future__ import annotations

import duckdb

from observatoire.quality.rules import MOJIBAKE

#: A published name that cannot be read as it is (garbled bytes, double-encoded UTF-8).
GARBLED = f"regexp_matches({{x}}, '{MOJIBAKE}')"


def normalised(expr: str) -> str:
    """SQL text: ``expr`` lower-cased, without accents, œ/æ spelled out (the one definition used
    for the stored keys and for the queries). Pure ASCII text skips ``strip_accents``."""
    spelled = (f"replace(replace(replace(replace({expr}, 'œ', 'oe'), 'Œ', 'OE'), 'æ', 'ae'), "
               "'Æ', 'AE')")
    return (f"CASE WHEN strlen({expr}) = length({expr}) THEN lower({expr}) "
            f"ELSE lower(strip_accents({spelled})) END")


def garbled(expr: str) -> str:
    return GARBLED.replace("{x}", expr)


def official_names(con: duckdb.DuckDBPyConnection, buyers: str = "buyers",
                   suppliers: str = "suppliers", temp: bool = False) -> None:
    """Steps 1 and 2 on the tables ``buyers`` and ``suppliers`` (the incremental build runs
    them on the rows of the buyers and suppliers it recomputes, :mod:`observatoire.build`)."""
    kind = "TEMP TABLE" if temp else "TABLE"
    # Legal units (SIREN) SIRENE says something about: official name, diffusion status.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE sirene_names_work AS
        SELECT siren, name AS official_name, is_diffusible FROM ref_sirene_categories
        WHERE name IS NOT NULL OR is_diffusible IS NOT NULL""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE hidden_suppliers_work AS
        SELECT s.supplier_key FROM {suppliers} s
        LEFT JOIN sirene_names_work u ON u.siren = s.siren
        LEFT JOIN ref_sirene_establishments e ON e.siret = s.siret
        WHERE s.siren IS NOT NULL
          AND (u.is_diffusible = false OR e.is_diffusible = false)""")
    replace_name = "(b.name IS NULL OR NOT b.name_is_reliable)"
    con.execute(f"""
        CREATE OR REPLACE {kind} {buyers} AS
        SELECT b.* REPLACE (
                CASE WHEN {replace_name} AND u.official_name IS NOT NULL
                     THEN u.official_name ELSE b.name END AS name),
            b.name AS published_name, u.official_name,
            CASE WHEN {replace_name} AND u.official_name IS NOT NULL THEN 'sirene'
                 WHEN b.name IS NOT NULL THEN 'publication' END AS name_source
        FROM {buyers} b LEFT JOIN sirene_names_work u ON u.siren = b.buyer_siren
        ORDER BY b.buyer_siret""")
    replace_name = f"(s.name IS NULL OR {garbled('s.name')})"
    con.execute(f"""
        CREATE OR REPLACE {kind} {suppliers} AS
        SELECT s.* REPLACE (
                CASE WHEN hidden.supplier_key IS NOT NULL THEN NULL
                     WHEN {replace_name} AND u.official_name IS NOT NULL THEN u.official_name
                     ELSE s.name END AS name),
            CASE WHEN hidden.supplier_key IS NULL THEN s.name END AS published_name,
            CASE WHEN hidden.supplier_key IS NULL THEN u.official_name END AS official_name,
            CASE WHEN hidden.supplier_key IS NOT NULL THEN 'non_diffusible'
                 WHEN {replace_name} AND u.official_name IS NOT NULL THEN 'sirene'
                 WHEN s.name IS NOT NULL THEN 'publication' END AS name_source
        FROM {suppliers} s
        LEFT JOIN sirene_names_work u ON u.siren = s.siren
        LEFT JOIN hidden_suppliers_work hidden ON hidden.supplier_key = s.supplier_key
        ORDER BY s.supplier_key""")


def search_names(buyers: str = "buyers", suppliers: str = "suppliers") -> str:
    """The rows of ``search_names`` for the buyers and suppliers of these tables (a query)."""
    return f"""
        SELECT 'buyer' AS kind, buyer_siret AS key, buyer_siret AS identifier, name,
            published_name, name_source, contract_count,
            {normalised("concat_ws(' ', name, NULLIF(published_name, name))")} AS search_key,
            COALESCE({garbled('published_name')}, false) AS has_garbled_name
        FROM {buyers}
        UNION ALL
        SELECT 'supplier', supplier_key, COALESCE(siret, holder_id), name, published_name,
            name_source, contract_count,
            {normalised("concat_ws(' ', name, NULLIF(published_name, name))")},
            COALESCE({garbled('published_name')}, false)
        FROM {suppliers}"""


#: ``contract_search``'s rows for the contracts of ``{contracts}`` (the table, or a view of
#: some of its rows).
CONTRACT_SEARCH = f"""
        WITH holders AS (
            SELECT h.uid, string_agg(n.search_key, ' ' ORDER BY n.search_key) AS keys
            FROM contract_holders h
            JOIN search_names n ON n.kind = 'supplier' AND n.key = h.supplier_key
            WHERE h.is_current AND n.search_key <> ''
              AND h.uid IN (SELECT uid FROM {{contracts}})
            GROUP BY h.uid
        )
        SELECT c.uid, c.buyer_siret, c.cpv, {normalised('c.object')} AS object_key,
            holders.keys AS holder_keys
        FROM {{contracts}} c LEFT JOIN holders ON holders.uid = c.uid"""

#: ``cpv_search``'s rows.
CPV_SEARCH = f"""
        SELECT DISTINCT cpv, {normalised('cpv_label')} AS label_key FROM contracts
        WHERE cpv_label IS NOT NULL"""


def build(con: duckdb.DuckDBPyConnection) -> None:
    """Official names, masked persons, ``search_names``, ``cpv_search`` and ``contract_search``."""
    official_names(con)
    # The published holder names of a person SIRENE does not let us name, in the contracts and
    # in the input records' holders (record_holders becomes source_record_holders).
    con.execute("""
        UPDATE contract_holders SET holder_name = NULL
        WHERE supplier_key IN (SELECT supplier_key FROM hidden_suppliers_work)
          AND holder_name IS NOT NULL""")
    con.execute("""
        UPDATE record_holders SET holder_name = NULL, holder_name_raw = NULL
        WHERE id_type = 'SIRET' AND holder_id IN (
            SELECT s.siret FROM suppliers s JOIN hidden_suppliers_work USING (supplier_key))""")
    con.execute(f"CREATE TABLE search_names AS {search_names()} ORDER BY kind, key")
    # The free text's parts, each normalised once: buyers' names in ``search_names`` (per
    # buyer, above), CPV labels per code (``cpv_search``), and per contract its object and its
    # current holders' keys. A word is found in a contract when it is in one of its parts
    # (``observatoire.search.text_match``): buyers and labels are matched in their small
    # tables, not copied into a million texts that every query would read again. Keyed by
    # uid, not by the contract's row id: contracts are not stored sorted, so row ids change
    # from one build to the next and builds must give the same rows.
    con.execute(f"CREATE TABLE cpv_search AS {CPV_SEARCH}")
    con.execute("CREATE TABLE contract_search AS "
                + CONTRACT_SEARCH.replace("{contracts}", "contracts"))
    con.execute("DROP TABLE sirene_names_work")
    con.execute("DROP TABLE hidden_suppliers_work")
