"""Data-quality findings on catering purchases, and a quality score per canteen and year.

Lines with a blocking defect never reach the warehouse (the import refuses them with their
reasons); the rules here flag what is kept but weakens the figures. Each rule says, in French,
what is wrong and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from observatoire.egalim.codes import LABEL_VALIDITY
from observatoire.egalim.enrich import CONTRADICTS_MATRIX, egalim_codes
from observatoire.warehouse import insert_rows


@dataclass(frozen=True)
class CateringRule:
    rule_id: str
    severity: str  # avertissement | information
    field: str
    title: str
    explanation: str
    hint: str


RULES: tuple[CateringRule, ...] = (
    CateringRule(
        "EG01", "avertissement", "famille_produits", "Ligne sans famille de produits",
        "La ligne compte dans le total mais dans aucune famille : elle manque à la déclaration "
        "détaillée et au calcul viandes et poissons.",
        "Renseignez la famille, ou rattachez la ligne à un article de la nomenclature.",
    ),
    CateringRule(
        "EG02", "avertissement", "caracteristiques", "Label non applicable à la famille",
        "Ce label n'existe pas pour cette famille (par exemple « fermier » sur du poisson, "
        "« pêche durable » hors produits de la mer) : il n'est pas compté.",
        "Vérifiez la famille de la ligne et le label indiqué par le fournisseur.",
    ),
    CateringRule(
        "EG03", "avertissement", "caracteristiques", "Label qui ne compte plus à cette date",
        "La certification environnementale de niveau 2 ne compte plus pour Egalim depuis le "
        "1er janvier 2027 (loi Climat et résilience) : seule la HVE compte.",
        "Demandez au fournisseur si le produit est certifié HVE.",
    ),
    CateringRule(
        "EG04", "avertissement", "prix_ht", "Prix nul",
        "Une ligne à 0 € HT ne pèse rien dans les taux : c'est souvent un avoir ou une erreur "
        "de saisie.",
        "Vérifiez la facture ; saisissez le montant réel ou retirez la ligne.",
    ),
    CateringRule(
        "EG05", "information", "prix_ht", "Prix atypique pour l'article",
        "Le montant est plus de dix fois le montant médian des lignes du même article : erreur "
        "d'unité ou de virgule possible.",
        "Vérifiez la quantité et le prix sur la facture.",
    ),
    CateringRule(
        "EG06", "information", "caracteristiques", "Labels inconnus",
        "On ne sait pas si le produit porte un label : sa valeur compte dans le total mais "
        "réduit la couverture des taux.",
        "Rattachez la ligne à un article d'une matrice fournisseur, ou indiquez ses labels.",
    ),
    CateringRule(
        "EG07", "avertissement", "siret", "Cantine absente de la liste des établissements",
        "Les lignes sont conservées mais ne sont rattachées à aucun département.",
        "Ajoutez l'établissement au fichier des établissements du profil.",
    ),
    CateringRule(
        "EG08", "avertissement", "date", "Mois sans achat",
        "Aucun achat pour ce mois alors que la cantine en a avant et après (hors août) : "
        "des factures manquent probablement.",
        "Vérifiez que toutes les factures du mois ont été saisies ou importées.",
    ),
    CateringRule(
        "EG09", "avertissement", "caracteristiques", "Contradiction avec la matrice fournisseur",
        "La ligne porte ses propres labels Egalim, différents de ceux que la matrice du "
        "fournisseur donne pour cet article : la ligne garde les siens, mais l'un des deux est "
        "faux.",
        "Vérifiez la facture et la fiche produit ; corrigez la ligne ou demandez au fournisseur "
        "une matrice à jour.",
    ),
    CateringRule(
        "EG10", "avertissement", "code_article", "Article inconnu de la nomenclature",
        "Le code d'article de la ligne n'est pas dans la nomenclature partagée, ni dans une "
        "matrice fournisseur qui y renvoie : la ligne ne peut hériter ni de la famille ni des "
        "labels de l'article.",
        "Corrigez le code, ajoutez l'article à la nomenclature, ou faites valider une "
        "correspondance (observatoire egalim correspondances suggerer).",
    ),
    CateringRule(
        "EG11", "information", "code_article", "Ligne sans article",
        "La ligne n'est rattachée à aucun article de la nomenclature (ni code, ni "
        "correspondance validée de sa description).",
        "Lancez « observatoire egalim correspondances suggerer », relisez les propositions "
        "et enregistrez-les avec « correspondances decider ».",
    ),
)


def _not_applicable() -> str:
    parts = []
    for rule in LABEL_VALIDITY:
        if rule.families:
            fams = ", ".join(f"'{f}'" for f in rule.families)
            parts.append(
                f"(list_contains(characteristics, '{rule.code}') AND family IS NOT NULL "
                f"AND family NOT IN ({fams}))"
            )
    return " OR ".join(parts) or "false"


def _expired() -> str:
    parts = [
        f"(list_contains(characteristics, '{r.code}') AND purchase_date > DATE '{r.valid_to}')"
        for r in LABEL_VALIDITY
        if r.valid_to
    ]
    return " OR ".join(parts) or "false"


def create_findings(con: duckdb.DuckDBPyConnection, lines: str = "egalim_lines") -> None:
    """``egalim_rules``, ``egalim_findings`` and ``egalim_canteen_quality``.

    ``lines`` has the lines as they are counted (effective family and characteristics, see
    ``enrich``); the rules on the file's own values (EG09–EG11) read ``egalim_lines``.
    """
    con.execute(
        "CREATE TABLE egalim_rules (rule_id VARCHAR, severity VARCHAR, field VARCHAR, "
        "title VARCHAR, explanation VARCHAR, hint VARCHAR)"
    )
    insert_rows(con, "egalim_rules",
                [(r.rule_id, r.severity, r.field, r.title, r.explanation, r.hint) for r in RULES])
    line_rules = {
        "EG01": ("family IS NULL", "NULL"),
        "EG02": (_not_applicable(), "raw_labels"),
        "EG03": (_expired(), "raw_labels"),
        "EG04": ("price_ht = 0", "CAST(price_ht AS VARCHAR)"),
        "EG06": ("NOT labels_known", "raw_labels"),
        "EG07": ("NOT canteen_known", "coalesce(canteen_siret, canteen_id)"),
    }
    selects = [
        f"""SELECT '{rule}' AS rule_id, line_key, canteen_key, year(purchase_date) AS year,
                month(purchase_date) AS month, {value} AS value
            FROM {lines} WHERE {cond}"""
        for rule, (cond, value) in line_rules.items()
    ]
    # The article rules only apply when the profile has a nomenclature.
    has_articles = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'egalim_articles'"
    ).fetchall()[0][0] and con.execute("SELECT count(*) FROM egalim_articles").fetchall()[0][0]
    nomenclature = "true" if has_articles else "false"
    file_rules = {
        "EG09": (
            CONTRADICTS_MATRIX,
            f"concat('ligne : ', array_to_string({egalim_codes('characteristics')}, ','), "
            f"' ; matrice : ', array_to_string({egalim_codes('matrix_characteristics')}, ','))",
        ),
        "EG10": (f"article_code IS NOT NULL AND article_source = 'none' AND {nomenclature}",
                 "article_code"),
        "EG11": (f"article_code IS NULL AND article_source = 'none' AND {nomenclature}",
                 "description"),
    }
    selects += [
        f"""SELECT '{rule}' AS rule_id, line_key, canteen_key, year(purchase_date) AS year,
                month(purchase_date) AS month, {value} AS value
            FROM egalim_lines WHERE {cond}"""
        for rule, (cond, value) in file_rules.items()
    ]
    selects.append(
        """SELECT 'EG05', line_key, canteen_key, year(purchase_date), month(purchase_date),
                CAST(price_ht AS VARCHAR)
            FROM (SELECT *, median(price_ht) OVER w AS med, count(*) OVER w AS n
                  FROM egalim_lines
                  WHERE nomenclature_code IS NOT NULL OR article_code IS NOT NULL
                  -- the nomenclature's article; else the supplier's own code
                  WINDOW w AS (PARTITION BY coalesce(nomenclature_code,
                                                     concat(supplier, '|', article_code))))
            WHERE n >= 5 AND med > 0 AND price_ht > 10 * med"""
    )
    # Months without purchases between a canteen's first and last month of the year, August
    # excepted (lycées are closed).
    selects.append(
        """SELECT 'EG08', NULL, m.canteen_key, m.year, g.month, CAST(g.month AS VARCHAR)
            FROM (SELECT canteen_key, year(purchase_date) AS year,
                         min(month(purchase_date)) AS first, max(month(purchase_date)) AS last,
                         list(DISTINCT month(purchase_date)) AS months
                  FROM egalim_lines GROUP BY ALL) m,
                 (SELECT unnest(range(1, 13)) AS month) g
            WHERE g.month > m.first AND g.month < m.last AND g.month <> 8
              AND NOT list_contains(m.months, g.month)"""
    )
    con.execute(
        f"""CREATE TABLE egalim_findings AS
        SELECT md5(concat_ws('|', f.rule_id, f.canteen_key, coalesce(f.line_key, ''),
                             f.year, f.month)) AS finding_id,
            f.rule_id, r.severity, r.field, f.line_key, f.canteen_key, f.year, f.month,
            f.value, l.load_id, l.file_name, l.line_number
        FROM ({" UNION ALL ".join(selects)}) f
        JOIN egalim_rules r USING (rule_id)
        LEFT JOIN egalim_lines l USING (line_key)"""
    )
    # Score: the share of the canteen's value on lines without a warning, less 5 points per
    # month without purchases (bounded to 0–100).
    con.execute(
        """CREATE TABLE egalim_canteen_quality AS
        WITH flagged AS (
            SELECT DISTINCT line_key FROM egalim_findings
            WHERE severity = 'avertissement' AND line_key IS NOT NULL
        ), gaps AS (
            SELECT canteen_key, year, count(*) AS missing_months FROM egalim_findings
            WHERE rule_id = 'EG08' GROUP BY ALL
        ), lines AS (
            SELECT l.canteen_key, year(l.purchase_date) AS year, count(*) AS lines,
                sum(l.price_ht) AS total,
                coalesce(sum(l.price_ht) FILTER (WHERE f.line_key IS NULL), 0) AS clean_value,
                count(f.line_key) AS flagged_lines
            FROM egalim_lines l LEFT JOIN flagged f USING (line_key) GROUP BY ALL
        )
        SELECT l.*, coalesce(g.missing_months, 0) AS missing_months,
            greatest(0, least(100, round(
                100 * CAST(l.clean_value AS DOUBLE) / nullif(CAST(l.total AS DOUBLE), 0)
                - 5 * coalesce(g.missing_months, 0), 1))) AS score
        FROM lines l LEFT JOIN gaps g USING (canteen_key, year)"""
    )
