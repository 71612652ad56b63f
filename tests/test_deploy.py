"""The production set-up, with real parts: the site served by ``observatoire serve`` behind a
real TLS-terminating reverse proxy (Debian's nginx, started by the test on 127.0.0.1 with a
certificate made here), the data home's permissions, and the headers every page carries."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import DEMO, AppDb, Warehouse, live_server, make_account

ROOT = Path(__file__).resolve().parents[1]
OBSERVATOIRE = Path(sys.executable).parent / "observatoire"
PASSWORD = "Un-mot-de-passe-solide-2026"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"stopped before answering:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no answer on port {port}:\n{log.read_text(errors='replace')}")


@contextmanager
def _running(args: list[str], port: int, log: Path, env: dict[str, str] | None = None
             ) -> Iterator[None]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_for(port, process, log)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the client trusts exactly this one)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "site.crt", folder / "site.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert_path, key_path


NGINX_CONF = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location / {{
      proxy_pass http://127.0.0.1:{backend};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
}}
"""


def nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if not found:  # tasks.py test installs it (Debian's nginx-light)
        pytest.fail("nginx manque : python3 tasks.py test l'installe (paquet nginx-light).")
    return found


@contextmanager
def tls_proxy(folder: Path, backend: int) -> Iterator[tuple[str, Path]]:
    """nginx terminating TLS on 127.0.0.1 in front of ``backend``: its URL and certificate."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = _certificate(folder)
    port = _free_port()
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=folder, port=port, cert=cert, key=key,
                                      backend=backend), encoding="utf-8")
    with _running([nginx(), "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
                  port, folder / "nginx.log"):
        yield f"https://127.0.0.1:{port}", cert


def _sign_in(base: str, cert: Path, username: str
             ) -> tuple[requests.Response, dict[str, Any]]:
    """Sign in as a browser does over HTTPS: the form's token, then the POST with the page's
    Origin and Referer (what Chromium and Firefox send with a same-origin form). The answer,
    and the cookies the browser then holds, by name."""
    browser = requests.Session()  # verify= on each request: REQUESTS_CA_BUNDLE would win
    page = browser.get(f"{base}/gestion/connexion/", verify=str(cert), timeout=30)
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None
    answer = browser.post(
        f"{base}/gestion/connexion/",
        data={"csrfmiddlewaretoken": token.group(1), "identifiant": username,
              "mot_de_passe": PASSWORD, "next": "/gestion/"},
        headers={"Origin": base, "Referer": f"{base}/gestion/connexion/"},
        allow_redirects=False, verify=str(cert), timeout=30)
    return answer, {c.name: c for c in browser.cookies}


#: (the environment of the site behind the proxy, whether the proxy's HTTPS is believed)
PROXY_SETUPS = {
    "proxy-and-public-address": ({"OBSERVATOIRE_TRUSTED_PROXIES": "127.0.0.1",
                                  "OBSERVATOIRE_PUBLIC_URL": "{base}"}, True),
    "proxy-only": ({"OBSERVATOIRE_TRUSTED_PROXIES": "127.0.0.1"}, True),
    "public-address-only": ({"OBSERVATOIRE_PUBLIC_URL": "{base}"}, False),
}


@pytest.mark.appdb
@pytest.mark.parametrize("setup", list(PROXY_SETUPS))
def test_sign_in_through_a_tls_terminating_reverse_proxy(
    setup: str, application_database: AppDb, tmp_path: Path
) -> None:
    variables, scheme_believed = PROXY_SETUPS[setup]
    make_account("derriere-proxy", "lecteur", password=PASSWORD)
    home = tmp_path / "home"
    backend = _free_port()
    # nginx first (its address is the public one), then the site on the port it forwards to
    with tls_proxy(tmp_path / "nginx", backend) as (base, cert):
        env = {"OBSERVATOIRE_HTTPS": "1", **{k: v.format(base=base) for k, v in variables.items()}}
        with served(home, application_database.url, backend, env):
            answer, cookies = _sign_in(base, cert, "derriere-proxy")
            assert answer.status_code == 302, answer.text[:2000]
            assert answer.headers["Location"] == "/gestion/"
            assert cookies["sessionid"].secure and cookies["csrftoken"].secure
            hsts = answer.headers.get("Strict-Transport-Security")
            if scheme_believed:
                assert hsts == "max-age=31536000"
            else:  # the proxy's scheme is not believed: the site cannot know it is HTTPS
                assert hsts is None
            signed_in = requests.get(f"{base}/gestion/", verify=str(cert), timeout=30,
                                     cookies={"sessionid": cookies["sessionid"].value or ""},
                                     allow_redirects=False)
            # signed in (anonymous: a redirect to the sign-in page); this home has no
            # warehouse yet, which the queue says with a 503
            assert signed_in.status_code == 503
            assert "derriere-proxy" in signed_in.text


@contextmanager
def served(home: Path, database_url: str, port: int, variables: dict[str, str]
           ) -> Iterator[None]:
    """``observatoire serve`` in its own process, configured by the environment only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVATOIRE_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(OBSERVATOIRE_HOME=str(home), OBSERVATOIRE_DATABASE_URL=database_url, **variables)
    with _running([str(OBSERVATOIRE), "serve", "--port", str(port)], port,
                  home.parent / "serve.log", env):
        yield


