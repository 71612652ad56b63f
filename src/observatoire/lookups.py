"""Indexes of the warehouse that the site's pages look rows up by.

A page of the explorer lists contracts from anywhere in the table, and each shows the names of
its current holders: without an index, finding their rows in ``contract_holders`` scans the
uids of the whole table (8–50 ms at a million contracts, whatever the page); with an ART index
on the uid, DuckDB finds them by key (``explorer._holder_names``). DuckDB keeps the index up to
date when the incremental build patches the table (rows deleted and inserted).
"""

from __future__ import annotations

from observatoire import pipeline as pl
from observatoire.sqlquote import identifier

#: The index of the holder rows by contract uid.
HOLDERS_BY_UID = "contract_holders_uid"


def index_holders(ctx: pl.BuildContext) -> None:
    # a copy of a warehouse that has it (the incremental build) keeps it up to date
    ctx.con.execute(
        f"CREATE INDEX IF NOT EXISTS {identifier(HOLDERS_BY_UID)} ON contract_holders (uid)")


STEPS = [
    pl.Step("site.index", "Index des pages du site", index_holders,
            reads=frozenset({"contract_holders", "contract_holders.holder_name"}),
            writes=frozenset({f"index:{HOLDERS_BY_UID}"})),
]
