"""Egalim mappings decided by a person (descriptions → articles, unknown matrix labels →
labels), through the pages under /gestion/, the command line and the import of the legacy
decisions file, with real imports and real builds (DuckDB) on the test application database.

The profile is the one of tests/test_egalim_matrices.py (4 articles, Lycée Auguste Pavie). The
supplier matrix of "Maraîcher Breton":

  MB-10  FL-001   AB                       → BIO, FRANCE (origin)
  MB-20  VIA-001  Porc Label Rouge Breizh  → unknown label: ignored until a person decides
  MB-30  MER-001  Pêche responsable        → unknown label: ignored until a person decides
  MB-40  BOF-001  AB                       → BIO, FRANCE (origin)

Purchase lines of Pavie, all in 2025 (a mapped export; an empty labels cell: unknown):

  n  description                  supplier   code     €    family            labels
  2  Pommes                       Maraîcher  FL-001   100  FRUITS_ET_LEGUMES (empty) → BIO by MB-10
  3  Sauté de porc                Maraîcher  MB-20    200  (none: VIA-001's)  (empty) → MB-20
  4  Colin                        Maraîcher  MER-001   80  PRODUITS_DE_LA_MER (empty) → MB-30
  5  Épices                       Autre      —         40  AUTRES            aucun
  6  Yaourt nature brassé 125 g   Maraîcher  —         30  PRODUITS_LAITIERS aucun

Total 450 €. With no decision: Egalim = bio = 100 (line 2); meat and fish: 0 of 280 (lines 3
and 4). With "Yaourt nature brassé 125 g" → BOF-001 (the line then matches MB-40: BIO) and
"Porc Label Rouge Breizh" → LABEL_ROUGE (line 3 counts): Egalim 100 + 200 + 30 = 330
(73.33 %), bio 130 (28.89 %), meat and fish 200 of 280 (71.43 %).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from observatoire.build import build
from observatoire.cli import cli
from observatoire.config import Settings
from observatoire.errors import ConfigError
from tests.conftest import AppDb, clear_corrections, make_account, signed_in
from tests.test_egalim_matrices import MAPPING, PAVIE, SUPPLIER, _write_profile

pytestmark = pytest.mark.appdb

OTHER_CANTEEN = "19290009000013"  # a lycée of the Bretagne list, without purchases here

MATRIX = """Référence;Code nomenclature;Désignation;Labels;Origine
MB-10;FL-001;Pommes golden;AB;France
MB-20;VIA-001;Sauté de porc fermier;Porc Label Rouge Breizh;
MB-30;MER-001;Colin;Pêche responsable;
MB-40;BOF-001;Yaourt nature bio;AB;France
"""

YAOURT = "Yaourt nature brassé 125 g"

LINES = [
    ["siret", "description", "fournisseur", "siret_fournisseur", "code_article", "date",
     "prix_ht", "famille", "labels"],
    [PAVIE, "Pommes", SUPPLIER, "", "FL-001", "2025-01-10", "100.00", "FRUITS_ET_LEGUMES", ""],
    [PAVIE, "Sauté de porc", SUPPLIER, "", "MB-20", "2025-01-11", "200.00", "", ""],
    [PAVIE, "Colin", SUPPLIER, "", "MER-001", "2025-01-13", "80.00", "PRODUITS_DE_LA_MER", ""],
    [PAVIE, "Épices", "Autre", "", "", "2025-01-14", "40.00", "AUTRES", "aucun"],
    [PAVIE, YAOURT, SUPPLIER, "", "", "2025-01-15", "30.00", "PRODUITS_LAITIERS", "aucun"],
]

#: The schema of the legacy decisions file (observatoire 0.x, egalim/decisions.py).
LEGACY_SCHEMA = """
CREATE TABLE mapping_decisions (
    decision_id INTEGER PRIMARY KEY, description_key TEXT NOT NULL, description TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accepter', 'refuser')), article_code TEXT,
    proposed_code TEXT, score REAL, decided_by TEXT NOT NULL, decided_at TEXT NOT NULL,
    source_file TEXT);
