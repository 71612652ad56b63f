"""The site's basics: freshness of the data, licence, methodology, legal notice, accessibility
statement, contact, ``robots.txt`` and ``sitemap.xml``.

What these pages say comes from the deployment (its profile and settings) and from the load and
build logs, never from placeholders: a fact the deployment did not give is said to be missing.
"""

from __future__ import annotations

import functools
import sqlite3
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render

from observatoire.config import Settings
from observatoire.errors import ObservatoireError
from observatoire.indicators.profile import Profile, load_profile
from observatoire.landing.catalog import Catalog
from observatoire.warehouse import open_warehouse
from observatoire.web.formats import read_only

#: The licence of the data the site publishes (and of the DECP it republishes).
LICENCE = {
    "name": "Licence Ouverte / Open Licence 2.0 (Etalab)",
    "url": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
}
SOURCE_CODE_LICENCE = "AGPL-3.0-or-later"
#: A sitemap file holds at most 50,000 addresses (sitemaps.org protocol).
SITEMAP_LIMIT = 50_000
#: Pages every deployment has, in the order of the sitemap.
PAGES = ["/", "/marches/", "/depenses/", "/opportunites/", "/egalim/", "/qualite/", "/donnees/",
         "/api/", "/methodologie/", "/mentions-legales/", "/accessibilite/", "/contact/"]
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")
SOURCE_LABELS = {"decp": "Données essentielles de la commande publique (DECP)"}


def _settings() -> Settings:
    return Settings.from_env()


@functools.lru_cache(maxsize=8)
def _profile(ref: str) -> Profile | None:
    try:
        return load_profile(ref)
    except ObservatoireError:
        return None


def _when(text: str | None) -> str | None:
    """A log timestamp (ISO, UTC) as French words, or None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year} à {moment:%H:%M} (UTC)"


def last_build(settings: Settings) -> dict[str, Any] | None:
    """The last build that succeeded, from the build log (what every page's footer says)."""
    if not settings.catalog_path.exists():
        return None
    build = next((b for b in Catalog(settings.catalog_path).builds(50)
                  if b.get("status") == "succeeded"), None)
    return {**build, "finished_text": _when(build.get("finished_at"))} if build else None


def freshness(settings: Settings) -> dict[str, Any]:
    """The last build in service and the newest file of each source, from the logs (the whole
    load log is read: for the methodology page only, not for every page)."""
    build = last_build(settings)
    if build is None and not settings.catalog_path.exists():
        return {"build": None, "sources": []}
    sources: dict[str, dict[str, Any]] = {}
    for load in Catalog(settings.catalog_path).loads():
        entry = sources.setdefault(load.source, {
            "source": load.source, "label": SOURCE_LABELS.get(load.source, load.source),
            "files": 0, "records": 0, "newest": "", "newest_file": ""})
        entry["files"] += 1
        entry["records"] += load.records
        if load.loaded_at >= entry["newest"]:  # loads come in load order: the later one wins
            entry["newest"], entry["newest_file"] = load.loaded_at, load.file_name
    for entry in sources.values():
        entry["newest_text"] = _when(entry["newest"])
    return {"build": build,
            "sources": sorted(sources.values(), key=lambda e: e["newest"], reverse=True)}


def site(request: HttpRequest) -> dict[str, Any]:
    """Template context of every page: the organisation, the licence, the data's freshness."""
    settings = _settings()
    profile = _profile(settings.profile)
    try:
        build = last_build(settings)
    except (sqlite3.Error, OSError):  # a page still renders if the log cannot be read
        build = None
    return {
        "site_organisation": profile.organisation if profile else "",
        "site_licence": LICENCE,
        "site_freshness": {"build": build},
        "site_contact": settings.contact,
    }


@read_only
def methodology(request: HttpRequest) -> HttpResponse:
    settings = _settings()
    return render(request, "observatoire/methodologie.html", {
        "profile": _profile(settings.profile), "freshness": freshness(settings)})


@read_only
def legal_notice(request: HttpRequest) -> HttpResponse:
    settings = _settings()
    return render(request, "observatoire/mentions_legales.html", {
        "profile": _profile(settings.profile), "host": settings.host,
        "source_code_licence": SOURCE_CODE_LICENCE})


@read_only
def accessibility(request: HttpRequest) -> HttpResponse:
    return render(request, "observatoire/accessibilite.html", {})


@read_only
def contact(request: HttpRequest) -> HttpResponse:
    return render(request, "observatoire/contact.html", {})


@read_only
def robots(request: HttpRequest) -> HttpResponse:
    """Crawlers may read the public pages, not the authenticated side or the raw API."""
    lines = ["User-agent: *", "Disallow: /gestion/", "Disallow: /api/v1/", "Allow: /",
             f"Sitemap: {request.build_absolute_uri('/sitemap.xml')}", ""]
    return HttpResponse("\n".join(lines), content_type="text/plain; charset=utf-8")


@read_only
def sitemap(request: HttpRequest) -> HttpResponse:
    """The public pages, every indicator and every buyer (within the protocol's 50,000)."""
    settings = _settings()
    paths = list(PAGES)
    profile = _profile(settings.profile)
    if profile:
        paths += sorted({f"/indicateurs/{i.id}/" for i in profile.indicators})
    try:
        con = open_warehouse(settings)
    except ObservatoireError:
        con = None  # no warehouse yet: the pages alone
    if con is not None:
        try:
            rows = con.execute(
                "SELECT buyer_siret FROM buyers WHERE regexp_full_match(buyer_siret, '[0-9]{14}') "
                "ORDER BY contract_count DESC, buyer_siret LIMIT ?",
                [SITEMAP_LIMIT - len(paths)]).fetchall()
        finally:
            con.close()
        paths += [f"/acheteurs/{siret}/" for (siret,) in rows]
    lastmod = ""
    build = last_build(settings)
    if build and build.get("finished_at"):
        lastmod = f"<lastmod>{escape(build['finished_at'][:10])}</lastmod>"
    urls = "".join(
        f"<url><loc>{escape(request.build_absolute_uri(p))}</loc>{lastmod}</url>"
        for p in paths)
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + urls + "</urlset>\n")
    return HttpResponse(body, content_type="application/xml; charset=utf-8")


@read_only
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for ``/favicon.ico`` whatever the page says: send them to the icon."""
    return HttpResponsePermanentRedirect("/static/favicon.svg")
