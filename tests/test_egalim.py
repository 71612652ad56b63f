"""Egalim end to end: import of hand-written lines for three Breton lycées, build, results,
findings, indicators F01–F06, the ma-cantine yearly summary, the CLI and the pages.

Expected values are worked out by hand below from the lines of
``tests/fixtures/egalim/lycees/achats-2024-2025.csv``:

Lycée Auguste Pavie (22), 2025 — total 1 000 €:
  bio+LR meat 300 (bio) · meat 200 (none) · fish PECHE_DURABLE 100 · F&L HVE 150 (local) ·
  dairy FERMIER 50 · charcuterie LR 80 (not in the meat-and-fish pool) · other 120 (none)
  → Egalim 680 (68 %), bio 300 (30 %), pool 600 of which 400 Egalim.
Lycée Ernest Renan (22), 2025 — total 1 050 €: F&L bio 100 · other 900 · fish "fermier" 50
  (fermier does not exist for fish: not counted, finding EG02); no purchase in February (EG08).
Lycée professionnel des métiers (29): 2024 bread bio 200; 2025 credit note 0 € (EG04) and fair
  trade drinks 40 → 2025 total 40, Egalim 40, bio 0.
Territory 2025: total 2 090, Egalim 820, bio 400, pool 650 of which 400 Egalim.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from observatoire.build import build
from observatoire.cli import cli
from observatoire.config import Settings
from observatoire.connectors.egalim_imports import import_files
from observatoire.egalim import export
from observatoire.landing.catalog import Catalog

LYCEES = Path(__file__).parent / "fixtures" / "egalim" / "lycees"
PAVIE, RENAN, METIERS = "19220018600018", "19220057400015", "19290092600010"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = replace(Settings(home=tmp_path_factory.mktemp("egalim-home")),
                       profile="region-bretagne")
    outcomes = import_files(settings, [LYCEES / "achats-2024-2025.csv"])
    assert [o.load.status for o in outcomes] == ["loaded"]
    build(settings)
    return settings


@pytest.fixture(scope="module")
def wh(home: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(home.warehouse_path), read_only=True)
    yield con
    con.close()


def _result(con: duckdb.DuckDBPyConnection, scope: str, key: str, year: int,
            month: int = 0) -> dict[str, object]:
    cur = con.execute(
        "SELECT * FROM egalim_results WHERE scope = ? AND scope_key = ? AND year = ? "
        "AND month = ?", [scope, key, year, month])
    names = [d[0] for d in cur.description]
    row = cur.fetchone()
    assert row is not None, (scope, key, year, month)
    return dict(zip(names, row, strict=True))


def test_canteen_results_worked_out_by_hand(wh: duckdb.DuckDBPyConnection) -> None:
    pavie = _result(wh, "canteen", PAVIE, 2025)
    assert (pavie["total"], pavie["egalim"], pavie["bio"]) == (1000, 680, 300)
    assert (pavie["meat_fish"], pavie["meat_fish_egalim"], pavie["local"]) == (600, 400, 150)
    assert pavie["siqo"] == 80 and pavie["egalim_others"] == 300
    assert pavie["egalim_rate"] == pytest.approx(0.68)
    renan = _result(wh, "canteen", RENAN, 2025)
    assert (renan["total"], renan["egalim"], renan["bio"]) == (1050, 100, 100)
    assert renan["meat_fish"] == 50 and renan["meat_fish_egalim"] == 0
    metiers = _result(wh, "canteen", METIERS, 2025)
    assert (metiers["total"], metiers["egalim"], metiers["bio"]) == (40, 40, 0)
    assert _result(wh, "canteen", METIERS, 2024)["bio_rate"] == 1.0


def test_departement_territory_and_month_results(wh: duckdb.DuckDBPyConnection) -> None:
    territory = _result(wh, "territory", "", 2025)
    assert (territory["total"], territory["egalim"], territory["bio"]) == (2090, 820, 400)
    assert territory["meat_fish_egalim_rate"] == pytest.approx(400 / 650)
    assert territory["egalim_rate"] == pytest.approx(820 / 2090)  # not the mean of 68, 9.5, 100
    assert _result(wh, "departement", "22", 2025)["total"] == 2050
    assert _result(wh, "departement", "29", 2025)["egalim"] == 40
    march = _result(wh, "territory", "", 2025, 3)
    assert (march["total"], march["egalim"]) == (50 + 80 + 900 + 50, 50 + 80)


def test_catering_findings_and_quality_score(wh: duckdb.DuckDBPyConnection) -> None:
    found = sorted(wh.execute(
        "SELECT rule_id, canteen_key, month, line_number FROM egalim_findings "
        "ORDER BY rule_id, canteen_key").fetchall())
    assert found == [
        ("EG02", RENAN, 3, 11),  # "fermier" fish, line 11 of the file
        ("EG04", METIERS, 6, 13),  # credit note at 0 €
        ("EG08", RENAN, 2, None),  # no purchase in February
    ]
    score = wh.execute(
        "SELECT score FROM egalim_canteen_quality WHERE canteen_key = ? AND year = 2025",
        [RENAN]).fetchone()
    # 1 000 € of 1 050 € on lines without a warning, less 5 points for the missing month
    assert score is not None and score[0] == pytest.approx(round(100 * 1000 / 1050 - 5, 1))


def test_indicators_f01_f06_from_the_results(wh: duckdb.DuckDBPyConnection) -> None:
    rows = dict(
        ((code, basis), (num, den, status)) for code, basis, num, den, status in wh.execute(
            "SELECT code, basis, numerator, denominator, status FROM indicator_results "
            "WHERE period = '2025' AND breakdown = 'total' AND code LIKE 'F0%'").fetchall())
    assert rows[("F01", "value")][:2] == (820, 2090)
    # 39 % against the Région's 65 %, but on fewer lines than the profile's minimum sample (30):
    # no value and no status are published
    with (LYCEES / "achats-2024-2025.csv").open(encoding="utf-8", newline="") as f:
        lines_2025 = sum(1 for r in csv.DictReader(f) if r["date"].startswith("2025"))
    assert lines_2025 < 30
    assert rows[("F01", "value")][2] == "small_sample"
    assert rows[("F02", "value")][:2] == (400, 2090)
    assert rows[("F03", "value")][:2] == (400, 650)
    assert rows[("F04", "value")][:2] == (150, 2090)
    assert rows[("F06", "count")][:2] == (1, 3)  # only Lycée Auguste Pavie meets 50 % and 20 %
    by_dept = wh.execute(
        "SELECT breakdown_value, numerator, denominator FROM indicator_results WHERE code = 'F01' "
        "AND period = '2025' AND breakdown = 'departement' ORDER BY 1").fetchall()
    assert by_dept == [("22", 780, 2050), ("29", 40, 40)]


def test_ma_cantine_yearly_summary(home: Settings) -> None:
    result = CliRunner().invoke(
        cli, ["--home", str(home.home), "--profile", "region-bretagne", "egalim", "bilans",
              "--annee", "2025", "--cantine", PAVIE])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    schema = json.loads((Path(__file__).parent / "fixtures" / "egalim" / "imports"
                         / "import_bilans_detaille.json").read_text(encoding="utf-8"))
    assert list(rows[0]) == [f["name"] for f in schema["fields"]] == export.header()
    row = rows[0]
    expected = {
        "siret": PAVIE, "année_bilan": "2025", "valeur_totale": "1000.00",
        "valeur_viandes_volailles": "500.00", "valeur_produits_de_la_mer": "100.00",
        "valeur_viandes_volailles_bio": "300.00", "valeur_viandes_volailles_label_rouge": "0.00",
        "valeur_viandes_volailles_non_egalim": "200.00",
        "valeur_viandes_volailles_france": "300.00",
        "valeur_produits_de_la_mer_peche_durable": "100.00",
        "valeur_fruits_et_legumes_hve": "150.00", "valeur_fruits_et_legumes_local": "150.00",
        "valeur_produits_laitiers_fermier": "50.00", "valeur_charcuterie_label_rouge": "80.00",
        "valeur_autres_non_egalim": "120.00",
        "valeur_boissons_label_rouge": "", "valeur_autres_peche_durable": "",  # do not exist
    }
    assert {k: row[k] for k in expected} == expected
    required = [f["name"] for f in schema["fields"] if f.get("constraints", {}).get("required")]
    assert all(row[name] != "" for name in required)
    families_total = sum(Decimal(row[f"valeur_{f}_{c}"] or 0) for f in (
        "viandes_volailles", "produits_de_la_mer", "fruits_et_legumes", "charcuterie",
        "produits_laitiers", "boulangerie", "boissons", "autres") for c in (
        "bio", "label_rouge", "aocaop_igp_stg", "hve", "peche_durable", "rup",
        "commerce_equitable", "fermier", "externalites", "performance", "non_egalim"))
    assert families_total == Decimal("1000.00")  # every euro in exactly one category


def test_import_is_all_or_nothing_unless_partial(tmp_path: Path) -> None:
    settings = replace(Settings(home=tmp_path), profile="region-bretagne")
    bad = LYCEES / "achats-avec-une-erreur.csv"
    first = import_files(settings, [bad])[0]
    assert first.load.status == "rejected" and first.load.records == 0
    assert first.report is not None and first.report.valid_lines == 2
    assert [(e["line"], e["column"]) for e in first.load.errors] == [(3, "siret")]
    again = import_files(settings, [bad])[0]
    assert not again.new  # the same file twice changes nothing
    partial = import_files(settings, [bad], accept_partial=True)[0]
    assert partial.new and partial.load.status == "partial" and partial.load.records == 2
    assert partial.load.load_id == first.load.load_id  # the same load-log line, updated
    loads = Catalog(settings.catalog_path).loads()
    assert [(ld.kind, ld.status, ld.records) for ld in loads] == [("egalim", "partial", 2)]
    build(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        assert con.execute("SELECT count(*), sum(price_ht) FROM egalim_lines").fetchone() == (
            2, Decimal("100.00"))
    finally:
        con.close()


def test_profile_without_canteens_refuses_an_import(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--home", str(tmp_path), "--profile", "generique", "egalim", "importer",
              str(LYCEES / "achats-2024-2025.csv")])
    assert result.exit_code != 0
    assert "ne liste aucun établissement" in str(result.exception)


def test_cli_results_json(home: Settings) -> None:
    result = CliRunner().invoke(
        cli, ["--home", str(home.home), "--profile", "region-bretagne", "egalim", "resultats",
              "--annee", "2025", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["year"] == 2025 and data["years"] == [2024, 2025]
    assert not data["simulated"]
    assert {c["scope_key"]: c["total"] for c in data["canteens"]} == {
        PAVIE: 1000, RENAN: 1050, METIERS: 40}


@pytest.fixture(scope="module")
def client(home: Settings) -> Iterator[object]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OBSERVATOIRE_HOME", str(home.home))
        mp.setenv("OBSERVATOIRE_PROFILE", "region-bretagne")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatoire.web.settings")
        import django

        django.setup()
        from django.test import Client

        yield Client()


def test_dashboard_page_and_twins(client: object) -> None:
    page = client.get("/egalim/?annee=2025")  # type: ignore[attr-defined]
    assert page.status_code == 200
    text = page.content.decode()
    assert "39,2\u00a0%" in text  # 820 ÷ 2 090, French format
    assert "Lycée Auguste Pavie" in text and "68,0\u00a0%" in text
    assert "Région 2025 : ≥ 65,0\u00a0% au 31/12/2025" in text  # the profile's target
    assert "Données simulées" not in text
    assert "<svg" in text and "Côtes-d" in text
    twin = client.get("/egalim.json?annee=2025").json()  # type: ignore[attr-defined]
    assert twin["current"]["total"] == 2090
    # what Lycée Auguste Pavie declared for 2022 (ma-cantine open data: 0.2002 and 0.1297)
    pavie = next(c for c in twin["canteens"] if c["scope_key"] == PAVIE)
    assert [(d["year"], d["bio"]) for d in pavie["declared"]] == [(2022, 0.2002)]
    assert pavie["declared"][0]["egalim"] == pytest.approx(0.2002 + 0.1297)
    assert "2022 : bio 20,0\u00a0%, Egalim 33,0\u00a0%" in text
    rows = list(csv.DictReader(io.StringIO(
        client.get("/egalim.csv?annee=2025").content.decode())))  # type: ignore[attr-defined]
    assert float({r["scope_key"]: r["egalim"] for r in rows}[PAVIE]) == 680


def test_canteen_page_shows_months_categories_and_findings(client: object) -> None:
    page = client.get(f"/egalim/cantines/{RENAN}/?annee=2025")  # type: ignore[attr-defined]
    assert page.status_code == 200
    text = page.content.decode()
    assert "Lycée Ernest Renan" in text
    assert "Label non applicable à la famille" in text and "Mois sans achat" in text
    assert "février" in text
    summary = client.get(  # type: ignore[attr-defined]
        f"/egalim/bilans-2025.csv?cantine={RENAN}").content.decode()
    assert summary.splitlines()[1].startswith(f"{RENAN},2025,1050.00,")
    assert client.get("/egalim/cantines/inconnue/").status_code == 404  # type: ignore[attr-defined]


def test_indicator_drills_down_to_the_purchase_lines_counted(client: object) -> None:
    page = client.get(  # type: ignore[attr-defined]
        "/indicateurs/egalim-bio/marches.json?periode=2025&ventilation=departement&groupe=22")
    data = page.json()
    # bio lines of 2025 in Côtes-d'Armor: Pavie's 300 € meat and Renan's 100 € carrots
    assert data["total"] == 2
    assert sorted(float(r["price_ht"]) for r in data["elements"]) == [100.0, 300.0]
    html = client.get(  # type: ignore[attr-defined]
        "/indicateurs/cantines-atteignant-egalim/marches/?periode=2025").content.decode()
    assert "Lycée Auguste Pavie" in html and "Lycée Ernest Renan" not in html


def test_the_legal_egalim_rate_counts_unknown_labels_as_not_egalim() -> None:
    """F01–F03 divide by every food purchase (code rural, L230-5-1): a line whose labels are
    unknown counts as not Egalim; the coverage says how much of the value is in that case.
    Three lines by hand: 100 € Egalim, 50 € not, 30 € with unknown labels."""
    from observatoire.indicators.compute import indicator_query
    from observatoire.indicators.profile import load_profile

    f01 = load_profile("demonstration").indicator("egalim-durables-qualite")
    assert f01 is not None and f01.unknown_counts_as_no
    con = duckdb.connect()
    con.execute("""CREATE TABLE indicator_purchase_lines AS SELECT * FROM (VALUES
        ('l1', 2025, 'c', 'Cantine', '22', 'VIANDES_VOLAILLES', 100.0, TRUE, '22', '53'),
        ('l2', 2025, 'c', 'Cantine', '22', 'VIANDES_VOLAILLES', 50.0, FALSE, '22', '53'),
        ('l3', 2025, 'c', 'Cantine', '22', 'VIANDES_VOLAILLES', 30.0, NULL, '22', '53'))
        v(line_key, period_year, canteen_key, canteen, departement, family, amount, is_egalim,
          buyer_departement, buyer_region)""")
    cur = con.execute(f"SELECT * FROM ({indicator_query(f01)}) WHERE period = '2025' "
                      "AND breakdown = 'total'")
    names = [d[0] for d in cur.description]
    row = dict(zip(names, cur.fetchone() or (), strict=True))
    assert (row["numerator"], row["denominator"]) == (100, 180)  # not 100 / 150
    assert (row["record_count"], row["known_count"]) == (3, 2)
    # the range: unknown lines all not Egalim (the legal rate itself), all Egalim
    assert row["unknown_low"] == pytest.approx(100 / 180)
    assert row["unknown_high"] == pytest.approx(130 / 180)


def test_barometer_territory_perimeter_applies_to_the_egalim_indicators(client: object) -> None:
    """« territoire=departement-NN|region-NN » reads F01–F04 and F06 for the canteens placed
    there (the profile's establishments file: Pavie and Renan in 22, Métiers in 29, all three in
    région 53), worked out by hand from the module's lines for 2025:
    22 — total 1 000 + 1 050 = 2 050; Egalim 680 + 100 = 780; bio 300 + 100 = 400; meat and
    fish pool 600 + 50 = 650 of which 400 Egalim; local 150; F06: Pavie meets both thresholds,
    Renan (9.5 %) does not → 1 of 2.
    29 — total 40, Egalim 40, bio 0, no meat or fish, local 0; F06: 100 % Egalim but 0 % bio → 0
    of 1. Région 53 — the whole territory: 820 / 2 090, bio 400, pool 400 / 650, F06 1 of 3."""
    def figures(territory: str) -> dict[str, tuple[float | None, float | None]]:
        answer = client.get(  # type: ignore[attr-defined]
            f"/api/v1/barometre?annee=2025&territoire={territory}").json()
        assert answer["filtres_ignores"] == [], answer["filtres_ignores"]
        assert answer["perimetre"]["type"] == "territoire"
        return {i["code"]: (i["numerator"], i["denominator"]) for i in answer["indicateurs"]
                if i["code"] in ("F01", "F02", "F03", "F04", "F06")}

    assert figures("departement-22") == {
        "F01": (780, 2050), "F02": (400, 2050), "F03": (400, 650), "F04": (150, 2050),
        "F06": (1, 2)}
    assert figures("departement-29") == {
        "F01": (40, 40), "F02": (0, 40), "F03": (None, None), "F04": (0, 40), "F06": (0, 1)}
    assert figures("region-53") == {
        "F01": (820, 2090), "F02": (400, 2090), "F03": (400, 650), "F04": (150, 2090),
        "F06": (1, 3)}
    # the indicator's own page lists the département's figure as one of its breakdowns
    results = client.get("/api/v1/indicateurs/egalim-durables-qualite").json()  # type: ignore[attr-defined]
    text = json.dumps(results)
    assert "buyer_departement" in text and "buyer_region" in text
