"""The indicator step runs the indicators that read the same rows in one query
(``compute.batch_query``): each must get the rows its own query (``indicator_query``, the SQL
the catalogue shows) gives, no more, no fewer."""

from __future__ import annotations

from observatoire.indicators import compute
from observatoire.indicators.profile import load_profile
from tests.conftest import Warehouse


def test_a_batch_gives_the_rows_of_its_indicators_own_queries(
        demo_warehouse: Warehouse) -> None:
    profile = load_profile(demo_warehouse.settings.profile)
    undefined = compute.undefined_fields(profile)
    skipped = compute.skipped_breakdowns(profile)
    available = [i for i in profile.indicators if i.available]
    batches = compute.batches(available, skipped)
    assert sorted(i.id for b in batches for i in b) == sorted(i.id for i in available)
    shared = [b for b in batches if len(b) > 1]
    # most contract indicators share their population: one query for them all
    assert max(len(b) for b in shared) >= 20
    for batch in shared:
        together = compute.batch_query(batch, undefined, skipped)
        alone = " UNION ALL ".join(
            f"({compute.indicator_query(i, undefined, skipped)})" for i in batch)
        rows = demo_warehouse.value(f"SELECT count(*) FROM ({alone})")
        assert rows > 0
        assert demo_warehouse.value(f"SELECT count(*) FROM ({together})") == rows
        for a, b in ((together, alone), (alone, together)):
            assert demo_warehouse.value(
                f"SELECT count(*) FROM (({a}) EXCEPT ALL ({b}))") == 0, batch[0].id


def test_a_distinct_count_is_only_batched_with_the_same_breakdowns() -> None:
    profile = load_profile("generique")
    skipped = compute.skipped_breakdowns(profile)
    holder = [i for i in profile.indicators if i.available and i.grain == "holder"]
    assert {i.id for i in holder} == {"marches-par-titulaire", "titulaires-distincts"}
    # same grain, population and years, but other breakdowns: two queries
    assert sorted(len(b) for b in compute.batches(holder, skipped)) == [1, 1]


def test_an_aggregate_argument_is_taken_out_only_when_it_is_the_whole_call() -> None:
    split = compute._argument
    assert split("SUM(CASE WHEN a IS NOT NULL THEN 1 ELSE 0 END)") == (
        "SUM(argument_placeholder)", "CASE WHEN a IS NOT NULL THEN 1 ELSE 0 END")
    assert split("COUNT(DISTINCT CASE WHEN NOT uid IS NULL THEN uid END)") == (
        "COUNT(DISTINCT argument_placeholder)", "CASE WHEN NOT uid IS NULL THEN uid END")
    # a parenthesis inside a string literal does not end the call
    assert split("SUM(CASE WHEN cpv LIKE '(%' THEN amount ELSE 0 END)") == (
        "SUM(argument_placeholder)", "CASE WHEN cpv LIKE '(%' THEN amount ELSE 0 END")
    # nothing to compute, or not one call
    assert split("COUNT(*)") is None
    assert split("COUNT(offers_received)") is None
    assert split("NULL") is None
    assert split("SUM(a) + SUM(b)") is None


def test_groups_a_decimal_of_more_places_than_kept_would_round_are_not_patched_later(
        demo_warehouse: Warehouse) -> None:
    """The kept groups hold exact aggregates as DECIMAL(38,6): a sum of 8 decimal places would
    be rounded there, so its batch's groups are written under no digest (the next incremental
    build computes the step whole: `_why_complete`), while the types of the shipped profiles
    are kept under theirs."""
    profile = load_profile(demo_warehouse.settings.profile)
    undefined, skipped = compute.undefined_fields(profile), compute.skipped_breakdowns(profile)
    batch = compute.Batch(
        compute.batches([i for i in profile.indicators if i.available], skipped)[0],
        undefined, skipped)
    types = compute.column_types(demo_warehouse.con, batch.grouped())
    groups = f"SELECT * FROM ({batch.grouped()})"
    summed = next(c for c in batch.columns() if types[c] == "DECIMAL(38,6)")
    kept = demo_warehouse.rows(
        f"SELECT DISTINCT digest FROM ({batch.pack(0, types, groups, 'd')})")
    rounded = {**types, summed: "DECIMAL(38,8)"}
    not_kept = demo_warehouse.rows(
        f"SELECT DISTINCT digest FROM ({batch.pack(0, rounded, groups, 'd')})")
    assert kept == [("d",)]
    assert not_kept == [("",)]


def test_a_sum_argument_is_never_null_only_where_every_row_of_its_branch_requires_it() -> None:
    """A patched sum over no row left must be NULL, as SQL's: only an argument that no row can
    make NULL lets the kept row count stand for the sum's own count."""
    assert compute._never_null("CASE WHEN a IS NOT NULL AND b > 0 THEN a ELSE 0 END")
    assert compute._never_null("1")
    # an OR or a NOT lets rows with a NULL ``a`` through
    assert not compute._never_null("CASE WHEN a IS NOT NULL OR b > 0 THEN a ELSE 0 END")
    assert not compute._never_null("CASE WHEN NOT (a IS NOT NULL) THEN a ELSE 0 END")
    assert not compute._never_null("CASE WHEN b > 0 THEN a ELSE 0 END")
    assert not compute._never_null("a")
