"""Bring the Egalim decisions of the legacy file into the application database, once.

Before the mappings of Egalim descriptions moved to the application database, the command line
kept them in ``egalim-decisions.sqlite`` in the data home (an append-only history). When that
file is there, ``observatoire migrate`` (and every command that migrates first: ``build``,
``serve``, ``egalim correspondances``…) replays its history in order as mappings of kind
``egalim_article``, each accepted by its author at its date, the one before it on the same
description superseded, one audit event per decision; then the file is renamed
``egalim-decisions.sqlite.reprise`` (kept, never read again). A final audit event names the
file by its SHA-256: should the rename fail after the import was committed, the next run only
renames it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from observatoire.config import Settings
from observatoire.egalim.decisions import (
    ARTICLE_KIND,
    LEGACY_IMPORTED,
    LegacyDecision,
    legacy_path,
    read_legacy,
)
from observatoire.stewardship.models import AuditEvent
from observatoire.stewardship.services import audit, record_decision

IMPORTED_EVENT = "egalim_decisions_imported"
ACTOR = "reprise des décisions Egalim"


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _replay(d: LegacyDecision, file_name: str) -> bool:
    reason = (f"Décision n° {d.decision_id} du fichier {file_name}"
              + (f" (propositions relues : {d.source_file})" if d.source_file else ""))
    details: dict[str, Any] = {
        "via": f"reprise de {file_name}", "legacy_decision_id": d.decision_id,
        "legacy_decision": d.decision, "proposed_code": d.proposed_code, "score": d.score,
        "source_file": d.source_file}
    value = (d.article_code or "") if d.decision == "accepter" else ""
    return record_decision(d.decided_by, ARTICLE_KIND, d.description, value, reason, details,
                           at=_when(d.decided_at), event="mapping_imported") is not None


def import_legacy_decisions(settings: Settings) -> str | None:
    """Import the legacy decisions file of the data home if there is one; a French sentence
    saying what was done, or None when there was nothing to do."""
    path = legacy_path(settings.home)
    if not path.exists():
        return None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    target = path.with_name(LEGACY_IMPORTED)
    if target.exists():
        target = path.with_name(f"{LEGACY_IMPORTED}-{digest[:12]}")
    if AuditEvent.objects.filter(action=IMPORTED_EVENT, object_id=digest).exists():
        path.rename(target)
        return (f"Le fichier {path.name} avait déjà été repris : il est mis de côté sous le "
                f"nom {target.name}.")
    history = read_legacy(path)
    with transaction.atomic():
        written = sum(_replay(d, path.name) for d in history)
        authors = sorted({d.decided_by for d in history})
        audit(ACTOR, IMPORTED_EVENT, "file", digest,
              f"{len(history)} décision(s) de correspondance Egalim reprise(s) du fichier "
              f"{path.name} ({written} correspondance(s) écrite(s)), de "
              f"{', '.join(authors) or '—'} ; fichier renommé {target.name}",
              {"file": str(path), "renamed_to": target.name, "decisions": len(history),
               "mappings_written": written, "authors": authors})
    path.rename(target)
    return (f"{len(history)} décision(s) de correspondance Egalim reprise(s) du fichier "
            f"{path.name} dans la base applicative, avec leurs auteurs et leurs dates "
            f"({written} correspondance(s) écrite(s), les autres répétaient la décision en "
            f"vigueur). Le fichier est gardé sous le nom {target.name} et n'est plus lu.")
