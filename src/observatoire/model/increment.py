"""SQL of the incremental build on the model's side (see docs/architecture.md, "Incremental
builds"): the record index every build keeps, and the per-key recomputation of buyers and
suppliers from the tables of a warehouse patched for the contracts that new files touched.

The recomputations run the model's own statements (:data:`contracts.BUYER_PLACES`,
:data:`contracts.BUYERS`, :data:`contracts.SUPPLIERS`) over temporary views named like the
build's work tables (``records``, ``record_holders``, ``record_rank_work``), rebuilt from what
the warehouse keeps and restricted to the buyers or suppliers concerned: same SQL, scoped input.
"""

from __future__ import annotations

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

#: Every distinct SIRET of the records, their holders and subcontractors (as
#: :data:`contracts.IDENTIFIERS`), from what the warehouse keeps.
SIRETS = r"""
SELECT DISTINCT siret FROM (
    SELECT buyer_siret AS siret FROM record_index
    UNION ALL SELECT holder_id FROM source_record_holders WHERE id_type = 'SIRET'
    UNION ALL SELECT unnest(subcontract_sirets) FROM record_index
) WHERE regexp_full_match(siret, '\d{14}')
"""

#: The work tables the buyers' and suppliers' statements read, as views over the warehouse,
#: restricted to the records of the buyers (``touched_buyers_work``) or of the holders
#: (``touched_suppliers_work``) concerned.
_SUPPLIER_KEY = r"""CASE WHEN rh.holder_id IS NOT NULL
    THEN COALESCE(rh.id_type, 'INCONNU') || ':' || rh.holder_id
    WHEN rh.holder_name IS NOT NULL THEN 'NOM:' || upper(trim(rh.holder_name)) END"""

BUYER_VIEWS = [
    """CREATE OR REPLACE TEMP VIEW records AS
       SELECT i.record_key, i.buyer_siret, i.buyer_name AS raw_buyer_name, i.publication_date,
           s.raw_buyer_departement, s.raw_buyer_region
       FROM record_index i JOIN source_records s ON s.record_key = i.record_key
       WHERE i.buyer_siret IN (SELECT buyer_siret FROM touched_buyers_work)""",
    """CREATE OR REPLACE TEMP VIEW record_rank_work AS
       SELECT record_key FROM record_index
       WHERE ranked AND buyer_siret IN (SELECT buyer_siret FROM touched_buyers_work)""",
    """CREATE OR REPLACE TEMP VIEW contracts_in_scope AS
       SELECT * FROM contracts
       WHERE buyer_siret IN (SELECT buyer_siret FROM touched_buyers_work)""",
]

SUPPLIER_VIEWS = [
    f"""CREATE OR REPLACE TEMP VIEW record_holders AS
       SELECT rh.* FROM source_record_holders rh
       WHERE {_SUPPLIER_KEY} IN (SELECT supplier_key FROM touched_suppliers_work)""",
    """CREATE OR REPLACE TEMP VIEW records AS
       SELECT s.record_key, s.raw_holder_departement, s.raw_holder_region
       FROM source_records s
       WHERE s.record_key IN (SELECT record_key FROM record_holders)""",
    """CREATE OR REPLACE TEMP VIEW record_rank_work AS
       SELECT record_key FROM record_index
       WHERE ranked AND record_key IN (SELECT record_key FROM record_holders)""",
    """CREATE OR REPLACE TEMP VIEW contract_holders_in_scope AS
       SELECT * FROM contract_holders
       WHERE supplier_key IN (SELECT supplier_key FROM touched_suppliers_work)""",
]

DROP_VIEWS = ["DROP VIEW IF EXISTS records", "DROP VIEW IF EXISTS record_holders",
              "DROP VIEW IF EXISTS record_rank_work", "DROP VIEW IF EXISTS contracts_in_scope",
              "DROP VIEW IF EXISTS contract_holders_in_scope"]

#: The model's statements, writing the rows of the buyers / suppliers concerned into a work
#: table instead of the warehouse's, and reading the scoped views above.
BUYER_PLACES_DELTA = contracts.BUYER_PLACES
BUYERS_DELTA = (contracts.BUYERS
                .replace("CREATE TABLE buyers AS", "CREATE TEMP TABLE buyers_delta_work AS")
                .replace("FROM contracts c", "FROM contracts_in_scope c"))
SUPPLIERS_DELTA = (contracts.SUPPLIERS
                   .replace("CREATE TABLE suppliers AS",
                            "CREATE TEMP TABLE suppliers_delta_work AS")
                   .replace("FROM contract_holders", "FROM contract_holders_in_scope"))
