"""Template filters: French numbers, percentages, dates, statuses."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import template
from django.template.base import render_value_in_context
from django.template.context import Context
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from observatoire import formatting
from observatoire.indicators.compute import BASIS_LABELS, STATUS_LABELS

register = template.Library()


@register.simple_tag(takes_context=True)
def options(context: Context, values: list[tuple[Any, Any]] | None, chosen: Any) -> SafeString:
    """A select's ``<option>`` elements, the ``chosen`` value selected: the HTML of
    ``{% for v, l in values %}<option value="{{ v }}"{% if chosen == v %} selected{% endif
    %}>{{ l }}</option>{% endfor %}``, written in one piece (the explorer's selects hold
    hundreds of options: each a dozen template nodes)."""
    out = []
    for value, label in values or ():
        selected = " selected" if chosen == value else ""
        out.append(f'<option value="{conditional_escape(render_value_in_context(value, context))}"'
                   f'{selected}>{conditional_escape(render_value_in_context(label, context))}'
                   "</option>")
    return mark_safe("".join(out))  # noqa: S308 (every value escaped above)


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
