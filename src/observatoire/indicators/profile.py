"""Deployment profiles: the organisation, its territory, purchase domains and indicator catalogue.

A profile is a folder of TOML files, versioned with the deployment:

    profile.toml          organisation, buyers and mandataires, territory, parameters, axes
    domains.toml          purchase domains by CPV prefix
    directorates.toml     the organisation's directorates (optional): the domains and buyers
                          each one owns, so that a contract gets a directorate
    indicators/*.toml     the indicator catalogue ([[indicator]] tables)

``extends = "generique"`` reads the parent profile first; the child's settings replace the
parent's, and an ``[[indicator]]`` of the child with the id (and version) of a parent indicator
replaces only the keys it gives (typically its targets). Every problem is reported at load with
the file, the indicator and the key concerned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from observatoire.errors import ConfigError
from observatoire.indicators import expressions
from observatoire.indicators.expressions import Checked, ExpressionError
from observatoire.indicators.grains import GRAINS

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "profiles"
DEFAULT_PROFILE = "generique"

KINDS = {"target": "cible", "transparency": "transparence"}
UNITS = {
    "percent": "%",
    "count": "nombre",
    "euros": "€ HT",
    "number": "nombre moyen",
    "ratio": "ratio",
}
SOURCES = {
    "decp": "données essentielles (DECP), SIRENE et COG",
    "accounting": "données comptables (mandats, factures, paiements)",
    "purchasing_system": "système d'information achats (consultations, clauses, garanties)",
    "catering": "achats alimentaires des restaurants scolaires",
    "external": "données externes (annuaires, télédéclarations)",
}


def available_sources() -> frozenset[str]:
    """The indicator sources the indicators can be computed on: those a grain holds the facts
    of. An indicator needing another one is declared and shown as "données non disponibles".
    The source kinds (:mod:`observatoire.connectors`) say which sources they bring, and a test
    holds the two equal: a kind that brings a new source comes with its grain."""
    return frozenset(g.source for g in GRAINS.values())


#: Sources whose indicators a build step of their own computes (the payment indicators of
#: ``indicators/payments.py``), not a grain: into this table, of the results' shape. Such an
#: indicator is available in a build whose table holds rows for it (its id and version), and
#: « données non disponibles » in one that does not (no payment loaded, no contract below
#: 40 k€…). The purchasing system's contracts come in as the finance software's (PES Marché or
#: a mapped export, the ``accounting`` kind): G07 is computed by the same step.
STEP_RESULTS = {"accounting": "payment_indicator_results",
                "purchasing_system": "payment_indicator_results"}


def brought_sources() -> frozenset[str]:
    """Every source some indicator can be computed on: a grain's, or a step's
    (:data:`STEP_RESULTS`). The source kinds bring exactly these (a test holds it)."""
    return available_sources() | frozenset(STEP_RESULTS)

MEASURES = {
    "share": ("count", "value"),
    "average": ("mean", "median"),
    "total": ("count", "value"),
    "sum": ("sum",),
    "count_distinct": ("distinct",),
    "ratio": ("ratio",),
    "distribution": ("count", "value"),
}
COMPARATORS = (">=", ">", "<=", "<")

_INDICATOR_KEYS = {
    "id", "code", "version", "valid_from", "valid_to", "title", "definition", "axis", "kind",
    "regulatory", "legal_reference", "unit", "grain", "source", "data_requirement",
    "population", "measure", "bases", "condition", "expression", "numerator", "denominator",
    "value_field", "breakdowns", "targets", "notes", "unknown_counts_as_no",
}
_REQUIRED_KEYS = ("id", "code", "title", "definition", "axis", "kind", "unit", "measure")
_TARGET_KEYS = {"value", "comparator", "date", "from", "basis", "source", "label"}


@dataclass(frozen=True)
class Target:
    value: float  # a fraction (0–1) for percentages
    comparator: str
    date: dt.date  # the deadline
    from_date: dt.date | None
    basis: str
    source: str
    label: str
    #: The application's change (``TargetChange`` id) that set this target; None: the profile's.
    change_id: int | None = None


@dataclass(frozen=True)
class Indicator:
    id: str
    code: str
    version: int
    valid_from: dt.date
    valid_to: dt.date | None
    title: str
    definition: str
    axis: str
    kind: str
    regulatory: bool
    legal_reference: str
    unit: str
    grain: str
    source: str
    data_requirement: str
    population: Checked | None
    measure: str
    bases: tuple[str, ...]
    condition: Checked | None
    expression: Checked | None
    numerator: Checked | None
    denominator: Checked | None
    value_field: str
    breakdowns: tuple[str, ...]
    targets: tuple[Target, ...]
    notes: str
    file: str
    #: False when the profile does not collect the indicator's source (catering without
    #: establishments): the indicator is shown as "données non disponibles".
    collected: bool = True
    #: A share whose legal definition divides by the whole population (Egalim: every food
    #: purchase): a row whose condition is unknown stays in the denominator, as a "no", and
    #: still lowers the coverage.
    unknown_counts_as_no: bool = False

    @property
    def available(self) -> bool:
        return self.source in available_sources() and self.collected

    @property
    def first_year(self) -> int:
        return self.valid_from.year

    @property
    def last_year(self) -> int | None:
        return self.valid_to.year if self.valid_to else None


@dataclass(frozen=True)
class Buyer:
    siren: str
    name: str
    role: str  # organisation | mandataire


@dataclass(frozen=True)
class Territory:
    name: str
    regions: tuple[str, ...]
    departements: tuple[str, ...]


@dataclass(frozen=True)
class Domain:
    id: str
    label: str
    cpv_prefixes: tuple[str, ...]


@dataclass(frozen=True)
class Directorate:
    """A directorate (direction) of the organisation and what it owns.

    A contract's directorate: the directorate listing its buyer (SIRET or SIREN; the longest
    prefix wins), else the directorate owning its purchase domain, else none. Until a purchasing
    system export carries ``direction_operationnelle``, this is how a contract gets one.
    """

    id: str
    label: str
    domains: tuple[str, ...]
    buyers: tuple[str, ...]  # SIRET (14 digits) or SIREN (9 digits) prefixes of buyer SIRETs


@dataclass(frozen=True)
class EuThreshold:
    valid_from: dt.date
    works: float
    supplies_services: float
    source: str


@dataclass(frozen=True)
class Axis:
    id: str
    title: str
    description: str


@dataclass(frozen=True)
class Parameters:
    new_supplier_lookback_years: int = 3
    min_coverage: float = 0.5
    #: Below this many records with a known value, no value and no status are published.
    min_population: int = 30
    #: The period the barometer shows; None: the last complete year at computation.
    reference_year: int | None = None


@dataclass(frozen=True)
class Profile:
    id: str
    name: str
    description: str
    organisation: str
    buyers: tuple[Buyer, ...]
    scope_all_buyers: bool
    territory: Territory
    parameters: Parameters
    eu_thresholds: tuple[EuThreshold, ...]
    domains: tuple[Domain, ...]
    default_domain: str
    axes: tuple[Axis, ...]
    indicators: tuple[Indicator, ...]
    digest: str
    files: tuple[str, ...] = field(default=())
    #: The canteens whose food purchases Egalim follows (``[egalim] establishments``), if any.
    canteens_file: Path | None = None
    #: Yearly ratios the canteens declared on ma-cantine (``[egalim] declarations``), if any.
    declarations_file: Path | None = None
    #: The shared nomenclature of food articles (``[egalim] nomenclature``), if any.
    nomenclature_file: Path | None = None
    #: Contracts and lots with environmental criteria (``[egalim] marches``), if any.
    contracts_file: Path | None = None
    #: The organisation's directorates (``directorates.toml``); none in the generic profile.
    directorates: tuple[Directorate, ...] = ()

    def indicator(self, indicator_id: str) -> Indicator | None:
        versions = [i for i in self.indicators if i.id == indicator_id]
        return max(versions, key=lambda i: i.version) if versions else None


class _Problem(Exception):
    """A problem found while reading a profile: turned into a ConfigError with its place."""

    def __init__(self, message: str, where: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.where, self.hint = message, where, hint


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise _Problem(
            f"Fichier TOML illisible : {exc}.",
            str(path),
            "Corrigez la syntaxe (guillemets, crochets, virgules) à l'endroit indiqué.",
        ) from exc
    except OSError as exc:
        raise _Problem(f"Fichier illisible : {exc.strerror}.", str(path)) from exc


def resolve(ref: str) -> Path:
    """The folder of a profile given by name (shipped profiles) or by path."""
    candidate = Path(ref).expanduser()
    if candidate.is_dir():
        return candidate.resolve()
    builtin = BUILTIN_DIR / ref
    if re.fullmatch(r"[a-z0-9-]+", ref) and builtin.is_dir():
        return builtin
    shipped = ", ".join(sorted(p.name for p in BUILTIN_DIR.iterdir() if p.is_dir()))
    raise ConfigError(
        f"Profil introuvable : « {ref} ».",
        where="OBSERVATOIRE_PROFILE ou --profile",
        hint=f"Donnez le nom d'un profil livré ({shipped}) ou le chemin d'un dossier de profil.",
    )


@dataclass
class _Raw:
    """The merged, not yet validated content of a profile and its parents."""

    settings: dict[str, Any] = field(default_factory=dict)
    settings_file: dict[str, str] = field(default_factory=dict)
    domains: dict[str, Any] | None = None
    domains_file: str = ""
    directorates: dict[str, Any] | None = None
    directorates_file: str = ""
    indicators: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    indicator_files: dict[tuple[str, int], str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def _read_folder(folder: Path, raw: _Raw, seen: tuple[Path, ...] = ()) -> None:
    if folder in seen:
        raise _Problem("Les profils s'étendent l'un l'autre en boucle.", str(folder))
    main = folder / "profile.toml"
    if not main.is_file():
        raise _Problem(
            "Le dossier de profil n'a pas de fichier profile.toml.",
            str(folder),
            "Créez profile.toml (voir le profil « generique » livré pour un modèle).",
        )
    settings = _read_toml(main)
    parent = settings.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise _Problem("« extends » doit être le nom ou le chemin d'un profil.", str(main))
        parent_dir = (
            (folder / parent).resolve() if (folder / parent).is_dir() else resolve(parent)
        )
        _read_folder(parent_dir, raw, (*seen, folder))
    raw.files.append(main)
    for key, value in settings.items():
        raw.settings[key] = value
        raw.settings_file[key] = str(main)
    domains = folder / "domains.toml"
    if domains.is_file():
        raw.domains = _read_toml(domains)
        raw.domains_file = str(domains)
        raw.files.append(domains)
    directorates = folder / "directorates.toml"
    if directorates.is_file():
        raw.directorates = _read_toml(directorates)
        raw.directorates_file = str(directorates)
        raw.files.append(directorates)
    for path in sorted((folder / "indicators").glob("*.toml")):
        raw.files.append(path)
        content = _read_toml(path)
        unknown = set(content) - {"indicator"}
        if unknown:
            raise _Problem(
                f"Clé inattendue au premier niveau : {', '.join(sorted(unknown))}.",
                str(path),
                "Un fichier d'indicateurs ne contient que des tables [[indicator]].",
            )
        entries = content.get("indicator", [])
        if not isinstance(entries, list):
            raise _Problem("« indicator » doit être une liste de tables [[indicator]].", str(path))
        for position, entry in enumerate(entries, start=1):
            ident = entry.get("id")
            if not isinstance(ident, str) or not ident:
                raise _Problem(
                    f"L'indicateur n° {position} du fichier n'a pas d'identifiant « id ».",
                    str(path),
                    "Donnez à chaque indicateur un id court en minuscules (ex. « marches-pme »).",
                )
            version = entry.get("version", 1)
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise _Problem(
                    "« version » doit être un entier positif.",
                    f"{path}, indicateur « {ident} »",
                )
            ikey = (ident, version)
            if ikey in raw.indicators and raw.indicator_files[ikey] == str(path):
                raise _Problem(
                    f"L'indicateur « {ident} » (version {version}) est déclaré deux fois.",
                    str(path),
                    "Donnez un numéro de version différent à une définition qui change.",
                )
            if ikey in raw.indicators:  # a child refines its parent's indicator
                raw.indicators[ikey] = {**raw.indicators[ikey], **entry}
            else:
                raw.indicators[ikey] = dict(entry)
            raw.indicator_files[ikey] = str(path)


def _text(d: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = d.get(key)
    if value is None:
        if required:
            raise _Problem(f"Le champ « {key} » manque.", where)
        return ""
    if not isinstance(value, str):
        raise _Problem(f"Le champ « {key} » doit être un texte.", where)
    return value.strip()


def _date(value: Any, key: str, where: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _Problem(
        f"Le champ « {key} » doit être une date (AAAA-MM-JJ), pas « {value} ».",
        where,
        "Écrivez par exemple date = 2025-12-31 (sans guillemets).",
    )


def _number(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Problem(f"Le champ « {key} » doit être un nombre, pas « {value} ».", where)
    return float(value)


def _choice(value: Any, key: str, allowed: Any, where: str) -> str:
    if value not in allowed:
        raise _Problem(
            f"Valeur inconnue pour « {key} » : « {value} ».",
            where,
            f"Valeurs possibles : {', '.join(allowed)}.",
        )
    return str(value)


def _checked(text: Any, key: str, fields: dict[str, str], where: str, aggregate: bool = False) -> Checked:
    try:
        if aggregate:
            return expressions.check_aggregate(text, fields)
        return expressions.check(text, fields)
    except ExpressionError as exc:
        raise _Problem(
            f"Expression « {key} » invalide : {exc}.",
            where,
            "Écrivez une expression SQL sur les champs du grain de l'indicateur "
            "(voir docs/indicators.md).",
        ) from exc


def _targets(entries: Any, unit: str, bases: tuple[str, ...], where: str) -> tuple[Target, ...]:
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise _Problem("« targets » doit être une liste de cibles.", where)
    targets = []
    for n, t in enumerate(entries, start=1):
        here = f"{where}, cible n° {n}"
        if not isinstance(t, dict):
            raise _Problem("Une cible s'écrit { value = …, comparator = …, date = … }.", here)
        unknown = set(t) - _TARGET_KEYS
        if unknown:
            raise _Problem(
                f"Champ inconnu dans la cible : {', '.join(sorted(unknown))}.",
                here,
                f"Champs possibles : {', '.join(sorted(_TARGET_KEYS))}.",
            )
        for key in ("value", "comparator", "date", "source"):
            if key not in t:
                raise _Problem(
                    f"La cible n'a pas de « {key} ».",
                    here,
                    "Une cible a une valeur, un comparateur (>=, <=…), une échéance (date) et "
                    "sa source (document qui la fixe).",
                )
        value = _number(t["value"], "value", here)
        if unit == "percent":
            if not 0 <= value <= 100:
                raise _Problem("Une cible en pourcentage est entre 0 et 100.", here)
            value /= 100
        basis = t.get("basis", bases[0])
        targets.append(
            Target(
                value=value,
                comparator=_choice(t["comparator"], "comparator", COMPARATORS, here),
                date=_date(t["date"], "date", here),
                from_date=_date(t["from"], "from", here) if "from" in t else None,
                basis=_choice(basis, "basis", bases, here),
                source=_text(t, "source", here),
                label=_text(t, "label", here, required=False),
            )
        )
    return tuple(sorted(targets, key=lambda t: t.date))


#: An indicator's id: the one its page's address takes (``/indicateurs/<id>/``, web.urls); it
#: is also written into the build's SQL, so nothing else gets through.
INDICATOR_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def _indicator(raw: dict[str, Any], where: str, axes: set[str]) -> Indicator:
    unknown = set(raw) - _INDICATOR_KEYS
    if unknown:
        raise _Problem(
            f"Champ inconnu : {', '.join(sorted(unknown))}.",
            where,
            f"Champs possibles : {', '.join(sorted(_INDICATOR_KEYS))}.",
        )
    for key in _REQUIRED_KEYS:
        if key not in raw:
            raise _Problem(f"Le champ obligatoire « {key} » manque.", where)
    ident = _text(raw, "id", where)
    if not INDICATOR_ID.fullmatch(ident):
        raise _Problem(f"Identifiant d'indicateur invalide : « {ident} ».", where,
                       "Minuscules sans accent, chiffres et tirets, comme dans l'adresse de sa "
                       "page /indicateurs/<id>/ (ex. « marches-pme »).")
    code = _text(raw, "code", where)
    if not re.fullmatch(r"[A-Z][0-9]{2}", code):
        raise _Problem(f"Code de référence invalide : « {code} ».", where, "Exemple : « A01 ».")
    axis = _text(raw, "axis", where)
    if axis not in axes:
        raise _Problem(
            f"Axe inconnu : « {axis} ».",
            where,
            f"Axes déclarés dans profile.toml : {', '.join(sorted(axes))}.",
        )
    grain_id = _choice(raw.get("grain", "contract"), "grain", list(GRAINS), where)
    grain = GRAINS[grain_id]
    fields = grain.types
    measure = _choice(raw["measure"], "measure", list(MEASURES), where)
    allowed_bases = MEASURES[measure]
    bases_raw = raw.get("bases", [allowed_bases[0]])
    if not isinstance(bases_raw, list) or not bases_raw:
        raise _Problem("« bases » doit être une liste non vide.", where)
    bases = tuple(_choice(b, "bases", allowed_bases, where) for b in bases_raw)
    unit = _choice(raw["unit"], "unit", list(UNITS), where)
    source = _choice(raw.get("source", "decp"), "source", list(SOURCES), where)
    source_available = source in available_sources()
    if measure in ("share", "distribution") and unit != "percent":
        raise _Problem(f"Une mesure « {measure} » s'exprime en pourcentage (unit = \"percent\").", where)
    value_field = raw.get("value_field", "amount")
    numeric = fields.get(value_field, "").startswith(("DECIMAL", "DOUBLE", "INTEGER"))
    if "value" in bases and source_available and not numeric:
        raise _Problem(
            f"« value_field » doit être un champ numérique du grain « {grain_id} », pas "
            f"« {value_field} ».",
            where,
        )
    needs = {
        "share": ("condition",),
        "average": ("expression",),
        "sum": ("expression",),
        "count_distinct": ("expression",),
        "distribution": ("expression",),
        "ratio": ("numerator", "denominator"),
        "total": (),
    }[measure]
    for key in needs if source_available else ():
        if key not in raw:
            raise _Problem(f"Une mesure « {measure} » demande le champ « {key} ».", where)
    for key in ("condition", "expression", "numerator", "denominator"):
        if key in raw and key not in needs:
            raise _Problem(f"Le champ « {key} » ne sert pas à une mesure « {measure} ».", where)
    breakdowns = raw.get("breakdowns", [])
    if not isinstance(breakdowns, list):
        raise _Problem("« breakdowns » doit être une liste.", where)
    for b in breakdowns:
        _choice(b, "breakdowns", list(grain.breakdowns), where)
    valid_from = _date(raw.get("valid_from", dt.date(2000, 1, 1)), "valid_from", where)
    valid_to = _date(raw["valid_to"], "valid_to", where) if "valid_to" in raw else None
    if valid_to and valid_to < valid_from:
        raise _Problem("« valid_to » précède « valid_from ».", where)
    data_requirement = _text(raw, "data_requirement", where, required=False)
    if source not in available_sources() and not data_requirement:
        raise _Problem(
            "Un indicateur qui attend une autre source que les DECP dit quelles données il "
            "lui faut (« data_requirement »).",
            where,
        )
    regulatory = raw.get("regulatory", False)
    if not isinstance(regulatory, bool):
        raise _Problem("« regulatory » vaut true ou false.", where)
    legal = _text(raw, "legal_reference", where, required=False)
    if regulatory and not legal:
        raise _Problem("Un indicateur réglementaire cite sa référence (« legal_reference »).", where)

    unknown_as_no = raw.get("unknown_counts_as_no", False)
    if not isinstance(unknown_as_no, bool):
        raise _Problem("« unknown_counts_as_no » vaut true ou false.", where)
    if unknown_as_no and (measure != "share" or not legal):
        raise _Problem(
            "« unknown_counts_as_no » ne sert qu'à une part (measure = \"share\") dont la "
            "définition légale, citée dans « legal_reference », divise par toute la population.",
            where,
        )

    def expr(key: str, aggregate: bool = False) -> Checked | None:
        return _checked(raw[key], key, fields, where, aggregate) if key in raw else None

    return Indicator(
        id=ident,
        code=code,
        version=int(raw.get("version", 1)),
        valid_from=valid_from,
        valid_to=valid_to,
        title=_text(raw, "title", where),
        definition=_text(raw, "definition", where),
        axis=axis,
        kind=_choice(raw["kind"], "kind", list(KINDS), where),
        regulatory=regulatory,
        legal_reference=legal,
        unit=unit,
        grain=grain_id,
        source=source,
        data_requirement=data_requirement,
        population=expr("population"),
        measure=measure,
        bases=bases,
        condition=expr("condition"),
        expression=expr("expression"),
        numerator=expr("numerator", aggregate=True),
        denominator=expr("denominator", aggregate=True),
        value_field=value_field,
        breakdowns=tuple(breakdowns),
        targets=_targets(raw.get("targets"), unit, bases, where),
        notes=_text(raw, "notes", where, required=False),
        file=where.split(",")[0],
        unknown_counts_as_no=unknown_as_no,
    )


_SETTINGS_KEYS = {
    "id", "name", "description", "organisation", "buyers", "scope", "territory", "parameters",
    "eu_thresholds", "axes", "egalim",
}


def _profile(raw: _Raw) -> Profile:
    s = raw.settings
    unknown = set(s) - _SETTINGS_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise _Problem(
            f"Clé inconnue dans profile.toml : « {key} ».",
            raw.settings_file[key],
            f"Clés possibles : extends, {', '.join(sorted(_SETTINGS_KEYS))}.",
        )

    def where(key: str) -> str:
        return raw.settings_file.get(key, "profile.toml")

    buyers = []
    for n, b in enumerate(s.get("buyers", []), start=1):
        here = f"{where('buyers')}, acheteur n° {n}"
        siren = str(b.get("siren", ""))
        if not re.fullmatch(r"\d{9}", siren):
            raise _Problem(f"SIREN invalide : « {siren} » (9 chiffres attendus).", here)
        buyers.append(
            Buyer(siren, _text(b, "name", here),
                  _choice(b.get("role", "organisation"), "role", ["organisation", "mandataire"], here))
        )
    scope = s.get("scope", "all_buyers")
    _choice(scope, "scope", ["all_buyers", "profile_buyers"], where("scope"))
    if scope == "profile_buyers" and not buyers:
        raise _Problem(
            "Le périmètre « profile_buyers » demande au moins un acheteur dans [[buyers]].",
            where("scope"),
        )
    terr = s.get("territory", {})
    territory = Territory(
        name=str(terr.get("name", "")),
        regions=tuple(str(c) for c in terr.get("regions", [])),
        departements=tuple(str(c) for c in terr.get("departements", [])),
    )
    params = s.get("parameters", {})
    unknown_params = set(params) - {
        "new_supplier_lookback_years", "min_coverage", "min_population", "reference_year"}
    if unknown_params:
        raise _Problem(
            f"Paramètre inconnu : {', '.join(sorted(unknown_params))}.", where("parameters")
        )
    lookback = params.get("new_supplier_lookback_years", 3)
    if not isinstance(lookback, int) or not 1 <= lookback <= 20:
        raise _Problem(
            "« new_supplier_lookback_years » est un nombre d'années entre 1 et 20.",
            where("parameters"),
        )
    min_coverage = _number(params.get("min_coverage", 0.5), "min_coverage", where("parameters"))
    if not 0 <= min_coverage <= 1:
        raise _Problem("« min_coverage » est une part entre 0 et 1.", where("parameters"))
    min_population = params.get("min_population", 30)
    if not isinstance(min_population, int) or isinstance(min_population, bool) or min_population < 1:
        raise _Problem(
            "« min_population » est un nombre d'enregistrements entier, au moins 1.",
            where("parameters"),
        )
    reference_year = params.get("reference_year")
    if reference_year is not None and (
        not isinstance(reference_year, int) or not 1990 <= reference_year <= 2100
    ):
        raise _Problem(
            "« reference_year » est une année (par exemple 2024), ou absent pour la dernière "
            "année complète.",
            where("parameters"),
        )
    thresholds = []
    for n, t in enumerate(s.get("eu_thresholds", []), start=1):
        here = f"{where('eu_thresholds')}, seuil n° {n}"
        thresholds.append(
            EuThreshold(
                _date(t.get("from"), "from", here),
                _number(t.get("works"), "works", here),
                _number(t.get("supplies_services"), "supplies_services", here),
                _text(t, "source", here),
            )
        )
    axes = []
    for n, a in enumerate(s.get("axes", []), start=1):
        here = f"{where('axes')}, axe n° {n}"
        axes.append(Axis(_text(a, "id", here), _text(a, "title", here),
                         _text(a, "description", here, required=False)))
    if not axes:
        raise _Problem("Le profil ne déclare aucun axe ([[axes]]).", where("axes"))

    dom = raw.domains or {}
    dwhere = raw.domains_file or "domains.toml"
    domains = []
    for n, d in enumerate(dom.get("domain", []), start=1):
        here = f"{dwhere}, domaine n° {n}"
        prefixes = tuple(str(p) for p in d.get("cpv_prefixes", []))
        for p in prefixes:
            if not re.fullmatch(r"\d{1,8}", p):
                raise _Problem(f"Préfixe CPV invalide : « {p} » (1 à 8 chiffres).", here)
        domains.append(Domain(_text(d, "id", here), _text(d, "label", here), prefixes))
    if not domains:
        raise _Problem("Aucun domaine d'achat déclaré ([[domain]]).", dwhere)
    default = str(dom.get("default", ""))
    if default not in {d.id for d in domains}:
        raise _Problem(
            f"Le domaine par défaut « {default} » n'est pas un domaine déclaré.", dwhere,
            "« default » nomme le domaine des codes CPV qu'aucun préfixe ne couvre.",
        )

    directorates = _directorates(raw, {d.id for d in domains}, dwhere)

    axis_ids = {a.id for a in axes}
    indicators = []
    for ikey, entry in raw.indicators.items():
        here = f"{raw.indicator_files[ikey]}, indicateur « {ikey[0]} » (version {ikey[1]})"
        indicators.append(_indicator(entry, here, axis_ids))
    by_id: dict[str, list[Indicator]] = {}
    for ind in indicators:
        by_id.setdefault(ind.id, []).append(ind)
    for ident, versions in by_id.items():
        versions.sort(key=lambda i: i.version)
        for a, b in itertools.pairwise(versions):
            if a.valid_to is None or a.valid_to >= b.valid_from:
                raise _Problem(
                    f"Les versions {a.version} et {b.version} de l'indicateur « {ident} » se "
                    "chevauchent.",
                    b.file,
                    f"Donnez à la version {a.version} une date de fin (valid_to) antérieure au "
                    f"début de la version {b.version} (valid_from).",
                )
            if a.valid_to.year >= b.valid_from.year:
                raise _Problem(
                    f"Les versions de l'indicateur « {ident} » changent en cours d'année.",
                    b.file,
                    "Les résultats sont annuels : une nouvelle définition commence un 1er janvier.",
                )
    digest = hashlib.sha256()
    for path in raw.files:
        digest.update(path.read_bytes())
    egalim_files = _egalim_files(s.get("egalim", {}), where("egalim"))
    canteens_file, declarations_file = egalim_files["establishments"], egalim_files["declarations"]
    for extra in egalim_files.values():
        if extra:
            digest.update(extra.read_bytes())
    if canteens_file is None:  # no canteens: catering data is not collected by this profile
        indicators = [
            dataclasses.replace(i, collected=False) if i.source == "catering" else i
            for i in indicators
        ]
    return Profile(
        id=str(s.get("id", "")),
        name=str(s.get("name", "")),
        description=str(s.get("description", "")),
        organisation=str(s.get("organisation", "")),
        buyers=tuple(buyers),
        scope_all_buyers=scope == "all_buyers",
        territory=territory,
        parameters=Parameters(lookback, min_coverage, min_population, reference_year),
        eu_thresholds=tuple(sorted(thresholds, key=lambda t: t.valid_from)),
        domains=tuple(domains),
        default_domain=default,
        axes=tuple(axes),
        indicators=tuple(sorted(indicators, key=lambda i: (i.code, i.id, i.version))),
        digest=digest.hexdigest(),
        files=tuple(str(p) for p in raw.files),
        canteens_file=canteens_file,
        declarations_file=declarations_file,
        nomenclature_file=egalim_files["nomenclature"],
        contracts_file=egalim_files["marches"],
        directorates=directorates,
    )


_DIRECTORATE_KEYS = {"id", "label", "domains", "buyers"}


def _directorates(raw: _Raw, domain_ids: set[str], domains_file: str) -> tuple[Directorate, ...]:
    """``[[directorate]]`` entries, checked: ids, known domains, SIREN/SIRET, each domain and
    buyer owned by one directorate at most."""
    content = raw.directorates or {}
    dwhere = raw.directorates_file or "directorates.toml"
    unknown = set(content) - {"directorate"}
    if unknown:
        raise _Problem(
            f"Clé inattendue au premier niveau : {', '.join(sorted(unknown))}.", dwhere,
            "Le fichier des directions ne contient que des tables [[directorate]].")
    entries = content.get("directorate", [])
    if not isinstance(entries, list):
        raise _Problem("« directorate » doit être une liste de tables [[directorate]].", dwhere)
    found: list[Directorate] = []
    owner_of_domain: dict[str, str] = {}
    owner_of_buyer: dict[str, str] = {}
    for n, d in enumerate(entries, start=1):
        here = f"{dwhere}, direction n° {n}"
        if not isinstance(d, dict):
            raise _Problem("Une direction s'écrit [[directorate]] id = …, label = ….", here)
        ident = d.get("id")
        if isinstance(ident, str) and ident:
            here = f"{dwhere}, direction « {ident} »"
        extra = set(d) - _DIRECTORATE_KEYS
        if extra:
            raise _Problem(f"Champ inconnu : {', '.join(sorted(extra))}.", here,
                           f"Champs possibles : {', '.join(sorted(_DIRECTORATE_KEYS))}.")
        ident = _text(d, "id", here)
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", ident):
            raise _Problem(f"Identifiant de direction invalide : « {ident} ».", here,
                           "Minuscules, chiffres et tirets (ex. « lycees »).")
        if any(x.id == ident for x in found):
            raise _Problem(f"La direction « {ident} » est déclarée deux fois.", here)
        label = _text(d, "label", here)
        domains, buyers = d.get("domains", []), d.get("buyers", [])
        if not isinstance(domains, list) or not isinstance(buyers, list):
            raise _Problem("« domains » et « buyers » sont des listes.", here)
        for domain in domains:
            if domain not in domain_ids:
                raise _Problem(
                    f"Domaine d'achat inconnu : « {domain} ».", here,
                    f"Domaines déclarés dans {domains_file} : {', '.join(sorted(domain_ids))}.")
            if domain in owner_of_domain:
                raise _Problem(
                    f"Le domaine « {domain} » appartient déjà à la direction "
                    f"« {owner_of_domain[domain]} ».", here,
                    "Un domaine d'achat relève d'une seule direction.")
            owner_of_domain[domain] = ident
        for buyer in buyers:
            text = str(buyer)
            if not isinstance(buyer, str) or not re.fullmatch(r"\d{9}|\d{14}", text):
                raise _Problem(
                    f"Acheteur invalide : « {text} » (SIREN de 9 chiffres ou SIRET de 14, "
                    "entre guillemets).", here)
            if text in owner_of_buyer:
                raise _Problem(
                    f"L'acheteur « {text} » relève déjà de la direction "
                    f"« {owner_of_buyer[text]} ».", here)
            owner_of_buyer[text] = ident
        if not domains and not buyers:
            raise _Problem("Une direction possède au moins un domaine d'achat (domains) ou un "
                           "acheteur (buyers).", here)
        found.append(Directorate(ident, label, tuple(domains), tuple(str(b) for b in buyers)))
    return tuple(found)


def _egalim_files(section: Any, where: str) -> dict[str, Path | None]:
    """``[egalim]``: the establishments, declarations, nomenclature and contracts CSV files,
    relative to the profile.toml that names them (their content is checked where it is read)."""
    if not isinstance(section, dict):
        raise _Problem("« egalim » doit être une table [egalim].", where)
    keys = ("establishments", "declarations", "nomenclature", "marches")
    unknown = set(section) - set(keys)
    if unknown:
        raise _Problem(
            f"Clé inconnue dans [egalim] : {', '.join(sorted(unknown))}.",
            where,
            "Clés possibles : establishments (établissements), declarations (télédéclarations), "
            "nomenclature (articles), marches (critères environnementaux des marchés).",
        )
    paths: dict[str, Path | None] = {}
    for key in keys:
        if key not in section:
            paths[key] = None
            continue
        path = Path(where).parent / str(section[key])
        if not path.is_file():
            raise _Problem(
                f"Fichier introuvable pour [egalim] {key} : « {section[key]} ».",
                where,
                "Donnez un chemin relatif au dossier du profil (ex. egalim/etablissements.csv).",
            )
        paths[key] = path
    return paths


def load_profile(ref: str = DEFAULT_PROFILE) -> Profile:
    """Read and check a profile; any problem is a ConfigError saying where and what to do."""
    folder = resolve(ref)
    raw = _Raw()
    try:
        _read_folder(folder, raw)
        return _profile(raw)
    except _Problem as problem:
        raise ConfigError(
            f"Profil « {ref} » : {problem.message}",
            where=problem.where,
            hint=problem.hint or "Corrigez le fichier du profil, puis relancez.",
        ) from None
