"""Indicators: hand-computed values on a small fixture, independent checks on the real demo
data, catalogue errors at load, targets and statuses, portability, history."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from statistics import median

import pytest

from observatoire.build import build
from observatoire.build import recompute_indicators as recompute
from observatoire.config import Settings
from observatoire.errors import ConfigError
from observatoire.indicators.compute import indicator_query, target_in_force
from observatoire.indicators.expressions import to_dialect
from observatoire.indicators.profile import Target, load_profile
from tests.conftest import DEMO, FIXTURES, Warehouse, make_warehouse

TEST_PROFILE = """
extends = "generique"
id = "essai"
name = "Profil d'essai"
scope = "profile_buyers"

[[buyers]]
siren = "233500016"
name = "Région Bretagne"
role = "organisation"

[territory]
name = "Bretagne"
regions = ["53"]

[parameters]
new_supplier_lookback_years = 1
min_coverage = 0.7
# the fixture's years hold a handful of contracts each
min_population = 1
reference_year = 2024
"""

TEST_INDICATORS = """
[[indicator]]
id = "consideration-environnementale"
[[indicator.targets]]
value = 100
comparator = ">="
date = 2025-12-31
source = "essai"

[[indicator]]
id = "clause-environnementale"
[[indicator.targets]]
value = 100
comparator = ">="
date = 2024-12-31
source = "essai"

[[indicator]]
id = "consideration-sociale"
[[indicator.targets]]
value = 50
comparator = ">="
date = 2025-12-31
source = "essai"

[[indicator]]
id = "publication-deux-mois"
[[indicator.targets]]
value = 100
comparator = ">="
date = 2024-12-31
source = "essai"

[[indicator]]
id = "population-vide"
code = "Z01"
title = "Essai : population vide"
definition = "Aucun marché n'a un montant initial de mille milliards d'euros."
axis = "acces"
kind = "transparency"
unit = "percent"
population = "amount_initial > 1000000000000"
measure = "share"
condition = "supplier_is_sme"

[[indicator]]
id = "peu-d-offres"
code = "Z02"
version = 1
valid_to = 2023-12-31
title = "Essai : une seule offre"
definition = "Première définition : une seule offre."
axis = "acces"
kind = "transparency"
unit = "percent"
measure = "share"
condition = "offers_received = 1"

