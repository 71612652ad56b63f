"""Numbers, percentages and dates in French, for the CLI and the web pages alike."""

from __future__ import annotations

from datetime import date
from typing import Any

COMPARATORS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


def number(value: Any, decimals: int | None = None) -> str:
    """``12345.5`` → ``12 345,5`` (narrow no-break space between thousands); None → ``—``."""
    if value is None:
        return "—"
    if decimals is None:
        decimals = 0 if float(value).is_integer() else 2
    text = f"{float(value):,.{decimals}f}" if decimals else f"{round(float(value)):,}"
    return text.replace(",", "\u202f").replace(".", ",")


def percent(share: float | None, decimals: int = 1) -> str:
    """A share 0–1 as a French percentage: ``0.7071`` → ``70,7 %``."""
    if share is None:
        return "—"
    return f"{share * 100:.{decimals}f}".replace(".", ",") + "\u00a0%"


def indicator_value(value: float | None, unit: str) -> str:
    """An indicator value in its unit (percentages rounded to 0.1, counts whole)."""
    if value is None:
        return "—"
    if unit == "percent":
        return percent(value)
    if unit == "count":
        return number(value, 0)
    if unit == "euros":
        return number(value, 0) + "\u00a0€"
    return number(value, 2)


def french_date(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def target(value: float | None, comparator: str | None, deadline: date | None, unit: str) -> str:
    """``≥ 50,0 % au 31/12/2025``; empty without a target."""
    if value is None or comparator is None:
        return ""
    text = f"{COMPARATORS[comparator]} {indicator_value(value, unit)}"
    return f"{text} au {french_date(deadline)}" if deadline else text


def small_sample(known_count: int | None) -> str:
    """The status shown instead of a value computed on too few records."""
    return f"échantillon trop petit (n\u00a0=\u00a0{number(known_count or 0, 0)})"


def unknown_range(low: float | None, high: float | None, unit: str) -> str:
    """``de 48,9 % à 87,1 %``: what a share would be with every unknown a no, or a yes."""
    if low is None or high is None or unit != "percent":
        return ""
    return f"de {percent(low)} à {percent(high)}"
