"""Directorates (directions): which part of the organisation owns each contract.

The DECP do not carry the directorate (in a purchasing system it is the SI-only field
``direction_operationnelle``). Until an export carries it, a contract's directorate is derived
from the deployment profile (``directorates.toml``), first rule that applies:

1. ``buyer``: its buyer SIRET starts with a SIRET or SIREN a directorate lists (a mandataire's
   contracts go to the directorate that steers the mandate); the longest prefix wins;
2. ``domain``: the directorate owning its purchase domain (the same domain as the indicators:
   profile prefixes and mappings decided by a person, ``indicators.domains``), for contracts of
   the profile's scope;
3. none (NULL).

So a domain mapping decided in the stewardship pages moves a contract to another directorate at
the next build. A finding takes its contract's directorate; a finding whose record made no
contract (set aside) has no purchase domain, so only a buyer rule gives it one.

The step runs before the indicators, whose results are broken down by directorate (the
barometer's « direction » perimeter): it reads the profile's domains from the profile itself
(``domains.domain_rows``, the rows the indicator step writes to ``profile_purchase_domains``)
and the decided mappings from ``purchase_domain_overrides`` (the corrections step's). With a
profile that defines no directorate it writes only the empty ``profile_directorates`` table.
"""

from __future__ import annotations

import duckdb

from observatoire.indicators.domains import (
    DOMAIN_COLUMNS,
    OVERRIDES,
    default_domain,
    domain_match_sql,
    domain_rows,
)
from observatoire.indicators.facts import scope_condition
from observatoire.indicators.profile import Profile
from observatoire.warehouse import insert_rows

#: The profile's domains while this step runs (the indicator step writes them later).
_DOMAINS = "directorate_domains_work"

PROFILE_TABLE = """CREATE TABLE profile_directorates (directorate_id VARCHAR, label VARCHAR,
    domains VARCHAR[], buyers VARCHAR[])"""


def assign(con: duckdb.DuckDBPyConnection, profile: Profile) -> None:
    """``profile_directorates``, then ``contracts.directorate_id`` / ``directorate_source`` and
    ``findings.directorate_id``."""
    con.execute(PROFILE_TABLE)
    insert_rows(con, "profile_directorates", [
        (d.id, d.label, list(d.domains), list(d.buyers)) for d in profile.directorates])
    # A recomputation (observatoire indicators) runs this step again on a built warehouse:
    # directorates a changed profile no longer gives are cleared (no row to clear in a build).
    con.execute("UPDATE contracts SET directorate_id = NULL, directorate_source = NULL "
                "WHERE directorate_id IS NOT NULL")
    con.execute("UPDATE findings SET directorate_id = NULL WHERE directorate_id IS NOT NULL")
    if not profile.directorates:
        return  # no pass over the contracts: every directorate stays NULL
    con.execute("""CREATE TEMP TABLE buyer_directorates_work AS
        WITH buyers AS (SELECT DISTINCT buyer_siret FROM contracts
                        UNION SELECT DISTINCT buyer_siret FROM findings),
        rules AS (SELECT directorate_id, unnest(buyers) AS prefix FROM profile_directorates)
        SELECT b.buyer_siret, r.directorate_id
        FROM buyers b JOIN rules r ON starts_with(b.buyer_siret, r.prefix)
        QUALIFY row_number() OVER (PARTITION BY b.buyer_siret
                                   ORDER BY length(r.prefix) DESC, r.directorate_id) = 1""")
    con.execute(f"CREATE TEMP TABLE {_DOMAINS} ({DOMAIN_COLUMNS})")
    insert_rows(con, _DOMAINS, domain_rows(profile))
    con.execute(OVERRIDES)  # a warehouse built before the corrections step wrote it
    con.execute(f"""CREATE TEMP TABLE contract_directorates_work AS
        WITH owners AS (SELECT directorate_id, unnest(domains) AS domain_id
                        FROM profile_directorates),
        by_domain AS (
            SELECT c.uid, o.directorate_id
            FROM contracts c
            LEFT JOIN ({domain_match_sql("SELECT cpv FROM contracts", _DOMAINS)}) dm
                ON dm.cpv = c.cpv
            JOIN owners o ON o.domain_id = COALESCE(dm.domain_id, {default_domain(_DOMAINS)})
            WHERE {scope_condition(profile, "c.buyer_siret", inline=True)}
        )
        SELECT c.uid, COALESCE(b.directorate_id, d.directorate_id) AS directorate_id,
            CASE WHEN b.directorate_id IS NOT NULL THEN 'buyer' ELSE 'domain' END AS source
        FROM contracts c
        LEFT JOIN buyer_directorates_work b ON b.buyer_siret = c.buyer_siret
        LEFT JOIN by_domain d ON d.uid = c.uid
        WHERE b.directorate_id IS NOT NULL OR d.directorate_id IS NOT NULL""")
    con.execute("""UPDATE contracts SET directorate_id = w.directorate_id,
            directorate_source = w.source
        FROM contract_directorates_work w WHERE contracts.uid = w.uid""")
    con.execute("""UPDATE findings SET directorate_id = w.directorate_id
        FROM contract_directorates_work w WHERE findings.uid = w.uid""")
    con.execute("""UPDATE findings SET directorate_id = b.directorate_id
        FROM buyer_directorates_work b
        WHERE findings.buyer_siret = b.buyer_siret
          AND (findings.uid IS NULL
               OR findings.uid NOT IN (SELECT uid FROM contracts))""")
    con.execute("DROP TABLE buyer_directorates_work")
    con.execute("DROP TABLE contract_directorates_work")
    con.execute(f"DROP TABLE {_DOMAINS}")