[[indicator]]
id = "peu-d-offres"
code = "Z02"
version = 2
valid_from = 2024-01-01
title = "Essai : au plus deux offres"
definition = "Définition changée en 2024 : au plus deux offres."
axis = "acces"
kind = "transparency"
unit = "percent"
measure = "share"
condition = "offers_received <= 2"
"""


def _profile_dir(
    root: Path, indicators: str = TEST_INDICATORS, profile: str = TEST_PROFILE
) -> Path:
    folder = root / "profil-essai"
    (folder / "indicators").mkdir(parents=True)
    (folder / "profile.toml").write_text(profile, encoding="utf-8")
    (folder / "indicators" / "essai.toml").write_text(indicators, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def fixture_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    root = tmp_path_factory.mktemp("indicators")
    profile = _profile_dir(root)
    settings = Settings(home=root / "home", profile=str(profile))
    import duckdb

    from observatoire.connectors.ingest import ingest

    ingest(settings, [FIXTURES / "indicators" / "contracts.json", DEMO / "ref"])
    build(settings)
    return Warehouse(settings, duckdb.connect(str(settings.warehouse_path), read_only=True))


def _result(wh: Warehouse, indicator: str, basis: str, period: str = "2024",
            breakdown: str = "total", breakdown_value: str | None = None) -> dict[str, object]:
    cur = wh.con.execute(
        """SELECT * FROM indicator_results WHERE indicator_id = ? AND basis = ? AND period = ?
           AND breakdown = ? AND breakdown_value IS NOT DISTINCT FROM ? AND category IS NULL""",
        [indicator, basis, period, breakdown, breakdown_value],
    )
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, (indicator, basis, period, rows)
    return dict(zip(names, rows[0], strict=True))


# The 2024 contracts of the fixture, worked out by hand (README of the fixture):
#   M1 100 000 → 120 000 after its modification; holder PME in 35 (had M4 in 2023-06, within
#      the 1-year window: not new); 1 offer; advance 30 %; Clause sociale; no env. consideration
#   M2 300 000; holders GE (75, listed first: the lead) + PME (69): not a PME by its lead
#      holder (OECP), a PME by "any holder", half a PME by "amount shared"; not local; new;
#      3 offers; no advance; no social consideration; Critère environnemental; grouping
#      Conjoint; accord-cadre
#   M3  50 000; holder ETI in 29: local, not a PME; new; offers unknown; advance with rate 0
#      (= unknown rate); Marché réservé; Clause environnementale; no publication date
#   M5 amount 0 (left out of amounts); holder unknown to SIRENE; new; 2 offers; no considerations
#      published (unknown)
CASES = [
    # indicator, basis, numerator, denominator, value, record_count, known_count
    ("marches-pme", "count", 1, 3, 1 / 3, 4, 3),  # M1 PME; M2 (lead GE), M3 not; M5 unknown
    ("montant-pme", "value", 120_000, 470_000, 120 / 470, 4, 3),
    # The data starts 2023-06-01 (M4). M1 (2024-03-01) has its 1-year window start before it:
    # unknown, although its holder had M4 (a "not new" known only where the window is not
    # covered would bias the share towards 0). M2, M3, M5: covered, new.
    ("nouveaux-titulaires", "count", 3, 3, 1.0, 4, 3),
    ("nouveaux-titulaires", "value", 350_000, 350_000, 1.0, 4, 2),  # M5's amount 0 left out
    ("offre-unique", "count", 1, 3, 1 / 3, 4, 3),
    ("avance-30", "count", 1, 2, 1 / 2, 3, 2),  # population > 25 k€ initial: M1, M2, M3
    ("consideration-sociale", "count", 2, 3, 2 / 3, 4, 3),
    ("consideration-environnementale", "count", 2, 3, 2 / 3, 4, 3),
    ("critere-environnemental", "count", 1, 3, 1 / 3, 4, 3),
    ("clause-environnementale", "count", 1, 3, 1 / 3, 4, 3),
    ("marches-reserves", "count", 1, 3, 1 / 3, 4, 3),
    ("montant-entreprises-locales", "value", 170_000, 470_000, 170 / 470, 4, 3),
    ("marches-entreprises-locales", "count", 2, 3, 2 / 3, 4, 3),
    ("groupements", "count", 1, 4, 1 / 4, 4, 4),
    ("marches-modifies", "count", 1, 4, 1 / 4, 4, 4),
    ("hausse-montant-modifications", "ratio", 20_000, 450_000, 20 / 450, 4, 3),
    ("prix-revisables", "count", 1, 4, 1 / 4, 4, 4),
    ("publication-deux-mois", "count", 1, 2, 1 / 2, 3, 2),  # ≥ 40 k€: M1 in time, M2 late, M3 ?
    # above the 2024 EU threshold for services (221 000 €): M2 only, which has no social clause
    ("clause-sociale-seuils-europeens", "count", 0, 1, 0.0, 1, 1),
    ("marches-innovants", "count", 1, 4, 1 / 4, 4, 4),  # M2
    ("marches-innovants", "value", 300_000, 470_000, 300 / 470, 4, 3),
    ("sous-traitance-declaree", "count", 1, 4, 1 / 4, 4, 4),  # M3
    # M3's two acts: 10 000 € to the PME of Pleumeleuc, 30 000 € to the GE of Paris
    ("sous-traitance-pme", "value", 10_000, 40_000, 1 / 4, 2, 2),
    ("sous-traitance-pme", "count", 1, 2, 1 / 2, 2, 2),
    ("consideration-environnementale-montant", "value", 350_000, 470_000, 350 / 470, 4, 3),
    ("consideration-sociale-montant", "value", 170_000, 470_000, 170 / 470, 4, 3),
    # origineFrance 50 % on M1 (120 000 €), 100 % on M3 (50 000 €), unknown elsewhere
    ("origine-france", "ratio", 110_000, 170_000, 110 / 170, 4, 2),
    ("marches-reserves", "value", 50_000, 470_000, 50 / 470, 4, 3),
    # the 2024 records: M1, M2, M3, M5 and M6 (no id: set aside; its CPV lost a digit)
    ("enregistrements-ecartes", "count", 1, 5, 1 / 5, 5, 5),
    ("qualite-identifiants", "count", 4, 5, 4 / 5, 5, 5),
    ("qualite-cpv", "count", 4, 5, 4 / 5, 5, 5),
    ("qualite-lieu", "count", 5, 5, 1.0, 5, 5),  # every place is département 35
]


@pytest.mark.parametrize(("indicator", "basis", "num", "den", "value", "records", "known"), CASES)
def test_fixture_values_computed_by_hand(
    fixture_warehouse: Warehouse, indicator: str, basis: str, num: float, den: float,
    value: float, records: int, known: int,
) -> None:
    r = _result(fixture_warehouse, indicator, basis)
    assert (r["numerator"], r["denominator"]) == (num, den)
    assert r["value"] == pytest.approx(value)
    assert (r["record_count"], r["known_count"]) == (records, known)
    assert r["coverage"] == pytest.approx(known / records)


def test_fixture_averages_counts_and_holders(fixture_warehouse: Warehouse) -> None:
    wh = fixture_warehouse
    mean = _result(wh, "offres-recues", "mean")
    assert (mean["value"], mean["known_count"]) == (2.0, 3)  # (1 + 3 + 2) / 3
    assert _result(wh, "offres-recues", "median")["value"] == 2.0
    count = _result(wh, "marches-notifies", "count")
    value = _result(wh, "marches-notifies", "value")
    # M2 has two holders: its amount is counted once
    assert (count["value"], value["value"], value["coverage"]) == (4, 470_000, 3 / 4)
    assert _result(wh, "marches-notifies", "count", period="2023")["value"] == 1
    assert _result(wh, "marches-notifies", "count", period="toutes")["value"] == 5
    # five holders of four 2024 contracts; S1..S5 are five SIRENs
    assert _result(wh, "titulaires-distincts", "distinct")["value"] == 5
    assert _result(wh, "marches-par-titulaire", "ratio")["value"] == pytest.approx(4 / 5)


def test_fixture_breakdowns(fixture_warehouse: Warehouse) -> None:
    wh = fixture_warehouse
    # purchase domains of the generic profile: M1 works (45), M2 services (72), M3 and M5
    # supplies (30… and 45 for M5 → works)
    works = _result(wh, "marches-notifies", "count", breakdown="purchase_domain",
                    breakdown_value="travaux")
    assert (works["value"], works["breakdown_label"]) == (2, "Travaux")  # M1, M5
    # supplier département of the lead holder: M2's first holder is the GE of Paris (75)
    paris = _result(wh, "marches-notifies", "value", breakdown="supplier_departement",
                    breakdown_value="75")
    assert (paris["value"], paris["breakdown_label"]) == (300_000, "Paris")
    region = _result(wh, "marches-pme", "count", breakdown="mandate",
                     breakdown_value="Région Bretagne")
    assert region["value"] == pytest.approx(1 / 3)


def test_fixture_distribution_by_lead_holder_departement(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows(
        """SELECT category, category_label, numerator, denominator, record_count, known_count
           FROM indicator_results WHERE indicator_id = 'repartition-departements-titulaires'
           AND period = '2024' AND breakdown = 'total' AND basis = 'value' ORDER BY category"""
    )
    # M2's lead holder is the first listed (Paris); M5 has no amount and no known place
    assert rows == [
        ("29", "Finistère", 50_000, 470_000, 4, 3),
        ("35", "Ille-et-Vilaine", 120_000, 470_000, 4, 3),
        ("75", "Paris", 300_000, 470_000, 4, 3),
    ]


def test_fixture_procedure_mix(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows(
        """SELECT basis, category, numerator, denominator, known_count FROM indicator_results
           WHERE indicator_id = 'procedures' AND period = '2024' AND breakdown = 'total'
           ORDER BY basis, category"""
    )
    assert rows == [  # M2 by open tender; M1, M3 and M5 adapted (M5 has no amount)
        ("count", "Appel d'offres ouvert", 1, 4, 4),
        ("count", "Procédure adaptée", 3, 4, 4),
        ("value", "Appel d'offres ouvert", 300_000, 470_000, 3),
        ("value", "Procédure adaptée", 170_000, 470_000, 3),
    ]


def test_fixture_targets_and_statuses(fixture_warehouse: Warehouse) -> None:
    wh = fixture_warehouse
    c01 = _result(wh, "consideration-environnementale", "count")
    # 0 % in 2023, 67 % in 2024, deadline end 2025: progressing
    assert (c01["target_value"], c01["status"]) == (1.0, "on_track")
    assert _result(wh, "clause-environnementale", "count")["status"] == "not_met"  # deadline 2024
    assert _result(wh, "consideration-sociale", "count")["status"] == "met"  # 67 % ≥ 50 %
    # coverage 2/3 below the profile's minimum of 70 %
    assert _result(wh, "publication-deux-mois", "count")["status"] == "insufficient_data"
    assert _result(wh, "marches-pme", "count")["status"] is None  # no target in this profile
    unavailable = wh.rows(
        "SELECT status, value FROM indicator_results WHERE indicator_id = 'egalim-bio'"
    )
    assert unavailable == [("unavailable", None)]


def test_empty_population_gives_no_value(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows(
        """SELECT period, record_count, known_count, value FROM indicator_results
           WHERE indicator_id = 'population-vide'"""
    )
    assert rows == [("toutes", 0, 0, None)]


def test_a_changed_definition_is_a_new_version(fixture_warehouse: Warehouse) -> None:
    rows = fixture_warehouse.rows(
        """SELECT period, version, numerator, denominator FROM indicator_results
           WHERE indicator_id = 'peu-d-offres' AND breakdown = 'total' AND period <> 'toutes'
           ORDER BY period"""
    )
    # 2023 keeps version 1 (M4: 4 offers); 2024 uses version 2 (M1: 1, M5: 2 — M2: 3; M3: ?)
    assert rows == [("2023", 1, 0, 1), ("2024", 2, 2, 3)]


def test_overlapping_versions_are_refused(tmp_path: Path) -> None:
    folder = _profile_dir(tmp_path, TEST_INDICATORS.replace("valid_to = 2023-12-31\n", ""))
    with pytest.raises(ConfigError, match="se chevauchent"):
        load_profile(str(folder))


def test_target_in_force_follows_deadlines() -> None:
    t2021 = Target(0.30, ">=", date(2021, 12, 31), None, "count", "s", "")
    t2025 = Target(0.50, ">=", date(2025, 12, 31), date(2023, 1, 1), "count", "s", "")
    targets = (t2021, t2025)
    assert target_in_force(targets, "count", 2020) is t2021  # upcoming deadline
    assert target_in_force(targets, "count", 2021) is t2021
    assert target_in_force(targets, "count", 2022) is t2021  # passed, not yet superseded
    assert target_in_force(targets, "count", 2023) is t2025
    assert target_in_force(targets, "count", 2030) is t2025  # a target reached must be kept
    assert target_in_force(targets, "value", 2023) is None


# --- the real demo data, against computations written here in plain Python -----------------


@pytest.fixture(scope="module")
def demo_contracts(demo_warehouse: Warehouse) -> list[dict[str, object]]:
    cur = demo_warehouse.con.execute(
        """SELECT uid, kind, notification_year, amount, amount_initial, offers_received,
                  price_types, is_framework_agreement, buyer_siret, notification_date, object
           FROM contracts"""
    )
    names = [d[0] for d in cur.description]
    return _share_framework_copies([dict(zip(names, r, strict=True)) for r in cur.fetchall()])


def _share_framework_copies(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """A framework agreement published once per holder (same buyer, day, object, maximum) is
    one maximum: its copies share it."""
    def key(c: dict[str, object]) -> tuple[object, ...]:
        return (c["buyer_siret"], c["notification_date"], c["object"], c["amount"])

    framework = [c for c in rows if c["is_framework_agreement"] and c["amount"] is not None
                 and c["object"] is not None]
    copies = Counter(key(c) for c in framework)
    for c in framework:
        c["amount"] = float(c["amount"]) / copies[key(c)]  # type: ignore[arg-type]
    return rows


@pytest.fixture(scope="module")
def demo_holder_categories(demo_warehouse: Warehouse) -> dict[str, list[str | None]]:
    """Categories of each contract's current holders, the lead holder first: the first one
    its publication lists (then by supplier key, for holders the publication does not list)."""
    positions = {(uid, holder): pos for uid, holder, pos in demo_warehouse.rows(
        """SELECT c.uid, r.holder_id, min(r.holder_position) FROM contracts c
           JOIN source_record_holders r ON r.record_key = c.primary_record_key
           GROUP BY ALL""")}
    holders: dict[str, list[tuple[float, str, str | None]]] = defaultdict(list)
    for uid, holder, key, category in demo_warehouse.rows(
        """SELECT h.uid, h.holder_id, h.supplier_key, s.category FROM contract_holders h
           LEFT JOIN suppliers s ON s.supplier_key = h.supplier_key WHERE h.is_current"""
    ):
        holders[uid].append((positions.get((uid, holder), float("inf")), key, category))
    return {uid: [c for _, _, c in sorted(hs, key=lambda h: (h[0], h[1]))]
            for uid, hs in holders.items()}


def _demo(wh: Warehouse, indicator: str, basis: str, period: str) -> dict[str, object]:
    return _result(wh, indicator, basis, period)


@pytest.mark.parametrize("year", [2019, 2024])
def test_demo_sme_shares_match_a_plain_computation(
    demo_warehouse: Warehouse, demo_contracts: list[dict[str, object]],
    demo_holder_categories: dict[str, list[str | None]], year: int,
) -> None:
    known = sme = 0
    value_known = value_sme = 0.0
    for c in demo_contracts:
        if c["kind"] != "marche" or c["notification_year"] != year:
            continue
        # several holders: the lead holder's category (national method)
        cats = demo_holder_categories.get(str(c["uid"]), [])
        is_sme = None if not cats or cats[0] is None else cats[0] == "PME"
        if is_sme is not None:
            known += 1
            sme += is_sme
            if c["amount"] is not None:
                value_known += float(c["amount"])  # type: ignore[arg-type]
                value_sme += float(c["amount"]) if is_sme else 0  # type: ignore[arg-type]
    a01 = _demo(demo_warehouse, "marches-pme", "count", str(year))
    a02 = _demo(demo_warehouse, "montant-pme", "value", str(year))
    assert (a01["numerator"], a01["denominator"]) == (sme, known)
    assert a02["numerator"] == pytest.approx(value_sme, rel=1e-12)
    assert a02["denominator"] == pytest.approx(value_known, rel=1e-12)


def test_demo_offers_match_a_plain_computation(
    demo_warehouse: Warehouse, demo_contracts: list[dict[str, object]]
) -> None:
    offers = [int(c["offers_received"]) for c in demo_contracts  # type: ignore[call-overload]
              if c["kind"] == "marche" and c["notification_year"] == 2024
              and c["offers_received"] is not None]
    assert _demo(demo_warehouse, "offres-recues", "mean", "2024")["value"] == pytest.approx(
        sum(offers) / len(offers))
    assert _demo(demo_warehouse, "offres-recues", "median", "2024")["value"] == median(offers)
    single = _demo(demo_warehouse, "offre-unique", "count", "2024")
    assert (single["numerator"], single["denominator"]) == (offers.count(1), len(offers))


def test_demo_totals_and_modifications_match_a_plain_computation(
    demo_warehouse: Warehouse, demo_contracts: list[dict[str, object]]
) -> None:
    for year in (2018, 2019, 2024):
        rows = [c for c in demo_contracts if c["notification_year"] == year]
        amounts = [float(c["amount"]) for c in rows if c["amount"] is not None]  # type: ignore[arg-type]
        assert _demo(demo_warehouse, "marches-notifies", "count", str(year))["value"] == len(rows)
        assert _demo(demo_warehouse, "marches-notifies", "value", str(year))["value"] == (
            pytest.approx(sum(amounts), rel=1e-12))
        pairs = [(float(c["amount"]), float(c["amount_initial"]))  # type: ignore[arg-type]
                 for c in rows if c["kind"] == "marche" and c["amount"] is not None
                 and c["amount_initial"] is not None]
        growth = _demo(demo_warehouse, "hausse-montant-modifications", "ratio", str(year))
        assert growth["numerator"] == pytest.approx(sum(a - i for a, i in pairs), abs=0.01)
        assert growth["denominator"] == pytest.approx(sum(i for _, i in pairs), rel=1e-12)
        revisable = [bool({"Définitif révisable", "Définitif actualisable"} & set(c["price_types"]))  # type: ignore[arg-type]
                     for c in rows if c["kind"] == "marche" and c["price_types"]]
        b09 = _demo(demo_warehouse, "prix-revisables", "count", str(year))
        assert (b09["numerator"], b09["denominator"]) == (sum(revisable), len(revisable))


def _and3(a: bool | None, b: bool | None) -> bool | None:
    """SQL's three-valued AND."""
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _add_months(day: date, months: int) -> date:
    """SQL's date + INTERVAL n MONTH: the same day n months later, clamped to the month's end."""
    import calendar

    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _in_list(values: object, has: bool | None, label: str) -> bool | None:
    return None if has is None else label in (values or [])  # type: ignore[operator]


