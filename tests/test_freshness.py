"""What the web server does when a build puts a new warehouse in service: it opens it before a
request asks (``warehouse.follow``), and it writes the new build's datasets only once that build
has stayed in service (``datasets.Publisher``: a collector building every few seconds must not
have it export everything after every build). Real builds of the demo's files."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from observatoire import datasets, warehouse
from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest

from .conftest import DEMO, make_warehouse, warehouse_rows

V2 = DEMO / "decp" / "v2"
GIP = V2 / "gip-maximilien_decp-13001845000028-2024-10-06-01.json"
MEGALIS = V2 / "megalis_decp-59920013600241-2024-07-09-01.json"


def _build_id(settings: Settings) -> int:
    return int(warehouse_rows(settings, "SELECT max(build_id) FROM build_info")[0][0])


def _published(home: Path, build_id: int) -> set[str]:
    folder = home / "exports" / str(build_id)
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def test_the_publisher_waits_until_a_build_stays_in_service(tmp_path: Path) -> None:
    wh = make_warehouse(tmp_path / "home", MEGALIS)
    wh.con.close()
    settings, home = wh.settings, wh.settings.home
    # every dataset this deployment publishes (no payment loaded: not the payments)
    expected = {f"{d}.{f}" for d in datasets.DATASETS if d != "paiements"
                for f in datasets.FORMATS}
    publisher = datasets.Publisher(settings)
    first = _build_id(settings)
    assert publisher.look()  # the build in service when the server starts: at once
    assert expected <= _published(home, first)

    ingest(settings, [GIP])
    second = build(settings).build_id
    assert not publisher.look() and _published(home, second) == set()  # just swapped in
    ingest(settings, [DEMO / "decp" / "v1" / "e-marchespublics.json"])
    third = build(settings).build_id  # replaced before the next look: never published
    assert not publisher.look() and _published(home, third) == set()
    assert publisher.look()  # still in service at this look: published
    assert expected <= _published(home, third)
    assert _published(home, second) == set()
    assert not publisher.look()  # nothing new


def test_the_server_opens_a_new_warehouse_before_any_request(tmp_path: Path) -> None:
    wh = make_warehouse(tmp_path / "home", MEGALIS)
    wh.con.close()
    settings = wh.settings
    stop = threading.Event()
    thread = warehouse.follow(settings, stop, every=0.02)
    try:
        ingest(settings, [GIP])
        build(settings)
        stat = settings.warehouse_path.stat()
        identity = (stat.st_ino, stat.st_mtime_ns)
        deadline = time.monotonic() + 60
        while (warehouse._OPEN.get(str(settings.warehouse_path)) or ((0, 0),))[0] != identity:
            assert time.monotonic() < deadline, "the new warehouse was not opened"
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    # the connection opened in advance is the new warehouse: it holds the second file's rows
    cursor = warehouse.open_warehouse(settings)
    try:
        files = cursor.execute("SELECT file_name FROM reconciliation ORDER BY 1").fetchall()
    finally:
        cursor.close()
    assert files == sorted([(GIP.name,), (MEGALIS.name,)])
