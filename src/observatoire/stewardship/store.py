"""The build's access to the application database: plain SQL, no Django.

The build reads the corrections in force before it starts its work, and, once its warehouse is
in service, marks stale the corrections whose source value has changed (with an audit event per
correction), so that a failed build changes nothing in the application database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from observatoire.config import Settings
from observatoire.egalim.decisions import legacy_path
from observatoire.errors import ConfigError
from observatoire.stewardship import database

CORRECTIONS = """
SELECT id, uid, buyer_siret, action, field, rule_id, source_value, new_value, reason,
       created_at
FROM stewardship_correction WHERE status = 'active' ORDER BY id"""


#: Every kind (CPV domains, Egalim articles and labels); only columns of migration 0003, so that
#: a database not yet migrated further still builds.
MAPPINGS = """
SELECT id, kind, key, value, decided_at FROM stewardship_mapping
WHERE status = 'accepted' ORDER BY kind, key"""

#: Every target change, whatever its status: those in force apply, all of them make the public
#: history of the targets (migration 0005; none before it).
TARGET_CHANGES = """
SELECT id, indicator_id, basis, target_date, action, value, comparator, from_date, source,
       label, reason, created_at, status, closed_at, closed_reason
FROM stewardship_targetchange ORDER BY created_at, id"""


@dataclass(frozen=True)
class StaleCorrection:
    correction_id: int
    why: str  # source_changed | contract_missing | finding_gone


@dataclass
class Decisions:
    """What people decided, as the build reads it: corrections and mappings in force."""

    corrections: list[dict[str, Any]]
    mappings: list[dict[str, Any]]
    #: Indicator targets changed by an administrator (every status; see TARGET_CHANGES).
    target_changes: list[dict[str, Any]] = field(default_factory=list)


def _utc(value: Any) -> Any:
    if isinstance(value, str):  # SQLite keeps text
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def decisions(settings: Settings) -> Decisions:
    """The corrections and mappings in force (none when the application database was never
    created, or not migrated yet).

    A legacy Egalim decisions file still in the data home has not been brought into the
    application database yet: the build stops rather than silently drop those decisions."""
    legacy = legacy_path(settings.home)
    if legacy.exists():
        raise ConfigError(
            "Les décisions de correspondance Egalim du fichier "
            f"« {legacy.name} » ne sont pas encore reprises dans la base applicative.",
            where=str(legacy),
            hint="Lancez « observatoire migrate » : il les reprend une fois (avec leurs auteurs "
            "et leurs dates), puis met le fichier de côté ; relancez ensuite la construction.")
    db = database.parse(settings.application_database_url)
    with database.connect(db) as con:
        if con is None or not con.has_table("stewardship_correction"):
            return Decisions([], [])
        corrections = con.rows(CORRECTIONS)
        mappings = con.rows(MAPPINGS) if con.has_table("stewardship_mapping") else []
        targets = _target_changes(con)
    for row in corrections:
        row["created_at"] = _utc(row["created_at"])
    for row in mappings:
        row["decided_at"] = _utc(row["decided_at"])
    return Decisions(corrections, mappings, targets)


def _target_changes(con: database.Connection) -> list[dict[str, Any]]:
    if not con.has_table("stewardship_targetchange"):
        return []
    rows = con.rows(TARGET_CHANGES)
    for row in rows:
        row["created_at"] = _utc(row["created_at"])
        row["closed_at"] = _utc(row["closed_at"])
    return rows


def target_changes(settings: Settings) -> list[dict[str, Any]]:
    """The target changes alone (``observatoire indicators`` recomputes the indicators
    without rebuilding, and reads nothing else of the application database)."""
    db = database.parse(settings.application_database_url)
    with database.connect(db) as con:
        return [] if con is None else _target_changes(con)


STALE_REASONS = {
    "source_changed": "la valeur publiée par la source a changé depuis la correction",
    "contract_missing": "le marché n'est plus dans les données",
    "finding_gone": "le constat n'est plus relevé sur la valeur publiée",
}


def mark_stale(settings: Settings, stale: list[StaleCorrection], build_id: int) -> None:
    """Flag corrections for review after a build put in service found their source changed."""
    if not stale:
        return
    db = database.parse(settings.application_database_url)
    now = datetime.now(UTC)
    with database.connect(db) as con:
        assert con is not None  # the corrections were read from it
        for item in stale:
            changed = con.execute(
                "UPDATE stewardship_correction SET status = 'stale' "
                "WHERE id = %s AND status = 'active'", [item.correction_id]).rowcount
            if not changed:
                continue
            con.execute(
                """INSERT INTO stewardship_auditevent
                       (at, actor_id, actor_name, action, object_type, object_id, summary, details)
                   VALUES (%s, NULL, %s, 'correction_stale', 'correction', %s, %s, %s)""",
                [now if db.vendor == "postgresql" else now.replace(tzinfo=None).isoformat(sep=" "),
                 f"construction {build_id}", str(item.correction_id),
                 f"Correction {item.correction_id} à revoir : {STALE_REASONS[item.why]}.",
                 json.dumps({"build_id": build_id, "why": item.why})],
            )


#: Who changed targets written in the profile's files (outside the application).
PROFILE_FILE = "fichier du profil"


def audit_profile_targets(settings: Settings, profile_id: str, build_id: int,
                          changes: list[dict[str, Any]]) -> bool:
    """One audit event « Cibles modifiées dans le fichier du profil » listing ``changes``
    (indicator, basis, deadline, old → new); False when there is no application database
    to write it to (the caller then keeps the previous snapshot, so the change is reported
    once the database exists)."""
    db = database.parse(settings.application_database_url)
    now = datetime.now(UTC)
    with database.connect(db) as con:
        if con is None or not con.has_table("stewardship_auditevent"):
            return False
        lines = "; ".join(f"{c['code']} {c['indicator_id']} ({c['basis']}, échéance "
                          f"{c['date']}) : {c['old']} → {c['new']}" for c in changes)
        con.execute(
            """INSERT INTO stewardship_auditevent
                   (at, actor_id, actor_name, action, object_type, object_id, summary, details)
               VALUES (%s, NULL, %s, 'profile_targets_changed', 'profile', %s, %s, %s)""",
            [now if db.vendor == "postgresql" else now.replace(tzinfo=None).isoformat(sep=" "),
             PROFILE_FILE, profile_id,
             f"Cibles modifiées dans le fichier du profil « {profile_id} » (constaté par la "
             f"construction {build_id}) : {lines}.",
             json.dumps({"build_id": build_id, "changes": changes}, ensure_ascii=False)],
        )
    return True