# indicator → (population, condition), both on one row of the contracts table, in plain Python
SHARES = {
    "offre-unique": (lambda c: True, lambda c: None if c["offers_received"] is None
                     else c["offers_received"] == 1),
    "groupements": (lambda c: True, lambda c: None if c["grouping_type"] is None
                    else c["grouping_type"] != "Pas de groupement"),
    "sous-traitance-declaree": (lambda c: True, lambda c: c["subcontracting_declared"]),
    "marches-innovants": (lambda c: True, lambda c: c["is_innovative"]),
    "avance-30": (
        lambda c: c["amount_initial"] is not None and c["amount_initial"] > 25_000,
        lambda c: _and3(c["advance_granted"], None if c["advance_rate"] is None
                        else c["advance_rate"] >= 0.30),
    ),
    "prix-revisables": (lambda c: True, lambda c: bool(
        {"Définitif révisable", "Définitif actualisable"} & set(c["price_types"]))
        if c["price_types"] else None),
    "marches-modifies": (lambda c: True, lambda c: c["modification_count"] > 0),
    "consideration-environnementale": (lambda c: True,
                                       lambda c: c["has_environmental_consideration"]),
    "critere-environnemental": (lambda c: True, lambda c: _in_list(
        c["environmental_considerations"], c["has_environmental_consideration"],
        "Critère environnemental")),
    "clause-environnementale": (lambda c: True, lambda c: _in_list(
        c["environmental_considerations"], c["has_environmental_consideration"],
        "Clause environnementale")),
    "consideration-sociale": (lambda c: True, lambda c: c["has_social_consideration"]),
    "marches-reserves": (lambda c: True, lambda c: _in_list(
        c["social_considerations"], c["has_social_consideration"], "Marché réservé")),
    "publication-deux-mois": (
        lambda c: c["amount_initial"] is not None and c["amount_initial"] >= 40_000,
        lambda c: c["publication_date"] <= _add_months(c["notification_date"], 2)
        if c["notification_date_source"] == "notification" and c["publication_date"] else None,
    ),
}


