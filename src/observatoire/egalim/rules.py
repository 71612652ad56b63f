"""The quality rules of catering purchases (Egalim): a rule set of the same engine as the DECP
and payment rules, with the same ``Rule`` shape and severity vocabulary.

Two parts, as the severity says:

- **import rules** (``bloquant``, ``avertissement``; ``over="import"``): what the purchase
  importer checks on each cell of a file. A line with a ``bloquant`` finding is set aside
  (a file with one is refused unless the import is partial); an ``avertissement`` lets the line
  through with a warning in the import report. Declared here once; the importer places them on
  the cells of each file's layout (:func:`observatoire.egalim.validation.build_sql` gives each
  its condition, field and values: a format error first, a business rule only on values that
  are well written, one error per cell) and runs them on the engine over each parsed batch.
  Each keeps its import code (``price_negative``…) for the French message with the cell's value
  (:mod:`observatoire.egalim.messages`) and the import report. The checks on the file itself
  (not a table, header, blank or ragged rows) are made in Python before any cell is read.
- **build rules** (EG01…EG11; ``avertissement``, ``information``): what the build flags on the
  lines it keeps, evaluated by :func:`observatoire.quality.findings.findings_sql` over the
  subjects of :func:`egalim_subjects` into ``egalim_findings``.

Subjects of the build rules (aliases): ``purchase_line`` (``l``: a line as it is counted, its
effective family and labels, see :mod:`observatoire.egalim.enrich`), ``purchase_line_file``
(``l``: a line with the file's own values and ``n.has_nomenclature``),
``purchase_line_article`` (``a``: a line of an article with ``med``, the median amount of the
lines of the article, and ``n`` their count) and ``canteen_month`` (``m``: a month of a canteen's
year, with the ``first`` and ``last`` months it bought in and the ``months`` it bought in).
"""

from __future__ import annotations

from observatoire.egalim.codes import LABEL_VALIDITY
from observatoire.egalim.enrich import CONTRADICTS_MATRIX, egalim_codes
from observatoire.quality.rules import BLOCKING, INFO, WARNING, Rule, Subject
from observatoire.sqlquote import literal

#: Where the Egalim rules come from.
MA_CANTINE = "ma-cantine, modèle des achats (egalim-rules.md §2.2)"
EGALIM_LAW = "CRPM R.230-30-1 (egalim-rules.md §2.3)"


def _not_applicable() -> str:
    parts = []
    for rule in LABEL_VALIDITY:
        if rule.families:
            fams = ", ".join(literal(f) for f in rule.families)
            parts.append(
                f"(list_contains(l.characteristics, {literal(rule.code)}) "
                f"AND l.family IS NOT NULL AND l.family NOT IN ({fams}))"
            )
    return " OR ".join(parts) or "false"


def _expired() -> str:
    parts = [
        f"(list_contains(l.characteristics, {literal(r.code)}) "
        f"AND l.purchase_date > DATE '{r.valid_to}')"
        for r in LABEL_VALIDITY
        if r.valid_to
    ]
    return " OR ".join(parts) or "false"


def _import(code: str, severity: str, field: str, title: str, explanation: str, hint: str,
            source: str = "") -> tuple[str, Rule]:
    # the condition, field and values depend on the file's layout: validation.build_sql
    return code, Rule("EGALIM_" + code.upper(), severity, field, title, explanation, hint,
                      when="false", over="import", source=source)


