"""``observatoire serve``: the site in several processes (gunicorn), and the datasets of each
new build written by a process of their own.

Python runs one thread at a time per process, so one process serves at most one core's worth
of pages; the pages are independent and the warehouse is read-only in service (DuckDB lets
several processes open one file read-only), so the site runs ``processes`` gunicorn workers,
each with ``threads`` threads. The application is loaded in each worker after the fork: no
DuckDB database or application-database connection is shared between processes. Each worker
opens a new warehouse as soon as it is in service (``warehouse.follow``, a thread), and
pages computed by one worker are served by all from the page cache on disk (``pagecache``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from gunicorn.app.base import BaseApplication

from observatoire.config import Settings


class Site(BaseApplication):  # type: ignore[misc]
    """The Django application under gunicorn, configured from our options only (no
    gunicorn.conf.py, no command-line parsing of its own)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # imported in the worker, after the fork
        import threading

        from observatoire.warehouse import follow
        from observatoire.web.wsgi import application

        # each new build's warehouse is opened as soon as it is in service, before readers ask
        follow(Settings.from_env(), threading.Event())
        return application


def options(settings: Settings, host: str, port: int, processes: int,
            threads: int) -> dict[str, Any]:
    """gunicorn's settings for the site."""
    return {
        "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
        "workers": max(1, processes),
        "worker_class": "gthread",
        "threads": max(1, threads),
        # an idle reader's connection stays open as long as waitress kept it (120 s)
        "keepalive": 120,
        # the scheme a proxy forwards is the application's to believe or not
        # (web.middleware.TrustedProxyMiddleware, OBSERVATOIRE_TRUSTED_PROXIES): gunicorn must
        # not set https from X-Forwarded-Proto on its own
        "secure_scheme_headers": {},
        "forwarded_allow_ips": ",".join(settings.trusted_proxies) or "127.0.0.1",
        "control_socket_disable": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "observatoire",
    }


def publish_forever(parent: int) -> None:
    """The datasets of each new build, written in a process of their own (started afresh, not
    forked: it opens the warehouse on its own) until the server ``parent`` stops."""
    from observatoire.datasets import Publisher

    # below the readers: a page waits for no dataset being written
    os.nice(10)
    publisher = Publisher(Settings.from_env())
    publisher.start()
    while os.getppid() == parent:  # the server is gone: so is its publisher
        time.sleep(2)


def serve(settings: Settings, host: str, port: int, processes: int, threads: int) -> None:
    """Serve the site until stopped (Ctrl+C, SIGTERM)."""
    from django.db import connections

    # the arbiter migrated the application database: no connection may cross the fork
    connections.close_all()
    server = os.getpid()
    publisher = subprocess.Popen([  # noqa: S603 (our own interpreter and module)
        sys.executable, "-c", "from observatoire.web.server import publish_forever; "
        f"publish_forever({server})"])
    try:
        Site(options(settings, host, port, processes, threads)).run()
    finally:
        # a worker leaves through here too (gunicorn ends a forked worker with SystemExit)
        if os.getpid() == server:
            publisher.terminate()
            publisher.wait(30)
