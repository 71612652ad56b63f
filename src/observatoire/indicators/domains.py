"""A contract's purchase domain, in SQL: one definition for the indicator facts and the
directorates (``observatoire.model.directorates``), so that both always agree.

The profile's CPV prefixes (``profile_purchase_domains``) and the mappings decided by a person
(``purchase_domain_overrides``, to a domain of the profile) compete; the longest prefix wins, a
decided mapping before the profile's at equal length; a code no prefix covers (or no code) goes
to the profile's default domain.
"""

from __future__ import annotations

#: The mappings decided by a person (CPV prefix → domain), as the build's corrections step
#: writes them (``observatoire.stewardship.apply``); the indicator facts create the table empty
#: for a warehouse built before it existed.
OVERRIDES = """CREATE TABLE IF NOT EXISTS purchase_domain_overrides (mapping_id BIGINT,
    cpv_prefix VARCHAR, domain_id VARCHAR, decided_at TIMESTAMP)"""

#: The profile's default domain (codes no prefix covers, contracts without a CPV code).
DEFAULT_DOMAIN = "(SELECT min(domain_id) FROM profile_purchase_domains WHERE is_default)"


def domain_match_sql(cpvs: str) -> str:
    """``(cpv, domain_id)`` for the distinct CPV codes of the query ``cpvs`` (a ``cpv``
    column): computed per distinct code (thousands, not millions of rows). Codes no prefix
    covers are absent: join with ``LEFT JOIN`` and ``COALESCE(…, DEFAULT_DOMAIN)``."""
    return f"""
WITH prefixes AS (
    SELECT domain_id, cpv_prefix, false AS decided FROM profile_purchase_domains
    WHERE cpv_prefix IS NOT NULL
    UNION ALL
    -- mappings decided by a person (observatoire.stewardship), to a domain of the profile
    SELECT domain_id, cpv_prefix, true FROM purchase_domain_overrides
    WHERE domain_id IN (SELECT domain_id FROM profile_purchase_domains)
),
ranked AS (
    SELECT k.cpv, d.domain_id,
        row_number() OVER (PARTITION BY k.cpv
                           ORDER BY length(d.cpv_prefix) DESC, d.decided DESC, d.domain_id)
            AS rn
    FROM (SELECT DISTINCT cpv FROM ({cpvs}) WHERE cpv IS NOT NULL) k
    JOIN prefixes d ON starts_with(k.cpv, d.cpv_prefix)
)
SELECT cpv, domain_id FROM ranked WHERE rn = 1
"""
