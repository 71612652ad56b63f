#!/usr/bin/env python3
"""Set up and run the project with nothing but Python 3.11+.

    python3 tasks.py demo    # set up, load the demo data, build the warehouse, serve the site
                             # with the collector beside it (the inbox: var/demo/depot/)
    python3 tasks.py test    # set up, then lint, type-check and run the test suite (the tests of
                             # the application database run a second time on PostgreSQL)
    python3 tasks.py setup   # only set up (.venv with the pinned dependencies)

The virtual environment is ``.venv``; it is (re)installed whenever ``requirements.lock`` or
``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import venv
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
MARKER = VENV / ".installed"
FRONTEND = ROOT / "src" / "observatoire" / "web" / "frontend"
#: Built files of the front-end packages the pages load (copied from node_modules).
VENDOR_FILES = {
    "uplot/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
    "uplot/dist/uPlot.min.css": "uPlot.min.css",
    "swagger-ui-dist/swagger-ui-bundle.js": "swagger-ui-bundle.js",
    "swagger-ui-dist/swagger-ui.css": "swagger-ui.css",
}
VENDOR = ROOT / "src" / "observatoire" / "web" / "static" / "vendor"
#: The OpenID Connect provider the tests sign in through (oidc-provider, test-only).
TEST_PROVIDER = ROOT / "tests" / "oidc_provider"


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("→", " ".join(str(a) for a in args), flush=True)
    code = subprocess.call([str(a) for a in args], cwd=ROOT, env=env)
    if code:
        sys.exit(code)


def setup() -> None:
    if sys.version_info < (3, 11):
        sys.exit(
            "Python 3.11 ou plus récent est nécessaire (version actuelle : "
            f"{sys.version.split()[0]})."
        )
    digest = hashlib.sha256(
        (ROOT / "requirements.lock").read_bytes() + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()
    if MARKER.exists() and MARKER.read_text() == digest:
        return
    if not (BIN / "python").exists():
        print("→ création de l'environnement virtuel .venv", flush=True)
        venv.create(VENV, with_pip=True)
    pip = (BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
    run(*pip, "-r", "requirements.lock")
    run(*pip, "--no-deps", "--no-build-isolation", "-e", ".")
    MARKER.write_text(digest)


def frontend(required: bool = False) -> None:
    """Install the pages' JavaScript packages from their lockfile (npm ci) and copy the built
    files the pages load. Without npm the site still works: its charts stay static."""
    digest = hashlib.sha256((FRONTEND / "package-lock.json").read_bytes()).hexdigest()
    marker = VENDOR / ".installed"
    if marker.exists() and marker.read_text() == digest:
        return
    npm = shutil.which("npm")
    if npm is None:
        message = ("npm (Node.js) est absent : les graphiques interactifs ne sont pas installés ; "
                   "le site fonctionne sans (graphiques statiques).")
        if required:
            sys.exit(message + " Les tests du navigateur en ont besoin : installez Node.js.")
        print("→ " + message, flush=True)
        return
    run(npm, "ci", "--no-audit", "--no-fund", "--prefix", FRONTEND)
    VENDOR.mkdir(parents=True, exist_ok=True)
    for source, name in VENDOR_FILES.items():
        shutil.copyfile(FRONTEND / "node_modules" / source, VENDOR / name)
    marker.write_text(digest)


def test_provider() -> None:
    """Install the tests' OpenID Connect provider from its lockfile (npm ci)."""
    digest = hashlib.sha256((TEST_PROVIDER / "package-lock.json").read_bytes()).hexdigest()
    marker = TEST_PROVIDER / "node_modules" / ".installed"
    if marker.exists() and marker.read_text() == digest:
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm (Node.js) est absent : les tests de la connexion par un fournisseur "
                 "d'identité (OpenID Connect) en ont besoin. Installez Node.js.")
    run(npm, "ci", "--no-audit", "--no-fund", "--prefix", TEST_PROVIDER)
    marker.write_text(digest)


