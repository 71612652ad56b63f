"""One collection round, and the continuous loop.

A round takes every source that is due (or the one asked for), gathers its new files (the inbox's
ready files, or the remote files that changed), ingests them under the source's id, then runs one
full build if anything new was loaded (or a previous round's build could not run). Inbox files are
moved to ``traités/`` or ``rejetés/`` (with a ``.motif.txt`` saying why) only after their ingest
is logged: a collector stopped in between finds them again, and the load log's content hash makes
the second ingest a no-op. Nothing is lost and nothing is loaded twice.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from observatoire.collect.http import Fetched, FetchError, fetch, get_json
from observatoire.collect.sources import Source, read_sources
from observatoire.collect.state import State
from observatoire.collect.watch import InboxWatch, takeable
from observatoire.config import Settings
from observatoire.connectors.ingest import IngestOutcome, ingest
from observatoire.errors import ConfigError, ObservatoireError
from observatoire.landing.catalog import Catalog

LOG = logging.getLogger(__name__)
DONE, REJECTED = "traités", "rejetés"
#: Seconds an inbox file must stay unchanged before it is taken (a copy may be in progress),
#: unless the kernel said it was renamed into the inbox or closed after writing
#: (:mod:`observatoire.collect.watch`).
SETTLE_SECONDS = 2.0
#: When a remote source that failed is tried again (or at its frequency, if sooner).
RETRY_AFTER_FAILURE = timedelta(minutes=15)


@dataclass
class SourceRound:
    """What one source gave in a round."""

    source_id: str
    files: int = 0
    new: int = 0
    rejected: int = 0
    unchanged: int = 0
    error: str | None = None
    outcomes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Round:
    sources: list[SourceRound] = field(default_factory=list)
    built: bool = False
    build_id: int | None = None
    build_error: str | None = None

    @property
    def failed(self) -> bool:
        """A source failed, a file was rejected, or the build could not run."""
        return (any(s.error or s.rejected for s in self.sources)
                or self.build_error is not None)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def collect_dir(settings: Settings, source_id: str) -> Path:
    """Where a remote source's downloads are written before their ingest."""
    return settings.home / "collecte" / source_id


def due(source: Source, state: dict[str, dict[str, Any]], now: datetime) -> bool:
    """An inbox is looked at every round (a listing costs nothing; its ``frequence`` is how
    often files are expected); a remote source when its next pull is due."""
    if source.kind == "dossier":
        return True
    next_due = (state.get(source.id) or {}).get("next_due")
    return next_due is None or datetime.fromisoformat(next_due) <= now


@contextmanager
def collect_lock(settings: Settings) -> Iterator[None]:
    """One collection round at a time per data home (a cron line and a service, say): two
    rounds would take the same inbox file or download into the same partial file."""
    with (settings.home / "collect.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ObservatoireError(
                "Une collecte est déjà en cours dans ce dossier de données.",
                where=str(settings.home),
                hint="Attendez qu'elle se termine (ou arrêtez le service de collecte continue), "
                "puis relancez.") from exc
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def collect_once(settings: Settings, only: str | None = None, *, force: bool = False,
                 session: requests.Session | None = None, backoff: float = 1.0,
                 settle: float = SETTLE_SECONDS, build: bool = True,
                 on_step: Callable[[str], None] | None = None,
                 watch: InboxWatch | None = None) -> Round:
    """Run every due source (``only``: that one, due or not) once, then build if needed
    (``build=False``: leave the build to a later round or to ``observatoire build``).
    ``watch``: the inbox folders' events (a file they say complete is taken at once).

    The build is the full one (the incremental build is another piece of work): it runs once per
    round, not once per file. The application database must be migrated beforehand (the CLI
    does it once when it starts)."""
    settings.ensure_home()
    with collect_lock(settings):
        return _round(settings, only, force, session, backoff, settle, build, on_step, watch)


