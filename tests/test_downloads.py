"""Outputs and downloads through a real HTTP server on 127.0.0.1 (waitress, as ``observatoire
serve`` runs it): bounded parameters, one error shape, characters that XML refuses, whole
selections, published datasets."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import Request, urlopen

import pytest

from tests.conftest import DEMO, Warehouse, live_server, make_warehouse, warehouse_rows

MEGALIS = DEMO / "decp" / "v2" / "megalis_decp-59920013600241-2024-07-09-01.json"
BEL, NUL = "\u0007", "\u0000"
FOREIGN_ID = "CHE-105.805.080/TVA"


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> Answer:
    request = Request(url, method=method, headers=headers or {})  # noqa: S310 (our server)
    try:
        with urlopen(request, timeout=120) as response:  # noqa: S310 (our own server)
            return Answer(response.status, response.headers, response.read())
    except HTTPError as error:
        return Answer(error.code, error.headers, error.read())


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The site on 127.0.0.1, once for the module: it reads its data home from the
    environment at each request, which each test sets (``site``)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DJANGO_SETTINGS_MODULE", "observatoire.web.settings")
        with live_server() as url:
            yield url


def site(server: str, home: Path, env: pytest.MonkeyPatch) -> str:
    env.setenv("OBSERVATOIRE_HOME", str(home))
    return server


@pytest.fixture
def demo_site(server: str, demo_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> str:
    return site(server, demo_warehouse.settings.home, monkeypatch)


# --- a real record carrying control characters ------------------------------------------------


@dataclass
class Controlled:
    """The warehouse of the fixture below, its site, and the record's raw values."""

    warehouse: Warehouse
    url: str
    raw_object: str
    raw_id: str
    quoted_id: str


@pytest.fixture(scope="module")
def controlled_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Controlled]:
    """The real Mégalis file (demo data), its first record given a BEL (U+0007) inside its
    object and a NUL inside its id, its second record a quote and a line break in its id. The
    first record's duration is lengthened so that it ends within the coming months (and so
    reaches the opportunities feed) whatever the day the test runs."""
    doc = json.loads(MEGALIS.read_text(encoding="utf-8"))
    first, second = doc["marches"]["marche"][:2]
    first["objet"] = first["objet"][:10] + BEL + first["objet"][10:]
    first["id"] = first["id"][:4] + NUL + first["id"][4:]
    notified = date.fromisoformat(first["dateNotification"])
    today = date.today()
    first["dureeMois"] = (today.year - notified.year) * 12 + today.month - notified.month + 4
    second["id"] = 'Q"' + second["id"] + "\nX"
    # a foreign holder whose identifier holds a « / », as foreign registration numbers do
    second["titulaires"] = [{"titulaire": {"typeIdentifiant": "HORS-UE",
                                           "id": FOREIGN_ID}}]
    folder = tmp_path_factory.mktemp("controles")
    source = folder / "megalis-controles.json"
    source.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    wh = make_warehouse(folder / "home", source, DEMO / "ref")
    yield Controlled(wh, "", first["objet"], first["id"], second["id"])
    wh.con.close()


@pytest.fixture
def controlled(server: str, controlled_warehouse: Controlled,
               monkeypatch: pytest.MonkeyPatch) -> Controlled:
    """The fixture's warehouse served, for one test."""
    url = site(server, controlled_warehouse.warehouse.settings.home, monkeypatch)
    return replace(controlled_warehouse, url=url)


def _uid(c: Controlled, raw_id: str) -> str:
    return str(c.warehouse.value("SELECT uid FROM contracts WHERE contract_id = ?", [raw_id]))


