"""The barometer read for a year and a perimeter, its summary of the scheme, every buyer's own
SPASER scorecard, and the charts and wording of the indicator pages — on the real demo files,
every expected value computed here from the warehouse's rows with plain Python."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from html import escape

import duckdb
import pytest

from observatoire import charts
from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest
from tests.conftest import DEMO, Warehouse

# The generic profile with every value published (minimum sample 1): on the demo files some
# objectives are then met and others not, which the default minimum of 30 hides.
EVERY_VALUE_PROFILE = """
extends = "generique"
id = "generique-tout-publie"
name = "Profil générique"

[parameters]
min_population = 1
"""

LABELS = {"met": "atteint", "on_track": "en bonne voie", "not_met": "non atteint",
          "insufficient_data": "données insuffisantes", "unavailable": "données non disponibles",
          "not_computed": "non calculé pour ce périmètre", "no_target": "sans cible"}


def _text(response: object) -> str:
    return response.content.decode("utf-8")  # type: ignore[attr-defined]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
          ) -> list[dict[str, object]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@pytest.fixture(scope="module")
def every_value_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The demo files built with the every-value profile."""
    folder = tmp_path_factory.mktemp("profil-tout-publie")
    (folder / "profile.toml").write_text(EVERY_VALUE_PROFILE, encoding="utf-8")
    settings = Settings(home=tmp_path_factory.mktemp("tout-publie-home"), profile=str(folder))
    ingest(settings, [DEMO / "decp", DEMO / "ref"])
    build(settings)
    return settings


@pytest.fixture
def every_value(every_value_home: Settings, client: object) -> Iterator[Warehouse]:
    """That build served to the test client for one test (the pages read the data home and
    the profile at each request), then the demo warehouse again."""
    settings = every_value_home
    kept = {k: os.environ.get(k) for k in ("OBSERVATOIRE_HOME", "OBSERVATOIRE_PROFILE")}
    os.environ["OBSERVATOIRE_HOME"] = str(settings.home)
    os.environ["OBSERVATOIRE_PROFILE"] = settings.profile
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        yield Warehouse(settings, con)
    finally:
        con.close()
        for key, value in kept.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _expected_summary(con: duckdb.DuckDBPyConnection, year: int, breakdown: str,
                      value: str | None) -> dict[str, int]:
    """Each objective (an indicator of kind « target ») in one bucket, from the raw tables."""
    current: dict[str, dict[str, object]] = {}
    for row in _rows(con, "SELECT * FROM indicators"):
        ident = str(row["indicator_id"])
        if ident not in current or int(row["version"]) > int(current[ident]["version"]):  # type: ignore[call-overload]
            current[ident] = row
    targets = {(r["indicator_id"], r["version"], r["basis"])
               for r in _rows(con, "SELECT * FROM indicator_targets")}
    statuses = {}
    for r in _rows(con, "SELECT * FROM indicator_results WHERE period_year = ? "
                   "AND breakdown = ? AND category IS NULL", [year, breakdown]):
        ind = current[str(r["indicator_id"])]
        if (r["breakdown_value"] == value and r["version"] == ind["version"]
                and r["basis"] == next(iter(ind["bases"]))):  # type: ignore[call-overload]
            statuses[r["indicator_id"]] = r["status"]
    counts = dict.fromkeys(LABELS, 0)
    for ident, ind in current.items():
        if ind["kind"] != "target":
            continue
        status = statuses.get(ident)
        if not ind["available"]:
            bucket = "unavailable"
        elif breakdown != "total" and breakdown not in ind["breakdowns"]:  # type: ignore[operator]
            bucket = "not_computed"
        elif status in ("met", "on_track", "not_met"):
            bucket = str(status)
        elif (ident, ind["version"], next(iter(ind["bases"]))) not in targets:  # type: ignore[call-overload]
            bucket = "no_target"
        else:
            bucket = "insufficient_data"
        counts[bucket] += 1
    return counts


def _a_buyer_with(con: duckdb.DuckDBPyConnection, year: int, status: str) -> str:
    return str(con.execute(
        """SELECT breakdown_value FROM indicator_results WHERE breakdown = 'buyer'
           AND period_year = ? AND status = ? ORDER BY breakdown_value LIMIT 1""",
        [year, status]).fetchall()[0][0])