CREATE INDEX mapping_decisions_key ON mapping_decisions (description_key);
CREATE VIEW current_decisions AS SELECT d.* FROM mapping_decisions d
WHERE d.decision_id = (SELECT max(decision_id) FROM mapping_decisions x
                       WHERE x.description_key = d.description_key);
"""


@pytest.fixture(scope="module")
def home(application_database: AppDb, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("egalim-mappings")
    settings = replace(application_database.settings(root / "home"),
                       profile=str(_write_profile(root / "profil")))
    matrix = root / "matrice.csv"
    matrix.write_text(MATRIX, encoding="utf-8")
    (root / "export.toml").write_text(MAPPING, encoding="utf-8")
    with (root / "achats.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(LINES)
    _cli(settings, "egalim", "matrice", str(matrix), "--fournisseur", SUPPLIER)
    _cli(settings, "egalim", "importer", str(root / "achats.csv"), "--correspondance",
         str(root / "export.toml"))
    return settings


@pytest.fixture
def site(home: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The pages read this home (and its profile); no mapping in the database yet."""
    monkeypatch.setenv("OBSERVATOIRE_HOME", str(home.home))
    monkeypatch.setenv("OBSERVATOIRE_PROFILE", home.profile)
    monkeypatch.setenv("OBSERVATOIRE_DATABASE_URL", home.database_url)
    clear_corrections()
    return home


def _cli(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["--home", str(settings.home), "--profile", settings.profile, *args],
        env={"OBSERVATOIRE_DATABASE_URL": settings.database_url})
    assert result.exit_code == 0, result.output
    return result.output


def _text(response: Any) -> str:
    return str(response.content.decode("utf-8"))


@pytest.fixture(scope="module")
def people(home: Settings) -> dict[str, Any]:
    return {
        "admin": make_account("admin-egalim", "administrateur").user,
        "reader": make_account("lecteur-egalim", "lecteur").user,
        "pavie": make_account("gest-pavie", "gestionnaire", f"cantine:{PAVIE}").user,
        "other": make_account("gest-autre", "gestionnaire", f"cantine:{OTHER_CANTEEN}").user,
    }


