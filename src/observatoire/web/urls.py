"""Stable French URLs; every page has .json and .csv twins of its data."""

from __future__ import annotations

from django.urls import include, path, re_path

from observatoire.web import api, assets, egalim_views, formats, search_views, site_views, views

# Errors outside any view (an address no route serves…) take the one shape of formats.py.
handler400 = formats.bad_request
handler404 = formats.not_found
handler500 = formats.server_error

urlpatterns = [
    path("", views.barometer, name="barometre"),
    re_path(r"^index\.(?P<fmt>json|csv|xlsx)$", views.barometer, name="barometre-donnees"),
    re_path(r"^indicateurs/(?P<indicator_id>[a-z0-9-]+)/$", views.indicator, name="indicateur"),
    re_path(r"^indicateurs/(?P<indicator_id>[a-z0-9-]+)/marches/$", views.indicator_records,
            name="indicateur-marches"),
    re_path(r"^indicateurs/(?P<indicator_id>[a-z0-9-]+)/marches\.(?P<fmt>json|csv|xlsx)$",
            views.indicator_records, name="indicateur-marches-donnees"),
    re_path(
        r"^indicateurs/(?P<indicator_id>[a-z0-9-]+)\.(?P<fmt>json|csv|xlsx)$",
        views.indicator,
        name="indicateur-donnees",
    ),
    path("marches/", views.contracts, name="marches"),
    re_path(r"^marches\.(?P<fmt>json|csv|xlsx)$", views.contracts, name="marches-donnees"),
    re_path(r"^marches/selection\.(?P<fmt>csv|xlsx|json)$", views.selection,
            name="marches-selection"),
    re_path(r"^marches/(?P<uid>[^/]+)\.(?P<fmt>json|csv|xlsx)$", views.contract,
            name="marche-donnees"),
    re_path(r"^marches/(?P<uid>[^/]+)/$", views.contract, name="marche"),
    path("acheteurs/", search_views.buyers, name="acheteurs"),
    re_path(r"^acheteurs\.(?P<fmt>json|csv|xlsx)$", search_views.buyers, name="acheteurs-donnees"),
    path("titulaires/", search_views.suppliers, name="titulaires"),
    re_path(r"^titulaires\.(?P<fmt>json|csv|xlsx)$", search_views.suppliers,
            name="titulaires-donnees"),
    re_path(r"^acheteurs/(?P<siret>\d{14})/$", views.buyer, name="acheteur"),
    re_path(r"^acheteurs/(?P<siret>\d{14})\.(?P<fmt>json|csv|xlsx)$", views.buyer,
            name="acheteur-donnees"),
    re_path(r"^acheteurs/(?P<siret>\d{14})/decp\.(?P<fmt>json|xml)$", views.buyer_decp,
            name="acheteur-decp"),
    # supplier keys may hold a « / » (foreign identifiers): the key is the rest of the path
    re_path(r"^titulaires/(?P<key>.+)\.(?P<fmt>json|csv|xlsx)$", views.supplier,
            name="titulaire-donnees"),
    re_path(r"^titulaires/(?P<key>.+)/$", views.supplier, name="titulaire"),
    path("opportunites/", views.opportunities, name="opportunites"),
    re_path(r"^opportunites/selection\.(?P<fmt>csv|xlsx|json)$", views.upcoming_selection,
            name="opportunites-selection"),
    re_path(r"^opportunites\.(?P<fmt>json|csv|xlsx|atom)$", views.opportunities,
            name="opportunites-donnees"),
    path("qualite/", views.quality, name="qualite"),
    re_path(r"^qualite\.(?P<fmt>json|csv|xlsx)$", views.quality, name="qualite-donnees"),
    path("egalim/", egalim_views.dashboard, name="egalim"),
    re_path(r"^egalim\.(?P<fmt>json|csv|xlsx)$", egalim_views.dashboard, name="egalim-donnees"),
    re_path(r"^egalim/bilans-(?P<year>\d{4})\.csv$", egalim_views.summaries,
            name="egalim-bilans"),
    re_path(r"^egalim/cantines/(?P<key>[^/]+)\.(?P<fmt>json|csv|xlsx)$", egalim_views.canteen,
            name="egalim-cantine-donnees"),
    re_path(r"^egalim/cantines/(?P<key>[^/]+)/$", egalim_views.canteen, name="egalim-cantine"),
    path("donnees/", views.data, name="donnees"),
    path("donnees.json", views.data_json, name="donnees-json"),
    re_path(r"^donnees/(?P<dataset_id>[a-z-]+)\.(?P<fmt>csv|json|parquet|xlsx)$", views.download,
            name="telechargement"),
    re_path(r"^static/(?P<path>[A-Za-z0-9_./-]+)$", assets.static_file, name="static"),
    path("api/", api.documentation, name="api"),
    path("api/openapi.json", api.openapi, name="openapi"),
    path("api/v1/marches", api.contracts),
    path("api/v1/marches/<str:uid>", api.contract),
    path("api/v1/acheteurs", api.buyers),
    path("api/v1/acheteurs/<str:siret>", api.buyer),
    path("api/v1/titulaires", api.suppliers),
    path("api/v1/titulaires/<path:key>", api.supplier),
    path("api/v1/suggestions", search_views.suggestions),
    path("api/v1/barometre", api.barometer),
    path("api/v1/indicateurs", api.indicators),
    path("api/v1/indicateurs/<str:indicator_id>", api.indicator),
    path("api/v1/resultats", api.results),
    path("api/v1/indicateurs/<str:indicator_id>/marches", api.indicator_records),
    path("api/v1/opportunites", api.opportunities),
    path("api/v1/qualite", api.quality),
    path("methodologie/", site_views.methodology, name="methodologie"),
    path("mentions-legales/", site_views.legal_notice, name="mentions-legales"),
    path("accessibilite/", site_views.accessibility, name="accessibilite"),
    path("contact/", site_views.contact, name="contact"),
    path("robots.txt", site_views.robots, name="robots"),
    path("sitemap.xml", site_views.sitemap, name="sitemap"),
    path("favicon.ico", site_views.favicon, name="favicon"),
    # The authenticated side (stewards, readers, administrators).
    path("gestion/", include("observatoire.stewardship.urls")),
]
