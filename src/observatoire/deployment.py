"""The deployment's security-relevant settings, checked in one go (``observatoire verifier``),
as Django's ``check --deploy`` does for a Django project: the secret key, HTTPS and the
reverse proxy, the permissions of the data home, debugging, the application database.

Each check says, in French, what it found and, when something is wrong, what to do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from observatoire.config import Settings
from observatoire.stewardship.database import parse

OK, WARNING, PROBLEM = "ok", "attention", "probleme"


@dataclass(frozen=True)
class Check:
    """One finding: its subject, its level (ok, attention, probleme), what was found, and
    what to do (for the other two levels)."""

    subject: str
    level: str
    found: str
    hint: str = ""


def _secret_key(settings: Settings, env: Mapping[str, str]) -> Check:
    key = env.get("OBSERVATOIRE_SECRET_KEY", "")
    if key:
        # Django's own rule for a key it accepts in production (security.W009)
        if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure"):
            return Check("Clé secrète", PROBLEM,
                         "OBSERVATOIRE_SECRET_KEY est trop courte ou trop simple "
                         f"({len(key)} caractères, {len(set(key))} différents).",
                         "Donnez au moins 50 caractères aléatoires, par exemple la sortie de "
                         "« python3 -c 'import secrets; print(secrets.token_urlsafe(50))' », "
                         "ou retirez la variable : une clé est alors créée dans le dossier de "
                         "données.")
        return Check("Clé secrète", OK, "donnée par OBSERVATOIRE_SECRET_KEY.")
    path = settings.home / "secret_key"
    if path.exists():
        return Check("Clé secrète", OK, f"créée dans le dossier de données ({path}).")
    return Check("Clé secrète", WARNING, "pas encore créée : elle le sera au premier démarrage "
                 "du site, dans le dossier de données.",
                 "Lancez « observatoire migrate » ou « observatoire serve » une fois, puis "
                 "relancez la vérification.")


def _https(settings: Settings) -> list[Check]:
    found = []
    public = settings.public_url
    if not settings.https:
        found.append(Check("HTTPS", PROBLEM, "OBSERVATOIRE_HTTPS n'est pas à 1 : les cookies de "
                           "session et de formulaire peuvent circuler en clair.",
                           "Servez le site derrière un mandataire inverse HTTPS (nginx, "
                           "Apache, HAProxy) et mettez OBSERVATOIRE_HTTPS=1."))
    else:
        found.append(Check("HTTPS", OK, "cookies envoyés en HTTPS seulement."))
    if public and urlsplit(public).scheme == "http" and settings.https:
        found.append(Check("Adresse publique", PROBLEM,
                           f"OBSERVATOIRE_PUBLIC_URL ({public}) est en http:// alors que le "
                           "site est servi en HTTPS : les navigateurs enverront "
                           "« Origin: https://… » et la connexion sera refusée.",
                           "Écrivez l'adresse en https://."))
    elif public:
        found.append(Check("Adresse publique", OK, f"{public} (origine des formulaires "
                           "acceptée, nom accepté par le site)."))
    if settings.https and not settings.trusted_proxies:
        if public:
            found.append(Check(
                "Mandataire inverse", WARNING,
                "OBSERVATOIRE_TRUSTED_PROXIES est vide : le site ne sait pas que les requêtes "
                "arrivent en HTTPS, et n'envoie pas l'en-tête HSTS ; les connexions sont "
                "limitées par l'adresse du mandataire, pour tout le monde à la fois.",
                "Donnez l'adresse du mandataire dans OBSERVATOIRE_TRUSTED_PROXIES, et "
                "faites-lui transmettre X-Forwarded-Proto et X-Forwarded-For."))
        else:
            found.append(Check(
                "Mandataire inverse", PROBLEM,
                "ni OBSERVATOIRE_TRUSTED_PROXIES ni OBSERVATOIRE_PUBLIC_URL : derrière un "
                "mandataire HTTPS, chaque formulaire (la connexion comprise) est refusé "
                "(protection CSRF).",
                "Donnez l'adresse publique (OBSERVATOIRE_PUBLIC_URL=https://…) et l'adresse "
                "du mandataire (OBSERVATOIRE_TRUSTED_PROXIES)."))
    elif settings.trusted_proxies:
        found.append(Check("Mandataire inverse", OK,
                           "adresses de confiance : " + ", ".join(settings.trusted_proxies)
                           + " (protocole et adresse du client lus dans leurs en-têtes)."))
    return found


def _permissions(settings: Settings) -> list[Check]:
    loose = settings.permission_warnings()
    if not settings.home.exists():
        return [Check("Droits des fichiers", WARNING, f"le dossier de données {settings.home} "
                      "n'existe pas encore.", "Lancez « observatoire migrate ».")]
    if not loose:
        return [Check("Droits des fichiers", OK, "dossier de données, base applicative et clé "
                      "secrète lisibles par leur propriétaire seulement.")]
    return [Check("Droits des fichiers", PROBLEM, text.split(" Que faire : ")[0],
                  text.split(" Que faire : ")[1]) for text in loose]


def _hosts(settings: Settings, env: Mapping[str, str]) -> Check:
    hosts = [h.strip() for h in env.get("OBSERVATOIRE_ALLOWED_HOSTS", "").split(",") if h.strip()]
    if "*" in hosts:
        return Check("Noms acceptés", PROBLEM, "OBSERVATOIRE_ALLOWED_HOSTS contient « * » : le "
                     "site répond à n'importe quel nom, qu'un tiers peut faire écrire dans les "
                     "liens qu'il produit.",
                     "Donnez les noms du site, séparés par des virgules (ou seulement "
                     "OBSERVATOIRE_PUBLIC_URL).")
    public = urlsplit(settings.public_url).hostname if settings.public_url else None
    names = [*hosts, public] if hosts else ["127.0.0.1", "localhost", "testserver", public]
    return Check("Noms acceptés", OK, ", ".join(n for n in names if n) + ".")


def _debug(env: Mapping[str, str]) -> Check:
    if env.get("OBSERVATOIRE_DEBUG_WEB") == "1":
        return Check("Mode de débogage", PROBLEM, "OBSERVATOIRE_DEBUG_WEB=1 : en cas d'erreur, "
                     "le site montre à tous son code, ses réglages et ses requêtes.",
                     "Retirez OBSERVATOIRE_DEBUG_WEB en production.")
    return Check("Mode de débogage", OK, "désactivé sur le site.")


def _database(settings: Settings) -> list[Check]:
    db = parse(settings.application_database_url)
    found = []
    if db.vendor == "sqlite":
        path = Path(os.path.normpath(db.name))
        found.append(Check("Base applicative", WARNING, f"SQLite ({path}) : convient à un "
                           "seul serveur et à peu de personnes connectées à la fois.",
                           "En production, utilisez PostgreSQL "
                           "(OBSERVATOIRE_DATABASE_URL=postgresql://…)."))
        if not path.exists():  # not created by a check
            return [*found, Check("Base applicative", PROBLEM, "n'existe pas encore.",
                                  "Lancez « observatoire migrate ».")]
    else:
        found.append(Check("Base applicative", OK, f"PostgreSQL ({db.host or 'local'}"
                           f"{':' + db.port if db.port else ''}/{db.name})."))
        if db.host not in ("", "localhost", "127.0.0.1", "::1") and \
                db.options.get("sslmode") not in ("require", "verify-ca", "verify-full"):
            found.append(Check("Base applicative", WARNING,
                               f"la connexion à {db.host} n'exige pas le chiffrement.",
                               "Ajoutez ?sslmode=verify-full (ou require) à "
                               "OBSERVATOIRE_DATABASE_URL."))
    found.append(_migrations(settings))
    return found


def _migrations(settings: Settings) -> Check:
    from observatoire.stewardship.django_setup import django_for

    django_for(settings)
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:  # the driver's errors differ: said as they come
        return Check("Base applicative", PROBLEM, f"ne répond pas : {str(exc).strip()}",
                     "Vérifiez OBSERVATOIRE_DATABASE_URL et que le serveur est démarré.")
    finally:
        connection.close()
    if plan:
        return Check("Base applicative", PROBLEM, f"{len(plan)} migration(s) à appliquer.",
                     "Lancez « observatoire migrate ».")
    return Check("Base applicative", OK, "répond, et est à jour de ses migrations.")


def check_deployment(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    """Every check, in the order they are shown."""
    return [_secret_key(settings, env), *_https(settings), _hosts(settings, env),
            *_permissions(settings), _debug(env), *_database(settings)]