def _results(settings: Settings) -> tuple[Any, ...]:
    """Pavie in 2025: total, Egalim, bio, rates, meat and fish Egalim / total."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        row = con.execute(
            """SELECT total, egalim, bio, round(egalim_rate, 4), round(bio_rate, 4),
                      meat_fish_egalim, meat_fish, round(meat_fish_egalim_rate, 4)
               FROM egalim_results WHERE scope = 'canteen' AND scope_key = ? AND year = 2025
                 AND month = 0""", [PAVIE]).fetchone()
    assert row is not None
    return tuple(row)


def _lines(settings: Settings) -> dict[str, tuple[Any, ...]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return {r[0]: r[1:] for r in con.execute(
            """SELECT description, nomenclature_code, article_source, effective_family,
                      effective_characteristics FROM egalim_lines""").fetchall()}


def _warnings(settings: Settings) -> dict[str, Any]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return dict(con.execute(
            "SELECT article_ref, warnings FROM egalim_matrix ORDER BY 1").fetchall())


BEFORE = (Decimal("450.00"), Decimal("100.00"), Decimal("100.00"), 0.2222, 0.2222,
          Decimal("0.00"), Decimal("280.00"), 0.0)
AFTER = (Decimal("450.00"), Decimal("330.00"), Decimal("130.00"), 0.7333, 0.2889,
         Decimal("200.00"), Decimal("280.00"), 0.7143)


def _trail(mapping_id: int) -> list[tuple[str, str]]:
    from observatoire.stewardship.models import AuditEvent

    return list(AuditEvent.objects.filter(object_type="mapping", object_id=str(mapping_id))
                .order_by("id").values_list("action", "actor_name"))


def test_decisions_on_the_pages_change_the_results_after_a_build(
    site: Settings, people: dict[str, Any]
) -> None:
    from observatoire.stewardship.models import Mapping

    build(site)
    assert _results(site) == BEFORE
    assert _lines(site)[YAOURT][:2] == (None, "none")
    assert _warnings(site) == {
        "MB-10": None, "MB-20": "libellé inconnu « Porc Label Rouge Breizh » : ignoré",
        "MB-30": "libellé inconnu « Pêche responsable » : ignoré", "MB-40": None}

    steward, admin = signed_in(people["pavie"]), signed_in(people["admin"])
    # The steward of Pavie sees its two descriptions without an article, the largest amount
    # first, with the closest article and its score: "yaourt nature" is the first 13 of the
    # 26 characters of "yaourt nature brasse 125 g", 2 × 13 / 39 = 66.7 %.
    page = _text(steward.get("/gestion/correspondances/egalim/articles/"))
    assert page.index("Épices") < page.index(YAOURT)
    assert "<li>BOF-001 Yaourt nature (67)</li>" in page
    assert "aucun article proche" in page  # Épices: no article shares a word with it
    labels = _text(steward.get("/gestion/correspondances/egalim/labels/"))
    assert "« Porc Label Rouge Breizh »" in labels and "« Pêche responsable »" in labels

    # A first proposal, withdrawn by its author; a second one, accepted.
    url = "/gestion/correspondances/egalim/articles/"
    assert steward.post(url, {"description": YAOURT, "article": "MER-001",
                              "motif": "essai"}).status_code == 302
    first = Mapping.objects.get(kind="egalim_article", status="proposed")
    assert (first.key, first.label) == ("yaourt nature brasse 125 g", YAOURT)
    assert steward.post(f"/gestion/correspondances/{first.pk}/retirer/",
                        {"motif": "mauvais article"}).status_code == 302
    assert steward.post(url, {"description": YAOURT, "article": "BOF-001",
                              "motif": "Même produit"}).status_code == 302
    yaourt = Mapping.objects.get(kind="egalim_article", status="proposed")
    assert yaourt.details["score"] == 66.7 and yaourt.details["suggested"] == "BOF-001"
    # Épices → Pommes golden: proposed, then rejected.
    assert steward.post(url, {"description": "Épices", "article": "", "autre_code": "FL-001",
                              "motif": "au hasard"}).status_code == 302
    spices = Mapping.objects.get(kind="egalim_article", status="proposed", key="epices")
    # Labels: one to Label Rouge, one declared "not a label".
    url = "/gestion/correspondances/egalim/labels/"
    assert steward.post(url, {"libelle": "Porc Label Rouge Breizh", "label": "LABEL_ROUGE",
                              "motif": "Certificat LR fourni"}).status_code == 302
    assert steward.post(url, {"libelle": "Pêche responsable", "label": "",
                              "motif": "Allégation du fournisseur"}).status_code == 302
    porc = Mapping.objects.get(kind="egalim_label", key="porc label rouge breizh")
    peche = Mapping.objects.get(kind="egalim_label", key="peche responsable")

    build(site)
    assert _results(site) == BEFORE  # proposed only: nothing applies

    for mapping, decision in ((yaourt, "accepter"), (spices, "refuser"), (porc, "accepter"),
                              (peche, "accepter")):
        assert admin.post(f"/gestion/correspondances/{mapping.pk}/decider/", {
            "decision": decision, "motif": "Vu"}).status_code == 302
    build(site)
    assert _results(site) == AFTER
    lines = _lines(site)
    assert lines[YAOURT] == ("BOF-001", "mapping", "PRODUITS_LAITIERS", ["BIO", "FRANCE"])
    assert lines["Sauté de porc"] == ("VIA-001", "matrix", "VIANDES_VOLAILLES", ["LABEL_ROUGE"])
    assert lines["Épices"][:2] == (None, "none")  # rejected: not applied
    assert _warnings(site) == {"MB-10": None, "MB-20": None, "MB-30": None, "MB-40": None}
    # Decided descriptions leave the list of those to decide.
    page = _text(steward.get("/gestion/correspondances/egalim/articles/"))
    assert YAOURT not in page and "Épices" in page

    # Withdrawn by an administrator, the label mapping stops applying at the next build.
    assert admin.post(f"/gestion/correspondances/{porc.pk}/retirer/",
                      {"motif": "Certificat expiré"}).status_code == 302
    build(site)
    assert _results(site)[:3] == (Decimal("450.00"), Decimal("130.00"), Decimal("130.00"))

    assert _trail(first.pk) == [("mapping_proposed", "gest-pavie"),
                                ("mapping_withdrawn", "gest-pavie")]
    assert _trail(yaourt.pk) == [("mapping_proposed", "gest-pavie"),
                                 ("mapping_accepted", "admin-egalim")]
    assert _trail(spices.pk) == [("mapping_proposed", "gest-pavie"),
                                 ("mapping_rejected", "admin-egalim")]
    assert _trail(porc.pk) == [("mapping_proposed", "gest-pavie"),
                               ("mapping_accepted", "admin-egalim"),
                               ("mapping_withdrawn", "admin-egalim")]
    statuses = {m.pk: m.status for m in Mapping.objects.all()}
    assert statuses == {first.pk: "withdrawn", yaourt.pk: "accepted", spices.pk: "rejected",
                        porc.pk: "withdrawn", peche.pk: "accepted"}
    # The audit trail's export has every step.
    export = _text(admin.get("/gestion/journal.csv?action=mapping_accepted"))
    assert f"Proposition {yaourt.pk} (description « {YAOURT} » → article BOF-001) acceptée" \
        in export


def test_who_may_do_what(site: Settings, people: dict[str, Any]) -> None:
    from observatoire.stewardship.models import Mapping

    build(site)
    url = "/gestion/correspondances/egalim/articles/"
    reader, other = signed_in(people["reader"]), signed_in(people["other"])
    steward, admin = signed_in(people["pavie"]), signed_in(people["admin"])
    proposal = {"description": YAOURT, "article": "BOF-001", "motif": "x"}
    # Readers read, and change nothing.
    assert YAOURT in _text(reader.get(url))
    assert reader.post(url, proposal).status_code == 403
    # A steward of another canteen sees neither the descriptions nor the matrix's labels, and
    # cannot propose for them.
    assert YAOURT not in _text(other.get(url))
    assert "Porc Label Rouge" not in _text(other.get("/gestion/correspondances/egalim/labels/"))
    assert other.post(url, proposal).status_code == 403
    assert other.post("/gestion/correspondances/egalim/labels/", {
        "libelle": "Pêche responsable", "label": "", "motif": "x"}).status_code == 403
    # Refused values, and a label the normaliser already knows.
    bad = steward.post(url, {**proposal, "article": "", "autre_code": "NOPE"})
    assert bad.status_code == 400 and "pas un article de la nomenclature" in _text(bad)
    known = steward.post("/gestion/correspondances/egalim/labels/", {
        "libelle": "MSC", "label": "PECHE_DURABLE", "motif": "x"})
    assert known.status_code == 400 and "déjà reconnu" in _text(known)
    assert not Mapping.objects.exists()
    # Stewards propose; only administrators decide; a steward withdraws only its own.
    assert steward.post(url, proposal).status_code == 302
    mapping = Mapping.objects.get()
    assert steward.post(f"/gestion/correspondances/{mapping.pk}/decider/", {
        "decision": "accepter", "motif": "x"}).status_code == 403
    assert other.post(f"/gestion/correspondances/{mapping.pk}/retirer/",
                      {"motif": "x"}).status_code == 403
    twice = steward.post(url, {**proposal, "article": "FL-001"})
    assert twice.status_code == 400 and "attend déjà une décision" in _text(twice)
    assert admin.post(f"/gestion/correspondances/{mapping.pk}/decider/", {
        "decision": "accepter", "motif": "ok"}).status_code == 302
    # Only an administrator withdraws a mapping in force.
    assert steward.post(f"/gestion/correspondances/{mapping.pk}/retirer/",
                        {"motif": "x"}).status_code == 403
    listing = _text(reader.get("/gestion/correspondances/?type=egalim_article&statut=accepted"))
    assert f"« {YAOURT} »" in listing and "BOF-001 Yaourt nature" in listing
    assert "Aucune correspondance." in _text(reader.get(
        "/gestion/correspondances/?type=egalim_label"))
    # The list of every mapping keeps to a steward's canteens too.
    assert f"« {YAOURT} »" in _text(steward.get("/gestion/correspondances/"))
    assert f"« {YAOURT} »" not in _text(other.get("/gestion/correspondances/"))
    assert "Aucune correspondance." in _text(other.get(
        "/gestion/correspondances/?type=egalim_article"))


def test_the_command_line_decides_as_an_administrator(
    site: Settings, tmp_path: Path
) -> None:
    from observatoire.stewardship.models import Mapping

    build(site)
    proposals = tmp_path / "propositions.csv"
    _cli(site, "egalim", "correspondances", "suggerer", "--sortie", str(proposals))
    with proposals.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    assert [(r["description"], r["code_propose"], r["score"]) for r in rows] == [
        ("Épices", "", ""), (YAOURT, "BOF-001", "67")]

    def decide(decision: str, by: str) -> str:
        rows[1]["decision"] = decision
        with proposals.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
            writer.writeheader()
            writer.writerows(rows)
        return _cli(site, "egalim", "correspondances", "decider", str(proposals), "--par", by)

    assert "1 enregistrée(s) par a.martin" in decide("accepter", "a.martin")
    assert "0 enregistrée(s)" in decide("accepter", "a.martin")  # the same again: no change
    build(site)
    build(site)  # the decision is an input: it survives any number of rebuilds
    assert _lines(site)[YAOURT][:2] == ("BOF-001", "mapping")
    assert _results(site) == (*AFTER[:1], Decimal("130.00"), Decimal("130.00"), 0.2889,
                              0.2889, Decimal("0.00"), Decimal("280.00"), 0.0)
    # Decided descriptions are not suggested again (unless --toutes).
    _cli(site, "egalim", "correspondances", "suggerer", "--sortie", str(tmp_path / "b.csv"))
    assert YAOURT not in (tmp_path / "b.csv").read_text(encoding="utf-8")
    # A later refusal supersedes the acceptance; both stay.
    decide("refuser", "b.durand")
    first, second = Mapping.objects.order_by("pk")
    assert (first.status, first.value, first.decided_by_name) == (
        "superseded", "BOF-001", "a.martin")
    assert (second.status, second.value, second.decided_by_name) == (
        "accepted", "", "b.durand")
    assert second.details["via"] == "ligne de commande"
    assert _trail(first.pk) == [("mapping_decided", "a.martin")]
    assert _trail(second.pk) == [("mapping_decided", "b.durand")]
    build(site)
    assert _lines(site)[YAOURT][:2] == (None, "none")
    assert _results(site) == BEFORE


def test_a_wrong_reviewed_file_records_nothing(site: Settings, tmp_path: Path) -> None:
    from observatoire.stewardship.models import Mapping

    path = tmp_path / "decisions.csv"
    path.write_text("description;code_propose;decision;code_retenu\n"
                    f"{YAOURT};BOF-001;accepter;\n"
                    "Yaourt;BOF-001;;NOPE-1\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["--home", str(site.home), "--profile", site.profile, "egalim", "correspondances",
              "decider", str(path)], env={"OBSERVATOIRE_DATABASE_URL": site.database_url})
    # ``main`` prints an ObservatoireError as one French message (no traceback).
    assert isinstance(result.exception, ConfigError)
    assert "n'est pas dans la nomenclature" in result.exception.message
    assert result.exception.where == f"{path}, ligne 3"
    assert not Mapping.objects.exists()  # nothing recorded, not even line 2


def _legacy(home: Path, rows: list[tuple[Any, ...]]) -> Path:
    path = home / "egalim-decisions.sqlite"
    con = sqlite3.connect(path)
    con.executescript(LEGACY_SCHEMA)
    con.executemany(
        """INSERT INTO mapping_decisions (description_key, description, decision, article_code,
               proposed_code, score, decided_by, decided_at, source_file)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""", rows)
    con.commit()
    con.close()
    return path


@pytest.fixture
def legacy_home(application_database: AppDb, home: Settings, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A copy of the module's home (same landed files) with its own data folder."""
    import shutil

    settings = replace(home, home=tmp_path / "home")
    shutil.copytree(home.home, settings.home,
                    ignore=shutil.ignore_patterns("warehouse*.duckdb*"))
    monkeypatch.setenv("OBSERVATOIRE_HOME", str(settings.home))
    monkeypatch.setenv("OBSERVATOIRE_PROFILE", settings.profile)
    monkeypatch.setenv("OBSERVATOIRE_DATABASE_URL", settings.database_url)
    clear_corrections()
    yield settings