def test_characters_xml_refuses_leave_the_feed_and_spreadsheets(controlled: Controlled) -> None:
    c = controlled
    # the expected text, worked out here: the record's object without its BEL
    expected_object = c.raw_object.replace(BEL, "")
    # the warehouse keeps the value as published
    assert c.warehouse.value("SELECT count(*) FROM contracts WHERE contains(object, ?)",
                             [BEL]) == 1
    # a NUL never reaches an identity: staging removes it (the record's raw JSON keeps it)
    uid = _uid(c, c.raw_id.replace(NUL, ""))
    assert NUL not in uid and uid != "None"
    # a finding says so, on each field, with the value as published
    assert sorted(c.warehouse.rows(
        "SELECT field, raw_value FROM findings WHERE rule_id = 'CONTROL_CHARACTERS'")) == [
        ("objet", c.raw_object)]
    # the NUL taken out of the id is said by the record's structure finding
    assert c.warehouse.value(
        "SELECT count(*) FROM findings WHERE rule_id = 'STRUCTURE_DRIFT' AND uid = ? "
        "AND contains(raw_value, 'octet_nul_retire:id')", [uid]) == 1
    feed = fetch(f"{c.url}/opportunites.atom?mois=24")
    assert feed.status == 200
    atom = "{http://www.w3.org/2005/Atom}"
    root = ET.fromstring(feed.body)  # noqa: S314 (our own feed)
    titles = [e.findtext(f"{atom}title") or "" for e in root.iter(f"{atom}entry")]
    assert len(titles) == 1 and titles[0].startswith(expected_object + " — fin estimée le ")

    from openpyxl import load_workbook

    for dataset in ("marches", "versions", "titulaires-des-marches", "acheteurs", "titulaires",
                    "indicateurs", "constats", "enregistrements"):
        answer = fetch(f"{c.url}/donnees/{dataset}.xlsx")
        assert answer.status == 200, dataset
        load_workbook(io.BytesIO(answer.body), read_only=True)
    sheet = load_workbook(io.BytesIO(fetch(f"{c.url}/donnees/marches.xlsx").body)).active
    assert sheet is not None
    values = {v for row in sheet.iter_rows(values_only=True) for v in row}
    assert uid.replace(NUL, "") in values and expected_object in values
    # the page's own spreadsheet twin too, and the contract's page by its real identity
    assert fetch(f"{c.url}/marches.xlsx").status == 200
    page = fetch(f"{c.url}/marches/{quote(uid, safe='')}/")
    assert page.status == 200


def test_a_quote_or_line_break_in_an_id_never_reaches_the_download_header(
    controlled: Controlled,
) -> None:
    uid = _uid(controlled, controlled.quoted_id)
    assert '"' in uid and "\n" in uid
    answer = fetch(f"{controlled.url}/marches/{quote(uid, safe='')}.csv")
    assert answer.status == 200
    disposition = answer.headers["Content-Disposition"]
    # one header, one quoted file name made of safe characters only
    name = disposition.split("filename=", 1)[1]
    assert name.startswith('"') and name.endswith('"') and name.count('"') == 2
    expected = "marche-" + "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in uid)
    assert name.strip('"') == expected + ".csv"


# --- parameters are bounded; errors have one shape ----------------------------------------------

HUGE = "99999999999999999999999"


def test_page_numbers_past_64_bits_answer_like_any_page_past_the_last(
    demo_site: str, demo_warehouse: Warehouse,
) -> None:
    contracts = demo_warehouse.value("SELECT count(*) FROM contracts")
    for path in ("/marches/", "/marches.json", "/marches.csv", "/indicateurs/marches-pme/",
                 "/indicateurs/marches-pme/marches/", "/opportunites/", "/api/v1/acheteurs",
                 "/api/v1/titulaires", "/api/v1/resultats"):
        answer = fetch(f"{demo_site}{path}?page={HUGE}&mois={HUGE}&taille={HUGE}")
        assert answer.status == 200, path
    api = fetch(f"{demo_site}/api/v1/marches?page={HUGE}&taille=-{HUGE}").json()
    assert api["elements"] == [] and api["total"] == contracts and api["taille"] == 1
    listing = fetch(f"{demo_site}/marches.json?page={HUGE}").json()
    assert listing["elements"] == [] and listing["total"] == contracts


