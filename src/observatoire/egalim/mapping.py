"""The column mapping that lets the purchase importer read exports other than ma-cantine's.

A mapping says which source column gives each canonical field, how dates and prices are
written, how labels are separated inside a cell and what raw strings mean. It is usually loaded
from a TOML file::

    [mapping]
    name = "Export du logiciel de gestion des stocks"
    separator = ";"                       # optional: sniffed from the header line otherwise
    date_formats = ["%d/%m/%Y", "%Y-%m-%d"]
    decimal_separator = ","               # ".", "," or "auto" (the default)
    labels_separator = "|"                # inside a labels cell (default ",")
    empty_labels = "unknown"              # or "none": an empty labels cell means "no label"
    unknown_labels = "error"              # or "warning"

    [mapping.columns]
    canteen_siret = "SIRET établissement" # or canteen_id = "..."; one of the two is required
    description = "Désignation"          # required
    purchase_date = "Date facture"        # required
    price_ht = "Montant HT"               # required
    supplier = "Fournisseur"
    supplier_siret = "SIRET fournisseur"
    article_code = "Code article"
    family = "Famille"
    labels = ["Labels", "Origine"]        # one column or several
    local_definition = "Définition local"
    local_km = "Distance km"

    [mapping.families]                    # raw family string -> family code
    "Viandes" = "VIANDES_VOLAILLES"

    [mapping.labels]                      # raw label string -> code ("" = does not qualify)
    "Bio Cohérence" = "BIO"

Column names are compared like ma-cantine's headers: case and surrounding spaces ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from observatoire.column_mapping import (
    check_number_and_separator,
    load_mapping_toml,
    parse_separator,
)
from observatoire.egalim.codes import FAMILIES, LOCAL_DEFINITIONS
from observatoire.egalim.labels import LabelMeaning, normalise_label, resolve_label
from observatoire.errors import ConfigError

REQUIRED_FIELDS = ("description", "purchase_date", "price_ht")
SINGLE_FIELDS = (
    "canteen_siret",
    "canteen_id",
    "description",
    "supplier",
    "supplier_siret",
    "article_code",
    "purchase_date",
    "price_ht",
    "family",
    "local_definition",
    "local_km",
)


@dataclass
class ColumnMapping:
    """How to read one kind of export (see the module docstring for the TOML form)."""

    columns: dict[str, str]
    labels: tuple[str, ...] = ()
    name: str = "correspondance de colonnes"
    separator: str | None = None
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    decimal_separator: str = "auto"
    labels_separator: str = ","
    empty_labels_mean_none: bool = False
    unknown_labels_are_errors: bool = True
    #: Normalised raw family string -> family code.
    families: dict[str, str] = field(default_factory=dict)
    #: Normalised raw label string -> meaning (overrides :data:`labels.LABEL_TABLE`).
    label_table: dict[str, LabelMeaning] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.check()

    def check(self, where: str = "correspondance de colonnes") -> None:
        """Raise :class:`ConfigError` if the mapping cannot be used."""
        hint = "Corrigez le fichier de correspondance (voir la documentation de son format)."
        unknown = sorted(set(self.columns) - set(SINGLE_FIELDS))
        if unknown:
            raise ConfigError(
                f"Champ(s) inconnu(s) dans [mapping.columns] : {', '.join(unknown)}.",
                where=where,
                hint=f"Champs possibles : {', '.join(SINGLE_FIELDS)}, labels.",
            )
        missing = [f for f in REQUIRED_FIELDS if not self.columns.get(f)]
        if missing:
            raise ConfigError(
                f"La correspondance ne dit pas quelle colonne donne : {', '.join(missing)}.",
                where=where,
                hint=hint,
            )
        if not (self.columns.get("canteen_siret") or self.columns.get("canteen_id")):
            raise ConfigError(
                "La correspondance doit indiquer la colonne de l'établissement "
                "(canteen_siret ou canteen_id).",
                where=where,
                hint=hint,
            )
        if self.columns.get("canteen_siret") and self.columns.get("canteen_id"):
            raise ConfigError(
                "La correspondance indique à la fois canteen_siret et canteen_id : "
                "choisissez-en un.",
                where=where,
                hint=hint,
            )
        check_number_and_separator(self.decimal_separator, self.separator, where)
        if not self.date_formats:
            raise ConfigError("Aucun format de date indiqué.", where=where, hint=hint)
        for fmt in self.date_formats:
            if "%" not in fmt:
                raise ConfigError(
                    f"Format de date « {fmt} » invalide.",
                    where=where,
                    hint="Utilisez les codes strftime, par exemple « %d/%m/%Y ».",
                )
        for raw, code in self.families.items():
            if code not in FAMILIES:
                raise ConfigError(
                    f"Famille « {code} » (pour « {raw} ») inconnue.",
                    where=where,
                    hint=f"Familles possibles : {', '.join(FAMILIES)}.",
                )

    @property
    def source_columns(self) -> list[str]:
        """Every source column the mapping reads, in a stable order."""
        names = [self.columns[f] for f in SINGLE_FIELDS if self.columns.get(f)]
        return names + [c for c in self.labels if c not in names]

    @classmethod
    def from_toml(cls, path: Path) -> ColumnMapping:
        """Load a mapping from a TOML file (see the module docstring)."""
        return cls.from_dict(load_mapping_toml(path), where=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "correspondance") -> ColumnMapping:
        """Build a mapping from the ``[mapping]`` table of a TOML file."""
        try:
            columns = dict(data.get("columns", {}))
            labels = columns.pop("labels", ())
            labels = (labels,) if isinstance(labels, str) else tuple(labels)
            formats = data.get("date_formats", data.get("date_format", ("%Y-%m-%d",)))
            formats = (formats,) if isinstance(formats, str) else tuple(formats)
            empty = data.get("empty_labels", "unknown")
            unknown = data.get("unknown_labels", "error")
            if empty not in ("unknown", "none") or unknown not in ("error", "warning"):
                raise ConfigError(
                    "empty_labels vaut « unknown » ou « none », unknown_labels vaut "
                    "« error » ou « warning ».",
                    where=where,
                    hint="Corrigez ces valeurs dans la section [mapping].",
                )
            families = {
                normalise_label(str(raw)): str(code).strip().upper()
                for raw, code in dict(data.get("families", {})).items()
            }
            table: dict[str, LabelMeaning] = {}
            for raw, code in dict(data.get("labels", {})).items():
                text = str(code).strip()
                if not text:
                    table[normalise_label(str(raw))] = LabelMeaning(None)
                    continue
                meaning = resolve_label(text)
                if meaning is None or meaning.code is None:
                    raise ConfigError(
                        f"Le label « {raw} » est associé au code inconnu « {text} ».",
                        where=where,
                        hint="Utilisez un code de caractéristique (BIO, LABEL_ROUGE, AOCAOP, "
                        'IGP, STG, HVE, CE2, FRANCE...) ou "" pour « ne compte pas ».',
                    )
                table[normalise_label(str(raw))] = meaning
            mapping = cls(
                columns={str(k): str(v) for k, v in columns.items() if str(v).strip()},
                labels=tuple(str(c) for c in labels),
                name=str(data.get("name", "correspondance de colonnes")),
                separator=parse_separator(data.get("separator")),
                date_formats=tuple(str(f) for f in formats),
                decimal_separator=str(data.get("decimal_separator", "auto")),
                labels_separator=str(data.get("labels_separator", ",")) or ",",
                empty_labels_mean_none=empty == "none",
                unknown_labels_are_errors=unknown == "error",
                families=families,
                label_table=table,
            )
        except ConfigError as exc:
            exc.where = exc.where if exc.where != "correspondance de colonnes" else where
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(
                f"Fichier de correspondance mal formé ({exc}).",
                where=where,
                hint="Suivez l'exemple de la documentation : une section [mapping] avec "
                "[mapping.columns].",
            ) from exc
        return mapping


#: ``definition_local`` values accepted through a mapping (the current ma-cantine ones and
#: the old ones, which the vocabulary keeps).
MAPPED_LOCAL_DEFINITIONS = tuple(LOCAL_DEFINITIONS)