def test_the_legacy_decisions_file_is_imported_once(legacy_home: Settings) -> None:
    from observatoire.stewardship.django_setup import migrate
    from observatoire.stewardship.models import AuditEvent, Mapping

    path = _legacy(legacy_home.home, [
        ("yaourt nature brasse 125 g", YAOURT, "accepter", "BOF-001", "BOF-001", 66.7,
         "a.martin", "2025-03-01T10:00:00+00:00", "propositions.csv"),
        ("epices", "Épices", "refuser", None, None, None, "a.martin",
         "2025-03-01T10:00:00+00:00", "propositions.csv"),
        ("yaourt nature brasse 125 g", "yaourt  nature brassé 125 G", "refuser", None,
         "BOF-001", 66.7, "b.durand", "2025-04-02T09:30:00+00:00", "propositions-2.csv"),
        ("yaourt nature brasse 125 g", YAOURT, "accepter", "BOF-001", "BOF-001", 66.7,
         "c.leroy", "2025-05-05T08:00:00+00:00", None),
    ])
    # Not imported yet: the build stops rather than drop the decisions silently.
    with pytest.raises(ConfigError) as error:
        build(legacy_home)
    assert "observatoire migrate" in error.value.hint
    notes: list[str] = []
    migrate(legacy_home, notes.append)
    assert notes == [
        "4 décision(s) de correspondance Egalim reprise(s) du fichier egalim-decisions.sqlite "
        "dans la base applicative, avec leurs auteurs et leurs dates (4 correspondance(s) "
        "écrite(s), les autres répétaient la décision en vigueur). Le fichier est gardé sous "
        "le nom egalim-decisions.sqlite.reprise et n'est plus lu."]
    assert not path.exists() and (legacy_home.home / "egalim-decisions.sqlite.reprise").exists()
    found = [(m.label, m.value, m.status, m.proposed_by_name, m.decided_by_name,
              m.decided_at.isoformat(), m.details["legacy_decision_id"])
             for m in Mapping.objects.order_by("pk")]
    assert found == [
        (YAOURT, "BOF-001", "superseded", "a.martin", "a.martin", "2025-03-01T10:00:00+00:00", 1),
        ("Épices", "", "accepted", "a.martin", "a.martin", "2025-03-01T10:00:00+00:00", 2),
        ("yaourt nature brassé 125 G", "", "superseded", "b.durand", "b.durand",
         "2025-04-02T09:30:00+00:00", 3),
        (YAOURT, "BOF-001", "accepted", "c.leroy", "c.leroy", "2025-05-05T08:00:00+00:00", 4),
    ]
    ids = [str(m.pk) for m in Mapping.objects.order_by("pk")]
    assert list(AuditEvent.objects.filter(object_type="mapping", object_id__in=ids)
                .order_by("id").values_list("action", "actor_name")) == [
        ("mapping_imported", "a.martin"), ("mapping_imported", "a.martin"),
        ("mapping_imported", "b.durand"), ("mapping_imported", "c.leroy")]
    [event] = AuditEvent.objects.filter(action="egalim_decisions_imported",
                                        details__file=str(path))
    assert event.details["decisions"] == 4 and event.details["authors"] == [
        "a.martin", "b.durand", "c.leroy"]
    # Once: a second migration finds nothing to do.
    notes.clear()
    migrate(legacy_home, notes.append)
    assert notes == [] and Mapping.objects.count() == 4
    build(legacy_home)
    assert _lines(legacy_home)[YAOURT][:2] == ("BOF-001", "mapping")
    assert _results(legacy_home)[:3] == (Decimal("450.00"), Decimal("130.00"),
                                         Decimal("130.00"))