def test_summary_counts_each_objective_once_as_a_plain_count_of_the_results(
        client: object, every_value: Warehouse) -> None:
    buyer = _a_buyer_with(every_value.con, 2024, "met")
    for query, year, breakdown, value in (
            ("annee=2023", 2023, "total", None),
            (f"annee=2024&acheteur={buyer}", 2024, "buyer", buyer)):
        expected = _expected_summary(every_value.con, year, breakdown, value)
        data = json.loads(_text(client.get(f"/index.json?{query}")))  # type: ignore[attr-defined]
        got = {e["etat"]: e["nombre"] for e in data["synthese"]["etats"]}
        assert got == expected, query
        objectives = every_value.value(
            "SELECT count(DISTINCT indicator_id) FROM indicators WHERE kind = 'target'")
        assert data["synthese"]["objectifs"] == sum(expected.values()) == objectives
        page = _text(client.get(f"/?{query}"))  # type: ignore[attr-defined]
        for bucket, count in expected.items():
            shown = (f'<span class="count">{count}</span> <span class="status '
                     f'status-{bucket}">{LABELS[bucket]}</span>')
            # the five statuses are always written; the two others only when they count
            assert (shown in page) == (count > 0 or bucket not in ("not_computed", "no_target"))
        # each status is said in words with its meaning, never by colour alone
        assert "La cible n&#x27;est pas atteinte" in page
    # the buyer's year holds a met and a not-met objective: the summary is not trivially empty
    assert expected["met"] >= 1 and expected["not_met"] >= 1


def test_barometer_selection_twins_and_api_answer_alike(client: object,
                                                       demo_warehouse: Warehouse) -> None:
    buyer = demo_warehouse.value(
        """SELECT buyer_siret FROM contracts WHERE kind = 'marche' AND notification_year = 2024
           GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""")
    query = f"annee=2024&acheteur={buyer}"
    twin = json.loads(_text(client.get(f"/index.json?{query}")))  # type: ignore[attr-defined]
    api = json.loads(_text(client.get(f"/api/v1/barometre?{query}")))  # type: ignore[attr-defined]
    assert twin == api
    assert twin["filtres"] == {"annee": "2024", "acheteur": buyer}
    assert twin["filtres_ignores"] == []
    assert twin["perimetre"]["valeur"] == buyer and twin["annee"] == 2024
    assert twin["perimetre"]["libelle"] == demo_warehouse.value(
        "SELECT name FROM buyers WHERE buyer_siret = ?", [buyer])
    rows = list(csv.DictReader(io.StringIO(_text(client.get(f"/index.csv?{query}")))))  # type: ignore[attr-defined]
    assert [(r["indicator_id"], r["status"], r["summary_status"]) for r in rows] == [
        (i["indicator_id"], i["status"] or "", i["summary_status"] or "")
        for i in twin["indicateurs"]]
    # A01 for that buyer and year: the stored result of its buyer breakdown
    a01 = next(i for i in twin["indicateurs"] if i["indicator_id"] == "marches-pme")
    stored = demo_warehouse.rows(
        """SELECT known_count, record_count FROM indicator_results
           WHERE indicator_id = 'marches-pme' AND breakdown = 'buyer' AND breakdown_value = ?
             AND period_year = 2024 AND basis = 'count'""", [buyer])
    assert (a01["known_count"], a01["record_count"]) == stored[0]
    # the page's selectors hold the choice, and its download links carry it
    page = _text(client.get(f"/?{query}"))  # type: ignore[attr-defined]
    assert '<option value="2024" selected>' in page
    assert f'name="acheteur" value="{buyer}"' in page
    assert f'href="/index.csv?{query.replace("&", "&amp;")}"' in page


