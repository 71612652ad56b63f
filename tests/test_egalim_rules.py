"""Egalim rules: ma-cantine's own expected values (41 aggregates, ratio and objective cases) and
the legal edge cases, computed by ``observatoire.egalim.compute`` over a real DuckDB."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire.egalim import compute
from observatoire.egalim.codes import FAMILIES, canonical_characteristic
from observatoire.egalim.labels import resolve_label
from observatoire.egalim.targets import objectives_met, summary_percentages

VECTORS = Path(__file__).parent / "fixtures" / "egalim" / "test_vectors"


def _read(name: str) -> list[dict[str, str]]:
    with (VECTORS / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


Line = tuple[str, str, str | None, list[str], str]  # canteen, date, family, characteristics, price


def _compute(lines: list[Line], departements: dict[str, str] | None = None) -> Any:
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE egalim_lines (line_key BIGINT, canteen_key VARCHAR, departement VARCHAR,
        purchase_date DATE, price_ht DECIMAL(18,2), family VARCHAR, characteristics VARCHAR[],
        labels_known BOOLEAN)"""
    )
    con.executemany(
        "INSERT INTO egalim_lines VALUES (?, ?, ?, ?, ?, ?, ?, true)",
        [
            (i, c, (departements or {}).get(c), d, Decimal(p), f, chars)
            for i, (c, d, f, chars, p) in enumerate(lines)
        ],
    )
    compute.compute(con)
    return con


def _case_lines(redate_to: int | None = None) -> list[Line]:
    out: list[Line] = []
    for r in _read("purchases_cases.csv"):
        d = r["date"]
        if redate_to is not None and r["case_id"] == "E":
            d = f"{redate_to}{d[4:]}"
        chars = [canonical_characteristic(c) for c in r["caracteristiques"].split("|") if c]
        out.append((r["case_id"], d, r["famille_produits"] or None, chars, r["prix_ht"]))
    return out


#: ma-cantine's yearly-summary field names → our ``egalim_results`` columns.
SUMMARY_FIELDS = {
    "valeur_totale": "total",
    "valeur_bio": "bio",
    "valeur_bio_dont_commerce_equitable": "bio_fair_trade",
    "valeur_siqo": "siqo",
    "valeur_egalim_autres": "egalim_others",
    "valeur_egalim_autres_dont_commerce_equitable": "egalim_others_fair_trade",
    "valeur_externalites_performance": "externalities_performance",
    "valeur_viandes_volailles": "meat",
    "valeur_viandes_volailles_egalim": "meat_egalim",
    "valeur_viandes_volailles_france": "meat_france",
}
#: ma-cantine's percentages → (numerator column, denominator column).
PERCENTAGES = {
    "percentage_valeur_bio": ("bio", "total"),
    "percentage_valeur_siqo": ("siqo", "total"),
    "percentage_valeur_externalites_performance": ("externalities_performance", "total"),
    "percentage_valeur_egalim_autres": ("egalim_others", "total"),
    "percentage_valeur_viandes_volailles_egalim": ("meat_egalim", "meat"),
    "percentage_valeur_viandes_volailles_france": ("meat_france", "meat"),
    "percentage_valeur_produits_de_la_mer_egalim": ("fish_egalim", "fish"),
    "percentage_valeur_produits_de_la_mer_france": ("fish_france", "fish"),
}


def _summary(con: Any, canteen: str, year: int, column: str) -> Decimal:
    row = con.execute(
        f"SELECT {column} FROM egalim_results WHERE scope = 'canteen' AND scope_key = ? "
        "AND year = ? AND month = 0",
        [canteen, year],
    ).fetchone()
    return Decimal(0) if row is None else Decimal(row[0])


def _family_value(con: Any, canteen: str, year: int, metric: str) -> Decimal:
    rest = metric.removeprefix("valeur_")
    family = max((f for f in FAMILIES if rest.startswith(f.lower() + "_")), key=len)
    column = rest[len(family) + 1 :]
    row = con.execute(
        f"SELECT {column} FROM egalim_family_details WHERE canteen_key = ? AND year = ? "
        "AND family = ?",
        [canteen, year, family],
    ).fetchone()
    return Decimal(0) if row is None else Decimal(row[0])