@pytest.mark.appdb
def test_the_forwarded_scheme_is_believed_only_from_a_trusted_proxy(
    application_database: AppDb,
) -> None:
    """X-Forwarded-Proto from any other address is dropped: no HSTS, and no HTTPS for the
    CSRF check, on a client's word."""
    from django.test import Client, override_settings

    with override_settings(OBSERVATOIRE_TRUSTED_PROXIES=("10.0.0.5",)):
        forged = Client(REMOTE_ADDR="203.0.113.9").get(
            "/gestion/connexion/", HTTP_X_FORWARDED_PROTO="https")
        proxied = Client(REMOTE_ADDR="10.0.0.5").get(
            "/gestion/connexion/", HTTP_X_FORWARDED_PROTO="https")
        plain = Client(REMOTE_ADDR="10.0.0.5").get(
            "/gestion/connexion/", HTTP_X_FORWARDED_PROTO="http")
    assert forged.status_code == proxied.status_code == plain.status_code == 200
    assert "Strict-Transport-Security" not in forged
    assert proxied["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in plain


@pytest.mark.parametrize("value, expected", [
    ("https://observatoire.region.fr/", "https://observatoire.region.fr"),
    ("HTTPS://Observatoire.Region.fr:8443", "https://observatoire.region.fr:8443"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("observatoire.region.fr", None),
    ("https://observatoire.region.fr/gestion/", None),
    ("ftp://observatoire.region.fr", None),
    ("https://observatoire.region.fr:port", None),
])
def test_the_public_address_is_checked(value: str, expected: str | None,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from observatoire.config import Settings
    from observatoire.errors import ConfigError

    monkeypatch.setenv("OBSERVATOIRE_PUBLIC_URL", value)
    if expected is None:
        with pytest.raises(ConfigError) as raised:
            Settings.from_env()
        assert raised.value.where == "OBSERVATOIRE_PUBLIC_URL"
        assert f"« {value.rstrip('/')} » n'est pas l'adresse publique d'un site." == \
            raised.value.message
    else:
        assert Settings.from_env().public_url == expected


# --- The data home is its owner's only --------------------------------------------------


def _observatoire(*args: str, env: dict[str, str] | None = None
                  ) -> subprocess.CompletedProcess[str]:
    """The command line in its own process (Django is set up once per process), with no
    OBSERVATOIRE_* variable of the test run but those given."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("OBSERVATOIRE_") and k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.run([str(OBSERVATOIRE), *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=300)


def test_a_new_data_home_and_its_database_are_the_owners_only(tmp_path: Path) -> None:
    home = tmp_path / "nouveau" / "observatoire"
    done = _observatoire("--home", str(home), "migrate")
    assert done.returncode == 0, done.stderr
    assert home.stat().st_mode & 0o777 == 0o700
    database = home / "application.sqlite3"
    assert database.stat().st_size > 0  # migrated: the file Django used is this one
    assert database.stat().st_mode & 0o777 == 0o600
    assert (home / "secret_key").stat().st_mode & 0o777 == 0o600
    assert "Attention" not in done.stderr


def test_a_looser_existing_data_home_is_warned_about_at_start(tmp_path: Path) -> None:
    home = tmp_path / "ancien"
    home.mkdir(mode=0o755)
    home.chmod(0o755)  # whatever the umask
    first = _observatoire("--home", str(home), "migrate")
    assert first.returncode == 0, first.stderr
    database = home / "application.sqlite3"
    database.chmod(0o644)
    again = _observatoire("--home", str(home), "migrate")
    assert again.returncode == 0
    text = " ".join(again.stderr.split())
    assert (f"Le dossier de données est lisible par d'autres utilisateurs de la machine "
            f"(droits 755) : {home}. Que faire : chmod 700 {home}") in text
    assert f"(droits 644) : {database}. Que faire : chmod 600 {database}" in text
    # an existing home keeps the permissions its owner gave it: warned, not changed
    assert home.stat().st_mode & 0o777 == 0o755


# --- One quoting helper for what the code writes into SQL --------------------------------

TRICKY = ["l'observatoire", "a''b", 'x"y', "é ; DROP TABLE t; --", "\\'", "fin\\"]


def test_literals_and_identifiers_come_back_unchanged_from_duckdb() -> None:
    import duckdb

    from observatoire.sqlquote import identifier, literal, literal_list

    con = duckdb.connect()
    for text in TRICKY:
        assert con.execute(f"SELECT {literal(text)}").fetchone() == (text,)
        con.execute(f"CREATE TABLE {identifier(text)} ({identifier(text + '!')} INTEGER)")
    assert con.execute(f"SELECT {literal_list(TRICKY)}").fetchone() == (TRICKY,)
    names = {n for (n,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert names == set(TRICKY)
    columns = {c for (c,) in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE NOT internal").fetchall()}
    assert columns == {t + "!" for t in TRICKY}
    for bad in ("a\x00b",):
        with pytest.raises(ValueError):
            literal(bad)
        with pytest.raises(ValueError):
            identifier(bad)


# --- Headers: Content Security Policy, Permissions Policy, no-store on the sign-in page ----

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
WATCH_CSP = """window.__refused = [];
document.addEventListener('securitypolicyviolation', e => window.__refused.push(
    e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));"""


@pytest.mark.browser
@pytest.mark.appdb
def test_pages_keep_their_look_and_charts_under_the_content_security_policy(
    demo_warehouse: Warehouse, application_database: AppDb
) -> None:
    """Chromium refuses whatever the policy does not allow: no page may need an inline style
    or script any more, and the styles (now files) still apply."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    buyer, holder = demo_warehouse.rows(
        "SELECT buyer_siret, (SELECT holder_id FROM contract_holders LIMIT 1) FROM contracts "
        "WHERE buyer_siret IS NOT NULL ORDER BY uid LIMIT 1")[0]
    paths = ["/", "/indicateurs/marches-pme/", f"/acheteurs/{buyer}/",
             f"/titulaires/{holder}/", "/marches/", "/egalim/", "/gestion/connexion/"]
    os.environ["OBSERVATOIRE_HOME"] = str(demo_warehouse.settings.home)
    with live_server() as site, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update"])
        page = browser.new_page(viewport={"width": 360, "height": 800})
        page.add_init_script(WATCH_CSP)
        charts = 0
        for path in paths:
            response = page.goto(site + path)
            assert response is not None and response.status == 200, path
            assert response.headers["content-security-policy"] == CSP
            page.wait_for_load_state("networkidle")
            assert page.evaluate("window.__refused") == [], path
            # the site's style sheet applies: the header's colour, the page's own font
            assert page.evaluate("getComputedStyle(document.querySelector('header.site'))"
                                 ".backgroundColor") == "rgb(0, 80, 140)", path
            # a chart or map is its drawn width at most, and never wider than the phone (a
            # static chart the interactive one replaced is not displayed: not measured)
            for width, drawn in page.evaluate(
                    "[...document.querySelectorAll('svg[role=img][width]')]"
                    ".filter(s => s.getClientRects().length).map(s => "
                    "[s.getBoundingClientRect().width, +s.getAttribute('width')])"):
                assert 0 < width <= min(drawn, 360), path
                charts += 1
            # an interactive chart (drawn by the site's script) fits too
            for width in page.evaluate("[...document.querySelectorAll('figure.chart .uplot')]"
                                       ".map(u => u.getBoundingClientRect().width)"):
                assert 0 < width <= 360, path
                charts += 1
        assert charts >= 3  # the indicator's curve and bars, the buyer's map at least
        page.goto(site + "/gestion/connexion/")
        assert page.evaluate("getComputedStyle(document.querySelector('main label'))"
                             ".display") == "block"  # gestion.css
        browser.close()


@pytest.mark.appdb
def test_the_sign_in_page_is_never_stored_and_features_are_refused(
    application_database: AppDb,
) -> None:
    from django.test import Client

    for path in ("/gestion/connexion/", "/"):
        answer = Client().get(path)
        assert answer["Permissions-Policy"] == (
            "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
            "microphone=(), payment=(), usb=()")
        assert answer["Content-Security-Policy"] == CSP
    page = Client().get("/gestion/connexion/")
    assert page["Cache-Control"] == "no-store"
    failed = Client(REMOTE_ADDR="192.0.2.90").post(
        "/gestion/connexion/", {"identifiant": "personne", "mot_de_passe": "x"})
    assert failed.status_code == 401 and failed["Cache-Control"] == "no-store"


# --- A full disk, a read-only data home: said in French, nothing lost ----------------------
#
# Real file systems: a tmpfs of a few megabytes mounted by the test (root only: mount(2)),
# filled with a real file, then remounted read-only (chmod does not stop root; a read-only
# mount does).


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("monter un petit système de fichiers (tmpfs) demande les droits root")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                    str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(disk: Path, leave: int) -> None:
    """Fill the file system but ``leave`` bytes, with a real file."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with (disk / "remplissage").open("wb") as filler:
        filler.write(b"\0" * max(free - leave, 0))
    assert os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize <= leave


def read_only(disk: Path) -> None:
    """Remount read-only (refused while a file there is open for writing: the catalog's
    SQLite connections, closed when collected, are collected first)."""
    import gc

    gc.collect()
    done = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True,
                          text=True)
    opened = [os.readlink(f) for f in Path("/proc/self/fd").iterdir() if f.exists()]
    assert done.returncode == 0, (done.stderr, [f for f in opened if str(disk) in f])


def _said(done: subprocess.CompletedProcess[str]) -> str:
    return " ".join(done.stderr.split())


def _build_id(home: Path) -> int:
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return int(con.execute("SELECT build_id FROM build_info").fetchall()[0][0])
    finally:
        con.close()


SMALL_INPUTS = [str(DEMO / "decp" / "v2"), str(DEMO / "ref" / "cpv_2008_fr.csv")]
ANOTHER_FILE = str(DEMO / "decp" / "v1" / "e-marchespublics.json")


def test_a_full_disk_stops_build_and_ingest_with_a_french_message(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disque", "48m") as disk:
        home = disk / "observatoire"
        assert _observatoire("--home", str(home), "ingest", *SMALL_INPUTS).returncode == 0
        assert _observatoire("--home", str(home), "build").returncode == 0
        first = _build_id(home)
        fill(disk, leave=64 * 1024)
        for args in (["build"], ["ingest", ANOTHER_FILE]):
            done = _observatoire("--home", str(home), *args)
            assert done.returncode == 2, (args, done.stderr)
            said = _said(done)
            assert said.startswith(f"Erreur : Espace disque insuffisant dans {home} : "
                                   "l'opération s'est arrêtée avant la fin."), said
            assert "Que faire : Libérez de la place sur ce disque" in said
            assert "Erreur interne" not in said and "Traceback" not in said
        # the warehouse in service is still the first one, whole
        assert _build_id(home) == first
        (disk / "remplissage").unlink()
        assert _observatoire("--home", str(home), "build").returncode == 0
        assert _build_id(home) > first


def test_a_read_only_data_home_is_said_in_french(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disque", "48m") as disk:
        home = disk / "observatoire"
        assert _observatoire("--home", str(home), "ingest", *SMALL_INPUTS).returncode == 0
        assert _observatoire("--home", str(home), "build").returncode == 0
        read_only(disk)
        for args in (["build"], ["ingest", ANOTHER_FILE]):
            done = _observatoire("--home", str(home), *args)
            assert done.returncode == 2, (args, done.stderr)
            said = _said(done)
            assert said.startswith(f"Erreur : {home} n'est pas accessible en écriture "
                                   "(disque en lecture seule)."), said
            assert "Erreur interne" not in said and "Traceback" not in said


def _download(client: Any, path: str) -> str:
    answer = client.get(path)
    try:
        assert answer.status_code == 200
        return b"".join(answer.streaming_content).decode("utf-8-sig")
    finally:
        answer.close()


@pytest.mark.appdb
def test_downloads_answer_503_with_the_sites_page_when_the_disk_is_full_or_read_only(
    tmp_path: Path, application_database: AppDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import Client

    from observatoire.build import build
    from observatoire.config import Settings
    from observatoire.connectors.ingest import ingest

    with small_disk(tmp_path / "disque", "48m") as disk:
        settings = Settings(home=disk / "observatoire")
        ingest(settings, [Path(p) for p in SMALL_INPUTS])
        build(settings)
        monkeypatch.setenv("OBSERVATOIRE_HOME", str(settings.home))
        client = Client(raise_request_exception=False)
        written = _download(client, "/donnees/acheteurs.csv")
        assert written.startswith("SIRET de l'acheteur,")
        fill(disk, leave=0)
        full = client.get("/donnees/marches.json")
        assert full.status_code == 503
        text = full.content.decode()
        assert "Espace disque insuffisant sur le serveur : votre demande ne peut pas " \
               "aboutir pour l&#x27;instant." in text
        assert '<header class="site">' in text and str(disk) not in text
        read_only(disk)
        locked = client.get("/donnees/titulaires.csv")
        assert locked.status_code == 503
        assert "Le serveur ne peut pas écrire dans son dossier de données" in \
            locked.content.decode()
        # a file written before is still served
        assert _download(client, "/donnees/acheteurs.csv").startswith("SIRET de l'acheteur,")


# --- observatoire verifier: the deployment's security settings in one command --------------


def _verify(home: Path, **variables: str) -> tuple[int, dict[str, Any]]:
    import json

    done = _observatoire("--home", str(home), "verifier", "--json", env=variables)
    return done.returncode, json.loads(done.stdout)


def _levels(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["subject"], c["level"]) for c in report["checks"]]


GOOD_KEY = "k" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"  # 53, 53 different


def test_the_verifier_passes_a_production_set_up_and_names_each_problem(tmp_path: Path) -> None:
    home = tmp_path / "observatoire"
    assert _observatoire("--home", str(home), "migrate").returncode == 0
    production = {"OBSERVATOIRE_SECRET_KEY": GOOD_KEY, "OBSERVATOIRE_HTTPS": "1",
                  "OBSERVATOIRE_TRUSTED_PROXIES": "10.0.0.5",
                  "OBSERVATOIRE_PUBLIC_URL": "https://observatoire.region.fr"}
    code, report = _verify(home, **production)
    assert code == 0 and report["problems"] == 0
    (names,) = [c for c in report["checks"] if c["subject"] == "Noms acceptés"]
    assert names["found"] == "127.0.0.1, localhost, testserver, observatoire.region.fr."
    assert _levels(report) == [
        ("Clé secrète", "ok"), ("HTTPS", "ok"), ("Adresse publique", "ok"),
        ("Mandataire inverse", "ok"), ("Noms acceptés", "ok"), ("Droits des fichiers", "ok"),
        ("Mode de débogage", "ok"),
        ("Base applicative", "attention"),  # SQLite: PostgreSQL advised in production
        ("Base applicative", "ok")]
    # five things wrong at once: each named, exit 1
    home.chmod(0o755)
    code, report = _verify(home, OBSERVATOIRE_SECRET_KEY="court",  # noqa: S106 - a weak one
                           OBSERVATOIRE_DEBUG_WEB="1", OBSERVATOIRE_ALLOWED_HOSTS="*")
    assert code == 1 and report["problems"] == 5
    problems = [c for c in report["checks"] if c["level"] == "probleme"]
    assert [c["subject"] for c in problems] == [
        "Clé secrète", "HTTPS", "Noms acceptés", "Droits des fichiers", "Mode de débogage"]
    assert problems[3]["hint"] == f"chmod 700 {home}"
    assert problems[0]["found"] == ("OBSERVATOIRE_SECRET_KEY est trop courte ou trop simple "
                                    "(5 caractères, 5 différents).")


def test_the_verifier_sees_a_proxy_set_up_that_refuses_every_form(tmp_path: Path) -> None:
    home = tmp_path / "observatoire"
    assert _observatoire("--home", str(home), "migrate").returncode == 0
    code, report = _verify(home, OBSERVATOIRE_SECRET_KEY=GOOD_KEY, OBSERVATOIRE_HTTPS="1")
    assert code == 1
    (proxy,) = [c for c in report["checks"] if c["subject"] == "Mandataire inverse"]
    assert proxy["level"] == "probleme" and "protection CSRF" in proxy["found"]
    # the public address alone: forms work, but HSTS is not sent (a warning)
    code, report = _verify(home, OBSERVATOIRE_SECRET_KEY=GOOD_KEY, OBSERVATOIRE_HTTPS="1",
                           OBSERVATOIRE_PUBLIC_URL="https://observatoire.region.fr")
    assert code == 0
    (proxy,) = [c for c in report["checks"] if c["subject"] == "Mandataire inverse"]
    assert proxy["level"] == "attention" and "HSTS" in proxy["found"]
    # a public address in http:// behind HTTPS
    code, report = _verify(home, OBSERVATOIRE_SECRET_KEY=GOOD_KEY, OBSERVATOIRE_HTTPS="1",
                           OBSERVATOIRE_TRUSTED_PROXIES="10.0.0.5",
                           OBSERVATOIRE_PUBLIC_URL="http://observatoire.region.fr")
    assert code == 1
    assert ("Adresse publique", "probleme") in _levels(report)
    # a database that is not there yet is a problem, not created by the check
    fresh = tmp_path / "neuf"
    code, report = _verify(fresh, OBSERVATOIRE_SECRET_KEY=GOOD_KEY)
    assert code == 1 and not fresh.exists()


def test_the_providers_callback_is_at_the_public_address(monkeypatch: pytest.MonkeyPatch) -> None:
    from observatoire.config import Settings

    for name, value in {"OBSERVATOIRE_OIDC_ISSUER": "https://sso.region.example/realms/a",
                        "OBSERVATOIRE_OIDC_CLIENT_ID": "observatoire",
                        "OBSERVATOIRE_OIDC_CLIENT_SECRET": "secret",
                        "OBSERVATOIRE_PUBLIC_URL": "https://observatoire.region.example/"
                        }.items():
        monkeypatch.setenv(name, value)
    oidc = Settings.from_env().oidc
    assert oidc is not None
    assert oidc.redirect_uri == "https://observatoire.region.example/gestion/connexion/oidc/retour/"
    monkeypatch.setenv("OBSERVATOIRE_OIDC_REDIRECT_URI", "https://autre.example/retour/")
    explicit = Settings.from_env().oidc
    assert explicit is not None and explicit.redirect_uri == "https://autre.example/retour/"