#: The importer's checks, by import code (the code stays in the import report: ``LineError.code``).
IMPORT_RULES: dict[str, Rule] = dict([
    _import("not_a_table", BLOCKING, "fichier", "Fichier qui n'est pas un tableau",
            "Le fichier est vide, binaire, ou n'est pas un tableau (JSON, XML…) : rien n'est "
            "importé.",
            "Enregistrez le fichier en CSV (UTF-8) ou en XLSX."),
    _import("header_missing", BLOCKING, "en-tête", "En-tête absent",
            "La première ligne du fichier est vide au lieu de contenir les noms de colonnes : "
            "rien n'est importé.",
            "Mettez l'en-tête en première ligne."),
    _import("header", BLOCKING, "en-tête", "En-tête incorrect",
            "Une colonne attendue manque, est en double ou n'est pas reconnue : les colonnes ne "
            "sont pas sûres, rien n'est importé.",
            "Corrigez l'en-tête (ou la correspondance de colonnes) comme indiqué."),
    _import("blank_row", BLOCKING, "ligne", "Ligne vide",
            "Une ligne sans aucune valeur : elle est écartée.",
            "Supprimez cette ligne."),
    _import("cells_count", BLOCKING, "ligne", "Nombre de cellules différent de l'en-tête",
            "La ligne n'a pas le même nombre de cellules que l'en-tête : ses valeurs ne peuvent "
            "pas être rattachées à leurs colonnes, elle est écartée.",
            "Vérifiez les séparateurs et les guillemets de la ligne."),
    _import("required", BLOCKING, "cellule", "Valeur obligatoire absente",
            "Une colonne obligatoire (cantine, description, date, prix HT, famille) est vide : "
            "la ligne est écartée.",
            "Renseignez la valeur.", MA_CANTINE),
    _import("id_format", BLOCKING, "cantine_id", "Identifiant de cantine mal écrit",
            "L'identifiant ma-cantine de la cantine n'est pas un nombre entier : la ligne est "
            "écartée.",
            "Indiquez l'identifiant ma-cantine de l'établissement.", MA_CANTINE),
    _import("date_format", BLOCKING, "date", "Date mal écrite",
            "La date n'est pas écrite sous la forme aaaa-mm-jj : la ligne est écartée.",
            "Écrivez la date sous la forme aaaa-mm-jj.", MA_CANTINE),
    _import("date_format_mapped", BLOCKING, "date", "Date hors des formats de la correspondance",
            "La date n'est écrite dans aucun des formats que la correspondance de colonnes "
            "prévoit : la ligne est écartée.",
            "Corrigez la date, ou ajoutez son format à date_formats dans la correspondance."),
    _import("date_impossible", BLOCKING, "date", "Date qui n'existe pas",
            "La date est bien écrite mais n'existe pas (31 février, 13e mois) : la ligne est "
            "écartée.",
            "Vérifiez le jour et le mois.", MA_CANTINE),
    _import("date_future", BLOCKING, "date", "Date dans le futur",
            "La date d'achat est postérieure au jour de l'import : la ligne est écartée.",
            "Vérifiez l'année de la date d'achat.", MA_CANTINE),
    _import("number_format", BLOCKING, "prix_ht", "Montant mal écrit",
            "Le prix HT n'est pas un nombre (symbole, texte, plusieurs séparateurs) : la ligne "
            "est écartée.",
            "Écrivez le prix HT sans symbole ni texte, par exemple 1234.99.", MA_CANTINE),
    _import("number_too_large", BLOCKING, "prix_ht", "Montant trop grand",
            "Le prix HT a plus de 16 chiffres avant la virgule : la ligne est écartée.",
            "Vérifiez la colonne du prix HT.", MA_CANTINE),
    _import("price_negative", BLOCKING, "prix_ht", "Prix négatif",
            "Le prix HT d'un achat doit être positif ou nul ; un avoir ne s'importe pas comme "
            "un achat : la ligne est écartée.",
            "Retirez la ligne ou corrigez le montant.", MA_CANTINE),
    _import("family_unknown", BLOCKING, "famille_produits", "Famille de produits inconnue",
            "La famille n'est pas une famille de produits de ma-cantine : la ligne est écartée.",
            "Utilisez une famille de la liste de ma-cantine.", MA_CANTINE),
    _import("labels_unknown", BLOCKING, "caracteristiques", "Caractéristique inconnue",
            "Une caractéristique n'est pas acceptée dans la colonne : la ligne est écartée.",
            "Utilisez les codes de la liste de ma-cantine, séparés par des virgules.",
            MA_CANTINE),
    _import("mapped_label_unknown", BLOCKING, "caracteristiques", "Label inconnu",
            "Un libellé de label n'est ni reconnu ni dans la table [mapping.labels] de la "
            "correspondance : la ligne est écartée.",
            "Ajoutez le libellé à la table [mapping.labels], avec son code ou \"\"."),
    _import("origin_unknown", BLOCKING, "origine", "Origine inconnue",
            "L'origine n'est ni EUROPE ni FRANCE : la ligne est écartée.",
            "Écrivez EUROPE (hors France) ou FRANCE, ou laissez la cellule vide.", MA_CANTINE),
    _import("boolean_format", BLOCKING, "est_circuit_court", "Oui / non mal écrit",
            "La valeur d'une colonne oui / non (circuit court, local) n'est pas comprise : la "
            "ligne est écartée.",
            "Écrivez x (ou oui) si c'est le cas, sinon laissez la cellule vide.", MA_CANTINE),
    _import("local_definition_unknown", BLOCKING, "definition_local",
            "Définition de local inconnue",
            "La définition de local n'est pas une de la liste : la ligne est écartée.",
            "Utilisez une définition de local de la liste.", MA_CANTINE),
    _import("km_format", BLOCKING, "definition_local_km", "Distance mal écrite",
            "La distance n'est pas un nombre entier de kilomètres : la ligne est écartée.",
            "Écrivez un nombre entier, sans unité.", MA_CANTINE),
    _import("canteen_unknown", BLOCKING, "siret", "Cantine inconnue",
            "La cantine (SIRET ou identifiant) n'est pas dans la liste des établissements du "
            "profil : la ligne est écartée.",
            "Vérifiez le SIRET, ou ajoutez l'établissement au fichier des établissements."),
    _import("europe_and_france", BLOCKING, "caracteristiques", "Origines EUROPE et FRANCE",
            "Les caractéristiques EUROPE et FRANCE ne peuvent pas être sélectionnées en même "
            "temps : la ligne est écartée.",
            "Gardez une seule origine.", MA_CANTINE),
    _import("local_definition_without_local", BLOCKING, "definition_local",
            "Définition de local sans achat local",
            "Une définition de local est donnée alors que l'achat n'est pas indiqué comme "
            "local : la ligne est écartée.",
            "Videz la définition de local, ou indiquez que l'achat est local.", MA_CANTINE),
    _import("local_definition_missing", BLOCKING, "definition_local",
            "Achat local sans définition",
            "L'achat est indiqué comme local sans définition de local : la ligne est écartée.",
            "Indiquez la définition de local utilisée.", MA_CANTINE),
    _import("km_without_local", BLOCKING, "definition_local_km", "Distance sans achat local",
            "Une distance est donnée alors que l'achat n'est pas indiqué comme local : la ligne "
            "est écartée.",
            "Videz la distance, ou indiquez que l'achat est local.", MA_CANTINE),
    _import("km_not_km", BLOCKING, "definition_local_km", "Distance hors définition KM",
            "Une distance est donnée alors que la définition de local n'est pas KM : la ligne "
            "est écartée.",
            "Videz la distance, ou choisissez la définition de local KM.", MA_CANTINE),
    _import("label_to_check", WARNING, "caracteristiques", "Label à vérifier",
            "Le label est connu mais ne compte pas pour Egalim tel quel (label privé, "
            "allégation) : la ligne est gardée, sans ce label.",
            "Vérifiez auprès du fournisseur l'équivalence avec un label reconnu."),
    _import("label_ignored", WARNING, "caracteristiques", "Label inconnu ignoré",
            "Le libellé de label n'est pas reconnu et la correspondance accepte les libellés "
            "inconnus : la ligne est gardée, sans ce label.",
            "Ajoutez le libellé à la table [mapping.labels] de la correspondance."),
    _import("no_line", WARNING, "fichier", "Fichier sans ligne d'achat",
            "Le fichier a un en-tête correct mais aucune ligne d'achat.",
            "Vérifiez que c'est le bon fichier."),
])


