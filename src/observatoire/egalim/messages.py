"""The French messages of the purchase importer, by error code.

Codes are the import codes of the import rules of the Egalim rule set
(:data:`observatoire.egalim.rules.IMPORT_RULES`: its ``bloquant`` rules are these
errors), found by the quality engine on each batch (:mod:`observatoire.egalim.validation`); the
text is built here with the cell's value. Each code has a kind: ``format`` (the cell is not
written as the format wants: required value, date, number, allowed values...) or ``règle`` (the
value is well written but breaks a business rule of ma-cantine's purchase model,
egalim-rules.md §2.2, or the canteen is not in the directory).
"""

from __future__ import annotations

from observatoire.egalim.codes import EGALIM_CHARACTERISTICS, FAMILIES, INFO_CHARACTERISTICS

FORMAT = "format"
RULE = "règle"
HEADER = "en-tête"
FILE = "fichier"

_CATEGORIES = ", ".join(c for c in EGALIM_CHARACTERISTICS if c != "CE2")
_ALL = _CATEGORIES + ", " + ", ".join(INFO_CHARACTERISTICS)

#: code -> (kind, message template, hint template); templates use {value}, {column}, {detail}.
MESSAGES: dict[str, tuple[str, str, str]] = {
    "required": (
        FORMAT,
        "La valeur est obligatoire et doit être renseignée.",
        "Renseignez la colonne « {column} » pour cet achat.",
    ),
    "id_format": (
        FORMAT,
        "L'identifiant de cantine « {value} » doit être un nombre entier.",
        "Indiquez l'identifiant ma-cantine de l'établissement (par exemple 949).",
    ),
    "date_format": (
        FORMAT,
        "La date « {value} » doit être écrite sous la forme aaaa-mm-jj.",
        "Écrivez par exemple 2022-01-30 (année, mois, jour séparés par des tirets).",
    ),
    "date_format_mapped": (
        FORMAT,
        "La date « {value} » n'est pas écrite dans le format attendu ({detail}).",
        "Corrigez la date, ou ajoutez son format à date_formats dans la correspondance.",
    ),
    "date_impossible": (
        FORMAT,
        "La date « {value} » n'existe pas.",
        "Vérifiez le jour et le mois (il n'y a pas de 31 février ni de 13e mois).",
    ),
    "number_format": (
        FORMAT,
        "La valeur « {value} » n'est pas un montant : elle ne doit comporter que des chiffres "
        "et le point (ou une virgule seule) comme séparateur décimal.",
        "Écrivez le prix HT sans symbole € ni texte, par exemple 1234.99.",
    ),
    "number_too_large": (
        FORMAT,
        "Le montant « {value} » est trop grand (plus de 16 chiffres avant la virgule).",
        "Vérifiez la colonne du prix HT : la valeur vient peut-être d'une autre colonne.",
    ),
    "family_unknown": (
        FORMAT,
        "« {value} » ne respecte pas le motif imposé : ce n'est pas une famille de produits.",
        "Valeurs possibles : " + ", ".join(FAMILIES) + ".",
    ),
    "labels_unknown": (
        FORMAT,
        "{detail} ne respecte pas le motif imposé : ce n'est pas une caractéristique "
        "acceptée dans la colonne « {column} ».",
        "Valeurs possibles, séparées par des virgules : {allowed}.",
    ),
    "mapped_label_unknown": (
        FORMAT,
        "Label inconnu : {detail}.",
        "Ajoutez ce libellé à la table [mapping.labels] du fichier de correspondance, avec son "
        'code (BIO, LABEL_ROUGE...) ou "" s\'il ne compte pas pour Egalim.',
    ),
    "origin_unknown": (
        FORMAT,
        "L'origine « {value} » n'est pas acceptée : une seule origine, EUROPE ou FRANCE.",
        "Écrivez EUROPE (hors France) ou FRANCE, ou laissez la cellule vide.",
    ),
    "boolean_format": (
        FORMAT,
        "La valeur « {value} » n'est pas comprise : oui, OUI ou x pour oui ; non, NON ou "
        "vide pour non.",
        "Écrivez x (ou oui) si c'est le cas, sinon laissez la cellule vide.",
    ),
    "local_definition_unknown": (
        FORMAT,
        "« {value} » ne respecte pas le motif imposé : ce n'est pas une définition de local.",
        "Valeurs possibles : {allowed}.",
    ),
    "km_format": (
        FORMAT,
        "La distance « {value} » doit être un nombre entier de kilomètres.",
        "Écrivez par exemple 50, sans unité ni décimales.",
    ),
    "cells_count": (
        FORMAT,
        "La ligne n'a pas le même nombre de cellules que l'en-tête ({detail}).",
        "Vérifiez les séparateurs de cette ligne : une cellule qui contient le séparateur "
        "doit être entre guillemets, et il ne doit manquer aucune cellule, même vide.",
    ),
    "blank_row": (
        FORMAT,
        "Ligne vide : la ligne doit être supprimée.",
        "Supprimez cette ligne (les tableurs en laissent souvent en fin de fichier).",
    ),
    "canteen_unknown": (
        RULE,
        "Une cantine avec {detail} « {value} » n'est pas dans la liste des établissements.",
        "Vérifiez {detail}, ou ajoutez l'établissement au fichier des établissements du profil.",
    ),
    "date_future": (
        RULE,
        "La date ne peut pas être dans le futur.",
        "Vérifiez l'année de la date d'achat.",
    ),
    "price_negative": (
        RULE,
        "Le prix HT doit être positif ou nul.",
        "Un avoir ne s'importe pas comme un achat : retirez la ligne ou corrigez le montant.",
    ),
    "europe_and_france": (
        RULE,
        "Les caractéristiques EUROPE et FRANCE ne peuvent pas être sélectionnées en même temps.",
        "Gardez une seule origine : FRANCE, ou EUROPE pour l'Europe hors France.",
    ),
    "local_definition_without_local": (
        RULE,
        "La caractéristique LOCAL n'est pas sélectionnée : le champ doit être vide.",
        "Videz la définition de local, ou indiquez que l'achat est local.",
    ),
    "local_definition_missing": (
        RULE,
        "L'achat est indiqué comme local : la définition de local est obligatoire.",
        "Indiquez la définition de local utilisée : {allowed}.",
    ),
    "km_without_local": (
        RULE,
        "La caractéristique LOCAL n'est pas sélectionnée : le champ doit être vide.",
        "Videz la distance, ou indiquez que l'achat est local avec la définition KM.",
    ),
    "km_not_km": (
        RULE,
        "La distance en km doit être vide lorsque la définition locale n'est pas 'KM'.",
        "Videz la distance, ou choisissez la définition de local KM.",
    ),
}

ALLOWED_CATEGORIES_TEXT = _CATEGORIES
ALLOWED_CHARACTERISTICS_TEXT = _ALL


def render(
    code: str, *, value: str, column: str, detail: str, allowed: str
) -> tuple[str, str, str]:
    """(kind, message, hint) for an error code."""
    kind, message, hint = MESSAGES[code]
    values = {"value": value, "column": column, "detail": detail, "allowed": allowed}
    return kind, message.format(**values), hint.format(**values)
