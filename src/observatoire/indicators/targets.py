"""Targets changed in the application, applied on top of the profile's targets at every build.

The profile's TOML files give every indicator its default targets. An administrator may change
one in the application (``observatoire.stewardship``, model ``TargetChange``): for an indicator,
a basis and a deadline, ``set`` replaces the profile's target of that deadline (or adds one) and
``withdraw`` removes it. The build reads the changes in force (plain SQL, no Django) and this
module applies them to the loaded profile before the indicators are computed, so that the
targets in force, and the statuses judged against them, follow. Every change (in force,
superseded or reverted) is also written, with the target it replaced, to
``indicator_target_changes`` for the public history of each indicator's targets.

The profile file stays the default: reverting a change brings the profile's target back at the
next build. A change that no longer matches the profile (an indicator or a basis it lost) is
kept in the table with ``applied = false`` and changes nothing.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from observatoire.indicators.facts import insert_rows
from observatoire.indicators.profile import Indicator, Profile, Target

PARIS = ZoneInfo("Europe/Paris")

CHANGES_COLUMNS = """change_id BIGINT, indicator_id VARCHAR, version INTEGER, basis VARCHAR,
    action VARCHAR, status VARCHAR, applied BOOLEAN, target_value DOUBLE, comparator VARCHAR,
    target_date DATE, from_date DATE, source VARCHAR, label VARCHAR, reason VARCHAR,
    changed_at TIMESTAMP, closed_at TIMESTAMP, closed_reason VARCHAR,
    previous_value DOUBLE, previous_comparator VARCHAR, previous_from_date DATE,
    previous_source VARCHAR, previous_label VARCHAR"""


def organisation_phrase(profile: Profile) -> str:
    """Who changes targets, in words: « la Région Bretagne » for a profile of one
    organisation, else the observatory's administrators."""
    name = profile.organisation
    if profile.scope_all_buyers or not name:
        return "les administrateurs de l'observatoire"
    return f"la {name}" if name.startswith(("Région ", "Ville ", "Métropole ")) else name


def local_date(value: Any) -> date | None:
    """The day (Paris time) of a UTC timestamp as the build reads it (naive UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    day: date = value.astimezone(PARIS).date()
    return day


def change_source(change: dict[str, Any], who: str) -> str:
    """The ``source`` of a target set in the application: who changed it, when and why (and
    the document that sets it, when given)."""
    day = local_date(change["created_at"])
    text = (f"Cible modifiée par {who} le {day.strftime('%d/%m/%Y') if day else '?'} : "
            f"{change['reason']}")
    return text + (f" (source : {change['source']})" if change.get("source") else "")


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _fraction(ind: Indicator, value: float | None) -> float | None:
    if value is None:
        return None
    return float(value) / 100 if ind.unit == "percent" else float(value)


def apply_changes(profile: Profile, changes: list[dict[str, Any]]
                  ) -> tuple[Profile, list[tuple[Any, ...]]]:
    """The profile with the changes in force applied, and the rows of
    ``indicator_target_changes`` (every change given, whatever its status).

    ``changes``: rows of ``stewardship_targetchange`` (``id``, ``indicator_id``, ``basis``,
    ``target_date``, ``action``, ``value``, ``comparator``, ``from_date``, ``source``,
    ``label``, ``reason``, ``created_at``, ``status``, ``closed_at``, ``closed_reason``),
    oldest first."""
    who = organisation_phrase(profile)
    in_force = {}
    for c in changes:
        if c["status"] == "active":
            in_force[(c["indicator_id"], c["basis"], _as_date(c["target_date"]))] = c
    indicators = []
    for ind in profile.indicators:
        targets = list(ind.targets)
        for (ident, basis, deadline), c in in_force.items():
            if ident != ind.id or basis not in ind.bases:
                continue
            targets = [t for t in targets if not (t.basis == basis and t.date == deadline)]
            if c["action"] == "set":
                value = _fraction(ind, c["value"])
                assert value is not None and deadline is not None
                targets.append(Target(
                    value=value, comparator=c["comparator"], date=deadline,
                    from_date=_as_date(c["from_date"]), basis=basis,
                    source=change_source(c, who), label=c.get("label") or "",
                    change_id=int(c["id"])))
        indicators.append(dataclasses.replace(
            ind, targets=tuple(sorted(targets, key=lambda t: t.date))))
    rows: list[tuple[Any, ...]] = []
    for c in changes:
        deadline = _as_date(c["target_date"])
        versions: list[Indicator | None] = [
            i for i in profile.indicators if i.id == c["indicator_id"] and c["basis"] in i.bases]
        for entry in versions or [None]:
            previous = next((t for t in entry.targets if t.basis == c["basis"]
                             and t.date == deadline), None) if entry else None
            set_value = c["action"] == "set"
            rows.append((
                int(c["id"]), c["indicator_id"], entry.version if entry else None, c["basis"],
                c["action"], c["status"], entry is not None and c["status"] == "active",
                _fraction(entry, c["value"]) if entry and set_value else None,
                c["comparator"] if set_value else None, deadline,
                _as_date(c["from_date"]) if set_value else None,
                change_source(c, who) if set_value else None, c.get("label") or None,
                c["reason"], c["created_at"], c.get("closed_at"),
                c.get("closed_reason") or None,
                previous.value if previous else None,
                previous.comparator if previous else None,
                previous.from_date if previous else None,
                previous.source if previous else None,
                previous.label if previous else None,
            ))
    return dataclasses.replace(profile, indicators=tuple(indicators)), rows


def write_changes(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
    """``indicator_target_changes``: the targets changed in the application and what they
    replaced."""
    con.execute(f"CREATE TABLE indicator_target_changes ({CHANGES_COLUMNS})")
    insert_rows(con, "indicator_target_changes", rows)