def test_unusable_or_uncomputed_perimeters_are_said_and_the_page_falls_back(
        client: object, demo_warehouse: Warehouse) -> None:
    reference = demo_warehouse.value("SELECT reference_year FROM indicator_profile")
    data = json.loads(_text(client.get(  # type: ignore[attr-defined]
        "/index.json?annee=1900&acheteur=ecole&territoire=35")))
    ignored = data["filtres_ignores"]
    assert data["annee"] == reference and data["perimetre"] is None and data["filtres"] == {}
    assert [p.split(" : ")[0] for p in ignored] == ["annee", "acheteur", "territoire"]
    # « 35 » alone: a département or a région? (« 53 » is both)
    assert "n'est pas un SIRET" in ignored[1] and "departement-35" in ignored[2]
    # the generic profile defines no directorate: no result is broken down by one
    assert not demo_warehouse.value(
        "SELECT count(*) FROM indicator_results WHERE breakdown = 'directorate'")
    none = json.loads(_text(client.get("/index.json?direction=achats")))  # type: ignore[attr-defined]
    assert none["perimetre"] is None
    assert none["filtres_ignores"][0].startswith("direction : aucun résultat d'indicateur")
    # a SIRET no indicator is computed for (the demo has a buyer 00000000000000), and two
    # perimeters at once
    assert not demo_warehouse.value("SELECT count(*) FROM indicator_results "
                                    "WHERE breakdown_value = '99999999999999'")
    unknown = json.loads(_text(client.get(  # type: ignore[attr-defined]
        "/index.json?acheteur=99999999999999")))
    assert unknown["perimetre"] is None
    assert "aucun résultat d'indicateur" in unknown["filtres_ignores"][0]
    two = json.loads(_text(client.get(  # type: ignore[attr-defined]
        "/index.json?domaine=travaux&territoire=region-53")))
    assert two["perimetre"]["type"] == "domaine"
    assert two["filtres_ignores"] == ["territoire : un seul périmètre à la fois ; « domaine » "
                                      "est appliqué."]
    # the generic profile names no buyer: every contract is « Autres acheteurs », a mandate
    # breakdown would repeat the total, so none is computed
    assert not demo_warehouse.value(
        "SELECT count(*) FROM indicator_results WHERE breakdown = 'mandate'")
    page = _text(client.get("/?annee=1900&territoire=region"))  # type: ignore[attr-defined]
    assert "Non appliqué" in page and "territoire : « region » n&#x27;est pas un territoire" in page
    assert 'name="direction"' not in page  # no directorate to choose


