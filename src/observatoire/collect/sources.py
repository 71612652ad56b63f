"""``sources.toml``: the sources of a deployment profile, read and checked.

Each ``[[source]]`` says where files come from and how often::

    [[source]]
    id = "depot"                  # the ingest source name: one flow, one source
    kind = "dossier"              # dossier | url | datagouv | opendatasoft
    chemin = "depot"              # dossier: a folder (relative: under the data home)
    frequence = "1min"            # 30s, 15min, 1h, 1j

    [[source]]
    id = "decp-megalis"
    kind = "datagouv"
    jeu = "65f18014e9923e9e71f5f258"   # the dataset's id on data.gouv.fr
    formats = ["json"]                  # optional: only these resources
    frequence = "1j"

Sources are not inherited from a parent profile (``extends``): they say where one deployment
collects, and a test profile that pulled its parent's production flows would surprise.
A mistyped key is an error naming the file, the source and the key, never silently ignored.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from observatoire.config import Settings
from observatoire.errors import ConfigError
from observatoire.indicators.profile import resolve

FILE_NAME = "sources.toml"
KINDS = {
    "dossier": "dossier de dépôt",
    "url": "adresse HTTP(S)",
    "datagouv": "jeu de données data.gouv.fr",
    "opendatasoft": "jeu de données Opendatasoft",
}
#: The keys each kind needs (besides id, kind, frequence) and those it may give.
_REQUIRED = {"dossier": ("chemin",), "url": ("url",), "datagouv": ("jeu",),
             "opendatasoft": ("domaine", "jeu")}
_OPTIONAL = {"dossier": (), "url": ("fichier",), "datagouv": ("api", "formats"),
             "opendatasoft": ("export",)}
_COMMON = ("id", "kind", "frequence", "description", "delai", "essais")
DATAGOUV_API = "https://www.data.gouv.fr/api/1"
ODS_EXPORTS = ("json", "csv")
_UNITS = {"s": 1, "min": 60, "h": 3600, "j": 86400}
_FREQUENCY = re.compile(r"\s*(\d+)\s*(s|min|h|j)\s*")
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Source:
    """One declared source. ``where`` is its folder, URL or dataset (as written)."""

    id: str
    kind: str
    frequency: timedelta
    frequency_text: str
    description: str = ""
    #: dossier: the folder; url: the URL; datagouv / opendatasoft: the dataset id.
    where: str = ""
    folder: Path | None = None
    url: str = ""
    file_name: str = ""
    api: str = DATAGOUV_API
    formats: tuple[str, ...] = ()
    domain: str = ""
    export: str = "json"
    #: Seconds a whole download may take (``delai``), and attempts before giving up (``essais``).
    timeout: float = 300.0
    attempts: int = 4


def parse_frequency(text: str) -> timedelta:
    match = _FREQUENCY.fullmatch(text)
    if not match or int(match[1]) == 0:
        raise ValueError(text)
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def sources_file(settings: Settings) -> Path:
    return resolve(settings.profile) / FILE_NAME


def read_sources(settings: Settings) -> list[Source]:
    """The sources of the profile in use; none when it has no ``sources.toml``."""
    path = sources_file(settings)
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Le fichier des sources n'est pas du TOML valide : {exc}.",
                          where=str(path),
                          hint="Corrigez la syntaxe (voir le README, « sources.toml »).") from exc
    unknown = set(data) - {"source"}
    if unknown:
        raise ConfigError(f"Clé inconnue : « {sorted(unknown)[0]} ».", where=str(path),
                          hint="Le fichier ne contient que des tables [[source]].")
    entries = data.get("source", [])
    if not isinstance(entries, list):
        raise ConfigError("« source » doit être une liste de tables [[source]].", where=str(path),
                          hint="Écrivez chaque source sous un en-tête [[source]].")
    sources: list[Source] = []
    for number, entry in enumerate(entries, start=1):
        source = _check(entry, path, number, settings)
        if any(s.id == source.id for s in sources):
            raise ConfigError(f"Deux sources portent l'identifiant « {source.id} ».",
                              where=f"{path}, source n° {number}",
                              hint="Donnez à chaque source un identifiant différent.")
        sources.append(source)
    return sources


def _check(entry: dict[str, Any], path: Path, number: int, settings: Settings) -> Source:
    label = f"{path}, source n° {number}"
    ident = entry.get("id")
    if not isinstance(ident, str) or not _ID.fullmatch(ident):
        raise ConfigError("Identifiant de source absent ou invalide.", where=f"{label}, clé « id »",
                          hint="Un identifiant en minuscules, chiffres, « - » ou « _ », par "
                          "exemple id = \"decp-region\".")
    label = f"{path}, source « {ident} »"
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"Type de source inconnu : « {kind} ».", where=f"{label}, clé « kind »",
                          hint="Choisissez parmi : " + ", ".join(KINDS) + ".")
    allowed = set(_COMMON) | set(_REQUIRED[kind]) | set(_OPTIONAL[kind])
    for key in entry:
        if key not in allowed:
            raise ConfigError(f"Clé inconnue pour une source de type « {kind} » : « {key} ».",
                              where=f"{label}, clé « {key} »",
                              hint="Clés possibles : " + ", ".join(sorted(allowed)) + ".")
    for key in ("frequence", *_REQUIRED[kind]):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ConfigError(f"La clé « {key} » manque ou n'est pas un texte.",
                              where=f"{label}, clé « {key} »",
                              hint=_EXAMPLES.get(key, "Voir le README, « sources.toml »."))
    try:
        frequency = parse_frequency(entry["frequence"])
    except ValueError as exc:
        raise ConfigError(f"Fréquence illisible : « {entry['frequence']} ».",
                          where=f"{label}, clé « frequence »",
                          hint=_EXAMPLES["frequence"]) from exc
    timeout, attempts = entry.get("delai", 300), entry.get("essais", 4)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError(f"Délai invalide : « {timeout} ».", where=f"{label}, clé « delai »",
                          hint="Un nombre de secondes, par exemple delai = 300.")
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 10:
        raise ConfigError(f"Nombre d'essais invalide : « {attempts} ».",
                          where=f"{label}, clé « essais »",
                          hint="Un entier de 1 à 10, par exemple essais = 4.")
    common: dict[str, Any] = {
        "id": ident, "kind": kind, "frequency": frequency,
        "frequency_text": entry["frequence"].strip(),
        "description": str(entry.get("description", "")), "timeout": float(timeout),
        "attempts": attempts}
    if kind == "dossier":
        folder = Path(entry["chemin"]).expanduser()
        if not folder.is_absolute():
            folder = settings.home / folder
        return Source(**common, where=str(folder), folder=folder)
    if kind == "url":
        url = _http_url(entry["url"], label, "url")
        name = entry.get("fichier") or url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        if not isinstance(name, str) or not _safe_name(name):
            raise ConfigError("Nom de fichier absent ou invalide.",
                              where=f"{label}, clé « fichier »",
                              hint="Donnez un nom simple, par exemple fichier = \"decp.json\".")
        return Source(**common, where=url, url=url, file_name=name)
    if kind == "datagouv":
        formats = entry.get("formats", [])
        if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
            raise ConfigError("« formats » doit être une liste de textes.",
                              where=f"{label}, clé « formats »",
                              hint="Par exemple formats = [\"json\", \"xml\"].")
        api = _http_url(entry.get("api", DATAGOUV_API), label, "api").rstrip("/")
        return Source(**common, where=entry["jeu"].strip(), api=api,
                      formats=tuple(f.lower() for f in formats))
    export = entry.get("export", "json")
    if export not in ODS_EXPORTS:
        raise ConfigError(f"Export inconnu : « {export} ».", where=f"{label}, clé « export »",
                          hint="Choisissez parmi : " + ", ".join(ODS_EXPORTS) + ".")
    domain = entry["domaine"].strip().rstrip("/")
    if not domain.startswith(("http://", "https://")):
        domain = "https://" + domain
    return Source(**common, where=f"{domain} / {entry['jeu'].strip()}", domain=domain,
                  export=export, url=f"{domain}/api/explore/v2.1/catalog/datasets/"
                  f"{entry['jeu'].strip()}/exports/{export}",
                  file_name=f"{entry['jeu'].strip()}.{export}")


_EXAMPLES = {
    "frequence": "Un nombre suivi de s, min, h ou j, par exemple frequence = \"15min\".",
    "chemin": "Le dossier de dépôt, par exemple chemin = \"depot\" (sous le dossier de données).",
    "url": "Une adresse http(s), par exemple url = \"https://exemple.fr/decp.json\".",
    "jeu": "L'identifiant du jeu de données, par exemple jeu = \"65f18014e9923e9e71f5f258\".",
    "domaine": "Le domaine du portail, par exemple domaine = \"data.bretagne.bzh\".",
}


def _http_url(value: Any, label: str, key: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https?://[^\s]+", value.strip()):
        raise ConfigError(f"Adresse invalide : « {value} ».", where=f"{label}, clé « {key} »",
                          hint="Une adresse commençant par http:// ou https://.")
    return value.strip()


def _safe_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name \
        and not name.startswith(".")
