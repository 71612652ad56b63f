"""Pull one remote file: conditional request, resumable download, atomic result, retries.

- The validators of the last whole download (ETag, Last-Modified) go in ``If-None-Match`` /
  ``If-Modified-Since``: a 304 costs nothing.
- A download in progress is written to ``<folder>/.partiel/<name>`` with a small JSON of the
  validators it started under. A cut download is resumed with ``Range`` + ``If-Range``; when the
  server ignores ranges (200) or the file changed (a different validator), it restarts cleanly.
- A whole download is renamed into place atomically: a reader never sees half a file.
- Transient failures (connection, timeout, cut response, 5xx, 429) are retried with exponential
  back-off; other 4xx are not (a wrong address does not mend by waiting). The whole pull has
  a total time limit, checked while reading.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

from observatoire.collect.state import Cursor

CHUNK = 1 << 16
#: Seconds to wait for a connection, and for each read.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
USER_AGENT = "observatoire-achat-public (collecte)"


class FetchError(Exception):
    """A pull that failed for good: the message is in French, for the source's health."""


class _Transient(Exception):
    """Worth another attempt."""


@dataclass
class Fetched:
    """The outcome of one pull: ``path`` is None when the server said the file is unchanged."""

    path: Path | None
    cursor: Cursor
    attempts: int


def fetch(session: requests.Session, url: str, folder: Path, name: str, cursor: Cursor, *,
          timeout: float = 300.0, attempts: int = 4, backoff: float = 1.0,
          read_timeout: float = READ_TIMEOUT) -> Fetched:
    """Download ``url`` to ``folder/name`` unless unchanged since ``cursor``."""
    deadline = time.monotonic() + timeout
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            return _attempt(session, url, folder, name, cursor, deadline, read_timeout, attempt)
        except _Transient as exc:
            last = str(exc)
        if attempt < attempts:
            pause = backoff * 2 ** (attempt - 1)
            if time.monotonic() + pause >= deadline:
                break
            time.sleep(pause)
    raise FetchError(f"{last} (après {attempt} essai(s))")


def _attempt(session: requests.Session, url: str, folder: Path, name: str, cursor: Cursor,
             deadline: float, read_timeout: float, attempt: int) -> Fetched:
    partial_dir = folder / ".partiel"
    partial_dir.mkdir(parents=True, exist_ok=True)
    part, meta_path = partial_dir / name, partial_dir / f"{name}.json"
    meta = _read_meta(meta_path, url)
    headers = {"User-Agent": USER_AGENT}
    resume_from = part.stat().st_size if part.exists() and meta else 0
    # If-Range needs a strong validator: a weak ETag (W/"…") cannot vouch for the bytes.
    etag_then = (meta or {}).get("etag")
    validator = (etag_then if etag_then and not etag_then.startswith("W/")
                 else (meta or {}).get("last_modified"))
    if resume_from and validator:
        headers["Range"] = f"bytes={resume_from}-"
        headers["If-Range"] = validator
    else:
        resume_from = 0
        if cursor.etag:
            headers["If-None-Match"] = cursor.etag
        if cursor.last_modified:
            headers["If-Modified-Since"] = cursor.last_modified
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Transient("délai total dépassé")
    try:
        response = session.get(url, headers=headers, stream=True,
                                timeout=(min(CONNECT_TIMEOUT, left), min(read_timeout, left)))
    except requests.Timeout as exc:
        raise _Transient("le serveur n'a pas répondu dans le délai") from exc
    except requests.RequestException as exc:
        raise _Transient(f"connexion impossible ({type(exc).__name__})") from exc
    with response:
        status = response.status_code
        if status == 304:
            return Fetched(None, cursor, attempt)
        if status == 429 or status >= 500:
            raise _Transient(f"le serveur a répondu {status}")
        if status >= 400:
            raise FetchError(f"le serveur a répondu {status} pour {url}")
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        if status == 206 and _range_start(response) == resume_from:
            mode = "ab"
        else:  # a whole answer: ranges ignored, file changed, or no partial download
            mode, resume_from = "wb", 0
            meta_path.write_text(json.dumps({"url": url, "etag": etag,
                                             "last_modified": modified}))
        expected = response.headers.get("Content-Length")
        received = 0
        try:
            with part.open(mode) as fh:
                for chunk in response.iter_content(CHUNK):
                    fh.write(chunk)
                    received += len(chunk)
                    if time.monotonic() > deadline:
                        raise _Transient("délai total dépassé pendant le téléchargement")
                fh.flush()
                os.fsync(fh.fileno())
        except requests.RequestException as exc:
            raise _Transient(f"téléchargement interrompu après {received} octets "
                             f"({type(exc).__name__})") from exc
        if expected is not None and received != int(expected):
            raise _Transient(f"téléchargement incomplet : {received} octets sur {expected}")
    target = folder / name
    size = part.stat().st_size
    os.replace(part, target)
    meta_path.unlink(missing_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return Fetched(target, Cursor(etag=etag, last_modified=modified, size_bytes=size,
                                  sha256=_sha256(target), fetched_at=stamp), attempt)


def _read_meta(path: Path, url: str) -> dict[str, str | None] | None:
    """The validators a partial download started under, if it is one of this URL."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("url") == url else None


def _range_start(response: requests.Response) -> int | None:
    text = response.headers.get("Content-Range", "")  # bytes 100-199/200
    try:
        return int(text.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def get_json(session: requests.Session, url: str, *, timeout: float = 60.0,
             attempts: int = 4, backoff: float = 1.0) -> object:
    """A small JSON document (a dataset's description), with the same retries."""
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            response = session.get(url, headers={"User-Agent": USER_AGENT,
                                                 "Accept": "application/json"},
                                   timeout=(CONNECT_TIMEOUT, timeout))
        except requests.RequestException as exc:
            last = f"connexion impossible ({type(exc).__name__})"
        else:
            if response.status_code == 429 or response.status_code >= 500:
                last = f"le serveur a répondu {response.status_code}"
            elif response.status_code >= 400:
                raise FetchError(f"le serveur a répondu {response.status_code} pour {url}")
            else:
                try:
                    return response.json()
                except ValueError as exc:
                    raise FetchError(f"la réponse de {url} n'est pas du JSON") from exc
        if attempt < attempts:
            time.sleep(backoff * 2 ** (attempt - 1))
    raise FetchError(f"{last} (après {attempts} essai(s))")