@pytest.fixture(scope="module")
def demo_marches(demo_warehouse: Warehouse) -> list[dict[str, object]]:
    cur = demo_warehouse.con.execute("SELECT * FROM contracts WHERE kind = 'marche'")
    names = [d[0] for d in cur.description]
    return _share_framework_copies([dict(zip(names, r, strict=True)) for r in cur.fetchall()])


@pytest.mark.parametrize("indicator", sorted(SHARES))
def test_demo_shares_match_a_plain_computation(
    demo_warehouse: Warehouse, demo_marches: list[dict[str, object]], indicator: str
) -> None:
    population, condition = SHARES[indicator]
    expected: dict[tuple[str, str], tuple[float, float, int, int]] = {}
    by_year: dict[str, list[dict[str, object]]] = defaultdict(list)
    for c in demo_marches:
        if population(c):
            # a contract without a date counts in its own period and in "toutes", in no year
            year = c["notification_year"]
            by_year["date inconnue" if year is None else str(year)].append(c)
            by_year["toutes"].append(c)
    for year, rows in by_year.items():
        judged = [(condition(c), c["amount"]) for c in rows]
        known = [(v, a) for v, a in judged if v is not None]
        expected[(year, "count")] = (
            sum(1 for v, _ in known if v), len(known), len(rows), len(known))
        valued = [(v, float(a)) for v, a in known if a is not None]  # type: ignore[arg-type]
        expected[(year, "value")] = (
            sum(a for v, a in valued if v), sum(a for _, a in valued), len(rows), len(valued))
    stored = {
        (period, basis): (num, den, records, known_count)
        for period, basis, num, den, records, known_count in demo_warehouse.rows(
            """SELECT period, basis, numerator, denominator, record_count, known_count
               FROM indicator_results WHERE indicator_id = ? AND breakdown = 'total'
            """, [indicator])
    }
    assert stored.keys() == {k for k in expected if k[1] in {b for _, b in stored}}
    for key, (num, den, records, known_count) in stored.items():
        e_num, e_den, e_records, e_known = expected[key]
        assert (records, known_count) == (e_records, e_known), (indicator, key)
        assert num == pytest.approx(e_num, abs=0.01) and den == pytest.approx(e_den, abs=0.01)


