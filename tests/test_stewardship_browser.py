"""A data steward signs in and corrects a finding, end to end, in Debian's Chromium.

The site is served by waitress as ``observatoire serve`` does, on a data home built from the
real DECP 2024 demo files; the steward's correction reaches the public page after a build.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from observatoire.build import build
from observatoire.config import Settings
from tests.conftest import (
    AppDb,
    live_server,
    make_account,
    stewardship_home,
)
from tests.test_browser import CHROMIUM, FLAGS, SHOTS

pytestmark = [pytest.mark.appdb, pytest.mark.browser]

UID = "13001845000028D2F2020S0757302"  # published with montant 0.0
PASSWORD = "Gestion-des-donnees-2026"


@pytest.fixture(scope="module")
def served(application_database: AppDb, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, Settings]]:
    with (stewardship_home(application_database, tmp_path_factory.mktemp("browser-home"))
          as settings, live_server() as url):
        yield url, settings


def test_a_steward_corrects_a_finding_end_to_end(
    served: tuple[str, Settings], no_corrections: None
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium est introuvable : installez le paquet Debian « chromium ».")
    from playwright.sync_api import sync_playwright

    from observatoire.stewardship.models import AuditEvent, Correction

    site, settings = served
    make_account("gest-navigateur", "gestionnaire", "acheteur:130018450", password=PASSWORD)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        p: Any = browser.new_context(locale="fr-FR").new_page()
        p.goto(site + "/gestion/?regle=AMOUNT_ZERO")
        p.wait_for_url(re.compile(r".*/gestion/connexion/\?next=.*"))
        p.fill("input[name=identifiant]", "gest-navigateur")
        p.fill("input[name=mot_de_passe]", PASSWORD)
        p.get_by_role("button", name="Se connecter").click()
        p.wait_for_url(re.compile(r".*/gestion/\?regle=AMOUNT_ZERO$"))
        assert p.locator("h1").inner_text() == "File des constats à traiter"
        p.screenshot(path=str(SHOTS / "gestion-file.png"), full_page=True)
        row = p.locator("tbody tr", has_text=UID)
        row.get_by_role("link", name="Traiter").click()
        p.wait_for_url(re.compile(rf".*/gestion/marches/{UID}/\?constat=.*"))
        form = p.locator("form#corriger")
        assert "Valeur publiée : « 0.0 »" in form.inner_text()
        form.locator("input[name=valeur]").fill("48 500")
        form.locator("textarea[name=motif]").fill("Montant de l'acte d'engagement signé")
        p.screenshot(path=str(SHOTS / "gestion-correction.png"), full_page=True)
        form.get_by_role("button", name="Enregistrer la correction").click()
        p.wait_for_url(f"**/gestion/marches/{UID}/")
        assert "enregistrée" in p.locator("p.message").inner_text()
        assert "en attente de la prochaine construction" in p.locator("table").first.inner_text()

        build(settings)
        p.goto(site + f"/marches/{UID}/")
        amount = p.locator("dt:has-text('Montant') + dd").inner_text()
        assert "48\u202f500 € HT" in amount
        assert "valeur corrigée par" in amount and "source : « 0.0 »" in amount
        p.screenshot(path=str(SHOTS / "marche-corrige.png"), full_page=True)

        p.goto(site + f"/gestion/marches/{UID}/")
        assert "appliquée" in p.locator("table").first.inner_text()
        p.get_by_role("button", name="Se déconnecter").click()
        p.wait_for_url(site + "/")
        p.goto(site + "/gestion/")
        p.wait_for_url(re.compile(r".*/gestion/connexion/\?next=.*"))
        browser.close()
    correction = Correction.objects.get(uid=UID, status="active")
    assert (correction.new_value, correction.source_value, correction.author_name) == (
        "48500", "0.0", "gest-navigateur")
    assert AuditEvent.objects.filter(action="correction_created",
                                     object_id=str(correction.pk)).count() == 1
