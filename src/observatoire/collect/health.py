"""The health of every declared source: last success and error, lag, records, next run.

Lag is the time since the source last gave something: for an inbox, since its newest file was
loaded (its ``frequence`` is how often files are expected); for a remote source, since its last
successful pull. A source whose lag is more than one and a half times its frequency is late (the
half leaves room for the round that is about to run).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from observatoire.collect.sources import KINDS, read_sources
from observatoire.collect.state import State
from observatoire.config import Settings
from observatoire.landing.catalog import Catalog, superseded

LATE_FACTOR = 1.5


def health(settings: Settings, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC).replace(microsecond=0)
    sources = read_sources(settings)
    if not sources:
        return []
    state = State(settings.catalog_path)
    known = state.sources()
    loads = Catalog(settings.catalog_path).loads()
    replaced = superseded(loads)
    rows = []
    for source in sources:
        mine = [ld for ld in loads if ld.source == source.id]
        current = [ld for ld in mine if ld.load_id not in replaced and ld.status != "rejected"]
        row = known.get(source.id, {})
        newest_file = max((ld.loaded_at for ld in mine), default=None)
        since = newest_file if source.kind == "dossier" else row.get("last_success")
        lag = (now - datetime.fromisoformat(since)) if since else None
        failing = bool(row.get("last_error_at")) and (
            not row.get("last_success") or row["last_error_at"] >= row["last_success"])
        rows.append({
            "id": source.id,
            "kind": source.kind,
            "kind_label": KINDS[source.kind],
            "where": source.where,
            "description": source.description,
            "frequence": source.frequency_text,
            "frequence_s": int(source.frequency.total_seconds()),
            "last_attempt": row.get("last_attempt"),
            "last_success": row.get("last_success"),
            "last_error": row.get("last_error") if failing else None,
            "last_error_at": row.get("last_error_at"),
            "newest_file": newest_file,
            "lag_s": int(lag.total_seconds()) if lag is not None else None,
            "lag": _duration(lag) if lag is not None else None,
            "files": len(mine),
            "rejected_files": sum(1 for ld in mine if ld.status == "rejected"),
            "records": sum(ld.records for ld in current),
            "next_run": "à chaque passage" if source.kind == "dossier"
            else (row.get("next_due") or "au prochain passage"),
            "late": lag is not None and lag > source.frequency * LATE_FACTOR,
            "never": since is None,
            "failing": failing,
            "cursors": state.cursors(source.id),
        })
    return rows


def _duration(delta: timedelta) -> str:
    """A duration in French words, to the largest two units."""
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "j"), (hours, "h"), (minutes, "min"), (secs, "s")]
    shown = [f"{n} {u}" for n, u in parts if n][:2]
    return " ".join(shown) or "0 s"
