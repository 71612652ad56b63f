"""Continuous collection against real parts: the real DECP files, served by a real HTTP server
started here on 127.0.0.1 (304, changed file, 404, 500, timeout, a response cut in the middle),
a real inbox folder, the real catalog and builds. Expected counts are read from the served files
with ``json`` / ``csv`` here, independently of the parsers."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire.collect import runner
from observatoire.collect.health import health
from observatoire.collect.sources import read_sources
from observatoire.collect.state import State
from observatoire.config import Settings
from observatoire.errors import ConfigError, ObservatoireError
from observatoire.landing.catalog import Catalog, superseded
from observatoire.warehouse_writer import build_lock

from .conftest import DEMO

V2 = DEMO / "decp" / "v2"
GIP = V2 / "gip-maximilien_decp-13001845000028-2024-10-06-01.json"
MEGALIS = V2 / "megalis_decp-59920013600241-2024-07-09-01.json"
EMARCHES = DEMO / "decp" / "v1" / "e-marchespublics.json"
TABULAR = DEMO / "decp" / "tabular" / "decpinfo_tabular_2024H2_travaux_cpv4521.csv"


def decp_records(path: Path) -> int:
    """Records of a DECP JSON file, counted with json (marchés + concessions)."""
    marches = json.loads(path.read_text(encoding="utf-8"))["marches"]
    if isinstance(marches, list):
        return len(marches)
    return sum(len(v) for v in marches.values())


def tabular_rows(path: Path) -> int:
    """Records of the consolidated tabular file: one a row (contract × holder), read with csv."""
    with path.open(encoding="utf-8", newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh))


# --- A real HTTP server ----------------------------------------------------------------------


class Server:
    """Serves ``files`` (path → bytes) with ETag and Last-Modified, answers conditional and
    range requests, and misbehaves on demand: ``cut`` (path → times to cut the body in the
    middle), ``ignore_ranges``, ``sleep`` (path → seconds before answering), ``status``
    (path → forced status). ``log`` keeps (method, path, status, request headers)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.json: dict[str, Any] = {}
        self.cut: dict[str, int] = {}
        self.sleep: dict[str, float] = {}
        self.status: dict[str, int] = {}
        self.ignore_ranges = False
        self.log: list[tuple[str, int, dict[str, str]]] = []
        self.modified = formatdate(time.time() - 3600, usegmt=True)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def answer(self, status: int, body: bytes = b"", **headers: str) -> None:
                server.log.append((self.path, status, dict(self.headers)))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k.replace("_", "-"), v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                path = self.path
                if path in server.sleep:
                    time.sleep(server.sleep[path])
                if path in server.status:
                    return self.answer(server.status[path], b"erreur")
                if path in server.json:
                    return self.answer(200, json.dumps(server.json[path]).encode(),
                                       Content_Type="application/json")
                if path not in server.files:
                    return self.answer(404, b"introuvable")
                body = server.files[path]
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                validators = {"ETag": etag, "Last_Modified": server.modified}
                if self.headers.get("If-None-Match") == etag:
                    return self.answer(304, **validators)
                start = 0
                wanted = self.headers.get("Range", "")
                if (wanted.startswith("bytes=") and not server.ignore_ranges
                        and self.headers.get("If-Range") in (etag, server.modified)):
                    start = int(wanted[6:].split("-")[0])
                if server.cut.get(path, 0) > 0:
                    server.cut[path] -= 1
                    server.log.append((path, 200, dict(self.headers)))
                    self.send_response(206 if start else 200)
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", server.modified)
                    if start:
                        self.send_header("Content-Range",
                                         f"bytes {start}-{len(body) - 1}/{len(body)}")
                    self.send_header("Content-Length", str(len(body) - start))
                    self.end_headers()
                    rest = body[start:]
                    self.wfile.write(rest[: len(rest) // 2])  # then the connection drops
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                if start:
                    return self.answer(206, body[start:], Content_Range=(
                        f"bytes {start}-{len(body) - 1}/{len(body)}"), **validators)
                return self.answer(200, body, **validators)

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (the timeout case) breaks the pipe: expected

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def hits(self, path: str) -> list[tuple[int, dict[str, str]]]:
        return [(status, headers) for p, status, headers in self.log if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.close()


def home_with(tmp_path: Path, sources: str) -> Settings:
    """A data home and a profile folder (extending the generic one) with this sources.toml."""
    profile = tmp_path / "profil"
    profile.mkdir()
    (profile / "profile.toml").write_text('extends = "generique"\nid = "essai"\n'
                                          'name = "Essai"\n', encoding="utf-8")
    (profile / "sources.toml").write_text(sources, encoding="utf-8")
    return Settings(home=tmp_path / "home", profile=str(profile), workers=1)


def loads_of(settings: Settings, source: str) -> list[Any]:
    return [ld for ld in Catalog(settings.catalog_path).loads() if ld.source == source]


def reconciliation(settings: Settings) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute("SELECT file_name, source, records_in, kept + duplicates + set_aside,"
                           " balanced FROM reconciliation ORDER BY load_id").fetchall()
    finally:
        con.close()


# --- sources.toml ----------------------------------------------------------------------------


def test_sources_file_is_checked_with_the_file_the_source_and_the_key(tmp_path: Path) -> None:
    settings = home_with(tmp_path, '[[source]]\nid = "depot"\nkind = "dossier"\n'
                         'chemin = "depot"\nfrequence = "15min"\nfrequance = "1h"\n')
    with pytest.raises(ConfigError) as found:
        read_sources(settings)
    assert "frequance" in found.value.message
    assert "sources.toml" in found.value.where and "« depot »" in found.value.where
    (tmp_path / "profil" / "sources.toml").write_text(
        '[[source]]\nid = "p"\nkind = "url"\nurl = "https://x.fr/a.json"\nfrequence = "3 jours"\n')
    with pytest.raises(ConfigError) as found:
        read_sources(settings)
    assert "frequence" in found.value.where and "3 jours" in found.value.message
    (tmp_path / "profil" / "sources.toml").write_text(
        '[[source]]\nid = "p"\nkind = "ftp"\nfrequence = "1h"\n')
    with pytest.raises(ConfigError, match="Type de source inconnu"):
        read_sources(settings)


def test_shipped_profiles_declare_their_sources() -> None:
    demo = read_sources(Settings(home=Path("/srv/obs"), profile="demonstration"))
    assert [(s.id, s.kind, s.folder, s.frequency) for s in demo] == [
        ("depot", "dossier", Path("/srv/obs/depot"), timedelta(days=1))]
    # the generic and Bretagne profiles carry commented examples only
    assert read_sources(Settings(profile="generique")) == []
    assert read_sources(Settings(profile="region-bretagne")) == []


def test_the_commented_examples_are_valid_sources(tmp_path: Path) -> None:
    """Uncommented, every example of the shipped files reads without error."""
    from observatoire.indicators.profile import BUILTIN_DIR

    for name in ("generique", "region-bretagne"):
        text = (BUILTIN_DIR / name / "sources.toml").read_text(encoding="utf-8")
        lines = [line[2:] for line in text.splitlines()
                 if line.startswith("# ") and not line.startswith("# ", 2)
                 and ("=" in line or line.startswith("# [[source]]"))]
        folder = tmp_path / name
        folder.mkdir()
        (folder / "sources.toml").write_text("\n".join(lines), encoding="utf-8")
        found = read_sources(Settings(home=tmp_path, profile=str(folder)))
        assert len(found) == text.count("# [[source]]"), name


# --- The inbox -------------------------------------------------------------------------------

INBOX = '[[source]]\nid = "depot"\nkind = "dossier"\nchemin = "depot"\nfrequence = "1h"\n'


def test_inbox_files_are_loaded_once_moved_and_rejections_explained(tmp_path: Path) -> None:
    settings = home_with(tmp_path, INBOX)
    inbox = settings.home / "depot"
    inbox.mkdir(parents=True)
    for f in (GIP, MEGALIS):
        (inbox / f.name).write_bytes(f.read_bytes())
    (inbox / "notes.txt").write_text("ceci n'est pas un fichier DECP\n", encoding="utf-8")
    (inbox / ".copie-en-cours").write_text("{", encoding="utf-8")  # hidden: not taken

    first = runner.collect_once(settings, settle=0)
    (done,) = first.sources
    assert (done.files, done.new, done.rejected, done.error) == (3, 2, 1, None)
    assert first.built and first.failed  # built; failed because a file was rejected
    assert sorted(p.name for p in (inbox / "traités").iterdir()) == sorted([GIP.name,
                                                                            MEGALIS.name])
    assert sorted(p.name for p in (inbox / "rejetés").iterdir()) == ["notes.txt",
                                                                      "notes.txt.motif.txt"]
    reason = (inbox / "rejetés" / "notes.txt.motif.txt").read_text(encoding="utf-8")
    assert "Format non reconnu" in reason and "Que faire" in reason
    assert (inbox / ".copie-en-cours").exists()
    rows = reconciliation(settings)
    expected = {GIP.name: decp_records(GIP), MEGALIS.name: decp_records(MEGALIS)}
    assert {r[0]: r[2] for r in rows} == expected == {GIP.name: 17, MEGALIS.name: 5}
    assert all(r[1] == "depot" and r[2] == r[3] and r[4] for r in rows)

    # the same file dropped again: not loaded twice, moved aside under another name, no build
    (inbox / GIP.name).write_bytes(GIP.read_bytes())
    again = runner.collect_once(settings, settle=0)
    assert (again.sources[0].unchanged, again.sources[0].new, again.built) == (1, 0, False)
    assert len(loads_of(settings, "depot")) == 3
    assert (inbox / "traités" / GIP.name.replace(".json", ".1.json")).exists()


def test_a_file_dropped_again_under_the_same_name_is_a_new_version(tmp_path: Path) -> None:
    settings = home_with(tmp_path, INBOX)
    inbox = settings.home / "depot"
    inbox.mkdir(parents=True)
    (inbox / "export.json").write_bytes(GIP.read_bytes())
    runner.collect_once(settings, settle=0, build=False)
    (inbox / "export.json").write_bytes(MEGALIS.read_bytes())
    (inbox / "export-2.json").write_bytes(EMARCHES.read_bytes())  # another name: added
    assert runner.collect_once(settings, settle=0).built
    # the first export.json stays in the load log, replaced in the warehouse by the second
    assert [ld.records for ld in loads_of(settings, "depot")] == [17, 470, 5]
    assert sorted((r[0], r[2]) for r in reconciliation(settings)) == [
        ("export-2.json", decp_records(EMARCHES)), ("export.json", decp_records(MEGALIS))]
    assert sorted(p.name for p in (inbox / "traités").iterdir()) == [
        "export-2.json", "export.1.json", "export.json"]


def test_a_file_still_being_copied_waits_for_the_next_round(tmp_path: Path) -> None:
    settings = home_with(tmp_path, INBOX)
    inbox = settings.home / "depot"
    inbox.mkdir(parents=True)
    (inbox / MEGALIS.name).write_bytes(MEGALIS.read_bytes())  # modified just now
    first = runner.collect_once(settings, settle=30, build=False)
    assert first.sources[0].files == 0 and (inbox / MEGALIS.name).exists()
    old = time.time() - 60
    os.utime(inbox / MEGALIS.name, (old, old))
    second = runner.collect_once(settings, settle=30, build=False)
    assert second.sources[0].new == 1


def test_a_file_dropped_while_a_build_runs_is_taken_by_the_next_round(tmp_path: Path) -> None:
    settings = home_with(tmp_path, INBOX)
    inbox = settings.home / "depot"
    inbox.mkdir(parents=True)
    (inbox / GIP.name).write_bytes(GIP.read_bytes())
    dropped: list[str] = []

    def drop(step: str) -> None:  # called by the round's build, while it runs
        if not dropped:
            (inbox / MEGALIS.name).write_bytes(MEGALIS.read_bytes())
            dropped.append(step)

    first = runner.collect_once(settings, settle=0, on_step=drop)
    assert dropped and first.built and first.sources[0].new == 1
    assert (inbox / MEGALIS.name).exists()  # not lost, not taken yet
    assert [r[0] for r in reconciliation(settings)] == [GIP.name]
    second = runner.collect_once(settings, settle=0)
    assert second.built and second.sources[0].new == 1
    rows = reconciliation(settings)
    assert [(r[0], r[2]) for r in rows] == [(GIP.name, decp_records(GIP)),
                                            (MEGALIS.name, decp_records(MEGALIS))]
    assert all(r[4] for r in rows)


def test_a_round_whose_build_is_locked_builds_at_the_next_round(tmp_path: Path) -> None:
    settings = home_with(tmp_path, INBOX)
    inbox = settings.home / "depot"
    inbox.mkdir(parents=True)
    (inbox / MEGALIS.name).write_bytes(MEGALIS.read_bytes())
    settings.ensure_home()
    with build_lock(settings):  # another build is running in this data home
        first = runner.collect_once(settings, settle=0)
    assert first.sources[0].new == 1 and not first.built
    assert first.build_error and "déjà en cours" in first.build_error
    second = runner.collect_once(settings, settle=0)
    assert second.sources[0].files == 0 and second.built
    assert [(r[0], r[2], r[4]) for r in reconciliation(settings)] == [
        (MEGALIS.name, decp_records(MEGALIS), True)]
    assert not runner.collect_once(settings, settle=0).built  # nothing new: no build


def test_one_round_at_a_time_per_data_home(tmp_path: Path) -> None:
    settings = home_with(tmp_path, INBOX)
    inbox = settings.home / "depot"
    inbox.mkdir(parents=True)
    (inbox / MEGALIS.name).write_bytes(MEGALIS.read_bytes())
    with runner.collect_lock(settings), pytest.raises(ObservatoireError,
                                                      match="déjà en cours"):
        runner.collect_once(settings, settle=0, build=False)
    assert (inbox / MEGALIS.name).exists() and loads_of(settings, "depot") == []
    assert runner.collect_once(settings, settle=0, build=False).sources[0].new == 1


# --- HTTP pulls ------------------------------------------------------------------------------


def url_source(server: Server, path: str, **extra: Any) -> str:
    lines = ['[[source]]', 'id = "flux"', 'kind = "url"', f'url = "{server.url}{path}"',
             'frequence = "1h"', *(f"{k} = {json.dumps(v)}" for k, v in extra.items())]
    return "\n".join(lines) + "\n"


def test_unchanged_then_changed_file(tmp_path: Path, server: Server) -> None:
    server.files["/decp.json"] = GIP.read_bytes()
    settings = home_with(tmp_path, url_source(server, "/decp.json"))
    first = runner.collect_once(settings, backoff=0)
    assert (first.sources[0].new, first.built) == (1, True)
    # not due again within its frequency: nothing requested
    assert runner.collect_once(settings, backoff=0).sources == []
    assert len(server.hits("/decp.json")) == 1
    # forced: a conditional request, answered 304, nothing loaded, no build
    second = runner.collect_once(settings, "flux", backoff=0)
    status, headers = server.hits("/decp.json")[-1]
    assert status == 304 and headers["If-None-Match"] and headers["If-Modified-Since"]
    assert (second.sources[0].unchanged, second.built) == (1, False)
    # the file changes at the same address: a new version, which supersedes the old one
    server.files["/decp.json"] = MEGALIS.read_bytes()
    third = runner.collect_once(settings, "flux", backoff=0)
    assert (third.sources[0].new, third.built) == (1, True)
    loads = loads_of(settings, "flux")
    assert [ld.records for ld in loads] == [decp_records(GIP), decp_records(MEGALIS)]
    assert superseded(Catalog(settings.catalog_path).loads()) == {loads[0].load_id:
                                                                   loads[1].load_id}
    assert [(r[2], r[3], r[4]) for r in reconciliation(settings)] == [
        (decp_records(MEGALIS), decp_records(MEGALIS), True)]
    # nothing left half-written beside the data home's download folder
    folder = runner.collect_dir(settings, "flux")
    assert [p.name for p in folder.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("ignore_ranges", [False, True])
def test_a_download_cut_in_the_middle_resumes_or_restarts(
        tmp_path: Path, server: Server, ignore_ranges: bool) -> None:
    body = EMARCHES.read_bytes()
    server.files["/v1.json"] = body
    server.cut["/v1.json"] = 1
    server.ignore_ranges = ignore_ranges
    settings = home_with(tmp_path, url_source(server, "/v1.json"))
    result = runner.collect_once(settings, backoff=0, build=False)
    assert result.sources[0].error is None and result.sources[0].new == 1
    hits = server.hits("/v1.json")
    assert len(hits) == 2
    if ignore_ranges:  # the server sent the whole file again: the partial one was dropped
        assert hits[1][0] == 200
    else:
        assert hits[1][0] == 206
        # resumed from what was written (whole chunks of what arrived before the cut)
        start = int(hits[1][1]["Range"][6:-1])
        assert 0 < start <= len(body) // 2
    (load,) = loads_of(settings, "flux")
    assert load.sha256 == hashlib.sha256(body).hexdigest()
    assert load.records == decp_records(EMARCHES) == 470


def test_a_weak_etag_does_not_resume_a_cut_download(tmp_path: Path, server: Server) -> None:
    """If-Range needs a strong validator: under a weak ETag, the Last-Modified date is sent."""
    body = EMARCHES.read_bytes()
    server.files["/v1.json"] = body
    server.cut["/v1.json"] = 1
    settings = home_with(tmp_path, url_source(server, "/v1.json"))
    original = server.httpd.RequestHandlerClass.send_header

    def weaken(handler: Any, key: str, value: str) -> None:
        original(handler, key, "W/" + value if key == "ETag" else value)

    server.httpd.RequestHandlerClass.send_header = weaken  # type: ignore[method-assign]
    result = runner.collect_once(settings, backoff=0, build=False)
    assert result.sources[0].new == 1
    assert server.hits("/v1.json")[1][1]["If-Range"] == server.modified
    (load,) = loads_of(settings, "flux")
    assert load.sha256 == hashlib.sha256(body).hexdigest()


def test_a_cut_download_is_resumed_by_the_next_round(tmp_path: Path, server: Server) -> None:
    """Cut on every attempt of a round: the round fails, keeps the partial file, and the next
    round resumes it instead of starting over."""
    body = EMARCHES.read_bytes()
    server.files["/v1.json"] = body
    server.cut["/v1.json"] = 2
    settings = home_with(tmp_path, url_source(server, "/v1.json", essais=2))
    first = runner.collect_once(settings, backoff=0, build=False)
    assert first.sources[0].error and "interrompu" in first.sources[0].error
    assert loads_of(settings, "flux") == []
    partial = runner.collect_dir(settings, "flux") / ".partiel" / "v1.json"
    size = partial.stat().st_size
    assert 0 < size < len(body)  # what arrived is kept
    second = runner.collect_once(settings, "flux", backoff=0, build=False)
    assert second.sources[0].new == 1
    assert server.hits("/v1.json")[-1][1]["Range"] == f"bytes={size}-"
    (load,) = loads_of(settings, "flux")
    assert load.sha256 == hashlib.sha256(body).hexdigest()


def test_a_cut_download_restarts_when_the_file_changed_meanwhile(
        tmp_path: Path, server: Server) -> None:
    server.files["/decp.json"] = EMARCHES.read_bytes()
    server.cut["/decp.json"] = 1
    settings = home_with(tmp_path, url_source(server, "/decp.json", essais=1))
    assert runner.collect_once(settings, backoff=0, build=False).sources[0].error
    server.files["/decp.json"] = GIP.read_bytes()  # a new version replaces the file
    result = runner.collect_once(settings, "flux", backoff=0, build=False)
    assert result.sources[0].new == 1
    status, headers = server.hits("/decp.json")[-1]
    assert headers["Range"] and status == 200  # If-Range did not match: the whole new file
    (load,) = loads_of(settings, "flux")
    assert load.sha256 == hashlib.sha256(GIP.read_bytes()).hexdigest()
    assert load.records == decp_records(GIP)


def test_404_500_and_timeout_are_errors_of_the_source(tmp_path: Path, server: Server) -> None:
    server.status["/erreur.json"] = 500
    server.files["/lent.json"] = MEGALIS.read_bytes()
    server.sleep["/lent.json"] = 3
    sources = "".join([
        url_source(server, "/absent.json").replace('"flux"', '"absent"'),
        url_source(server, "/erreur.json", essais=3).replace('"flux"', '"erreur"'),
        url_source(server, "/lent.json", essais=1, delai=1).replace('"flux"', '"lent"')])
    settings = home_with(tmp_path, sources)
    started = time.monotonic()
    result = runner.collect_once(settings, backoff=0)
    assert time.monotonic() - started < 10
    errors = {s.source_id: s.error for s in result.sources}
    assert "404" in (errors["absent"] or "")
    assert "500" in (errors["erreur"] or "") and "3 essai" in (errors["erreur"] or "")
    assert "délai" in (errors["lent"] or "")
    assert len(server.hits("/absent.json")) == 1  # a 404 is not retried
    assert len(server.hits("/erreur.json")) == 3  # a 500 is, up to the attempts allowed
    assert result.failed and not result.built
    assert Catalog(settings.catalog_path).loads() == []
    rows = {r["id"]: r for r in health(settings)}
    assert all(rows[s]["failing"] and rows[s]["last_success"] is None for s in rows)
    assert "404" in rows["absent"]["last_error"]
    # a failed source (frequency 1 h) is tried again after 15 minutes, not an hour
    attempt = datetime.fromisoformat(rows["absent"]["last_attempt"])
    retry = datetime.fromisoformat(rows["absent"]["next_run"])
    assert timedelta(minutes=14) <= retry - attempt <= timedelta(minutes=15)


def test_datagouv_dataset_resources_are_pulled(tmp_path: Path, server: Server) -> None:
    """A local server imitates the shape of data.gouv.fr's dataset API."""
    server.files["/r/gip.json"] = GIP.read_bytes()
    server.files["/r/megalis.json"] = MEGALIS.read_bytes()
    server.files["/r/notice.pdf"] = b"%PDF-1.4"
    sha1 = hashlib.sha1(GIP.read_bytes(), usedforsecurity=False).hexdigest()
    server.json["/api/1/datasets/65f18014e9923e9e71f5f258/"] = {"id": "65f1", "resources": [
        {"id": "a1", "url": f"{server.url}/r/gip.json", "format": "json",
         "checksum": {"type": "sha1", "value": sha1}},
        {"id": "b2", "url": f"{server.url}/r/megalis.json", "format": "JSON"},
        {"id": "c3", "url": f"{server.url}/r/notice.pdf", "format": "pdf"}]}
    settings = home_with(tmp_path, "\n".join([
        '[[source]]', 'id = "megalis"', 'kind = "datagouv"',
        'jeu = "65f18014e9923e9e71f5f258"', f'api = "{server.url}/api/1"',
        'formats = ["json"]', 'frequence = "1j"']))
    result = runner.collect_once(settings, backoff=0, build=False)
    assert result.sources[0].new == 2 and result.sources[0].error is None
    assert server.hits("/r/notice.pdf") == []
    assert sorted(ld.records for ld in loads_of(settings, "megalis")) == sorted(
        [decp_records(GIP), decp_records(MEGALIS)])
    # a resource whose content no longer matches the checksum the portal announces is set aside
    server.files["/r/gip.json"] = MEGALIS.read_bytes()
    again = runner.collect_once(settings, "megalis", backoff=0, build=False)
    assert "empreinte" in (again.sources[0].error or "")
    assert len(loads_of(settings, "megalis")) == 2


def test_opendatasoft_export_is_pulled(tmp_path: Path, server: Server) -> None:
    path = "/api/explore/v2.1/catalog/datasets/decp-travaux/exports/csv"
    server.files[path] = TABULAR.read_bytes()
    settings = home_with(tmp_path, "\n".join([
        '[[source]]', 'id = "ods"', 'kind = "opendatasoft"', f'domaine = "{server.url}"',
        'jeu = "decp-travaux"', 'export = "csv"', 'frequence = "1j"']))
    result = runner.collect_once(settings, backoff=0, build=False)
    assert result.sources[0].new == 1, result.sources[0]
    (load,) = loads_of(settings, "ods")
    assert load.file_name == "decp-travaux.csv" and load.status != "rejected"
    assert load.records == tabular_rows(TABULAR) == 8957


# --- Health ----------------------------------------------------------------------------------


def test_health_flags_a_source_later_than_its_frequency(tmp_path: Path, server: Server) -> None:
    server.files["/decp.json"] = MEGALIS.read_bytes()
    settings = home_with(tmp_path, url_source(server, "/decp.json").replace("1h", "10min"))
    runner.collect_once(settings, backoff=0, build=False)
    (row,) = health(settings)
    success = datetime.fromisoformat(row["last_success"])
    assert row["records"] == decp_records(MEGALIS) and not row["failing"]
    assert success - timedelta(seconds=5) <= datetime.fromisoformat(row["next_run"]) - \
        timedelta(minutes=10) <= success
    (on_time,) = health(settings, now=success + timedelta(minutes=14))
    (late,) = health(settings, now=success + timedelta(minutes=16))
    assert (on_time["late"], late["late"]) == (False, True)
    assert late["lag"] == "16 min"


# --- The command line ------------------------------------------------------------------------


def cli(settings: Settings, *args: str, **kwargs: Any) -> Any:
    env = {**os.environ, "OBSERVATOIRE_HOME": str(settings.home),
           "OBSERVATOIRE_PROFILE": settings.profile, "OBSERVATOIRE_WORKERS": "1",
           "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "observatoire.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_cli_collect_once_and_sources_report_failures(tmp_path: Path, server: Server) -> None:
    settings = home_with(tmp_path, url_source(server, "/absent.json"))
    out, err = (p := cli(settings, "collect", "--json")).communicate(timeout=120)
    assert p.returncode == 1, err
    report = json.loads(out)
    assert "404" in report["sources"][0]["error"] and report["echec"]
    out, _ = (p := cli(settings, "sources", "--json")).communicate(timeout=60)
    assert p.returncode == 1
    assert json.loads(out)[0]["failing"]
    out, _ = (p := cli(settings, "sources")).communicate(timeout=60)
    assert "en échec" in out and "404" in out
    # a mistyped key: a French message naming the key, exit code 2, no traceback
    (tmp_path / "profil" / "sources.toml").write_text(INBOX + 'chemn = "x"\n')
    _, err = (p := cli(settings, "collect")).communicate(timeout=60)
    assert p.returncode == 2 and "chemn" in err and "Traceback" not in err


def test_continuous_collection_stops_cleanly_on_sigterm(tmp_path: Path, server: Server) -> None:
    body = EMARCHES.read_bytes()
    server.files["/v1.json"] = body
    server.sleep["/v1.json"] = 1.5  # SIGTERM arrives while the download is in progress
    settings = home_with(tmp_path, INBOX + url_source(server, "/v1.json"))
    (settings.home / "depot").mkdir(parents=True)
    proc = cli(settings, "collect", "--continu", "--intervalle", "0.5")
    deadline = time.monotonic() + 60
    while not server.log and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.log, "the collector never asked the server"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "arrêtée proprement" in out
    # the round in progress finished: the file is whole and loaded once; nothing half-written
    (load,) = loads_of(settings, "flux")
    assert load.sha256 == hashlib.sha256(body).hexdigest()
    leftovers = [p for p in settings.home.rglob("*") if p.is_file()
                 and (p.name.endswith((".tmp", ".part")) or ".partiel" in p.parts)]
    assert leftovers == []


def test_continuous_collection_takes_a_dropped_file_to_the_warehouse(tmp_path: Path) -> None:
    settings = home_with(tmp_path, INBOX)
    inbox = settings.home / "depot"
    inbox.mkdir(parents=True)
    proc = cli(settings, "collect", "--continu", "--intervalle", "0.3")

    def wait_for(what: Any) -> bool:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if settings.catalog_path.exists() and what():
                return True
            time.sleep(0.2)
        return False

    try:
        # the collector has looked at its inbox once (nothing there), then a file arrives
        assert wait_for(lambda: State(settings.catalog_path).sources())
        (inbox / MEGALIS.name).write_bytes(MEGALIS.read_bytes())
        old = time.time() - 60  # past the settling delay at once
        os.utime(inbox / MEGALIS.name, (old, old))
        assert wait_for(lambda: any(b["status"] == "succeeded"
                                    for b in Catalog(settings.catalog_path).builds()))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert [(r[0], r[2], r[4]) for r in reconciliation(settings)] == [
        (MEGALIS.name, decp_records(MEGALIS), True)]
    assert (inbox / "traités" / MEGALIS.name).exists()
    assert "Entrepôt reconstruit" in out


def test_an_inbox_without_new_files_for_longer_than_its_frequency_is_late(
        tmp_path: Path) -> None:
    settings = replace(home_with(tmp_path, INBOX), workers=1)
    (settings.home / "depot").mkdir(parents=True)
    (settings.home / "depot" / MEGALIS.name).write_bytes(MEGALIS.read_bytes())
    runner.collect_once(settings, settle=0, build=False)
    (row,) = health(settings, now=datetime.now(UTC) + timedelta(days=2))
    assert row["late"] and row["files"] == 1 and row["records"] == decp_records(MEGALIS)


# --- The page under /gestion/ ----------------------------------------------------------------


@pytest.mark.appdb
def test_source_health_page_for_every_signed_in_role(
        application_database: Any, tmp_path: Path, server: Server) -> None:
    from tests.conftest import make_account, signed_in, stewardship_home

    server.status["/panne.json"] = 500
    profile = home_with(tmp_path, INBOX + url_source(server, "/panne.json", essais=1)
                        .replace('"flux"', '"panne"')).profile
    with stewardship_home(application_database, tmp_path / "gestion", profile) as settings:
        (settings.home / "depot").mkdir()
        # (the site's home already holds the v2 demo files: a v1 file is new here)
        (settings.home / "depot" / EMARCHES.name).write_bytes(EMARCHES.read_bytes())
        runner.collect_once(settings, settle=0, backoff=0, build=False)
        reader = signed_in(make_account("lecteur-sources", "lecteur").user)
        page = reader.get("/gestion/sources/").content.decode()
        assert "depot" in page and "dossier de dépôt" in page and "à jour" in page
        assert "<strong>en échec</strong> : panne.json : le serveur a répondu 500" in page
        assert f'<td class="num">{decp_records(EMARCHES)}</td>' in page
        assert signed_in().get("/gestion/sources/").status_code == 302


def test_the_continuous_loop_outlives_a_round_that_cannot_run(tmp_path: Path) -> None:
    settings = home_with(tmp_path, INBOX)
    inbox = settings.home / "depot"
    inbox.mkdir(parents=True)
    (inbox / MEGALIS.name).write_bytes(MEGALIS.read_bytes())
    stop, errors, rounds = threading.Event(), [], []

    def done(result: runner.Round) -> None:
        rounds.append(result)
        stop.set()

    with runner.collect_lock(settings):  # a cron round is running
        loop = threading.Thread(target=runner.run_forever, args=(settings, stop), kwargs={
            "poll": 0.2, "on_round": done, "on_error": errors.append, "settle": 0,
            "build": False})
        loop.start()
        deadline = time.monotonic() + 30
        while not errors and time.monotonic() < deadline:
            time.sleep(0.05)
    loop.join(30)
    assert not loop.is_alive() and errors and "déjà en cours" in errors[0].message
    assert rounds[0].sources[0].new == 1
