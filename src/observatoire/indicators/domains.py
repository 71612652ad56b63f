"""A contract's purchase domain, in SQL: one definition for the indicator facts and the
directorates (``observatoire.model.directorates``), so that both always agree.

The profile's CPV prefixes (``profile_purchase_domains``) and the mappings decided by a person
(``purchase_domain_overrides``, to a domain of the profile) compete; the longest prefix wins, a
decided mapping before the profile's at equal length; a code no prefix covers (or no code) goes
to the profile's default domain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from observatoire.indicators.profile import Profile

#: The table of the profile's domains the indicator step writes (its columns: ``DOMAIN_COLUMNS``).
PROFILE_DOMAINS = "profile_purchase_domains"
DOMAIN_COLUMNS = "domain_id VARCHAR, label VARCHAR, cpv_prefix VARCHAR, is_default BOOLEAN"

#: The mappings decided by a person (CPV prefix → domain), as the build's corrections step
#: writes them (``observatoire.stewardship.apply``); the indicator facts create the table empty
#: for a warehouse built before it existed.
OVERRIDES = """CREATE TABLE IF NOT EXISTS purchase_domain_overrides (mapping_id BIGINT,
    cpv_prefix VARCHAR, domain_id VARCHAR, decided_at TIMESTAMP)"""



def default_domain(domains: str = PROFILE_DOMAINS) -> str:
    """The profile's default domain (codes no prefix covers, contracts without a CPV code), as
    a scalar subquery on the table ``domains`` (a name from the code)."""
    return f"(SELECT min(domain_id) FROM {domains} WHERE is_default)"


#: The default domain read from the indicator step's table.
DEFAULT_DOMAIN = default_domain()


def domain_rows(profile: Profile) -> list[tuple[object, ...]]:
    """The rows of ``profile_purchase_domains`` (``DOMAIN_COLUMNS``): one per CPV prefix, and
    one without a prefix for the default domain. The directorate step, which runs before the
    indicator step, puts the same rows in a work table of its own."""
    rows: list[tuple[object, ...]] = []
    for d in profile.domains:
        rows += [(d.id, d.label, p, False) for p in d.cpv_prefixes]
        if d.id == profile.default_domain:
            rows.append((d.id, d.label, None, True))
    return rows


def domain_match_sql(cpvs: str, domains: str = PROFILE_DOMAINS) -> str:
    """``(cpv, domain_id)`` for the distinct CPV codes of the query ``cpvs`` (a ``cpv``
    column): computed per distinct code (thousands, not millions of rows). Codes no prefix
    covers are absent: join with ``LEFT JOIN`` and ``COALESCE(…, DEFAULT_DOMAIN)``.
    ``domains``: the table holding ``domain_rows`` (a name from the code)."""
    return f"""
WITH prefixes AS (
    SELECT domain_id, cpv_prefix, false AS decided FROM {domains}
    WHERE cpv_prefix IS NOT NULL
    UNION ALL
    -- mappings decided by a person (observatoire.stewardship), to a domain of the profile
    SELECT domain_id, cpv_prefix, true FROM purchase_domain_overrides
    WHERE domain_id IN (SELECT domain_id FROM {domains})
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
