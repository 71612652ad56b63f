"""Directorates: declared in the profile (checked at load), given to every contract by the build,
and a steward scoped to a directorate sees and corrects exactly its contracts, following the
domain mappings people decide.

Data: the demo's DECP 2024 files (GIP Maximilien, Mégalis Bretagne) and the test profile
``tests/fixtures/profiles/directions`` (the generic domains; works → ``travaux``, supplies →
``achats``, the buyer Mégalis → ``numerique``). The expected directorate of each contract is
worked out here in plain Python from the CPV prefixes of the generic profile's domains.toml.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from observatoire.build import build
from observatoire.config import Settings
from observatoire.errors import ConfigError
from observatoire.indicators.profile import BUILTIN_DIR, load_profile
from tests.conftest import (
    DEMO,
    FIXTURES,
    AppDb,
    clear_corrections,
    make_account,
    signed_in,
    stewardship_home,
    warehouse_rows,
)

PROFILE = FIXTURES / "profiles" / "directions"
DIRECTORATES = {"travaux": "Direction des travaux", "achats": "Direction des achats courants",
                "numerique": "Direction du numérique"}
GIP = "13001845000028"
MEGALIS_SIREN = "599200136"
UID_SERVICES = GIP + "D2F2020S0757302"  # CPV 70130000: the "services" domain, no directorate


# --- The profile ------------------------------------------------------------------------------


def _profile(tmp_path: Path, directorates: str) -> Path:
    folder = tmp_path / "profil"
    folder.mkdir(exist_ok=True)
    (folder / "profile.toml").write_text('extends = "generique"\nid = "essai"\n',
                                         encoding="utf-8")
    (folder / "directorates.toml").write_text(directorates, encoding="utf-8")
    return folder


@pytest.mark.parametrize(("entry", "message"), [
    ('id = "a"\nlabel = "A"\ndomains = ["inconnu"]', "Domaine d'achat inconnu : « inconnu »"),
    ('id = "a"\nlabel = "A"\nbuyers = ["12345"]', "Acheteur invalide : « 12345 »"),
    ('id = "a"\nlabel = "A"\nbuyers = [130018450]', "Acheteur invalide : « 130018450 »"),
    ('id = "a"\nlabel = "A"', "au moins un domaine"),
    ('id = "A B"\nlabel = "A"\ndomains = ["travaux"]', "Identifiant de direction invalide"),
    ('id = "a"\nlabel = "A"\ndomains = ["travaux"]\nchef = "x"', "Champ inconnu : chef"),
    ('id = "a"\ndomains = ["travaux"]', "Le champ « label » manque"),
])
def test_a_wrong_directorate_is_reported_with_its_file_and_entry(
    tmp_path: Path, entry: str, message: str
) -> None:
    folder = _profile(tmp_path, f"[[directorate]]\n{entry}\n")
    with pytest.raises(ConfigError) as error:
        load_profile(str(folder))
    text = str(error.value)
    assert message in text, text
    assert "directorates.toml" in text and "direction" in text


def test_a_domain_or_buyer_belongs_to_one_directorate(tmp_path: Path) -> None:
    twice = ('[[directorate]]\nid = "a"\nlabel = "A"\ndomains = ["travaux"]\n'
             '[[directorate]]\nid = "b"\nlabel = "B"\ndomains = ["fournitures", "travaux"]\n')
    with pytest.raises(ConfigError, match="« travaux » appartient déjà à la direction « a »"):
        load_profile(str(_profile(tmp_path, twice)))
    buyer = ('[[directorate]]\nid = "a"\nlabel = "A"\nbuyers = ["130018450"]\n'
             '[[directorate]]\nid = "a"\nlabel = "B"\ndomains = ["travaux"]\n')
    with pytest.raises(ConfigError, match="déclarée deux fois"):
        load_profile(str(_profile(tmp_path, buyer)))


def test_shipped_profiles() -> None:
    """The generic profile defines no directorate; the Région's proposal gives each of its nine
    purchase domains to exactly one directorate and says it is a proposal."""
    assert load_profile("generique").directorates == ()
    region = load_profile("region-bretagne")
    owned = [d for directorate in region.directorates for d in directorate.domains]
    assert sorted(owned) == sorted(d.id for d in region.domains) and len(owned) == 9
    text = (BUILTIN_DIR / "region-bretagne" / "directorates.toml").read_text(encoding="utf-8")
    assert "PROPOSAL TO BE VALIDATED" in text
    assert {d.id: d.label for d in load_profile(str(PROFILE)).directorates} == DIRECTORATES


# --- Expected directorates, in plain Python -------------------------------------------------------


def _expected(rows: list[tuple[str, str | None, str]], overrides: dict[str, str] | None = None
              ) -> dict[str, str | None]:
    """uid → directorate from the generic domains.toml: a buyer rule first, then the longest
    CPV prefix (a decided override before the profile's at equal length), the default domain
    for the rest."""
    domains = tomllib.loads((BUILTIN_DIR / "generique" / "domains.toml").read_text("utf-8"))
    prefixes = [(p, d["id"], 0) for d in domains["domain"] for p in d["cpv_prefixes"]]
    prefixes += [(p, d, 1) for p, d in (overrides or {}).items()]
    owner = {"travaux": "travaux", "fournitures": "achats"}
    expected: dict[str, str | None] = {}
    for uid, cpv, buyer in rows:
        if buyer.startswith(MEGALIS_SIREN):
            expected[uid] = "numerique"
            continue
        matches = sorted((p for p in prefixes if cpv and cpv.startswith(p[0])),
                         key=lambda p: (len(p[0]), p[2]), reverse=True)
        domain = matches[0][1] if matches else domains["default"]
        expected[uid] = owner.get(domain)
    return expected


# --- Through real builds and the pages ------------------------------------------------------------


@pytest.fixture(scope="module")
def site(application_database: AppDb, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Settings]:
    with stewardship_home(application_database, tmp_path_factory.mktemp("directions"),
                          profile=str(PROFILE)) as settings:
        yield settings
        clear_corrections()


def _steward(name: str, *scopes: str) -> Any:
    return make_account(name, "gestionnaire", *scopes, directorates=DIRECTORATES).user


@pytest.mark.appdb
def test_every_contract_gets_the_directorate_of_its_buyer_or_domain(site: Settings) -> None:
    rows = warehouse_rows(site, "SELECT uid, cpv, buyer_siret FROM contracts")
    expected = _expected(rows)
    found = dict(warehouse_rows(site, "SELECT uid, directorate_id FROM contracts"))
    assert found == expected
    # Mégalis' contracts are all works: the buyer rule wins over the domain
    sources = dict(warehouse_rows(site, "SELECT uid, directorate_source FROM contracts"))
    megalis = [u for u, _, b in rows if b.startswith(MEGALIS_SIREN)]
    assert megalis and all(sources[u] == "buyer" for u in megalis)
    assert {v for v in expected.values()} == {"achats", "numerique", None}
    # findings carry their contract's directorate
    assert not warehouse_rows(site, """SELECT 1 FROM findings f JOIN contracts c USING (uid)
                              WHERE f.directorate_id IS DISTINCT FROM c.directorate_id""")


@pytest.mark.appdb
def test_a_directorate_steward_sees_and_corrects_exactly_its_contracts(site: Settings) -> None:
    expected = _expected(warehouse_rows(site, "SELECT uid, cpv, buyer_siret FROM contracts"))
    mine = {uid for uid, d in expected.items() if d == "achats"}
    assert len(mine) == 3  # one CPV 22…, two CPV 48… (supplies) of the GIP
    client = signed_in(_steward("dir-achats", "direction:achats"))
    for uid, directorate in expected.items():
        status = client.get(f"/gestion/marches/{uid}/").status_code
        assert status == (200 if directorate == "achats" else 403), (uid, directorate, status)
        # a correction outside the scope is refused before anything is checked (403); inside,
        # the unknown finding is refused by the logic (400)
        posted = client.post(f"/gestion/marches/{uid}/corriger/", {
            "action": "not_a_defect", "constat": "inconnu", "motif": "essai"})
        assert posted.status_code == (400 if directorate == "achats" else 403)
    # the queue: exactly the findings of those contracts
    open_findings = len(warehouse_rows(site, "SELECT finding_id FROM findings WHERE uid IN ?",
                              [sorted(mine)]))
    page = client.get("/gestion/").content.decode()
    assert f"<strong>{open_findings} constats ouverts</strong>" in page
    assert "direction « Direction des achats courants »" in page
    listed = {uid for uid in expected if f"/gestion/marches/{uid}/" in page}
    assert listed == mine
    # the dashboard: its own directorate, nobody else's
    assert client.get("/gestion/tableau/").status_code == 200
    own = client.get("/gestion/tableau/?direction=achats").content.decode()
    assert "Direction Direction des achats courants" in own
    assert client.get("/gestion/tableau/?direction=numerique").status_code == 403
    assert client.get(f"/gestion/tableau/?acheteur={GIP}").status_code == 403
    # a reader filters the queue by directorate
    reader = signed_in(make_account("lecteur-directions", "lecteur").user)
    filtered = reader.get("/gestion/?direction=numerique").content.decode()
    expected_numerique = len(warehouse_rows(site, "SELECT 1 FROM findings WHERE directorate_id = ?",
                                   ["numerique"]))
    assert f"<strong>{expected_numerique} constats ouverts</strong>" in filtered


@pytest.mark.appdb
def test_the_account_form_knows_the_profile_directorates(site: Settings) -> None:
    admin = signed_in(make_account("admin-directions", "administrateur").user)
    form = admin.get("/gestion/comptes/").content.decode()
    assert "<code>achats</code> (Direction des achats courants)" in form
    refused = admin.post("/gestion/comptes/", {
        "identifiant": "dir-inconnue", "mot_de_passe": "Un-mot-de-passe-solide-2026",
        "role": "gestionnaire", "perimetres": "direction:lycees"})
    assert refused.status_code == 400
    assert "Direction inconnue du profil : « lycees »" in refused.content.decode()


@pytest.mark.appdb
def test_a_decided_domain_mapping_moves_contracts_between_directorates(site: Settings) -> None:
    from observatoire.stewardship.models import Mapping
    from observatoire.stewardship.services import decide_mapping, propose_mapping

    rows = warehouse_rows(site, "SELECT uid, cpv, buyer_siret FROM contracts")
    before = _expected(rows)
    leaving = next(uid for uid, cpv, _ in rows if cpv and cpv.startswith("22"))
    assert before[UID_SERVICES] is None and before[leaving] == "achats"
    works = signed_in(_steward("dir-travaux", "direction:travaux"))
    supplies = signed_in(_steward("dir-achats", "direction:achats"))
    assert works.get(f"/gestion/marches/{UID_SERVICES}/").status_code == 403
    assert supplies.get(f"/gestion/marches/{leaving}/").status_code == 200
    admin = make_account("admin-directions", "administrateur").user
    steward = make_account("dir-achats", "gestionnaire").user
    domains = {d.id: d.label for d in load_profile(str(PROFILE)).domains}
    try:
        for key, value in (("7013", "travaux"), ("22", "services")):
            proposed = propose_mapping(steward, "cpv_domain", key, value, "réorganisation",
                                       domains)
            decide_mapping(admin, proposed, True, "validé par la direction juridique")
        build(site)
        after = _expected(rows, {"7013": "travaux", "22": "services"})
        assert after[UID_SERVICES] == "travaux" and after[leaving] is None
        assert dict(warehouse_rows(site, "SELECT uid, directorate_id FROM contracts")) == after
        assert works.get(f"/gestion/marches/{UID_SERVICES}/").status_code == 200
        assert supplies.get(f"/gestion/marches/{leaving}/").status_code == 403
        page = works.get(f"/gestion/marches/{UID_SERVICES}/").content.decode()
        assert "Direction : Direction des travaux" in page and "par son domaine d" in page
    finally:
        Mapping.objects.all().delete()
        build(site)


def test_the_cli_lists_directorates_and_checks_directorate_scopes(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("OBSERVATOIRE_DATABASE_URL", "OBSERVATOIRE_PROFILE")}
        return subprocess.run([sys.executable, "-m", "observatoire.cli", "--home",
                               str(tmp_path / "home"), *args],
                              capture_output=True, text=True, check=False, env=env)

    listed = cli("--profile", str(PROFILE), "profile", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {d["id"]: d["label"] for d in json.loads(listed.stdout)["directorates"]} == \
        DIRECTORATES
    create = ("accounts", "create", "--role", "gestionnaire", "--scope", "direction:achats",
              "--password", "Un-mot-de-passe-solide-2026")
    made = cli("--profile", str(PROFILE), *create[:2], "dir-cli", *create[2:])
    assert made.returncode == 0, made.stderr
    refused = cli("--profile", "generique", *create[:2], "dir-cli-2", *create[2:])
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "ne définit aucune direction" in refused.stderr


@pytest.mark.appdb
def test_a_directorate_steward_keeps_the_contracts_its_corrections_took_out(
    site: Settings,
) -> None:
    """Excluding a contract takes it out of the model, hence out of its directorate: its
    steward must still see it, list the correction and revert it (the correction remembers the
    directorate it was made under); a steward of another directorate still cannot."""
    from observatoire.stewardship.models import Correction

    expected = _expected(warehouse_rows(site, "SELECT uid, cpv, buyer_siret FROM contracts"))
    uid = sorted(u for u, d in expected.items() if d == "achats")[0]
    mine = signed_in(_steward("dir-achats-2", "direction:achats"))
    other = signed_in(_steward("dir-numerique", "direction:numerique"))
    try:
        assert mine.post(f"/gestion/marches/{uid}/corriger/", {
            "action": "exclude", "motif": "Marché annulé"}).status_code == 302
        correction = Correction.objects.get(uid=uid, action="exclude")
        assert correction.directorate_id == "achats"
        build(site)
        assert not warehouse_rows(site, "SELECT 1 FROM contracts WHERE uid = ?", [uid])  # excluded
        assert mine.get(f"/gestion/marches/{uid}/").status_code == 200
        assert other.get(f"/gestion/marches/{uid}/").status_code == 403
        assert f"/gestion/marches/{uid}/" in mine.get("/gestion/corrections/").content.decode()
        assert other.post(f"/gestion/corrections/{correction.pk}/annuler/",
                          {"motif": "x"}).status_code == 403
        assert mine.post(f"/gestion/corrections/{correction.pk}/annuler/",
                         {"motif": "Erreur de saisie"}).status_code == 302
        assert Correction.objects.get(pk=correction.pk).status == "reverted"
        build(site)
        assert warehouse_rows(site, "SELECT 1 FROM contracts WHERE uid = ?", [uid])  # back
    finally:
        clear_corrections()
        build(site)


def test_observatoire_indicators_reruns_the_directorates_with_the_profile_in_force(
    tmp_path: Path,
) -> None:
    """The recomputation is the directorate step and what follows it: the directorates are
    given again, by the profile in force, on the warehouse in service, then the indicators
    (broken down by directorate, the payment ones too: B03/B04 by the directorate of the
    contract paid) computed from them."""
    from observatoire.build import recompute_indicators
    from observatoire.connectors.ingest import ingest

    home = tmp_path / "h"
    with_directorates = Settings(home=home, profile=str(PROFILE))
    ingest(with_directorates, [DEMO / "decp" / "v2"])
    build(with_directorates)
    query = "SELECT uid, directorate_id, directorate_source FROM contracts ORDER BY uid"
    built = warehouse_rows(with_directorates, query)
    assert any(d is not None for _, d, _ in built)
    found = "SELECT count(*) FROM findings WHERE directorate_id IS NOT NULL"
    assert warehouse_rows(with_directorates, found)[0][0] > 0
    # the generic profile has no directorate: none is left on the contracts or the findings
    run = recompute_indicators(Settings(home=home))
    assert [s.name for s in run.steps] == [
        "modele.directions", "paiements.indicateurs", "indicateurs"]
    assert warehouse_rows(with_directorates, query) == [(uid, None, None) for uid, _, _ in built]
    assert warehouse_rows(with_directorates, found) == [(0,)]
    assert warehouse_rows(with_directorates, "SELECT count(*) FROM profile_directorates") == [(0,)]
    # back to the profile with directorates: the same ones as the build gave
    recompute_indicators(with_directorates)
    assert warehouse_rows(with_directorates, query) == built


def test_barometer_for_a_directorate_counts_its_contracts(tmp_path: Path) -> None:
    """« direction=… » reads the indicator results broken down by directorate (the step now
    runs before the indicators): G01's count of marchés per directorate and year equals the
    count of the demo's marchés whose directorate is worked out here in plain Python; a
    directorate with too few known records (Mégalis: 5 contracts) publishes no A01 value."""
    from observatoire.connectors.ingest import ingest
    from observatoire.web.api import barometer_selection

    settings = Settings(home=tmp_path / "h", profile=str(PROFILE))
    ingest(settings, [DEMO / "decp"])  # every demo file: each directorate has marchés
    build(settings)
    rows = warehouse_rows(settings, "SELECT uid, cpv, buyer_siret, kind, notification_year "
                                    "FROM contracts")
    expected = _expected([(uid, cpv, buyer) for uid, cpv, buyer, _, _ in rows])
    year = 2024
    for directorate in DIRECTORATES:
        marches = sum(1 for uid, _, _, kind, y in rows
                      if kind == "marche" and y == year and expected[uid] == directorate)
        answer = barometer_selection(settings, {"annee": str(year), "direction": directorate})
        assert answer["filtres_ignores"] == [] and answer["perimetre"]["libelle"] == \
            DIRECTORATES[directorate]
        g01 = next(i for i in answer["indicateurs"] if i["indicator_id"] == "marches-notifies")
        assert (g01["record_count"] or 0, g01["computed"]) == (marches, True), directorate
    # the stored groups are the directorates of the profile (and the contracts without one)
    assert {v for (v,) in warehouse_rows(
        settings, "SELECT DISTINCT breakdown_value FROM indicator_results "
                  "WHERE breakdown = 'directorate'")} == {*DIRECTORATES, None}
    small = barometer_selection(settings, {"annee": str(year), "direction": "numerique"})
    a01 = next(i for i in small["indicateurs"] if i["indicator_id"] == "marches-pme")
    assert a01["value"] is None
    assert a01["status"] in ("small_sample", None) and (a01["known_count"] or 0) < 30