def test_a_matrix_imported_after_a_decision_reads_the_label_with_it(
    site: Settings, tmp_path: Path
) -> None:
    """The import report no longer calls a decided label unknown (before, it waited for the
    next build): « Pêche responsable » decided "not a label", « Porc Label Rouge Breizh »
    decided Label Rouge; « Chose inconnue » is still reported."""
    from observatoire.stewardship.services import record_decision

    record_decision("admin-test", "egalim_label", "Pêche responsable", "", "allégation")
    record_decision("admin-test", "egalim_label", "Porc Label Rouge Breizh", "LABEL_ROUGE",
                    "certificat")
    matrix = tmp_path / "autre.csv"
    matrix.write_text("reference;code;designation;labels;origine\n"
                      "ZZ-1;MER-001;Lieu;Pêche responsable;\n"
                      "ZZ-2;VIA-001;Rôti;Porc Label Rouge Breizh;\n"
                      "ZZ-3;VIA-001;Rôti;Chose inconnue;\n", encoding="utf-8")
    report = json.loads(_cli(site, "egalim", "matrice", str(matrix), "--fournisseur",
                             "Autre fournisseur", "--json"))[0]["rapport"]
    assert [w["message"] for w in report["avertissements"]] == [
        "libellé inconnu « Chose inconnue » : ignoré"]


def test_an_author_cannot_withdraw_a_proposal_accepted_meanwhile(
    site: Settings, people: dict[str, Any]
) -> None:
    """The steward's page showed its open proposal; an administrator accepts it before the
    steward's « retirer » arrives: the withdrawal is refused (only an administrator withdraws a
    mapping in force), and the mapping stays in force."""
    from observatoire.stewardship.models import Mapping
    from observatoire.stewardship.services import (
        Conflict,
        decide_mapping,
        propose_mapping,
        withdraw_mapping,
    )

    proposal = propose_mapping(people["pavie"], "egalim_label", "Pêche responsable", "",
                               "allégation", {"": ""})
    seen_by_steward = Mapping.objects.get(pk=proposal.pk)
    decide_mapping(people["admin"], proposal, True, "Vu")
    with pytest.raises(Conflict):
        withdraw_mapping(people["pavie"], seen_by_steward, "erreur", administrator=False)
    assert Mapping.objects.get(pk=proposal.pk).status == "accepted"
    assert _trail(proposal.pk) == [("mapping_proposed", "gest-pavie"),
                                   ("mapping_accepted", "admin-egalim")]