def demo() -> None:
    setup()
    frontend()
    env = dict(os.environ)
    env.setdefault("OBSERVATOIRE_HOME", str(ROOT / "var" / "demo"))
    # Every buyer of the demo files, and the Bretagne lycées' canteens for Egalim.
    env.setdefault("OBSERVATOIRE_PROFILE", "demonstration")
    run(BIN / "observatoire", "demo", env=env)
    port = os.environ.get("OBSERVATOIRE_PORT", "8000")
    # The collector runs beside the site, with the demo's inbox (sources.toml of the profile):
    # a DECP file dropped there reaches the pages after the next build.
    inbox = Path(env["OBSERVATOIRE_HOME"]) / "depot"
    inbox.mkdir(parents=True, exist_ok=True)
    print(f"→ collecte continue : déposez un fichier DECP dans {inbox}/ ; il apparaîtra sur "
          "le site après la construction suivante", flush=True)
    # On Linux a file renamed into the inbox or closed after its copy wakes the collector at
    # once (collect/watch.py); elsewhere a round every second takes a file once unchanged for
    # one second (a copy by hand of a DECP file is done by then)
    collector = subprocess.Popen([str(BIN / "observatoire"), "collect", "--continu",
                                  "--intervalle", "1", "--stabilite", "1"], cwd=ROOT, env=env)
    try:
        run(BIN / "observatoire", "serve", "--port", port, env=env)
    finally:
        collector.terminate()  # SIGTERM: the collector finishes its round and stops
        try:
            collector.wait(timeout=120)
        except subprocess.TimeoutExpired:
            collector.kill()


def ensure_debian_package(command: str, package: str, why: str) -> None:
    """Install Debian's ``package`` when ``command`` is missing (as root, with apt-get), or
    say in French how to install it."""
    if shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin"):
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", "-q", env=env)
        run("apt-get", "install", "-y", "-q", package, env=env)
        return
    sys.exit(f"{why} : installez le paquet « {package} » (sudo apt-get install {package}), "
             "puis relancez.")


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium: install it when it is missing."""
    ensure_debian_package("chromium", "chromium", "Les tests dans le navigateur demandent "
                          "Chromium")


def ensure_proxy() -> None:
    """The deployment tests serve the site behind a real TLS-terminating reverse proxy:
    Debian's nginx (the light build is enough; the tests start it themselves, on 127.0.0.1)."""
    ensure_debian_package("nginx", "nginx-light", "Les tests du déploiement derrière un "
                          "mandataire inverse HTTPS demandent nginx")


#: The PostgreSQL server of the development and CI machines (trust authentication); another
#: server: OBSERVATOIRE_TEST_DATABASE_URL. The tests create and drop their own database there.
POSTGRESQL = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgresql_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "localhost", parts.port or 5432), 3):
            return True
    except OSError:
        return False


def test() -> None:
    setup()
    frontend(required=True)
    test_provider()
    ensure_chromium()
    ensure_proxy()
    paths = [p for p in ("src", "tests", "bench", "tasks.py") if (ROOT / p).exists()]
    run(BIN / "ruff", "check", *paths)
    run(BIN / "mypy")
    run(BIN / "python", "-m", "pytest", *sys.argv[2:])
    # The application database's tests again, on PostgreSQL (production's database).
    url = os.environ.get("OBSERVATOIRE_TEST_DATABASE_URL") or POSTGRESQL
    parts = urlsplit(url)
    shown = parts._replace(netloc=f"{parts.hostname}:{parts.port or 5432}").geturl()
    if not postgresql_answers(url):
        message = (f"PostgreSQL ne répond pas ({shown}) : les tests de la base applicative "
                   "n'ont tourné que sur SQLite. Démarrez le serveur ou donnez "
                   "OBSERVATOIRE_TEST_DATABASE_URL.")
        if os.environ.get("CI"):
            sys.exit("Échec : " + message)
        print("\n*** ATTENTION *** " + message + "\n", flush=True)
        return
    print(f"→ tests de la base applicative sur PostgreSQL ({shown})", flush=True)
    env = {**os.environ, "OBSERVATOIRE_TEST_DATABASE_URL": url}
    args = [str(BIN / "python"), "-m", "pytest", "-m", "appdb and not browser", *sys.argv[2:]]
    code = subprocess.call(args, cwd=ROOT, env=env)
    if code not in (0, 5):  # 5: the arguments selected no test of the application database
        sys.exit(code)


COMMANDS = {"setup": setup, "demo": demo, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]]()