#: The build's findings on the lines kept (``egalim_findings``).
BUILD_RULES: list[Rule] = [
    Rule(
        "EG01", WARNING, "famille_produits", "Ligne sans famille de produits",
        "La ligne compte dans le total mais dans aucune famille : elle manque à la déclaration "
        "détaillée et au calcul viandes et poissons.",
        "Renseignez la famille, ou rattachez la ligne à un article de la nomenclature.",
        "l.family IS NULL",
        over="purchase_line",
    ),
    Rule(
        "EG02", WARNING, "caracteristiques", "Label non applicable à la famille",
        "Ce label n'existe pas pour cette famille (par exemple « fermier » sur du poisson, "
        "« pêche durable » hors produits de la mer) : il n'est pas compté.",
        "Vérifiez la famille de la ligne et le label indiqué par le fournisseur.",
        _not_applicable(), "l.raw_labels",
        over="purchase_line", source=EGALIM_LAW,
    ),
    Rule(
        "EG03", WARNING, "caracteristiques", "Label qui ne compte plus à cette date",
        "La certification environnementale de niveau 2 ne compte plus pour Egalim depuis le "
        "1er janvier 2027 (loi Climat et résilience) : seule la HVE compte.",
        "Demandez au fournisseur si le produit est certifié HVE.",
        _expired(), "l.raw_labels",
        over="purchase_line", source=EGALIM_LAW,
    ),
    Rule(
        "EG04", WARNING, "prix_ht", "Prix nul",
        "Une ligne à 0 € HT ne pèse rien dans les taux : c'est souvent un avoir ou une erreur "
        "de saisie.",
        "Vérifiez la facture ; saisissez le montant réel ou retirez la ligne.",
        "l.price_ht = 0", "CAST(l.price_ht AS VARCHAR)",
        over="purchase_line",
    ),
    Rule(
        "EG05", INFO, "prix_ht", "Prix atypique pour l'article",
        "Le montant est plus de dix fois le montant médian des lignes du même article : erreur "
        "d'unité ou de virgule possible.",
        "Vérifiez la quantité et le prix sur la facture.",
        # at least five lines of the article, so that one line does not make the median
        "a.n >= 5 AND a.med > 0 AND a.price_ht > 10 * a.med", "CAST(a.price_ht AS VARCHAR)",
        over="purchase_line_article",
    ),
    Rule(
        "EG06", INFO, "caracteristiques", "Labels inconnus",
        "On ne sait pas si le produit porte un label : sa valeur compte dans le total mais "
        "réduit la couverture des taux.",
        "Rattachez la ligne à un article d'une matrice fournisseur, ou indiquez ses labels.",
        "NOT l.labels_known", "l.raw_labels",
        over="purchase_line",
    ),
    Rule(
        "EG07", WARNING, "siret", "Cantine absente de la liste des établissements",
        "Les lignes sont conservées mais ne sont rattachées à aucun département.",
        "Ajoutez l'établissement au fichier des établissements du profil.",
        "NOT l.canteen_known", "coalesce(l.canteen_siret, l.canteen_id)",
        over="purchase_line",
    ),
    Rule(
        "EG08", WARNING, "date", "Mois sans achat",
        "Aucun achat pour ce mois alors que la cantine en a avant et après (hors août) : "
        "des factures manquent probablement.",
        "Vérifiez que toutes les factures du mois ont été saisies ou importées.",
        # August excepted: lycées are closed
        "m.month > m.first AND m.month < m.last AND m.month <> 8 "
        "AND NOT list_contains(m.months, m.month)",
        "CAST(m.month AS VARCHAR)",
        over="canteen_month",
    ),
    Rule(
        "EG09", WARNING, "caracteristiques", "Contradiction avec la matrice fournisseur",
        "La ligne porte ses propres labels Egalim, différents de ceux que la matrice du "
        "fournisseur donne pour cet article : la ligne garde les siens, mais l'un des deux est "
        "faux.",
        "Vérifiez la facture et la fiche produit ; corrigez la ligne ou demandez au fournisseur "
        "une matrice à jour.",
        CONTRADICTS_MATRIX,
        f"concat('ligne : ', array_to_string({egalim_codes('characteristics')}, ','), "
        f"' ; matrice : ', array_to_string({egalim_codes('matrix_characteristics')}, ','))",
        over="purchase_line_file",
    ),
    Rule(
        "EG10", WARNING, "code_article", "Article inconnu de la nomenclature",
        "Le code d'article de la ligne n'est pas dans la nomenclature partagée, ni dans une "
        "matrice fournisseur qui y renvoie : la ligne ne peut hériter ni de la famille ni des "
        "labels de l'article.",
        "Corrigez le code, ajoutez l'article à la nomenclature, ou faites valider une "
        "correspondance (observatoire egalim correspondances suggerer).",
        # only where the profile has a nomenclature
        "l.article_code IS NOT NULL AND l.article_source = 'none' AND n.has_nomenclature",
        "l.article_code",
        over="purchase_line_file",
    ),
    Rule(
        "EG11", INFO, "code_article", "Ligne sans article",
        "La ligne n'est rattachée à aucun article de la nomenclature (ni code, ni "
        "correspondance validée de sa description).",
        "Lancez « observatoire egalim correspondances suggerer », relisez les propositions "
        "et enregistrez-les avec « correspondances decider ».",
        "l.article_code IS NULL AND l.article_source = 'none' AND n.has_nomenclature",
        "l.description",
        over="purchase_line_file",
    ),
]

