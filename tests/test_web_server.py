"""``observatoire serve`` in several processes, with real servers on 127.0.0.1: the processes it
runs, the page cache they share on disk, and a new warehouse seen by every one of them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import requests

from observatoire.web import pagecache
from tests.conftest import Warehouse
from tests.test_deploy import _free_port, _wait_for

PAGE = "/marches/?annee=2024&tri=montant"


@contextmanager
def serving(home: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``observatoire serve`` on ``home``, in its own process; its base URL and process."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVATOIRE_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["OBSERVATOIRE_HOME"] = str(home)
    log = (home.parent / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "observatoire.cli", "serve", "--port", str(port), *options],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_for(port, process, home.parent / f"serve-{port}.log")
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _home(demo_warehouse: Warehouse, tmp_path: Path) -> Path:
    """A data home of its own holding the demo warehouse (these tests change its files)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    shutil.copy(demo_warehouse.settings.warehouse_path, home / "warehouse.duckdb")
    return home


def test_serve_runs_the_number_of_processes_asked_for(demo_warehouse: Warehouse,
                                                      tmp_path: Path) -> None:
    home = _home(demo_warehouse, tmp_path)
    with serving(home, "--processus", "3") as (site, process):
        answers = [requests.get(f"{site}/marches/?annee={year}", timeout=60)
                   for year in (2019, 2020, 2021, 2022, 2023, 2024)]
        assert [a.status_code for a in answers] == [200] * 6
        deadline = time.monotonic() + 60  # the workers are forked one after the other
        while True:
            children = psutil.Process(process.pid).children()
            workers = [p for p in children if "observatoire.cli" in " ".join(p.cmdline())]
            if len(workers) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(workers) == 3
        # the datasets are written by a process of their own
        publishers = [p for p in children if "publish_forever" in " ".join(p.cmdline())]
        assert len(publishers) == 1
    assert not psutil.pid_exists(process.pid)
    for child in workers + publishers:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_a_page_computed_by_one_process_is_served_by_another(demo_warehouse: Warehouse,
                                                              tmp_path: Path) -> None:
    """Two servers on one data home, each a process of its own: the page the first computes,
    the second answers from the cache on disk, byte for byte."""
    home = _home(demo_warehouse, tmp_path)
    with serving(home, "--processus", "1") as (first, _), \
            serving(home, "--processus", "1") as (second, _):
        computed = requests.get(first + PAGE, timeout=60)
        assert computed.status_code == 200
        assert computed.headers["X-Cache"] == "miss"
        served = requests.get(second + PAGE, timeout=60)
        assert served.headers["X-Cache"] == "hit"
        assert served.content == computed.content
        assert served.headers["Content-Type"] == computed.headers["Content-Type"]
        # another page is computed by the second, then served by the first
        other = requests.get(second + PAGE + "&categorie=PME", timeout=60)
        assert other.headers["X-Cache"] == "miss"
        assert requests.get(first + PAGE + "&categorie=PME",
                            timeout=60).headers["X-Cache"] == "hit"
        # the number of contracts the page shows is the warehouse's
        expected = demo_warehouse.value(
            "SELECT count(*) FROM contracts WHERE notification_year = 2024")
        api = requests.get(first + "/api/v1/marches?annee=2024&taille=1", timeout=60).json()
        assert api["total"] == expected


def test_a_new_warehouse_is_seen_by_every_process(demo_warehouse: Warehouse,
                                                  tmp_path: Path) -> None:
    """A build swaps in a new file: no process answers from the pages of the old one, whose
    folder is removed when the first page of the new one is written."""
    home = _home(demo_warehouse, tmp_path)
    with serving(home, "--processus", "1") as (first, _), \
            serving(home, "--processus", "1") as (second, _):
        before = requests.get(first + PAGE, timeout=60)
        assert requests.get(second + PAGE, timeout=60).headers["X-Cache"] == "hit"
        old_folders = sorted(p.name for p in (home / "cache" / "pages").iterdir())
        assert len(old_folders) == 1
        # a new warehouse file, as a build renames its result into place
        new = home / "warehouse.new.duckdb"
        shutil.copy(demo_warehouse.settings.warehouse_path, new)
        os.replace(new, home / "warehouse.duckdb")
        after = requests.get(second + PAGE, timeout=60)
        assert after.headers["X-Cache"] == "miss"
        assert after.content == before.content  # the same data, computed again
        assert requests.get(first + PAGE, timeout=60).headers["X-Cache"] == "hit"
        new_folders = sorted(p.name for p in (home / "cache" / "pages").iterdir())
        assert len(new_folders) == 1 and new_folders != old_folders


def test_the_page_cache_keeps_the_newest_pages_within_its_room(tmp_path: Path) -> None:
    home = tmp_path
    for i in range(10):
        pagecache.put(home, "b1", f"{i:02d}" + "0" * 62, b"x" * 1000, {"type": "text/html"})
        os.utime(pagecache._path(home, "b1", f"{i:02d}" + "0" * 62), ns=(i * 10**9, i * 10**9))
    size = 1000 + len(b'{"type": "text/html"}\n')  # a file: its head line, then the body
    pagecache.trim(pagecache.folder(home, "b1"), limit=5 * size)
    kept = [i for i in range(10)
            if pagecache.get(home, "b1", f"{i:02d}" + "0" * 62) is not None]
    # ten files over a room of five: the oldest go until 80 % of the room (four) are left
    assert kept == [6, 7, 8, 9]
    body, head = pagecache.get(home, "b1", "09" + "0" * 62) or (b"", {})
    assert body == b"x" * 1000 and head == {"type": "text/html"}