def test_demo_new_suppliers_match_a_plain_computation(demo_warehouse: Warehouse) -> None:
    """A04 with the generic profile's 3-year window, recomputed from the model tables."""
    holders: dict[str, list[str | None]] = defaultdict(list)
    dates: dict[str, set[date]] = defaultdict(set)
    contracts = {uid: (kind, day) for uid, kind, day in demo_warehouse.rows(
        "SELECT uid, kind, notification_date FROM contracts")}
    for uid, siren in demo_warehouse.rows(
        """SELECT h.uid, s.siren FROM contract_holders h
           LEFT JOIN suppliers s ON s.supplier_key = h.supplier_key WHERE h.is_current"""):
        holders[uid].append(siren)
        if siren and contracts[uid][1]:
            dates[siren].add(contracts[uid][1])
    all_days = [d for _, d in contracts.values() if d]
    first, years_with_data = min(all_days), {d.year for d in all_days}

    def window_start(day: date) -> date:
        return date(day.year - 3, day.month, min(day.day, 28 if day.month == 2 else day.day))

    def is_new(siren: str | None, day: date | None) -> bool | None:
        if siren is None or day is None:
            return None
        # judged only where the data covers the whole window, "not new" included
        covered = all(y in years_with_data for y in range(day.year - 3, day.year))
        if not (window_start(day) >= first and covered):
            return None
        earlier = [d for d in dates[siren] if d < day]
        return not (earlier and max(earlier) >= window_start(day))

    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for uid, (kind, day) in contracts.items():
        if kind != "marche":
            continue
        flags = [is_new(s, day) for s in holders.get(uid, [])]
        value = True if True in flags else (False if flags and None not in flags else None)
        for period in (str(day.year) if day else "date inconnue", "toutes"):
            counts[period][2] += 1
            if value is not None:
                counts[period][1] += 1
                counts[period][0] += value
    stored = {period: [num, den, records] for period, num, den, records in demo_warehouse.rows(
        """SELECT period, numerator, denominator, record_count FROM indicator_results
           WHERE indicator_id = 'nouveaux-titulaires' AND breakdown = 'total'
           AND basis = 'count'""")}
    assert stored == counts
    # the years the 3-year window does not cover are a gap, not 0 % (2024: 2022 has no data)
    assert counts["2024"][1] == 0
    assert demo_warehouse.value(
        """SELECT value FROM indicator_results WHERE indicator_id = 'nouveaux-titulaires'
           AND period = '2024' AND breakdown = 'total' AND basis = 'count'""") is None


