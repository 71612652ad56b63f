"""Routes of the authenticated side, under /gestion/. A test walks every one with every role."""

from __future__ import annotations

from django.urls import path, re_path

from observatoire.stewardship import mapping_views, target_views, views

urlpatterns = [
    path("connexion/", views.sign_in, name="gestion-connexion"),
    path("connexion/oidc/", views.oidc_start, name="gestion-oidc"),
    path("connexion/oidc/retour/", views.oidc_callback, name="gestion-oidc-retour"),
    path("deconnexion/", views.sign_out, name="gestion-deconnexion"),
    path("", views.findings_queue, name="gestion-file"),
    re_path(r"^marches/(?P<uid>[^/]+)/$", views.contract, name="gestion-marche"),
    re_path(r"^marches/(?P<uid>[^/]+)/corriger/$", views.correct, name="gestion-corriger"),
    path("constats/pas-un-defaut/", views.bulk_not_a_defect, name="gestion-pas-un-defaut"),
    path("tableau/", views.dashboard, name="gestion-tableau"),
    path("corrections/", views.corrections, name="gestion-corrections"),
    path("corrections/<int:correction_id>/annuler/", views.revert, name="gestion-annuler"),
    path("correspondances/", mapping_views.mappings, name="gestion-correspondances"),
    path("correspondances/egalim/articles/", mapping_views.egalim_articles,
         name="gestion-correspondances-articles"),
    path("correspondances/egalim/labels/", mapping_views.egalim_labels,
         name="gestion-correspondances-labels"),
    path("correspondances/<int:mapping_id>/decider/", mapping_views.decide,
         name="gestion-decider"),
    path("correspondances/<int:mapping_id>/retirer/", mapping_views.withdraw,
         name="gestion-retirer"),
    path("cibles/", target_views.targets, name="gestion-cibles"),
    path("cibles/<int:change_id>/annuler/", target_views.revert, name="gestion-cible-annuler"),
    path("journal/", views.audit_trail, name="gestion-journal"),
    re_path(r"^journal\.(?P<fmt>csv)$", views.audit_trail, name="gestion-journal-csv"),
    path("etat/", views.status, name="gestion-etat"),
    path("sources/", views.sources, name="gestion-sources"),
    path("comptes/", views.accounts, name="gestion-comptes"),
    path("comptes/<int:account_id>/", views.account_change, name="gestion-compte"),
]
