"""When an incremental build may keep the payments' tables of the warehouse in service.

An incremental build patches the DECP model for the contracts new files touch. The payments'
steps read the accounting loads' staged rows and, of the DECP model, only the rows those rows
point at (:mod:`observatoire.model.payments`, :mod:`observatoire.indicators.payments`):

- ``contracts`` rows whose buyer SIRET is a buyer id of the accounting rows (the link by buyer,
  holder and dates), whose consultation uid starts with one (the links by contract number,
  ``buyer id || contract ref``: directly, through a commitment, a finance contract's
  ``decp_uid``, the published small contracts), or whose uid a payment, a paid contract or a
  finance contract points at (paid against awarded, the pieces' directorates, the advances);
- ``contract_holders`` rows of those contracts only (the links by holder, the SME rule);
- ``buyers`` rows of those buyer ids (the pieces' places);
- ``suppliers`` rows of the current holders of those paid contracts, or whose SIRET a payment
  names (local payments);
- the references and the profile, which an incremental build does not change (reference files
  or another profile make it complete).

The patch (:func:`observatoire.build_incremental._patch`) deletes and inserts the rows of the
touched contracts (by uid), buyers and holders only, and says which in ``patched_*_work``
(their old and new rows' keys); every other row of those tables is the warehouse in service's,
except the contracts' directorates, which the directorates step assigns again to every
contract. So when no accounting load landed or left (the caller's condition) and no patched
row is one of those above, the payments model would read the same rows as in the warehouse in
service and write the same tables: the build keeps them. The payment indicators read the
directorates too: they are kept when, besides, no patched buyer or holder is one they read and
the directorates of the contracts they read are those of the warehouse in service (compared
after the directorates step, with the values the copy had before it). ``tests/test_incremental.py``
compares such builds with complete ones, table by table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from observatoire.sqlquote import literal_list

#: ``payment_buyers_work``: the buyer ids of the accounting rows in force (a commitment's buyer
#: is kept in no table: read from the staged files); ``payment_uids_work``: the uids the
#: payments' tables point at; ``payment_directorates_work``: the directorates of the contracts
#: the payments read, before the directorates step.
_WORK = ("payment_buyers_work", "payment_uids_work", "payment_directorates_work")


def _prepare(con: duckdb.DuckDBPyConnection, paths: Sequence[Path]) -> None:
    # our own staging paths, quoted by literal_list
    staged = (f" UNION SELECT buyer_id FROM read_parquet({literal_list(list(paths))}, "
              "union_by_name = true)") if paths else ""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE payment_buyers_work AS
        SELECT DISTINCT buyer_id FROM (
            SELECT buyer_id FROM payments UNION SELECT buyer_id FROM finance_contracts{staged})
        WHERE buyer_id IS NOT NULL""")
    con.execute("""CREATE OR REPLACE TEMP TABLE payment_uids_work AS
        SELECT contract_uid AS uid FROM payments WHERE contract_uid IS NOT NULL
        UNION SELECT contract_uid FROM contract_payments WHERE contract_uid IS NOT NULL
        UNION SELECT decp_uid FROM finance_contracts WHERE decp_uid IS NOT NULL""")


def _read(con: duckdb.DuckDBPyConnection) -> str:
    """The condition on a contract ``c`` (uid, buyer_siret, consultation_uid) that the
    payments may read it (see the module)."""
    lengths = [int(n) for (n,) in con.execute(
        "SELECT DISTINCT length(buyer_id) FROM payment_buyers_work ORDER BY 1").fetchall()]
    # a string equal to ``buyer id || ref`` starts with the buyer id: its first characters
    prefixes = [f"left(c.consultation_uid, {n}) IN (SELECT buyer_id FROM payment_buyers_work "
                f"WHERE length(buyer_id) = {n})" for n in lengths]
    return "(" + " OR ".join([
        "c.buyer_siret IN (SELECT buyer_id FROM payment_buyers_work)",
        "c.uid IN (SELECT uid FROM payment_uids_work)", *prefixes]) + ")"


def model_kept(con: duckdb.DuckDBPyConnection, staged: Sequence[Path]) -> bool:
    """Whether no patched contract is one the payments model reads (run after the patch, with
    ``patched_contracts_work``, when no accounting load changed; ``staged``: the staging files
    of the accounting loads in force whose rows have a buyer id). When so, the directorates of
    the contracts it reads are set aside for :func:`indicators_kept`."""
    _prepare(con, staged)
    read = _read(con)
    touched = con.execute(f"""SELECT EXISTS (
        SELECT 1 FROM patched_contracts_work c WHERE {read})""").fetchall()[0][0]
    if touched:
        return False
    con.execute(f"""CREATE OR REPLACE TEMP TABLE payment_directorates_work AS
        SELECT c.uid, c.directorate_id FROM contracts c WHERE {read}""")
    return True


def indicators_kept(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the payment indicators read the same rows as in the warehouse in service, the
    payments model's tables being kept (:func:`model_kept`), after the directorates step."""
    read = _read(con)
    return not con.execute(f"""SELECT
        EXISTS (SELECT 1 FROM patched_buyers_work
                WHERE buyer_siret IN (SELECT buyer_id FROM payment_buyers_work))
        OR EXISTS (SELECT 1 FROM patched_suppliers_work s
                   WHERE s.siret IN (SELECT supplier_siret FROM payments)
                      OR s.supplier_key IN (
                          SELECT supplier_key FROM contract_holders
                          WHERE uid IN (SELECT uid FROM payment_uids_work)))
        OR EXISTS (SELECT c.uid, c.directorate_id FROM contracts c WHERE {read}
                   EXCEPT ALL SELECT uid, directorate_id FROM payment_directorates_work)
        OR EXISTS (SELECT uid, directorate_id FROM payment_directorates_work
                   EXCEPT ALL SELECT c.uid, c.directorate_id FROM contracts c
                   WHERE {read})""").fetchall()[0][0]


def finish(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the work tables of :func:`model_kept`."""
    for table in _WORK:
        con.execute(f"DROP TABLE IF EXISTS {table}")