def test_demo_procedure_mix_matches_a_plain_computation(
    demo_warehouse: Warehouse, demo_marches: list[dict[str, object]]
) -> None:
    from collections import Counter

    for year in (2018, 2019, 2024):
        mix = Counter(c["procedure"] for c in demo_marches
                      if c["notification_year"] == year and c["procedure"] is not None)
        stored = dict(demo_warehouse.rows(
            """SELECT category, numerator FROM indicator_results
               WHERE indicator_id = 'procedures' AND period = ? AND breakdown = 'total'
               AND basis = 'count'""", [str(year)]))
        assert stored == dict(mix)


def test_demo_local_indicators_are_unknown_without_a_territory(
    demo_warehouse: Warehouse,
) -> None:
    """The generic profile names no territory: nobody is known to be local, or not."""
    assert demo_warehouse.rows(
        """SELECT DISTINCT known_count FROM indicator_results
           WHERE indicator_id IN ('montant-entreprises-locales', 'marches-entreprises-locales')"""
    ) == [(0,)]


def test_demo_set_aside_rate_matches_source_records(demo_warehouse: Warehouse) -> None:
    records = demo_warehouse.rows("SELECT status FROM source_records")
    g09 = _demo(demo_warehouse, "enregistrements-ecartes", "count", "toutes")
    # every record counts in "toutes", those without any date included
    assert g09["record_count"] == len(records)
    assert g09["numerator"] == sum(s == "set_aside" for (s,) in records)


def test_demo_distinct_suppliers(demo_warehouse: Warehouse) -> None:
    sirens = {s for (s,) in demo_warehouse.rows(
        """SELECT s.siren FROM contract_holders h JOIN contracts c USING (uid)
           JOIN suppliers s USING (supplier_key)
           WHERE h.is_current AND c.notification_year = 2024 AND s.siren IS NOT NULL""")}
    assert _demo(demo_warehouse, "titulaires-distincts", "distinct", "2024")["value"] == len(sirens)


# --- the catalogue ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["generique", "region-bretagne", "demonstration"])
def test_shipped_profiles_load_and_sqlglot_emits_spark_sql_text_for_their_indicators(
    name: str,
) -> None:
    # sqlglot only writes the Spark SQL text here; nothing runs it on Spark (a later issue will)
    profile = load_profile(name)
    codes = {i.code for i in profile.indicators if i.available}
    required = {"A01", "A02", "A04", "A06", "A07", "A08", "A09", "A10", "A11", "A12", "B01",
                "B09", "B10", "C01", "C02", "C03", "C04", "C08", "D01", "D02", "D03", "D04",
                "E01", "E02", "E05", "G01", "G02", "G09"}
    assert required <= codes
    unavailable = {i.code for i in profile.indicators if not i.available}
    assert {"B02", "B03", "F05"} <= unavailable
    # Egalim indicators are computed where the profile lists canteens, declared elsewhere.
    egalim = {"F01", "F02", "F03", "F04", "F06"}
    assert (egalim <= codes) == (profile.canteens_file is not None)
    assert (egalim <= unavailable) == (profile.canteens_file is None)
    for ind in profile.indicators:
        if ind.available:
            assert to_dialect(indicator_query(ind), "spark")


def test_region_bretagne_targets_have_sources() -> None:
    profile = load_profile("region-bretagne")
    e01 = profile.indicator("montant-entreprises-locales")
    assert e01 is not None
    assert [(t.value, t.date, t.basis) for t in e01.targets] == [(0.8, date(2025, 12, 31), "value")]
    assert all(t.source for i in profile.indicators for t in i.targets)
    assert profile.territory.regions == ("53",) and not profile.scope_all_buyers
    # each target on the indicator that measures what it says: "clause sociale" on the
    # clause-only indicator, "critères environnementaux" on the criterion one
    clause = profile.indicator("clause-sociale")
    criterion = profile.indicator("critere-environnemental")
    assert clause is not None and criterion is not None
    assert clause.condition is not None and clause.condition.sql == "has_social_clause"
    assert [(t.value, t.date) for t in clause.targets] == [
        (0.25, date(2020, 12, 31)), (0.5, date(2025, 12, 31))]
    assert criterion.condition is not None
    assert criterion.condition.sql == "has_environmental_criterion"
    assert [(t.value, t.date) for t in criterion.targets] == [
        (1.0, date(2023, 12, 31)), (1.0, date(2026, 12, 31))]  # the région's, and the law's
    consideration = profile.indicator("consideration-sociale")
    assert consideration is not None
    assert all("clause" not in t.source.lower() for t in consideration.targets)
    # the "entreprises bretonnes" target says its unit and basis
    assert "en montant" in e01.targets[0].label and "établissement" in e01.targets[0].label


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('condition = "supplier_is_big"', "champ inconnu « supplier_is_big »"),
        ('condition = "supplier_is_sme AND"', "expression SQL illisible"),
        ('condition = "(SELECT 1)"', "sous-requêtes"),
        ('condition = "read_csv(\'x\')"', "n'est pas permis"),
        ('condition = "supplier_is_sme"\ncolour = "rouge"', "Champ inconnu : colour"),
        ('condition = "supplier_is_sme"\nbreakdowns = ["colour"]', "breakdowns"),
        ('condition = "supplier_is_sme"\n[[indicator.targets]]\nvalue = 30\ncomparator = ">="\n'
         'source = "x"', "La cible n'a pas de « date »"),
    ],
)
def test_catalogue_errors_name_file_indicator_and_problem(
    tmp_path: Path, entry: str, message: str
) -> None:
    indicators = f"""[[indicator]]
id = "mauvais"
code = "Z09"
title = "Essai"
definition = "Essai"
axis = "acces"
kind = "target"
unit = "percent"
measure = "share"
{entry}
"""
    folder = _profile_dir(tmp_path, indicators)
    with pytest.raises(ConfigError) as error:
        load_profile(str(folder))
    text = str(error.value)
    assert message in text
    assert "essai.toml" in text and "« mauvais »" in text