def test_territory_perimeter_recomputed_from_the_buyers_places(
        client: object, demo_warehouse: Warehouse) -> None:
    """« territoire=departement-XX »: A01 for the marchés of the buyers placed in that
    département, as computed here buyer by buyer from the contract rows (the buyer's place,
    not the contract's); the twins and the API answer alike; a région where too few are known
    publishes no value (the minimum sample applies to each perimeter)."""
    year = 2024
    departement, buyers = demo_warehouse.rows(
        """SELECT b.departement_code, list(DISTINCT c.buyer_siret) FROM contracts c
           JOIN buyers b USING (buyer_siret)
           WHERE c.kind = 'marche' AND c.notification_year = 2024
             AND b.departement_code IS NOT NULL
           GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""")[0]
    facts: dict[str, bool | None] = {}
    for buyer in buyers:
        facts.update(_lead_holder_is_sme(demo_warehouse.con, buyer, year))
    known = [v for v in facts.values() if v is not None]
    assert len(known) >= 30
    query = f"annee={year}&territoire=departement-{departement}"
    twin = json.loads(_text(client.get(f"/index.json?{query}")))  # type: ignore[attr-defined]
    assert twin == json.loads(_text(client.get(f"/api/v1/barometre?{query}")))  # type: ignore[attr-defined]
    assert twin["filtres_ignores"] == []
    assert twin["filtres"] == {"annee": str(year), "territoire": f"departement-{departement}"}
    name = demo_warehouse.value("SELECT departement_name FROM ref_departements "
                                "WHERE departement_code = ?", [departement])
    assert twin["perimetre"] == {"type": "territoire", "ventilation": "buyer_departement",
                                 "valeur": departement, "libelle": name,
                                 "nature": "Département de l'acheteur"}
    a01 = next(i for i in twin["indicateurs"] if i["indicator_id"] == "marches-pme")
    assert (a01["known_count"], a01["record_count"]) == (len(known), len(facts))
    assert a01["value"] == pytest.approx(sum(known) / len(known), rel=1e-12)
    rows = list(csv.DictReader(io.StringIO(_text(client.get(f"/index.csv?{query}")))))  # type: ignore[attr-defined]
    assert next(r for r in rows if r["indicator_id"] == "marches-pme")["known_count"] == str(
        len(known))
    xlsx = client.get(f"/index.xlsx?{query}")  # type: ignore[attr-defined]
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    page = _text(client.get(f"/?{query}"))  # type: ignore[attr-defined]
    assert f'<option value="departement-{departement}" selected>' in page
    assert "Le territoire d&#x27;un marché est celui de son acheteur" in page
    # the card's link opens the indicator on that territory's own figure, and its numerator
    # lists exactly the marchés counted
    link = re.search(r'href="(/indicateurs/marches-pme/\?[^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert "ventilation=buyer_departement" in link and f"groupe={departement}" in link
    indicator = _text(client.get(link.replace("&amp;", "&")))  # type: ignore[attr-defined]
    own = indicator[indicator.index('id="groupe-choisi"'):]
    assert f"{len(known)} enregistrements connus sur {len(facts)}" in own[:own.index("</section>")]
    behind = json.loads(_text(client.get(  # type: ignore[attr-defined]
        f"/api/v1/indicateurs/marches-pme/marches?periode={year}&ventilation=buyer_departement"
        f"&groupe={departement}&taille=1")))
    assert behind["total"] == sum(known)
    # a région whose buyers' marchés of the year have between 1 and 29 lead holders of known
    # category: no value, « échantillon trop petit »
    small = None
    for (region,) in demo_warehouse.rows(
            """SELECT DISTINCT b.region_code FROM contracts c JOIN buyers b USING (buyer_siret)
               WHERE c.kind = 'marche' AND c.notification_year = 2024
                 AND b.region_code IS NOT NULL ORDER BY 1"""):
        region_facts: dict[str, bool | None] = {}
        for (buyer,) in demo_warehouse.rows(
                "SELECT buyer_siret FROM buyers WHERE region_code = ?", [region]):
            region_facts.update(_lead_holder_is_sme(demo_warehouse.con, buyer, year))
        n = sum(v is not None for v in region_facts.values())
        if 0 < n < 30:
            small = (region, n)
            break
    assert small is not None
    data = json.loads(_text(client.get(  # type: ignore[attr-defined]
        f"/index.json?annee={year}&territoire=region-{small[0]}")))
    a01 = next(i for i in data["indicateurs"] if i["indicator_id"] == "marches-pme")
    assert (a01["known_count"], a01["value"], a01["status"]) == (small[1], None, "small_sample")


def _lead_holder_is_sme(con: duckdb.DuckDBPyConnection, buyer: str, year: int
                        ) -> dict[str, bool | None]:
    """Each marché of a buyer and year: is its lead holder (the first its publication lists)
    a PME? None when the category is unknown or the contract has no holder."""
    holders: dict[str, list[tuple[float, str, str | None]]] = defaultdict(list)
    positions = {(uid, holder): pos for uid, holder, pos in con.execute(
        """SELECT c.uid, r.holder_id, min(r.holder_position) FROM contracts c
           JOIN source_record_holders r ON r.record_key = c.primary_record_key
           WHERE c.buyer_siret = ? GROUP BY ALL""", [buyer]).fetchall()}
    for uid, holder, key, category in con.execute(
            """SELECT h.uid, h.holder_id, h.supplier_key, s.category FROM contract_holders h
               JOIN contracts c ON c.uid = h.uid
               LEFT JOIN suppliers s ON s.supplier_key = h.supplier_key
               WHERE h.is_current AND c.buyer_siret = ?""", [buyer]).fetchall():
        holders[uid].append((positions.get((uid, holder), float("inf")), key, category))
    out: dict[str, bool | None] = {}
    for (uid,) in con.execute(
            """SELECT uid FROM contracts WHERE buyer_siret = ? AND kind = 'marche'
               AND notification_year = ?""", [buyer, year]).fetchall():
        ordered = sorted(holders.get(uid, []), key=lambda h: (h[0], h[1]))
        out[uid] = None if not ordered or ordered[0][2] is None else ordered[0][2] == "PME"
    return out


def test_buyer_scorecard_value_recomputed_from_the_contract_rows(
        client: object, demo_warehouse: Warehouse) -> None:
    """A01 (share of marchés awarded to a PME) on a buyer's page equals the share computed
    here from its contracts, holders and SIRENE categories."""
    buyer, year = demo_warehouse.rows(
        """SELECT buyer_siret, notification_year FROM contracts
           WHERE kind = 'marche' AND notification_year = 2024
           GROUP BY ALL ORDER BY count(*) DESC, 1 LIMIT 1""")[0]
    facts = _lead_holder_is_sme(demo_warehouse.con, buyer, year)
    known = [v for v in facts.values() if v is not None]
    assert len(known) >= 30  # above the minimum sample: a value is published
    detail = json.loads(_text(client.get(f"/acheteurs/{buyer}.json?annee={year}")))  # type: ignore[attr-defined]
    assert detail == json.loads(_text(client.get(  # type: ignore[attr-defined]
        f"/api/v1/acheteurs/{buyer}?annee={year}")))
    card = detail["spaser"]
    assert card["annee"] == year and card["calcule"]
    a01 = next(i for i in card["indicateurs"] if i["indicator_id"] == "marches-pme")
    assert (a01["known_count"], a01["record_count"]) == (len(known), len(facts))
    assert a01["value"] == pytest.approx(sum(known) / len(known), rel=1e-12)
    page = _text(client.get(f"/acheteurs/{buyer}/?annee={year}"))  # type: ignore[attr-defined]
    share = f"{100 * sum(known) / len(known):.1f}".replace(".", ",")
    row = page[page.index('href="/indicateurs/marches-pme/?periode'):]
    row = row[:row.index("</tr>")]
    assert f"{share}\u00a0%" in row and f"{len(known)} sur {len(facts)}" in row
    # its link opens the indicator on this buyer's own figure, wherever it falls in the pages
    link = re.search(r'href="(/indicateurs/marches-pme/\?[^"]+)"', row).group(1)  # type: ignore[union-attr]
    indicator = _text(client.get(link.replace("&amp;", "&")))  # type: ignore[attr-defined]
    own = indicator[indicator.index('id="groupe-choisi"'):]
    own = own[:own.index("</section>")]
    assert f"{share}\u00a0%</strong> — {len(known)} enregistrements connus sur {len(facts)}" in own


def test_buyer_scorecard_withholds_a_small_sample(client: object,
                                                demo_warehouse: Warehouse) -> None:
    """A buyer whose marchés of the year have between 1 and 29 lead holders of known
    category: no value, « échantillon trop petit (n = …) » with the count computed here."""
    candidates = demo_warehouse.rows(
        """SELECT buyer_siret, notification_year FROM contracts
           WHERE kind = 'marche' AND notification_year = 2019
           GROUP BY ALL HAVING count(*) BETWEEN 5 AND 29 ORDER BY count(*) DESC, 1 LIMIT 5""")
    for buyer, year in candidates:
        known = [v for v in _lead_holder_is_sme(demo_warehouse.con, buyer, year).values()
                 if v is not None]
        if known:
            break
    else:
        pytest.fail("no demo buyer with a small known sample in 2019")
    detail = json.loads(_text(client.get(f"/acheteurs/{buyer}.json?annee={year}")))  # type: ignore[attr-defined]
    a01 = next(i for i in detail["spaser"]["indicateurs"] if i["indicator_id"] == "marches-pme")
    assert a01["value"] is None and a01["status"] == "small_sample"
    page = _text(client.get(f"/acheteurs/{buyer}/?annee={year}"))  # type: ignore[attr-defined]
    row = page[page.index('href="/indicateurs/marches-pme/?periode'):]
    assert f"échantillon trop petit (n\u00a0=\u00a0{len(known)})" in row[:row.index("</tr>")]


def test_distribution_chart_bars_carry_whole_labels_and_their_n(
        client: object, demo_warehouse: Warehouse) -> None:
    """A08 (procedures) in 2024: one bar per procedure, its label whole (wrapped on lines,
    never cut with « … ») and its n the marchés of that procedure, counted here."""
    counts = dict(demo_warehouse.rows(
        """SELECT procedure, count(*) FROM contracts WHERE kind = 'marche'
           AND notification_year = 2024 AND procedure IS NOT NULL GROUP BY 1"""))
    page = _text(client.get("/indicateurs/procedures/?periode=2024&base=count"))  # type: ignore[attr-defined]
    figure = page[page.index('aria-labelledby="repartition-titre"'):]
    figure = figure[:figure.index("</svg>")]
    labels = [" ".join(re.findall(r"<tspan[^>]*>([^<]*)</tspan>", t)).replace("&#x27;", "'")
              for t in re.findall(r'<text x="[\d.]+" text-anchor="end".*?</text>', figure)]
    values = re.findall(r"\(n = ([\d\u202f\u00a0 ]+)\)</text>", figure)
    shown = {label: int(re.sub(r"\D", "", n)) for label, n in zip(labels, values, strict=True)}
    assert shown == counts
    assert "…" not in figure
    longest = max(counts, key=len)
    assert len(longest) > 32  # the case that used to be cut (« … » after 31 characters)


def test_bar_labels_wrap_on_words_and_keep_every_character() -> None:
    name = "Marché passé sans publicité ni mise en concurrence préalable"
    lines = charts.wrap(name)
    assert len(lines) == 2 and " ".join(lines) == name
    # a word wider than a line is split, every character kept
    word = "ANTICONSTITUTIONNELLEMENT" * 2
    assert "".join(charts.wrap(word)) == word
    for line in charts.wrap(f"{word} {name}"):
        assert charts.text_width(line) <= charts.LABEL_WIDTH
    chart = charts.bars([("a", 0.5, 12), ("b", None, 3)], "percent", "t")
    assert chart is not None and [r["n"] for r in chart["rows"]] == [12]
    assert chart["rows"][0]["value"] == "50,0\u00a0% (n = 12)"


def test_technical_definitions_only_in_the_details_disclosure(
        client: object, demo_warehouse: Warehouse) -> None:
    """The SQL of a definition, the fact table and the catalogue file are behind « Détails
    techniques »; the page says what is counted in French."""
    checked = 0
    for ident, condition, catalogue, grain in demo_warehouse.rows(
            """SELECT indicator_id, condition, catalogue_file, grain FROM indicators
               WHERE available AND condition IS NOT NULL"""):
        page = _text(client.get(f"/indicateurs/{ident}/"))  # type: ignore[attr-defined]
        details = re.search(r'<details class="technical"><summary>Détails techniques</summary>'
                            r".*?</details>", page, re.S)
        assert details, ident
        outside = page.replace(details.group(0), "")
        assert escape(condition) in details.group(0) and catalogue in details.group(0)
        assert escape(condition) not in outside and catalogue not in outside, ident
        assert f"grain : {grain}" not in outside
        assert "chaque enregistrement compté est" in outside
        checked += 1
    assert checked >= 20


def test_distribution_card_shows_its_largest_categories(client: object,
                                                       demo_warehouse: Warehouse) -> None:
    """A08 on the barometer of 2024: its three largest procedures and their shares of the
    marchés of known procedure, counted here."""
    counts = demo_warehouse.rows(
        """SELECT procedure, count(*) AS n FROM contracts WHERE kind = 'marche'
           AND notification_year = 2024 AND procedure IS NOT NULL
           GROUP BY 1 ORDER BY n DESC, 1""")
    known = sum(n for _, n in counts)
    data = json.loads(_text(client.get("/index.json?annee=2024")))  # type: ignore[attr-defined]
    a08 = next(i for i in data["indicateurs"] if i["indicator_id"] == "procedures")
    assert [(c["category"], c["known_count"]) for c in a08["categories"]] == [
        (p, known) for p, _ in counts[:3]]
    for c, (_, n) in zip(a08["categories"], counts[:3], strict=True):
        assert c["value"] == pytest.approx(n / known, rel=1e-12)
    page = _text(client.get("/?annee=2024"))  # type: ignore[attr-defined]
    card = page[page.index('href="/indicateurs/procedures/'):]
    card = card[:card.index("</li>\n    <li")] if "</li>\n    <li" in card else card[:3000]
    first, n = counts[0]
    share = f"{100 * n / known:.1f}".replace(".", ",")
    assert f"{escape(first)} : <strong>{share}\u00a0%</strong>" in card


def test_cli_barometer_prints_the_summary(demo_warehouse: Warehouse) -> None:
    """``observatoire indicators --no-compute``: the summary line counts the objectives."""
    from tests.test_cli import run

    expected = _expected_summary(
        demo_warehouse.con, int(demo_warehouse.value("SELECT reference_year FROM "
                                                     "indicator_profile")), "total", None)
    result = run(demo_warehouse.settings.home, "indicators", "--no-compute")
    assert result.returncode == 0, result.stderr
    line = " ".join(result.stdout[result.stdout.index("Synthèse :"):].split())
    assert line.startswith(f"Synthèse : {sum(expected.values())} objectifs — "
                           f"{expected['met']} atteint, {expected['on_track']} en bonne voie, "
                           f"{expected['not_met']} non atteint, "
                           f"{expected['insufficient_data']} données insuffisantes")
