"""Audit: published indicators recomputed from the raw demo files with the standard library
only (csv, json, statistics), and compared with what ``observatoire indicators --json`` prints.

The recomputation shares no code with the pipeline: it reads the files as published and applies
the documented rules (docs/indicateurs.md), nothing else:

- a contract is a buyer SIRET + an id; a record whose buyer id is not a 14-digit SIRET is set
  aside (docs/quality-rules.md), so it counts nowhere; rows of one id that are the lots of a
  consultation (another CPV, procedure, number of offers or set of co-holders) are separate
  contracts (docs/architecture.md, « Identity and merging »);
- a contract published in several versions (rows of the consolidated CSV) is dated and
  described by its initial version (earliest notification), its holders are those of every
  version, its amount is its latest version's ``montant``; an obsolete procedure label reads
  as the current one (ENUM_OBSOLETE);
- a holder's category is SIRENE's ``categorieEntreprise`` of its SIREN; a contract is a PME
  one when its lead holder (the one listed first) is a PME, unknown when the lead's category
  is; an unknown is left out of the share (coverage), never counted as a no.

Amounts are audited as a range: the consolidated CSV publishes one row per version and holder,
a contract's amount is its latest version's, and when several rows of that version disagree
(88 contracts), which one the model keeps is its contract-identity rule (its own tests), not an
indicator rule: the published sums must lie between the sums of the lowest and of the highest
candidates (a band of about 1 %, far narrower than a double count or a concession added in).

Audited: G01 (count, amount), A06 (mean, median), A07, A08, A09 (two indicators), A01, A02
(with the range of the unknowns), A04 (a gap, not 0 %), E01, E02, E07 (unknown without a
territory): thirteen published indicators.

The years 2024 and 2025 come from the consolidated tabular file (one row per contract × holder)
and the Mégalis 2024 file: the other demo files hold no contract notified in those years
(checked below), so these years can be recomputed from two files.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from statistics import mean, median
from typing import Any

import pytest

from tests.conftest import DEMO, Warehouse

TABULAR = DEMO / "decp" / "tabular" / "decpinfo_tabular_2024H2_travaux_cpv4521.csv"
V2 = sorted((DEMO / "decp" / "v2").glob("*.json"))
V1 = sorted((DEMO / "decp" / "v1").glob("*.json"))
CATEGORIES = DEMO / "ref" / "sirene_categorieEntreprise_titulaires_decp_2022.csv"
YEARS = ("2024", "2025")
#: Obsolete procedure labels the quality rules replace by the current one (ENUM_OBSOLETE).
OBSOLETE_PROCEDURES = {
    "Marché négocié sans publicité ni mise en concurrence préalable":
        "Marché passé sans publicité ni mise en concurrence préalable",
}


def _is_siret(value: str) -> bool:
    return len(value) == 14 and value.isdigit()


def _siren(holder: str) -> str | None:
    """The SIREN of a holder published by its SIRET, or by its SIREN alone (9 digits)."""
    if _is_siret(holder):
        return holder[:9]
    return holder if len(holder) == 9 and holder.isdigit() else None


def _raw_contracts() -> dict[str, dict[str, Any]]:
    """Contracts notified in 2024 and 2025, by uid: year, amount, offers, procedure, holders
    (in the order published)."""
    versions: dict[str, list[dict[str, str]]] = defaultdict(list)
    with TABULAR.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if _is_siret(row["acheteur_id"]) and row["id"]:
                versions[row["acheteur_id"] + row["id"]].append(row)
    contracts: dict[str, dict[str, Any]] = {}
    for uid, rows in [lot for published_uid, all_rows in versions.items()
                      for lot in _lots(published_uid, all_rows)]:
        # one row per version × holder: the contract is dated and described by its initial
        # version; its holders are those of every version
        first = min(r["dateNotification"] for r in rows)
        initial = next(r for r in rows if r["dateNotification"] == first)
        if first[:4] not in YEARS:
            continue
        last = max(r["dateNotification"] for r in rows)
        amounts = [float(r["montant"]) for r in rows
                   if r["dateNotification"] == last and r["montant"]]
        contracts[uid] = {
            "year": first[:4],
            "amount_range": (min(amounts), max(amounts)) if amounts else None,
            "offers": int(initial["offresRecues"]) if initial["offresRecues"] else None,
            "procedure": OBSOLETE_PROCEDURES.get(initial["procedure"], initial["procedure"])
            or None,
            # the lead holder first: the one the initial version lists
            "holders": list(dict.fromkeys(
                r["titulaire_id"] for r in [initial, *rows] if r["titulaire_id"])),
        }
    for path in V2:
        for m in json.loads(path.read_text(encoding="utf-8"))["marches"]["marche"]:
            year = str(m.get("dateNotification", ""))[:4]
            buyer = str(m.get("acheteur", {}).get("id", ""))
            if year not in YEARS or not _is_siret(buyer) or not m.get("id"):
                continue
            amount = m.get("montant")
            contracts[buyer + m["id"]] = {
                "year": year, "offers": m.get("offresRecues"),
                "amount_range": None if amount is None else (amount, amount),
                "procedure": m.get("procedure"),
                "holders": [t["titulaire"]["id"] for t in m.get("titulaires", [])]}
    return contracts


def _lots(uid: str, rows: list[dict[str, str]]) -> list[tuple[str, list[dict[str, str]]]]:
    """The contracts behind one published uid of the consolidated file (docs/architecture.md,
    « Identity and merging »): a row's signature is its CPV, procedure, offers received and
    its co-holders (the holders of the rows of its date and amount); rows of one signature are
    one contract (its holders and versions), and a uid whose rows carry several signatures is
    that many contracts (lots)."""
    def amount(row: dict[str, str]) -> float | None:
        return float(row["montant"]) if row["montant"] else None

    coholders: dict[tuple[str, float | None], set[str]] = defaultdict(set)
    for row in rows:
        if row["titulaire_id"]:
            coholders[(row["dateNotification"], amount(row))].add(row["titulaire_id"])
    lots: dict[tuple[Any, ...], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        procedure = OBSOLETE_PROCEDURES.get(row["procedure"], row["procedure"])
        key = (row["codeCPV"], procedure, row["offresRecues"],
               tuple(sorted(coholders[(row["dateNotification"], amount(row))])))
        lots[key].append(row)
    if len(rows) == 1 or len(lots) == 1:
        return [(uid, rows)]
    return [(f"{uid}~{i}", lot) for i, lot in enumerate(lots.values())]


def _categories() -> dict[str, str]:
    """SIREN → SIRENE category (PME, ETI, GE); SIRENs without one are absent."""
    with CATEGORIES.open(encoding="utf-8", newline="") as f:
        return {r["siren"]: r["categorieEntreprise"] for r in csv.DictReader(f)
                if r["categorieEntreprise"]}


def _sme(holders: list[str], categories: dict[str, str]) -> bool | None:
    """A contract is a PME one when its lead holder (listed first) is a PME (OECP method)."""
    siren = _siren(holders[0]) if holders else None
    if siren is None or siren not in categories:
        return None
    return categories[siren] == "PME"


def _published(home: Path, period: str) -> dict[tuple[str, str, str | None], dict[str, Any]]:
    """``observatoire indicators --no-compute --period P --json``: rows by (indicator, basis,
    category)."""
    run = subprocess.run(
        [sys.executable, "-m", "observatoire.cli", "--home", str(home), "indicators",
         "--no-compute", "--period", period, "--json"],
        capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    return {(r["indicator_id"], r["basis"], r["category"]): r for r in json.loads(run.stdout)}


@pytest.fixture(scope="module")
def raw() -> dict[str, dict[str, Any]]:
    return _raw_contracts()


@pytest.fixture(scope="module")
def published(demo_warehouse: Warehouse) -> dict[str, dict[tuple[str, str, str | None],
                                                          dict[str, Any]]]:
    return {p: _published(demo_warehouse.settings.home, p) for p in YEARS}


def test_the_other_demo_files_hold_no_contract_of_the_audited_years() -> None:
    for path in V1:
        records = json.loads(path.read_text(encoding="utf-8"))["marches"]
        assert not [m for m in records if str(m.get("dateNotification", ""))[:4] in YEARS], path


def test_contracts_notified_count_and_amount(raw: dict[str, dict[str, Any]],
                                            published: dict[str, Any]) -> None:
    for year in YEARS:
        rows = [c for c in raw.values() if c["year"] == year]
        count = published[year][("marches-notifies", "count", None)]
        assert count["record_count"] == len(rows)
        value = published[year][("marches-notifies", "value", None)]
        ranges = [c["amount_range"] for c in rows if c["amount_range"] is not None]
        assert value["known_count"] == len(ranges)
        if value["value"] is not None:
            assert sum(lo for lo, _ in ranges) - 0.01 <= value["value"] <= sum(
                hi for _, hi in ranges) + 0.01
        if len(rows) >= 30:
            assert count["value"] == len(rows)
        else:  # 2025: 5 contracts, below the minimum sample: no value, no status but that
            assert (count["value"], count["status"]) == (None, "small_sample")
    assert len([c for c in raw.values() if c["year"] == "2025"]) < 30


def test_offers_received(raw: dict[str, dict[str, Any]], published: dict[str, Any]) -> None:
    offers = [c["offers"] for c in raw.values() if c["year"] == "2024" and c["offers"] is not None]
    p = published["2024"]
    assert p[("offres-recues", "mean", None)]["value"] == pytest.approx(mean(offers))
    assert p[("offres-recues", "median", None)]["value"] == median(offers)
    single = p[("offre-unique", "count", None)]
    assert (single["numerator"], single["denominator"]) == (offers.count(1), len(offers))


def test_procedure_mix(raw: dict[str, dict[str, Any]], published: dict[str, Any]) -> None:
    mix = Counter(c["procedure"] for c in raw.values()
                  if c["year"] == "2024" and c["procedure"] is not None)
    stored = {k[2]: r["numerator"] for k, r in published["2024"].items()
              if k[0] == "procedures" and k[1] == "count"}
    assert stored == dict(mix)


def test_distinct_suppliers_and_contracts_per_supplier(
    raw: dict[str, dict[str, Any]], published: dict[str, Any]
) -> None:
    rows = [c for c in raw.values() if c["year"] == "2024"]
    sirens = {_siren(h) for c in rows for h in c["holders"]} - {None}
    p = published["2024"]
    assert p[("titulaires-distincts", "distinct", None)]["value"] == len(sirens)
    with_siren = [c for c in rows if any(_siren(h) for h in c["holders"])]
    ratio = p[("marches-par-titulaire", "ratio", None)]
    assert (ratio["numerator"], ratio["denominator"]) == (len(with_siren), len(sirens))


def test_sme_shares_by_count_and_amount(raw: dict[str, dict[str, Any]],
                                        published: dict[str, Any]) -> None:
    categories = _categories()
    rows = [c for c in raw.values() if c["year"] == "2024"]
    known = [s for c in rows if (s := _sme(c["holders"], categories)) is not None]
    p = published["2024"]
    a01 = p[("marches-pme", "count", None)]
    assert (a01["numerator"], a01["denominator"], a01["record_count"]) == (
        sum(known), len(known), len(rows))
    # the range the unknowns allow: all of them no, all of them yes
    unknown = len(rows) - len(known)
    assert a01["unknown_low"] == pytest.approx(a01["numerator"] / len(rows))
    assert a01["unknown_high"] == pytest.approx((a01["numerator"] + unknown) / len(rows))
    # A02: the amounts of the same contracts, within the range the versions allow
    a02 = p[("montant-pme", "value", None)]
    valued = [(sme, c["amount_range"]) for c in rows
              if (sme := _sme(c["holders"], categories)) is not None and c["amount_range"]]
    assert a02["known_count"] == len(valued)
    assert sum(r[0] for s, r in valued if s) - 0.01 <= a02["numerator"] <= sum(
        r[1] for s, r in valued if s) + 0.01
    assert sum(r[0] for _, r in valued) - 0.01 <= a02["denominator"] <= sum(
        r[1] for _, r in valued) + 0.01
    # 2025: too few contracts to publish a share
    a01_2025 = published["2025"][("marches-pme", "count", None)]
    assert (a01_2025["value"], a01_2025["status"]) == (None, "small_sample")


def test_new_suppliers_are_a_gap_where_the_window_is_not_covered(
    published: dict[str, Any]
) -> None:
    """A04 (3-year window): 2024 needs data in 2021, 2022 and 2023; no demo file holds a
    contract notified in 2022, so 2024 is unknown, not 0 %."""
    years = set()
    for path in V1 + V2:
        data = json.loads(path.read_text(encoding="utf-8"))["marches"]
        for m in data["marche"] if isinstance(data, dict) else data:
            years.add(str(m.get("dateNotification", ""))[:4])
    with TABULAR.open(encoding="utf-8", newline="") as f:
        years |= {r["dateNotification"][:4] for r in csv.DictReader(f)}
    assert "2022" not in years
    for basis in ("count", "value"):
        a04 = published["2024"][("nouveaux-titulaires", basis, None)]
        assert (a04["known_count"], a04["value"]) == (0, None)


@pytest.mark.parametrize("indicator", ["marches-pme-locales", "marches-entreprises-locales",
                                       "montant-entreprises-locales"])
def test_local_shares_are_unknown_without_a_territory(
    raw: dict[str, dict[str, Any]], published: dict[str, Any], indicator: str
) -> None:
    """The generic profile names no territory: E07 is unknown even for a contract known not
    to be a PME (FALSE AND unknown), and so are E01 and E02."""
    rows = [c for c in raw.values() if c["year"] == "2024"]
    result = next(r for k, r in published["2024"].items() if k[0] == indicator)
    assert (result["record_count"], result["known_count"], result["value"]) == (
        len(rows), 0, None)