def test_unknown_axis_and_profile(tmp_path: Path) -> None:
    folder = _profile_dir(tmp_path, TEST_INDICATORS.replace('axis = "acces"', 'axis = "rien"'))
    with pytest.raises(ConfigError, match="Axe inconnu : « rien »"):
        load_profile(str(folder))
    with pytest.raises(ConfigError, match="Profil introuvable"):
        load_profile("pas-un-profil")


@pytest.mark.parametrize(("setting", "message"), [
    ("min_population = 0", "« min_population » est un nombre d'enregistrements entier"),
    ("min_population = 2.5", "« min_population » est un nombre d'enregistrements entier"),
    ("reference_year = \"2024\"", "« reference_year » est une année"),
    ("reference_year = 24", "« reference_year » est une année"),
])
def test_sample_and_reference_settings_are_checked(
    tmp_path: Path, setting: str, message: str
) -> None:
    folder = _profile_dir(tmp_path, profile=TEST_PROFILE.replace(
        "min_population = 1\nreference_year = 2024", setting))
    with pytest.raises(ConfigError, match=message):
        load_profile(str(folder))


# --- service, CLI and history -----------------------------------------------------------------


def test_recompute_keeps_history_of_published_values(tmp_path: Path) -> None:
    import duckdb

    settings = Settings(home=tmp_path / "h")
    wh = make_warehouse(settings.home, FIXTURES / "indicators" / "contracts.json", DEMO / "ref")
    wh.con.close()
    history = "SELECT count(*) FROM indicator_history"
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        first = con.execute(history).fetchall()[0][0]
    assert first > 0
    recompute(settings)  # same profile, same data: nothing new to record
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute(history).fetchall()[0][0] == first
    # another profile: its own values are recorded, the generic ones stay
    other = Settings(home=settings.home, profile="region-bretagne")
    run = recompute(other)
    assert run.history_changes > 0
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute(history).fetchall()[0][0] == first + run.history_changes
        assert con.execute("SELECT profile_id FROM indicator_profile").fetchall() == [
            ("region-bretagne",)]


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "observatoire.cli", "--home", str(home), *args],
        capture_output=True, text=True, check=False,
    )