def _round(settings: Settings, only: str | None, force: bool,
           session: requests.Session | None, backoff: float, settle: float, build: bool,
           on_step: Callable[[str], None] | None, watch: InboxWatch | None) -> Round:
    sources = read_sources(settings)
    if only is not None:
        sources = [s for s in sources if s.id == only]
        if not sources:
            raise ConfigError(f"Aucune source « {only} » dans le profil.",
                              hint="« observatoire sources » liste les sources déclarées.")
        force = True
    state = State(settings.catalog_path)
    known = state.sources()
    now = _now()
    result = Round()
    own_session = session is None
    session = session or requests.Session()
    try:
        for source in sources:
            if not force and not due(source, known, now):
                continue
            outcome = SourceRound(source.id)
            try:
                if source.kind == "dossier":
                    _inbox(settings, source, outcome, settle, watch)
                else:
                    _remote(settings, source, state, session, outcome, backoff)
            except (FetchError, ObservatoireError, OSError) as exc:
                outcome.error = _message(exc)
            except Exception as exc:  # one source's defect must not stop the others
                LOG.exception("collecte de la source %s", source.id)
                outcome.error = f"erreur interne : {type(exc).__name__}: {_message(exc)}"
            # A failed source is tried again sooner than its frequency (a daily flow that failed
            # at 02:00 should not wait until tomorrow), but not at every round.
            pause = source.frequency if outcome.error is None else min(source.frequency,
                                                                        RETRY_AFTER_FAILURE)
            state.attempted(source.id, _now().isoformat(), (now + pause).isoformat(),
                            outcome.error)
            result.sources.append(outcome)
    finally:
        if own_session:
            session.close()
    if build:
        _build_if_needed(settings, state, result, on_step)
    return result


def _message(exc: BaseException) -> str:
    return str(exc).replace("\n", " ; ")


def _inbox(settings: Settings, source: Source, outcome: SourceRound, settle: float,
           watch: InboxWatch | None) -> None:
    folder = source.folder
    assert folder is not None
    if not folder.is_dir():
        raise ConfigError("Le dossier de dépôt n'existe pas.", where=str(folder),
                          hint="Créez-le, ou corrigez la clé « chemin » de sources.toml.")
    if watch is not None:
        watch.watch([folder])
    limit = time.time() - settle
    ready = sorted(p for p in folder.iterdir()
                   if p.is_file() and takeable(p.name)
                   and (p.stat().st_mtime <= limit or (watch is not None and watch.complete(p))))
    if not ready:
        return
    outcomes = ingest(settings, ready, source=source.id)
    for path, done in zip(ready, outcomes, strict=True):
        _count(outcome, done, path.name)
        if done.new and done.load.status == "rejected":
            target = _unique(folder / REJECTED, path.name)
            _write_reason(target, done)
        else:
            target = _unique(folder / DONE, path.name)
        os.replace(path, target)


def _count(outcome: SourceRound, done: IngestOutcome, name: str) -> None:
    ld = done.load
    outcome.files += 1
    if not done.new:
        outcome.unchanged += 1
    elif ld.status == "rejected":
        outcome.rejected += 1
    else:
        outcome.new += 1
    outcome.outcomes.append({"fichier": name, "nouveau": done.new, "chargement": ld.load_id,
                             "etat": ld.status, "enregistrements": ld.records})


