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

from observatoire.indicators.profile import Indicator, Profile, Target
from observatoire.warehouse import insert_rows

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


# --- Targets changed in the profile's files --------------------------------------------------
#
# A person who edits the profile's TOML files changes targets too, outside the application. At
# every build the profile's own targets are compared with those the previous build of the same
# profile recorded in the catalog (``profile_targets``); what changed becomes one audit event
# « Cibles modifiées dans le fichier du profil », written once the new warehouse is in service.

_SNAPSHOTS = """CREATE TABLE IF NOT EXISTS profile_targets (profile_id TEXT, build_id INTEGER,
    recorded_at TEXT, targets TEXT)"""


def snapshot(profile: Profile) -> dict[str, dict[str, Any]]:
    """The profile's own targets, keyed ``indicator|version|basis|deadline``."""
    out = {}
    for ind in profile.indicators:
        for t in ind.targets:
            out[f"{ind.id}|{ind.version}|{t.basis}|{t.date.isoformat()}"] = {
                "indicator_id": ind.id, "code": ind.code, "unit": ind.unit, "basis": t.basis,
                "date": t.date.isoformat(), "value": t.value, "comparator": t.comparator,
                "from": t.from_date.isoformat() if t.from_date else None,
                "source": t.source, "label": t.label}
    return out


def _words(t: dict[str, Any] | None) -> str:
    from observatoire import formatting

    if t is None:
        return "aucune"
    text = formatting.target(t["value"], t["comparator"], date.fromisoformat(t["date"]),
                             t["unit"])
    return text + (f" à partir du {formatting.french_date(date.fromisoformat(t['from']))}"
                   if t["from"] else "") + f" (source : {t['source']})"


def differences(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]
                ) -> list[dict[str, Any]]:
    """What changed between two snapshots, in key order: one entry per target added,
    removed or changed (value, comparator, start, source or label)."""
    out = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        ref = after or before
        assert ref is not None
        out.append({"indicator_id": ref["indicator_id"], "code": ref["code"],
                    "basis": ref["basis"], "date": ref["date"],
                    "old": _words(before), "new": _words(after)})
    return out


def last_snapshot(catalog_path: Any, profile_id: str) -> dict[str, dict[str, Any]] | None:
    import json
    import sqlite3

    with sqlite3.connect(catalog_path) as db:
        db.execute(_SNAPSHOTS)
        row = db.execute("""SELECT targets FROM profile_targets WHERE profile_id = ?
                            ORDER BY rowid DESC LIMIT 1""", [profile_id]).fetchone()
    return json.loads(row[0]) if row else None


def record_snapshot(catalog_path: Any, profile_id: str, build_id: int, recorded_at: str,
                    targets: dict[str, dict[str, Any]]) -> None:
    import json
    import sqlite3

    with sqlite3.connect(catalog_path) as db:
        db.execute(_SNAPSHOTS)
        db.execute("INSERT INTO profile_targets VALUES (?, ?, ?, ?)",
                   [profile_id, build_id, recorded_at, json.dumps(targets, sort_keys=True)])