def test_cli_indicators_and_profile(demo_warehouse: Warehouse, tmp_path: Path) -> None:
    home = demo_warehouse.settings.home
    shown = _cli("indicators", "--no-compute", "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    by_id = {r["indicator_id"]: r for r in report["indicators"]}
    assert by_id["marches-pme"]["code"] == "A01"
    assert by_id["egalim-bio"]["available"] is False
    table = _cli("indicators", "--no-compute", home=home)
    reference = date.today().year - 1  # the generic profile: the last complete year
    assert f"Période de référence : {reference}" in table.stdout
    assert "moins de 30 enregistrements connus n'est pas publiée" in " ".join(
        table.stdout.split())
    rows = _cli("indicators", "--no-compute", "--indicator", "marches-pme", "--period", "2024",
                "--json", home=home)
    assert json.loads(rows.stdout)[0]["indicator_id"] == "marches-pme"
    folder = _profile_dir(tmp_path, TEST_INDICATORS.replace('axis = "acces"', 'axis = "rien"'))
    bad = _cli("--profile", str(folder), "profile", home=home)
    assert bad.returncode == 2
    assert "Axe inconnu" in bad.stderr and "Traceback" not in bad.stderr


# --- Amounts: framework maxima and concessions (real AIFE records, the official example) ----

AMOUNTS_PROFILE = """
extends = "generique"
id = "essai-montants"
name = "Essai des montants"

[parameters]
# a handful of contracts: every value published
min_population = 1
"""


@pytest.fixture(scope="module")
def amounts_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    import duckdb

    from observatoire.connectors.ingest import ingest

    root = tmp_path_factory.mktemp("montants")
    (root / "profil" / "indicators").mkdir(parents=True)
    (root / "profil" / "profile.toml").write_text(AMOUNTS_PROFILE, encoding="utf-8")
    settings = Settings(home=root / "home", profile=str(root / "profil"))
    ingest(settings, [FIXTURES / "indicators" / "aife_accords_cadres.json",
                      FIXTURES / "indicators" / "aife_sans_date.json",
                      FIXTURES / "indicators" / "marches_concessions.json", DEMO / "ref"])
    build(settings)
    return Warehouse(settings, duckdb.connect(str(settings.warehouse_path), read_only=True))


def test_a_framework_published_once_per_holder_counts_once_and_apart(
    amounts_warehouse: Warehouse,
) -> None:
    raw = json.loads((FIXTURES / "indicators" / "aife_accords_cadres.json").read_text(
        encoding="utf-8"))["marches"]
    copies = [m for m in raw if m["dateNotification"] == "2018-12-07"]
    # by hand: one buyer, one day, one object, one maximum, two ids and two holders
    assert len(copies) == 2 and len({m["id"] for m in copies}) == 2
    assert len({(m["acheteur"]["id"], m["objet"], m["montant"], m["nature"]) for m in copies}) == 1
    firm = [m for m in raw if m["nature"] == "Marché"]
    assert len(firm) == 1 and firm[0]["dateNotification"].startswith("2018")
    g01 = _result(amounts_warehouse, "marches-notifies", "value", "2018")
    assert g01["record_count"] == 3  # three published contracts…
    assert g01["value"] == pytest.approx(copies[0]["montant"] + firm[0]["montant"])  # …one maximum
    maxima = _result(amounts_warehouse, "marches-notifies", "value", "2018", "amount_type",
                     "accord-cadre")
    firm_amounts = _result(amounts_warehouse, "marches-notifies", "value", "2018", "amount_type",
                           "ferme")
    assert (maxima["value"], firm_amounts["value"]) == (copies[0]["montant"], firm[0]["montant"])
    assert maxima["breakdown_label"] == "Accord-cadre (montant maximum)"


def _after_modifications(record: dict[str, object], field: str) -> float:
    mods = [m["modification"] for m in record.get("modifications") or []  # type: ignore[attr-defined]
            if field in m["modification"]]
    return float(mods[-1][field] if mods else record[field])  # type: ignore[arg-type]


def test_concessions_are_never_summed_with_contract_amounts(amounts_warehouse: Warehouse) -> None:
    raw = json.loads((FIXTURES / "indicators" / "marches_concessions.json").read_text(
        encoding="utf-8"))["marches"]
    marches = sum(_after_modifications(m, "montant") for m in raw["marche"])
    concessions = sum(_after_modifications(c, "valeurGlobale") for c in raw["contrat-concession"])
    g01 = _result(amounts_warehouse, "marches-notifies", "value", "2024")
    assert (g01["record_count"], g01["value"]) == (len(raw["marche"]), pytest.approx(marches))
    signed = _result(amounts_warehouse, "concessions-signees", "value", "2024")
    assert (signed["record_count"], signed["value"]) == (
        len(raw["contrat-concession"]), pytest.approx(concessions))


def test_several_holders_method_and_its_alternatives(fixture_warehouse: Warehouse) -> None:
    """M2 (300 000 €) has two holders, the GE of Paris listed first (the lead) and the PME of
    Vénissieux. A01/A02 follow the lead holder (the national method); the indicator page shows
    the alternatives, worked out by hand on the 2024 contracts M1, M2, M3, M5."""
    from observatoire.indicators.service import indicator_detail

    settings = fixture_warehouse.settings
    count = indicator_detail(settings, "marches-pme", period="2024", basis="count")
    value = indicator_detail(settings, "montant-pme", period="2024", basis="value")
    assert count is not None and value is not None
    by_count = {m["method"]: m for m in count["holder_methods"]}
    by_value = {m["method"]: m for m in value["holder_methods"]}
    # lead holder: M1 only is a PME; M2 (GE lead), M3 (ETI) are not; M5 unknown
    assert (by_count["lead"]["numerator"], by_count["lead"]["denominator"]) == (1, 3)
    assert (by_value["lead"]["numerator"], by_value["lead"]["denominator"]) == (
        120_000, 470_000)
    # any holder: M1 and M2
    assert (by_count["any"]["numerator"], by_count["any"]["denominator"]) == (2, 3)
    assert by_value["any"]["value"] == pytest.approx(420 / 470)
    # shared: M1 whole, M2 half (one PME of two holders)
    assert by_count["shared"]["numerator"] == pytest.approx(1.5)
    assert by_value["shared"]["numerator"] == pytest.approx(120_000 + 150_000)
    assert by_value["shared"]["denominator"] == 470_000
    # the published value is the lead holder's
    assert _result(fixture_warehouse, "marches-pme", "count")["value"] == pytest.approx(1 / 3)


def test_barometer_shows_every_indicator_at_the_profile_reference_year(
    fixture_warehouse: Warehouse,
) -> None:
    """The test profile pins reference_year = 2024: every computed headline is of 2024, even
    for an indicator whose latest data is of another year, and 2024 is not provisional (its
    two-month publication window closed long ago)."""
    from observatoire.indicators.service import barometer

    report = barometer(fixture_warehouse.settings)
    assert report["profile"]["reference_year"] == 2024
    computed = [r for r in report["indicators"] if r["available"]]
    assert computed and {r["period"] for r in computed} == {"2024"}
    assert {r["provisional"] for r in computed} == {False}
    a01 = next(r for r in computed if r["indicator_id"] == "marches-pme")
    assert (a01["numerator"], a01["denominator"]) == (1, 3)  # by hand, see CASES


def test_contracts_without_a_date_count_in_toutes_and_date_inconnue(
    amounts_warehouse: Warehouse,
) -> None:
    """Two real AIFE marchés published without any date, beside dated ones (by hand: 2018 three
    contracts, 2019 one, 2024 two marchés of the official example)."""
    undated = json.loads((FIXTURES / "indicators" / "aife_sans_date.json").read_text(
        encoding="utf-8"))["marches"]
    assert all("dateNotification" not in m and "datePublicationDonnees" not in m
               for m in undated)
    unknown = _result(amounts_warehouse, "marches-notifies", "count", "date inconnue")
    assert (unknown["value"], unknown["undated_count"]) == (2, 2)
    amount = _result(amounts_warehouse, "marches-notifies", "value", "date inconnue")
    assert amount["value"] == pytest.approx(sum(m["montant"] for m in undated))
    everything = _result(amounts_warehouse, "marches-notifies", "count", "toutes")
    assert (everything["value"], everything["undated_count"]) == (3 + 1 + 2 + 2, 2)
    years = amounts_warehouse.rows(
        """SELECT sum(record_count) FROM indicator_results WHERE indicator_id = 'marches-notifies'
           AND breakdown = 'total' AND basis = 'count' AND period_year IS NOT NULL""")[0][0]
    assert years == 3 + 1 + 2  # in no year