EXPECTED = _read("purchases_expected.csv")


def test_all_41_expected_values_are_listed() -> None:
    assert len(EXPECTED) == 41


@pytest.mark.parametrize(
    "row", EXPECTED, ids=[f"{r['case_id']}-{r['year']}-{r['metric']}" for r in EXPECTED]
)
def test_ma_cantine_expected_values(row: dict[str, str]) -> None:
    case, year, metric = row["case_id"], int(row["year"]), row["metric"]
    con = _compute(_case_lines(redate_to=year))
    expected = Decimal(row["expected"])
    if metric in SUMMARY_FIELDS:
        assert _summary(con, case, year, SUMMARY_FIELDS[metric]) == expected
    elif metric in PERCENTAGES:
        num, den = PERCENTAGES[metric]
        ratio = _summary(con, case, year, num) / _summary(con, case, year, den)
        assert ratio == expected
    else:
        assert _family_value(con, case, year, metric) == expected


def test_meat_and_fish_pool_of_case_d() -> None:
    """Not asserted by ma-cantine, derived in the reference: (30 + 10) ÷ (40 + 20)."""
    con = _compute(_case_lines())
    rate = con.execute(
        "SELECT meat_fish_egalim_rate FROM egalim_results WHERE scope='canteen' "
        "AND scope_key='D' AND year=2024 AND month=0"
    ).fetchone()[0]
    assert rate == pytest.approx(40 / 60)


@pytest.mark.parametrize("row", _read("diagnostic_ratio_cases.csv"), ids=lambda r: r["source_test"])
def test_diagnostic_ratios(row: dict[str, str]) -> None:
    p = summary_percentages(
        *(
            Decimal(row[k])
            for k in (
                "valeur_totale",
                "valeur_bio",
                "valeur_siqo",
                "valeur_externalites_performance",
                "valeur_egalim_autres",
            )
        ),
        region=row["region"] or None,
    )

    def expect(text: str) -> Decimal | None:
        return Decimal(text) if text else None

    assert p.bio == expect(row["expected_pourcentage_bio"])
    assert p.egalim_excluding_bio == expect(row["expected_pourcentage_egalim_hors_bio"])
    assert p.egalim == expect(row["expected_pourcentage_egalim"])
    met = row["expected_objectifs_atteints"]
    assert p.objectives_met == (None if not met else met == "True")


@pytest.mark.parametrize("row", _read("objectives_cases.csv"), ids=lambda r: r["region"] or "—")
def test_objectives(row: dict[str, str]) -> None:
    region = row["region"].split(" ")[0] or None
    met = objectives_met(float(row["pourcentage_bio"]), float(row["pourcentage_egalim"]), region)
    assert met == (row["expected"] == "True")


# Legal edge cases (egalim-rules.md §1.3–1.5), each computed by hand.


def _one_line(family: str | None, chars: list[str], day: str, price: str = "100") -> Any:
    return _compute([("X", day, family, chars, price)])


def _value(con: Any, column: str, year: int) -> Decimal:
    return _summary(con, "X", year, column)


def test_niveau_2_counts_until_31_december_2026_only() -> None:
    last_day = _one_line("FRUITS_ET_LEGUMES", ["CE2"], "2026-12-31")
    assert _value(last_day, "egalim", 2026) == 100
    assert _value(last_day, "egalim_others", 2026) == 100
    next_day = _one_line("FRUITS_ET_LEGUMES", ["CE2"], "2027-01-01")
    assert _value(next_day, "egalim", 2027) == 0
    assert _value(next_day, "category_non_egalim", 2027) == 100
    # HVE itself goes on counting.
    assert _value(_one_line("FRUITS_ET_LEGUMES", ["HVE"], "2027-01-01"), "egalim", 2027) == 100


def test_fish_without_a_qualifying_label_does_not_count() -> None:
    """MSC is not the public écolabel: the label table gives it no code (with a warning), so
    an MSC-only fish line carries no Egalim characteristic."""
    meaning = resolve_label("MSC")
    assert meaning is not None and meaning.code is None and "privé" in meaning.warning
    con = _one_line("PRODUITS_DE_LA_MER", [c for c in [meaning.code] if c], "2025-03-01")
    assert _value(con, "fish", 2025) == 100
    assert _value(con, "fish_egalim", 2025) == 0
    assert _value(con, "meat_fish_egalim", 2025) == 0