def _unique(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name`` with a number when a file of that name was moved before."""
    folder.mkdir(exist_ok=True)
    target, n = folder / name, 1
    while target.exists() or target.with_name(target.name + ".motif.txt").exists():
        stem, dot, ext = name.partition(".")
        target = folder / f"{stem}.{n}{dot}{ext}"
        n += 1
    return target


def _write_reason(target: Path, done: IngestOutcome) -> None:
    lines = [f"Fichier rejeté le {done.load.loaded_at} (chargement n° {done.load.load_id}).", ""]
    for e in done.load.errors:
        lines += [f"- {e.get('message', '')}", f"  Où : {e.get('where', '')}",
                  f"  Que faire : {e.get('hint', '')}"]
    tmp = target.with_name(f".{target.name}.motif.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, target.with_name(target.name + ".motif.txt"))


def _remote(settings: Settings, source: Source, state: State, session: requests.Session,
            outcome: SourceRound, backoff: float) -> None:
    folder = collect_dir(settings, source.id)
    folder.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    for url, name, checksum in _resources(source, session, backoff):
        cursor = state.cursor(source.id, url)
        try:
            got: Fetched = fetch(session, url, folder, name, cursor, timeout=source.timeout,
                                 attempts=source.attempts, backoff=backoff)
        except FetchError as exc:
            errors.append(f"{name} : {exc}")
            continue
        if got.path is None:
            outcome.files += 1
            outcome.unchanged += 1
            continue
        if checksum and not _checksum_matches(got.path, *checksum):
            got.path.unlink()
            errors.append(f"{name} : l'empreinte ({checksum[0]}) ne correspond pas à celle "
                          "annoncée par le portail ; fichier écarté, nouvel essai au prochain "
                          "passage")
            continue
        (done,) = ingest(settings, [got.path], source=source.id)
        _count(outcome, done, name)
        # The landing area keeps the file; the cursor says what the next request compares to.
        state.save_cursor(source.id, url, got.cursor)
        got.path.unlink()
    if errors:
        raise FetchError(" ; ".join(errors))


def _resources(source: Source, session: requests.Session, backoff: float
               ) -> list[tuple[str, str, tuple[str, str] | None]]:
    """The files a remote source lists: (URL, local name, declared checksum)."""
    if source.kind in ("url", "opendatasoft"):
        return [(source.url, source.file_name, None)]
    dataset = get_json(session, f"{source.api}/datasets/{source.where}/",
                       timeout=source.timeout, attempts=source.attempts, backoff=backoff)
    resources = dataset.get("resources") if isinstance(dataset, dict) else None
    if not isinstance(resources, list):
        raise FetchError(f"la description du jeu « {source.where} » ne liste pas de ressources")
    out: list[tuple[str, str, tuple[str, str] | None]] = []
    names: set[str] = set()
    for res in resources:
        if not isinstance(res, dict) or not isinstance(res.get("url"), str):
            continue
        fmt = str(res.get("format") or "").lower()
        if source.formats and fmt not in source.formats:
            continue
        # One stable local name per resource, so a new version supersedes the previous one.
        base = res["url"].split("?")[0].rstrip("/").rsplit("/", 1)[-1] or "ressource"
        name = f"{res.get('id') or len(out)}-{base}"[:200].lstrip(".")
        if name in names:
            continue
        names.add(name)
        checksum = res.get("checksum")
        declared = ((str(checksum["type"]).lower(), str(checksum["value"]).lower())
                    if isinstance(checksum, dict) and checksum.get("type") and
                    checksum.get("value") else None)
        out.append((res["url"], name, declared))
    return out


def _checksum_matches(path: Path, kind: str, value: str) -> bool:
    import hashlib

    if kind not in ("md5", "sha1", "sha256", "sha512"):
        return True  # an algorithm we do not know is not a reason to refuse the file
    digest = hashlib.new(kind)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == value


def _build_if_needed(settings: Settings, state: State, result: Round,
                     on_step: Callable[[str], None] | None) -> None:
    """One full build for the round when a load is newer than the last build that saw it."""
    catalog = Catalog(settings.catalog_path)
    loads = catalog.loads()
    newest = max((ld.load_id or 0 for ld in loads), default=0)
    if newest <= _built_through(state, catalog, loads):
        return
    from observatoire.build import build

    try:
        summary = build(settings, on_step=on_step)
    except ObservatoireError as exc:  # another build holds the lock: the next round builds
        result.build_error = _message(exc)
        return
    result.built, result.build_id = True, summary.build_id
    state.set_built_through(newest)


def _built_through(state: State, catalog: Catalog, loads: list[Any]) -> int:
    """The newest load a build has seen. Before the collector's first build, a successful build
    that started after the newest load counts (a data home built by hand)."""
    known = state.built_through()
    if known or not loads:
        return known
    latest = max(ld.loaded_at for ld in loads)
    if any(b["status"] == "succeeded" and b["started_at"] > latest for b in catalog.builds(50)):
        return max(ld.load_id or 0 for ld in loads)
    return 0


def run_forever(settings: Settings, stop: threading.Event, *, poll: float = 5.0,
                on_round: Callable[[Round], None] | None = None,
                on_error: Callable[[ObservatoireError], None] | None = None,
                **options: Any) -> None:
    """Rounds until ``stop`` is set: each round takes what is due, then waits ``poll`` seconds
    (or less, when a source is due sooner), or until a file lands complete in an inbox (then at
    once: see :mod:`observatoire.collect.watch`). A round in progress finishes before stopping.
    A round that cannot run (another round holds the lock, ``sources.toml`` was broken while
    the collector ran) is reported and the loop goes on: the next round may succeed."""
    watch = InboxWatch()
    try:
        while not stop.is_set():
            try:
                result = collect_once(settings, watch=watch, **options)
            except ObservatoireError as exc:
                if on_error:
                    on_error(exc)
                watch.wait(poll, stop)
                continue
            if on_round:
                on_round(result)
            try:
                pause = _wait(settings, poll)
            except ObservatoireError:
                pause = poll
            watch.wait(pause, stop)
    finally:
        watch.close()


def _wait(settings: Settings, poll: float) -> float:
    """Seconds until the next source is due, at most ``poll``."""
    state = State(settings.catalog_path).sources()
    now = _now()
    soonest = poll
    for source in read_sources(settings):
        if source.kind == "dossier":
            continue
        next_due = (state.get(source.id) or {}).get("next_due")
        if next_due is None:
            return 0.5
        left = (datetime.fromisoformat(next_due) - now) / timedelta(seconds=1)
        soonest = min(soonest, max(left, 0.5))
    return soonest
