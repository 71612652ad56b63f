"""The Django application that holds accounts, corrections and the audit trail."""

from __future__ import annotations

from django.apps import AppConfig


class StewardshipConfig(AppConfig):
    name = "observatoire.stewardship"
    label = "stewardship"
    verbose_name = "Gestion des données"
    default_auto_field = "django.db.models.BigAutoField"