def test_api_errors_are_json_of_one_shape_and_other_methods_405(demo_site: str) -> None:
    spec = fetch(f"{demo_site}/api/openapi.json").json()
    shape = spec["components"]["schemas"]["Erreur"]
    for path, method, status in (("/api/v1/marches/inconnu", "GET", 404),
                                 ("/api/v1/indicateurs/inconnu", "GET", 404),
                                 ("/api/v1/nulle-part", "GET", 404),
                                 ("/api/v1/marches", "POST", 405),
                                 ("/api/v1/marches", "DELETE", 405),
                                 ("/marches/inconnu.json", "GET", 404)):
        answer = fetch(f"{demo_site}{path}", method)
        assert answer.status == status, (path, method)
        assert answer.headers["Content-Type"].startswith("application/json"), path
        body = answer.json()
        assert set(body) == set(shape["required"]) and body["statut"] == status, path
        assert body["erreur"] and body["que_faire"], path
    assert "404" in spec["paths"]["/api/v1/marches/{uid}"]["get"]["responses"]
    page = fetch(f"{demo_site}/marches/", "POST")
    assert page.status == 405 and page.headers["Allow"] == "GET, HEAD"
    assert "Méthode non permise" in page.body.decode()
    assert fetch(f"{demo_site}/marches/", "HEAD").status == 200


# --- the explorer's whole selection -------------------------------------------------------------

SELECTION = "annee=2019&procedure=Proc%C3%A9dure+adapt%C3%A9e&tri=montant"