#: The Egalim rule set, for the catalogue (``quality_rules``, docs/quality-rules.md).
EGALIM_RULES: list[Rule] = [*IMPORT_RULES.values(), *BUILD_RULES]

#: The scope of a line finding: its canteen, year and month.
_LINE_SCOPE = (("canteen_key", "l.canteen_key"), ("year", "year(l.purchase_date)"),
               ("month", "month(l.purchase_date)"))


def egalim_subjects(lines: str, has_nomenclature: bool) -> dict[str, Subject]:
    """The subjects of the build rules, as :func:`findings_sql` takes them.

    ``lines``: the lines as they are counted (effective family and labels, see
    ``enrich.EFFECTIVE_VIEW``); the rules on the file's own values read ``egalim_lines``.
    """
    no_uid = "CAST(NULL AS VARCHAR)"
    return {
        "purchase_line": Subject(f"{lines} l", "l.line_key", no_uid, _LINE_SCOPE),
        "purchase_line_file": Subject(
            f"egalim_lines l CROSS JOIN (SELECT {'true' if has_nomenclature else 'false'} "
            "AS has_nomenclature) n", "l.line_key", no_uid, _LINE_SCOPE),
        "purchase_line_article": Subject(
            """(SELECT *, median(price_ht) OVER w AS med, count(*) OVER w AS n
                FROM egalim_lines
                WHERE nomenclature_code IS NOT NULL OR article_code IS NOT NULL
                -- the nomenclature's article; else the supplier's own code
                WINDOW w AS (PARTITION BY coalesce(nomenclature_code,
                                                   concat(supplier, '|', article_code)))) a""",
            "a.line_key", no_uid,
            (("canteen_key", "a.canteen_key"), ("year", "year(a.purchase_date)"),
             ("month", "month(a.purchase_date)"))),
        # every month of each canteen's year between its first and last month of purchases
        "canteen_month": Subject(
            """(SELECT y.*, g.month FROM
                  (SELECT canteen_key, year(purchase_date) AS year,
                          min(month(purchase_date)) AS first, max(month(purchase_date)) AS last,
                          list(DISTINCT month(purchase_date)) AS months
                   FROM egalim_lines GROUP BY ALL) y,
                  (SELECT unnest(range(1, 13)) AS month) g) m""",
            "CAST(NULL AS VARCHAR)", no_uid,
            (("canteen_key", "m.canteen_key"), ("year", "m.year"), ("month", "m.month"))),
    }
