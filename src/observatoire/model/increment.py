"""SQL of the incremental build on the model's side (see docs/architecture.md, "Incremental
builds"): the record index every build keeps, and the per-key recomputation of buyers and
suppliers from the tables of a warehouse patched for the contracts that new files touched.

The recomputations run the model's own statements (:data:`contracts.BUYER_PLACES`,
:data:`contracts.BUYERS`, :data:`contracts.SUPPLIERS`) over temporary tables and views named
like the build's work tables (``records``, ``record_holders``, ``record_rank_work``), rebuilt
from what the warehouse keeps and restricted to the buyers or suppliers concerned: same SQL,
scoped input.
"""

from __future__ import annotations

import re

from observatoire.model import contracts

#: One row per staged record of the build: what an incremental build needs to find the records
#: of the contracts a new file touches (``contract_group``: the published uid, buyer SIRET + id,
#: which groups records into contracts before lots are told apart) and to recompute buyers and
#: the SIRET checks without the work tables (the cleaned buyer SIRET, the buyer's name as the
#: build read it, corrections applied; the publication date; whether the record was ranked,
#: i.e. not set aside; the SIRETs of its subcontractors).
RECORD_INDEX = r"""
CREATE TABLE record_index AS
SELECT r.record_key, r.load_id, contract_uid(r.raw_id, r.raw_buyer_id) AS contract_group,
    r.buyer_siret, r.raw_buyer_name AS buyer_name, r.publication_date,
    k.record_key IS NOT NULL AS ranked,
    COALESCE(sub.sirets, CAST([] AS VARCHAR[])) AS subcontract_sirets
FROM records r
LEFT JOIN record_rank_work k ON k.record_key = r.record_key
LEFT JOIN (
    SELECT file_hash || '#' || position AS record_key,
        list_transform(subcontracts, lambda a: siret_text(a.id)) AS sirets
    FROM staged WHERE len(subcontracts) > 0
) sub ON sub.record_key = r.record_key
"""

#: The published uid of a contract uid (a lot's uid without its "~" suffix).
GROUP_OF_UID = r"regexp_replace({uid}, '~[0-9a-f]{{8}}$', '')"

def sirets(records: str, among: str = "TRUE") -> str:
    """Every distinct SIRET (as :data:`contracts.IDENTIFIERS` reads them: buyers, holders,
    subcontractors) of the records the warehouse keeps whose key meets ``records``; ``among``:
    of those SIRETs (``siret``) only."""
    return rf"""
SELECT DISTINCT siret FROM (
    SELECT buyer_siret AS siret FROM record_index WHERE {records}
    UNION ALL SELECT holder_id FROM source_record_holders WHERE id_type = 'SIRET' AND {records}
    UNION ALL SELECT unnest(subcontract_sirets) FROM record_index WHERE {records}
) WHERE ({among}) AND regexp_full_match(siret, '\d{{14}}')
"""


def _global(sql: str) -> str:
    """A model statement reading ``g_``-prefixed inputs instead of the build's work tables, and
    writing a ``g_`` temporary table instead of the warehouse's."""
    for name in ("records", "record_holders", "record_rank_work", "contract_holders",
                 "contracts", "buyer_places_work", "siret_checks"):
        sql = re.sub(rf"\b{name}\b", f"g_{name}", sql)
    return (sql.replace("CREATE TABLE g_contracts", "CREATE TABLE contracts")
            .replace("CREATE TEMP TABLE g_", "CREATE TEMP TABLE g_")
            .replace("CREATE TABLE buyers AS", "CREATE TEMP TABLE g_buyers AS")
            .replace("CREATE TABLE suppliers AS", "CREATE TEMP TABLE g_suppliers AS"))


#: The model's statements for the buyers and suppliers concerned, over the ``g_`` inputs
#: (:func:`global_inputs`): every record of theirs, not only those rebuilt.
BUYER_PLACES = _global(contracts.BUYER_PLACES)
BUYERS = _global(contracts.BUYERS)
SUPPLIERS = _global(contracts.SUPPLIERS)

#: The supplier key of a record's holder (as ``contracts.CONTRACT_HOLDERS`` makes it).
SUPPLIER_KEY = r"""CASE WHEN rh.holder_id IS NOT NULL
    THEN COALESCE(rh.id_type, 'INCONNU') || ':' || rh.holder_id
    WHEN rh.holder_name IS NOT NULL THEN 'NOM:' || upper(trim(rh.holder_name)) END"""