def _selected(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    """The selection's contracts counted in the warehouse with plain SQL, by amount."""
    return warehouse.rows(
        """SELECT uid, amount, object FROM contracts WHERE notification_year = 2019
           AND procedure = 'Procédure adaptée' ORDER BY amount DESC NULLS LAST, uid""")


def test_the_whole_selection_downloads_in_csv_xlsx_and_json(
    demo_site: str, demo_warehouse: Warehouse,
) -> None:
    import csv

    from openpyxl import load_workbook

    expected = _selected(demo_warehouse)
    assert len(expected) > 200  # more than a page of the explorer and of its twins
    uids = [uid for uid, _, _ in expected]

    answer = fetch(f"{demo_site}/marches/selection.csv?{SELECTION}")
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/csv")
    assert answer.body.startswith("\ufeff".encode())  # UTF-8 with a BOM for spreadsheets
    rows = list(csv.reader(io.StringIO(answer.body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Identifiant du marché", "Type de contrat", "Date de notification"]
    assert [r[0] for r in rows[1:]] == uids

    semicolon = fetch(f"{demo_site}/marches/selection.csv?{SELECTION}&separateur=point-virgule")
    rows_fr = list(csv.reader(io.StringIO(semicolon.body.decode("utf-8-sig")), delimiter=";"))
    assert rows_fr == rows

    book = fetch(f"{demo_site}/marches/selection.xlsx?{SELECTION}")
    assert book.status == 200
    sheet = load_workbook(io.BytesIO(book.body), read_only=True).active
    assert sheet is not None
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0][0] == "Identifiant du marché" and [c[0] for c in cells[1:]] == uids
    amount_column = rows[0].index("Montant (€ HT)")
    assert [c[amount_column] for c in cells[1:]] == [a for _, a, _ in expected]

    data = fetch(f"{demo_site}/marches/selection.json?{SELECTION}").json()
    assert [d["uid"] for d in data] == uids
    assert [d["object"] for d in data] == [o for _, _, o in expected]


def test_selection_downloads_carry_validators_and_neutralise_formulas(
    demo_site: str, demo_warehouse: Warehouse,
) -> None:
    import csv

    url = f"{demo_site}/marches/selection.csv?{SELECTION}"
    first = fetch(url)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag and modified
    assert fetch(url, headers={"If-None-Match": etag}).status == 304
    other = fetch(f"{demo_site}/marches/selection.csv?annee=2018")
    assert other.headers["ETag"] != etag
    # the AIFE objects published as '-\tAcquisition…' stay text in a spreadsheet
    dangerous = demo_warehouse.rows(
        "SELECT uid, object FROM contracts WHERE object LIKE '-' || chr(9) || '%' ORDER BY uid")
    assert dangerous
    uid, obj = dangerous[0]
    texte = quote(obj.split("\t", 1)[1][:30])
    rows = list(csv.reader(io.StringIO(
        fetch(f"{demo_site}/marches/selection.csv?texte={texte}").body.decode("utf-8-sig"))))
    objects = {r[0]: r[rows[0].index("Objet")] for r in rows[1:]}
    assert objects[uid] == "'" + obj


# --- published datasets ---------------------------------------------------------------------


def test_datasets_are_headed_in_french_and_sized_on_the_data_page(
    demo_site: str, demo_warehouse: Warehouse,
) -> None:
    import csv

    from openpyxl import load_workbook

    buyers = demo_warehouse.value("SELECT count(*) FROM buyers")
    top = demo_warehouse.value("SELECT buyer_siret FROM buyers ORDER BY buyer_siret LIMIT 1")
    answer = fetch(f"{demo_site}/donnees/acheteurs.csv")
    assert answer.body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["SIRET de l'acheteur", "SIREN de l'acheteur", "Nom"]
    assert len(rows) == buyers + 1 and rows[1][0] == top
    sheet = load_workbook(io.BytesIO(fetch(f"{demo_site}/donnees/acheteurs.xlsx").body),
                          read_only=True).active
    assert sheet is not None
    assert next(sheet.iter_rows(values_only=True))[0] == "SIRET de l'acheteur"
    assert fetch(f"{demo_site}/donnees/acheteurs.json").json()[0]["buyer_siret"] == top

    page = fetch(f"{demo_site}/donnees/").body.decode()
    findings = demo_warehouse.value("SELECT count(*) FROM findings")
    assert f"{findings:,} ligne(s)".replace(",", "\u202f") in page
    size = (demo_warehouse.settings.home / "exports").glob("*/acheteurs.csv")
    kib = f"{next(size).stat().st_size / 1000:.1f}".replace(".", ",")
    assert f'<a href="/donnees/acheteurs.csv">CSV</a> ({kib} Ko)' in page
    # the dictionary in French, with each column's identifier; no markdown left raw
    assert "<td>SIRET de l&#x27;acheteur</td><td><code>buyer_siret</code></td>" in page
    assert "`" not in page
    listed = {d["id"]: d for d in fetch(f"{demo_site}/donnees.json").json()}
    assert listed["acheteurs"]["lignes"] == buyers
    assert listed["acheteurs"]["telechargements"]["csv"]["octets"] == len(answer.body)


def test_payments_are_stated_not_available_where_no_finance_flow_is_loaded(
    demo_site: str, demo_warehouse: Warehouse,
) -> None:
    """The demo warehouse of this module loads DECP and reference files only: the payments
    dataset is listed as not available (never « 0 lignes »), with no file to download."""
    assert demo_warehouse.value("SELECT count(*) FROM accounting_files") == 0
    page = fetch(f"{demo_site}/donnees/").body.decode()
    section = page[page.index('id="jeu-paiements"'):]
    section = section[:section.index("</section>")]
    assert "Non disponible." in section and "aucun paiement n&#x27;est publié" in section
    assert "ligne(s)" not in section and "/donnees/paiements." not in section
    listed = {d["id"]: d for d in fetch(f"{demo_site}/donnees.json").json()}
    assert listed["paiements"]["disponible"] is False
    assert listed["paiements"]["lignes"] is None and listed["paiements"]["telechargements"] == {}
    assert listed["acheteurs"]["disponible"] is True
    answer = fetch(f"{demo_site}/donnees/paiements.csv")
    assert answer.status == 404 and "aucun paiement" in answer.body.decode()


def test_downloads_carry_etag_and_last_modified(demo_site: str) -> None:
    from email.utils import parsedate_to_datetime

    url = f"{demo_site}/donnees/titulaires.parquet"
    first = fetch(url)
    assert first.status == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert parsedate_to_datetime(modified).year >= 2025
    assert fetch(url, headers={"If-None-Match": etag}).status == 304
    assert fetch(url, headers={"If-Modified-Since": modified}).status == 304
    assert fetch(url, headers={"If-None-Match": '"autre"'}).status == 200


def test_exports_keep_two_builds_and_a_failed_write_leaves_nothing(
    tmp_path: Path,
) -> None:
    from observatoire import datasets
    from observatoire.build import build

    wh = make_warehouse(tmp_path / "home", MEGALIS)
    settings, exports = wh.settings, wh.settings.home / "exports"
    # before publication the data page says the files are being prepared; after, their sizes
    before = {d["dataset"].id: d for d in datasets.catalogue(settings)}
    assert before["marches"]["files"]["csv"]["size"] is None
    assert before["marches"]["rows"] == wh.value("SELECT count(*) FROM contracts") == 5
    written = datasets.publish(settings)  # what `observatoire serve` does after each build
    # every dataset but the payments (no finance flow loaded here: not available, no file)
    assert not before["paiements"]["available"]
    assert len(written) == (len(datasets.DATASETS) - 1) * len(datasets.FORMATS)
    after = {d["dataset"].id: d for d in datasets.catalogue(settings)}
    assert {f: after["marches"]["files"][f]["size"] for f in datasets.FORMATS} == {
        p.suffix[1:]: p.stat().st_size for p in written if p.stem == "marches"}
    wh.con.close()
    builds = []
    for _ in range(3):
        datasets.export(settings, "acheteurs", "csv")
        builds.append(max(int(p.name) for p in exports.iterdir()))
        build(settings)
    datasets.export(settings, "acheteurs", "csv")
    current = max(int(p.name) for p in exports.iterdir())
    assert current > builds[-1]
    # the folder of the build in service and of the one before it, no other
    assert sorted(int(p.name) for p in exports.iterdir()) == [builds[-1], current]

    # a write that fails half-way, as on a full disk: a process whose files may not grow
    # past 2 kB (RLIMIT_FSIZE makes the write fail with EFBIG)
    script = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from observatoire.config import Settings\n"
        "from observatoire import datasets\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))\n"
        "datasets.export(Settings(home=Path(sys.argv[1])), 'marches', 'json')\n")
    failed = subprocess.run([sys.executable, "-c", script, str(settings.home)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert failed.returncode != 0 and "File too large" in failed.stderr
    assert sorted(p.name for p in (exports / str(current)).iterdir()) == [
        "acheteurs.csv"]


def test_every_published_column_has_one_french_header_and_meaning() -> None:
    """A column added to a published table without its French name fails here (the data page
    and the files would otherwise show an identifier or break)."""
    from observatoire.datasets import DATASETS
    from observatoire.explorer import SELECTION_COLUMNS
    from observatoire.public_columns import french

    for d in DATASETS.values():
        names = [french(d.table, c) for c in d.columns]
        headers = [h for h, _ in names]
        assert len(set(headers)) == len(headers), d.id
        assert all(h and m and "`" not in m for h, m in names), d.id
    selection = [french("contracts", c)[0] for c in SELECTION_COLUMNS]
    assert len(set(selection)) == len(selection)


def test_a_supplier_whose_key_holds_a_slash_has_the_page_its_links_reach(
    controlled: Controlled,
) -> None:
    import re
    from html import unescape

    c = controlled
    key = c.warehouse.value("SELECT supplier_key FROM suppliers WHERE holder_id LIKE '%/%'")
    assert key is not None and "/" in key
    uid = _uid(c, c.quoted_id)
    page = fetch(f"{c.url}/marches/{quote(uid, safe='')}/").body.decode()
    links = [unescape(h) for h in re.findall(r'href="(/titulaires/[^"]+)"', page)]
    assert links == [f"/titulaires/{quote(key, safe='')}/"]
    supplier = fetch(c.url + links[0])
    assert supplier.status == 200 and FOREIGN_ID in supplier.body.decode()
    twin = fetch(c.url + links[0].rstrip("/") + ".json")
    assert twin.status == 200 and twin.json()["supplier"]["supplier_key"] == key
    api = fetch(f"{c.url}/api/v1/titulaires/{quote(key, safe='')}")
    assert api.status == 200 and api.json()["supplier"]["holder_id"] == FOREIGN_ID


def test_without_a_warehouse_pages_and_api_answer_503_with_what_to_do(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = site(server, tmp_path / "vide", monkeypatch)
    for path in ("/", "/marches/", "/egalim/", "/donnees/acheteurs.csv", "/marches/selection.csv"):
        answer = fetch(url + path)
        assert answer.status == 503, path
        assert "observatoire build" in answer.body.decode(), path
    api = fetch(url + "/api/v1/marches")
    assert api.status == 503 and api.json()["statut"] == 503
    assert "observatoire build" in api.json()["que_faire"]


def test_the_server_publisher_writes_each_new_build_without_a_request(tmp_path: Path) -> None:
    """What ``observatoire serve`` starts: every file of a build is written before anyone asks,
    and again for the next build."""
    import time

    from observatoire import datasets
    from observatoire.build import build

    wh = make_warehouse(tmp_path / "home", MEGALIS)
    wh.con.close()
    exports = wh.settings.home / "exports"
    # every dataset this deployment publishes (no payment loaded: not the payments)
    expected = {f"{d}.{f}" for d in datasets.DATASETS if d != "paiements"
                for f in datasets.FORMATS}

    def published(build_id: int) -> bool:
        folder = exports / str(build_id)
        return folder.is_dir() and expected <= {p.name for p in folder.iterdir()}

    def wait_for(build_id: int) -> None:
        deadline = time.monotonic() + 120
        while not published(build_id):
            assert time.monotonic() < deadline, f"build {build_id} not published"
            time.sleep(0.2)

    publisher = datasets.Publisher(wh.settings, interval=0.2)
    publisher.start()
    try:
        first = warehouse_rows(wh.settings, "SELECT max(build_id) FROM build_info")[0][0]
        wait_for(first)
        second = build(wh.settings).build_id
        wait_for(second)
    finally:
        publisher.stopped.set()
        publisher.join(30)
    assert not publisher.is_alive()


def test_the_coming_ends_download_whole_not_their_first_page(
    demo_site: str, demo_warehouse: Warehouse,
) -> None:
    import calendar
    import csv

    today = date.today()
    # the same day 60 months later, or the last day of that month
    last_day = calendar.monthrange(today.year + 5, today.month)[1]
    until = date(today.year + 5, today.month, min(today.day, last_day))
    expected = [uid for (uid,) in demo_warehouse.rows(
        """SELECT uid FROM contracts WHERE estimated_end_date >= ? AND estimated_end_date < ?
           ORDER BY estimated_end_date, uid""", [today, until])]
    assert len(expected) > 200  # more than the twins' page
    answer = fetch(f"{demo_site}/opportunites/selection.csv?mois=60&separateur=point-virgule")
    rows = list(csv.reader(io.StringIO(answer.body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][-1] == "Département d'exécution"
    assert [r[0] for r in rows[1:]] == expected
    page = fetch(f"{demo_site}/opportunites/?mois=60").body.decode()
    assert 'href="/opportunites/selection.xlsx?mois=60"' in page
