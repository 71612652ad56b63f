"""Template filters: French numbers, percentages, dates, statuses."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import template

from observatoire import formatting
from observatoire.indicators.compute import BASIS_LABELS, STATUS_LABELS

register = template.Library()


@register.filter
def valeur(value: float | None, unit: str) -> str:
    return formatting.indicator_value(value, unit)


@register.filter
def pourcent(share: float | None) -> str:
    return formatting.percent(share, 0) if share is not None else "—"


@register.filter
def nombre(value: Any, decimals: int | None = None) -> str:
    return formatting.number(value, decimals)


@register.filter
def date_fr(day: date | None) -> str:
    return formatting.french_date(day)


@register.filter
def statut(code: str | None) -> str:
    return STATUS_LABELS.get(code or "", "")


#: A published record's fate, in French.
RECORD_STATUSES = {"kept": "gardé", "duplicate": "doublon fusionné", "set_aside": "écarté"}


@register.filter
def etat_enregistrement(code: str | None) -> str:
    return RECORD_STATUSES.get(code or "", code or "")


@register.filter
def echantillon(known_count: int | None) -> str:
    return formatting.small_sample(known_count)


@register.simple_tag
def fourchette(row: dict[str, Any], unit: str) -> str:
    """The range a share's unknowns allow, when some are unknown."""
    if (row.get("coverage") or 0) >= 1:
        return ""
    return formatting.unknown_range(row.get("unknown_low"), row.get("unknown_high"), unit)


@register.filter
def base(code: str) -> str:
    return BASIS_LABELS.get(code, code)


@register.simple_tag
def cible(row: dict[str, Any], unit: str) -> str:
    comparator = row.get("target_comparator") or row.get("comparator")
    return formatting.target(row.get("target_value"), comparator, row.get("target_date"), unit)


@register.simple_tag
def cible_precedente(row: dict[str, Any], unit: str) -> str:
    """The profile's target a change replaced (``previous_*`` columns)."""
    return formatting.target(row.get("previous_value"), row.get("previous_comparator"),
                             row.get("target_date"), unit)


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key, "")