def global_inputs() -> list[str]:
    """The ``g_`` inputs of the statements run during the scoped run: the records, holders,
    ranks and contract holders of the buyers (``touched_buyers_work``) and holders
    (``touched_suppliers_work``) concerned, the warehouse in service's rows of the records not
    rebuilt (``old_scope_work``) with the scoped run's (its work tables).

    The records, their holders and ranks are temporary tables, made once with the columns the
    model's statements read: as views, each statement evaluated them several times over (the
    records read the holders, the ranks read the records), a join of the record index with the
    source records each time. The records and ranks are kept for :data:`PATCHED_INPUTS`.
    """
    return [
        f"""CREATE OR REPLACE TEMP TABLE g_record_holders AS
        SELECT rh.record_key, rh.holder_id, rh.id_type, rh.holder_name
        FROM main.source_record_holders rh
        WHERE {SUPPLIER_KEY} IN (SELECT supplier_key FROM touched_suppliers_work)
          AND rh.record_key NOT IN (SELECT record_key FROM old_scope_work)
        UNION ALL
        SELECT rh.record_key, rh.holder_id, rh.id_type, rh.holder_name
        FROM temp.main.record_holders rh
        WHERE {SUPPLIER_KEY} IN (SELECT supplier_key FROM touched_suppliers_work)""",
        """CREATE OR REPLACE TEMP TABLE g_records AS
        SELECT i.record_key, i.buyer_siret, i.buyer_name AS raw_buyer_name,
            i.publication_date, s.raw_buyer_departement, s.raw_buyer_region,
            s.raw_holder_departement, s.raw_holder_region, i.ranked
        FROM main.record_index i
        -- the places published with a record, from the few records that publish one (a
        -- record without has NULLs: the join to every source record cost most of this)
        LEFT JOIN (SELECT record_key, raw_buyer_departement, raw_buyer_region,
                       raw_holder_departement, raw_holder_region
                   FROM main.source_records
                   WHERE raw_buyer_departement IS NOT NULL OR raw_buyer_region IS NOT NULL
                      OR raw_holder_departement IS NOT NULL OR raw_holder_region IS NOT NULL
                  ) s ON s.record_key = i.record_key
        WHERE (i.buyer_siret IN (SELECT buyer_siret FROM touched_buyers_work)
               OR i.record_key IN (SELECT record_key FROM g_record_holders))
          AND i.record_key NOT IN (SELECT record_key FROM old_scope_work)
        UNION ALL
        SELECT r.record_key, r.buyer_siret, r.raw_buyer_name, r.publication_date,
            r.raw_buyer_departement, r.raw_buyer_region, r.raw_holder_departement,
            r.raw_holder_region,
            r.record_key IN (SELECT record_key FROM temp.main.record_rank_work)
        FROM temp.main.records r
        WHERE r.buyer_siret IN (SELECT buyer_siret FROM touched_buyers_work)
           OR r.record_key IN (SELECT record_key FROM g_record_holders)""",
        "CREATE OR REPLACE TEMP TABLE g_record_rank_work AS "
        "SELECT record_key FROM g_records WHERE ranked",
        """CREATE OR REPLACE TEMP VIEW g_contract_holders AS
        SELECT * FROM main.contract_holders
        WHERE supplier_key IN (SELECT supplier_key FROM touched_suppliers_work)
          AND uid NOT IN (SELECT uid FROM touched_uids_work)
        UNION ALL SELECT * FROM scoped.contract_holders
        WHERE supplier_key IN (SELECT supplier_key FROM touched_suppliers_work)""",
        # the SIRETs of the rebuilt records are checked in the scoped run's table
        """CREATE OR REPLACE TEMP VIEW g_siret_checks AS
        SELECT * FROM scoped.siret_checks UNION ALL SELECT * FROM main.siret_checks
        WHERE siret NOT IN (SELECT siret FROM scoped.siret_checks)""",
    ]


#: What the scoped run's statements read that :data:`PATCHED_INPUTS` does not.
DROP_GLOBAL_INPUTS = ["DROP TABLE IF EXISTS g_record_holders",
                      "DROP VIEW IF EXISTS g_contract_holders", "DROP VIEW IF EXISTS g_siret_checks"]

#: The ``g_`` inputs of :data:`BUYERS` after the patch. Its records and ranks are those the
#: scoped run made (:func:`global_inputs`): the patched record index holds the same rows for
#: the buyers concerned (nothing changes the records' buyer, name, date or rank between the
#: scoped run's model and its record index), and the statement reads the records of those
#: buyers only (its rows are the contracts'); their contracts and SIRET checks, patched.
PATCHED_INPUTS = [
    """CREATE OR REPLACE TEMP VIEW g_contracts AS
    SELECT * FROM main.contracts
    WHERE buyer_siret IN (SELECT buyer_siret FROM touched_buyers_work)""",
    "CREATE OR REPLACE TEMP VIEW g_siret_checks AS SELECT * FROM main.siret_checks",
]

DROP_PATCHED_INPUTS = ["DROP VIEW IF EXISTS g_contracts", "DROP VIEW IF EXISTS g_siret_checks",
                       "DROP TABLE IF EXISTS g_record_rank_work", "DROP TABLE IF EXISTS g_records"]