def test_charcuterie_is_outside_the_meat_and_fish_pool() -> None:
    con = _compute(
        [
            ("X", "2025-01-10", "CHARCUTERIE", ["LABEL_ROUGE"], "100"),
            ("X", "2025-01-10", "VIANDES_VOLAILLES", [], "300"),
            ("X", "2025-01-10", "PRODUITS_DE_LA_MER", ["PECHE_DURABLE"], "100"),
        ]
    )
    assert _value(con, "meat_fish", 2025) == 400
    assert _value(con, "meat_fish_egalim", 2025) == 100
    assert _value(con, "egalim", 2025) == 200  # charcuterie still counts in the 50 %


def test_local_origin_and_short_circuit_count_nowhere() -> None:
    con = _compute(
        [
            ("X", "2025-05-02", "FRUITS_ET_LEGUMES", ["LOCAL"], "70"),
            ("X", "2025-05-02", "FRUITS_ET_LEGUMES", ["FRANCE", "CIRCUIT_COURT"], "30"),
        ]
    )
    assert _value(con, "egalim", 2025) == 0
    assert _value(con, "local", 2025) == 70
    assert _value(con, "short_circuit", 2025) == 30
    assert _value(con, "category_non_egalim", 2025) == 100


def test_bio_and_label_rouge_count_once_as_bio() -> None:
    con = _one_line("VIANDES_VOLAILLES", ["LABEL_ROUGE", "BIO"], "2024-06-01")
    assert _value(con, "total", 2024) == 100
    assert _value(con, "egalim", 2024) == 100
    assert _value(con, "bio", 2024) == 100
    assert _value(con, "siqo", 2024) == 0
    assert _value(con, "category_label_rouge", 2024) == 0


def test_labels_not_applicable_to_the_family_do_not_count() -> None:
    con = _compute(
        [
            ("X", "2025-02-01", "PRODUITS_DE_LA_MER", ["FERMIER"], "10"),
            ("X", "2025-02-01", "VIANDES_VOLAILLES", ["PECHE_DURABLE"], "20"),
            ("X", "2025-02-01", "BOISSONS", ["LABEL_ROUGE"], "30"),
            ("X", "2025-02-01", "PRODUITS_LAITIERS", ["FERMIER"], "40"),
        ]
    )
    assert _value(con, "egalim", 2025) == 40
    assert _value(con, "category_fermier", 2025) == 40


def test_territory_rates_are_value_weighted_not_means_of_canteens() -> None:
    con = _compute(
        [
            ("A", "2025-01-05", "AUTRES", ["BIO"], "50"),
            ("A", "2025-01-05", "AUTRES", [], "50"),
            ("B", "2025-02-05", "AUTRES", ["BIO"], "90"),
            ("B", "2025-02-05", "AUTRES", [], "810"),
        ],
        departements={"A": "29", "B": "35"},
    )
    rows = dict(
        con.execute(
            "SELECT scope, bio_rate FROM egalim_results WHERE year = 2025 AND month = 0 "
            "AND scope IN ('territory')"
        ).fetchall()
    )
    assert rows["territory"] == pytest.approx(140 / 1000)  # the mean of 50 % and 10 % is 30 %
    by_month = con.execute(
        "SELECT month, bio_rate FROM egalim_results WHERE scope = 'departement' "
        "AND scope_key = '35' AND year = 2025 AND month > 0"
    ).fetchall()
    assert by_month == [(2, pytest.approx(0.1))]


def test_dates_are_judged_line_by_line_within_a_year() -> None:
    con = _compute(
        [
            ("X", "2026-12-31", "FRUITS_ET_LEGUMES", ["CE2"], "60"),
            ("X", "2026-06-30", "FRUITS_ET_LEGUMES", [], "40"),
        ]
    )
    assert _value(con, "egalim_rate", 2026) == pytest.approx(0.6)
