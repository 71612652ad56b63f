"""The catalogue of named quality rules.

Each rule has an id, a severity, the field it looks at, a French title and explanation for users,
what to do about it, and the SQL condition that finds it. Severities:

- ``bloquant``: the record cannot be used (no identity, test record...); it is **set aside** with
  its reasons and reaches no table of the model.
- ``avertissement``: the record is kept and flagged; the faulty value is treated as unknown where
  it would distort figures (an absurd amount is left out of totals, for instance).
- ``correction``: a value was repaired automatically; the original stays beside the repaired value.
- ``information``: worth knowing, nothing wrong with the figures.

The conditions run over the cleaned tables of the build (aliases: ``r`` a cleaned record, ``f`` its
holder flags, ``h`` one of its holders, ``v`` a contract version, ``st`` a subcontracting act,
``d`` a merged duplicate, ``i`` a record whose contract is not its published uid; ``bc``, ``hc``, ``sc`` the SIRET checks of buyer, holder and
subcontractor).
"""

from __future__ import annotations

from dataclasses import dataclass

BLOCKING = "bloquant"
WARNING = "avertissement"
REPAIRED = "correction"
INFO = "information"
SEVERITIES = (BLOCKING, WARNING, REPAIRED, INFO)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    field: str
    title: str
    explanation: str
    hint: str
    #: SQL condition over the rule's table (see ``over``).
    when: str
    #: SQL expressions for the raw value and the value kept (repaired, or NULL when dropped).
    raw: str = "NULL"
    value: str = "NULL"
    #: record | holder | version | subcontract | duplicate | identity
    over: str = "record"
    #: Where the rule comes from (DAJ management rules, the DECP schema, a peer's practice).
    source: str = ""


@dataclass(frozen=True)
class Subject:
    """What the rules of one ``over`` read: the FROM clause and the expressions of each
    finding's keys (``findings.findings_sql``). A plain ``(source, record_key, uid)`` tuple is
    the same without ``scope``."""

    source: str
    record_key: str
    uid: str
    #: More key columns the findings carry, as (name, SQL expression): Egalim's canteen, year
    #: and month, which a canteen-month finding has without a line.
    scope: tuple[tuple[str, str], ...] = ()
    #: One row of ``source`` a record: its findings are distinct as they are (a DISTINCT of
    #: millions of findings is left out).
    one_row_a_record: bool = False


def _date_rules(field: str, raw: str, parsed: str, label: str) -> list[Rule]:
    return [
        Rule(
            "DATE_SUFFIX_REMOVED",
            REPAIRED,
            field,
            f"{label} : fuseau horaire retiré",
            f"La {label.lower()} portait un suffixe de fuseau horaire (« +01:00 ») ou une heure ; "
            "seule la date est gardée.",
            "Rien à faire ; le producteur devrait publier la date seule (AAAA-MM-JJ).",
            f"{parsed} IS NOT NULL AND regexp_matches(trim({raw}), '(T|\\s\\d{{1,2}}:|[+-]\\d{{2}}:?\\d{{2}}$|Z$)')",
            raw,
            f"CAST({parsed} AS VARCHAR)",
            source="decp-processing",
        ),
        Rule(
            "DATE_REFORMATTED",
            REPAIRED,
            field,
            f"{label} : format corrigé",
            f"La {label.lower()} n'était pas au format AAAA-MM-JJ ; elle a été relue.",
            "Rien à faire ; vérifiez la date retenue.",
            f"{parsed} IS NOT NULL AND date_text({raw}) <> strftime({parsed}, '%Y-%m-%d')",
            raw,
            f"CAST({parsed} AS VARCHAR)",
            source="decp-rama",
        ),
        Rule(
            "DATE_INVALID",
            WARNING,
            field,
            f"{label} illisible",
            f"La {label.lower()} n'est pas une date reconnaissable ; elle est considérée comme "
            "inconnue.",
            "Corrigez la date à la source (format AAAA-MM-JJ).",
            f"NULLIF(trim({raw}), '') IS NOT NULL AND {parsed} IS NULL",
            raw,
        ),
        Rule(
            "DATE_IMPOSSIBLE",
            WARNING,
            field,
            f"{label} impossible",
            f"La {label.lower()} est antérieure à 1990 (faute de frappe probable, ex. « 0218 ») ; "
            "elle est considérée comme inconnue.",
            "Corrigez l'année à la source.",
            f"{parsed} IS NOT NULL AND year({parsed}) < 1990",
            raw,
            source="decp-processing",
        ),
        Rule(
            "DATE_FUTURE",
            WARNING,
            field,
            f"{label} dans le futur",
            f"La {label.lower()} est postérieure à la date de collecte du fichier ; elle est "
            "considérée comme inconnue.",
            "Corrigez la date à la source.",
            f"{parsed} IS NOT NULL AND {parsed} > r.collected_on",
            raw,
            source="decp-processing",
        ),
    ]


def _enum_rules(
    field: str, raw: str, canonical: str, label: str, obsolete: str | None
) -> list[Rule]:
    rules = [
        Rule(
            "ENUM_NORMALISED",
            REPAIRED,
            field,
            f"{label} : valeur normalisée",
            f"La valeur de « {label.lower()} » différait de la liste officielle par la casse, les "
            "accents ou la ponctuation ; la valeur officielle est retenue.",
            "Rien à faire.",
            f"{canonical} IS NOT NULL AND trim({raw}) <> {canonical}"
            + (f" AND NOT COALESCE({obsolete}, false)" if obsolete else ""),
            raw,
            canonical,
            source="decp-rama",
        ),
        Rule(
            "ENUM_UNKNOWN",
            WARNING,
            field,
            f"{label} : valeur hors liste",
            f"La valeur de « {label.lower()} » n'appartient pas à la liste officielle du format "
            "DECP ; elle est considérée comme inconnue.",
            "Corrigez la valeur à la source avec un libellé de la liste officielle.",
            f"NULLIF(trim({raw}), '') IS NOT NULL AND {canonical} IS NULL",
            raw,
            source="schéma DECP",
        ),
    ]
    if obsolete:
        rules.append(
            Rule(
                "ENUM_OBSOLETE",
                REPAIRED,
                field,
                f"{label} : ancien libellé remplacé",
                f"La valeur de « {label.lower()} » est un libellé d'une version antérieure du format "
                "(avant 2019) ; elle est remplacée par le libellé actuel.",
                "Rien à faire.",
                f"COALESCE({obsolete}, false) AND trim({raw}) NOT IN ('Accord-cadre', 'Marché subséquent')",
                raw,
                canonical,
                source="schéma DECP 1.5",
            )
        )
    return rules


def present(field: str) -> str:
    """SQL: the record's source format can carry ``field`` (see ``absent_fields``)."""
    return f"NOT list_contains(r.absent_fields, '{field}')"


MANDATORY_2024 = (
    "concat_ws(', ', "
    + ", ".join(
        f"CASE WHEN r.{col} IS NULL AND {present(col)} THEN '{name}' END"
        for col, name in [
            ("raw_offers", "offresRecues"),
            ("raw_ccag", "ccag"),
            ("raw_procedure", "procedure"),
            ("raw_cpv", "codeCPV"),
            ("raw_place_code", "lieuExecution"),
        ]
    )
    + ")"
)

TEST_SIGNALS = """(
    -- "Essentiel" is the AIFE publisher's test buyer account: decisive on its own.
    2 * CAST(COALESCE(enum_key(r.raw_buyer_name) = 'essentiel', false) AS INTEGER)
  + CAST(regexp_matches(lower(COALESCE(r.raw_object, '')), '^\\s*test\\b') AS INTEGER)
  + CAST(COALESCE(r.amount_value IN (123456.78, 987654.32, 111111.21, 1234567.89), false) AS INTEGER)
  + CAST(COALESCE(r.cpv_digits IN ('12345678', '12345555', '00000000'), false) AS INTEGER)
  + CAST(COALESCE(f.holder_is_buyer, false) AS INTEGER)
  + CAST(COALESCE(f.placeholder_holder, false) AS INTEGER)
    -- the word "test" in the buyer's name ("TEST APC") or in a holder's ("Gourp Test"): one
    -- signal each, as a real company may be called "TEST INGENIERIE"
  + CAST(regexp_matches(lower(COALESCE(r.raw_buyer_name, '')), '\\btest\\b') AS INTEGER)
  + CAST(r.record_key IN (SELECT record_key FROM record_holders
                          WHERE regexp_matches(lower(holder_name_raw), '\\btest\\b')) AS INTEGER)
)"""

#: Budget labels published instead of the buyer's name: "BUDGET PRINCIPAL", "BUDG.PRINC. …",
#: "EXERCICE BUDGÉTAIRE", "HAGUENAU BP", "VILLE DE DUNKERQUE - PRINCIPAL" (upper-cased first).
BUDGET_LABEL = "((^|[^A-Z])BUDG(ET|ÉT|\\.|\\s)|\\sBP$|-\\s*PRINCIPAL$)"
#: Characters XML 1.0 and spreadsheets refuse (see ``datasets.printable``), as a regex.
CONTROL = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]"
MOJIBAKE = "(\ufffd|Ã[©¨ª«¢§´®¯¹¼»®‰]|â€)"

RULES: list[Rule] = [
    # --- identity: without it a record cannot become a contract --------------------------------
    Rule(
        "ID_MISSING",
        BLOCKING,
        "id",
        "Identifiant du marché absent",
        "Sans identifiant, le marché ne peut pas être distingué des autres ni suivi dans le temps.",
        "Publiez l'identifiant interne du marché (champ « id »).",
        "r.id IS NULL",
        "r.raw_id",
        source="règles DAJ",
    ),
    Rule(
        "BUYER_ID_MISSING",
        BLOCKING,
        "acheteur.id",
        "SIRET de l'acheteur absent",
        "Sans SIRET de l'acheteur, on ne sait pas qui a passé le marché.",
        "Publiez le SIRET (14 chiffres) de l'acheteur ou de l'autorité concédante.",
        "r.buyer_siret IS NULL",
        "r.raw_buyer_id",
        source="règles DAJ",
    ),
    Rule(
        "BUYER_SIRET_FORMAT",
        BLOCKING,
        "acheteur.id",
        "SIRET de l'acheteur mal formé",
        "Le SIRET de l'acheteur ne fait pas 14 chiffres, ou n'est fait que de zéros ; l'identité "
        "du marché (SIRET + id) ne peut pas être établie.",
        "Corrigez le SIRET de l'acheteur à la source.",
        "r.buyer_siret IS NOT NULL AND (NOT regexp_full_match(r.buyer_siret, '\\d{14}') "
        "OR r.buyer_siret = '00000000000000')",
        "r.raw_buyer_id",
        source="règles DAJ",
    ),
    # The DAJ sets these records aside; we keep them (the contract exists, with its buyer, holders
    # and amount) and leave them out of every per-period figure, which their coverage shows.
    Rule(
        "DATES_MISSING",
        WARNING,
        "dateNotification",
        "Aucune date utilisable",
        "Ni la date de notification ni la date de publication ne sont utilisables : le marché est "
        "gardé mais n'est compté dans aucune année.",
        "Publiez la date de notification (AAAA-MM-JJ).",
        "r.notification_date IS NULL",
        "COALESCE(r.raw_notification_date, '') || ' / ' || COALESCE(r.raw_publication_date, '')",
        source="règles DAJ",
    ),
    Rule(
        "CPV_AND_OBJECT_MISSING",
        BLOCKING,
        "codeCPV",
        "Ni code CPV ni objet",
        "Sans code CPV ni objet, on ne sait pas ce qui a été acheté.",
        "Publiez l'objet et le code CPV du marché.",
        "r.kind = 'marche' AND NULLIF(trim(r.raw_cpv), '') IS NULL "
        "AND NULLIF(trim(r.raw_object), '') IS NULL",
        source="règles DAJ",
    ),
    Rule(
        "TEST_RECORD",
        BLOCKING,
        "enregistrement",
        "Enregistrement de test",
        "L'enregistrement porte plusieurs marques d'une donnée de test (acheteur fictif "
        "« Essentiel », objet « test… », mot « test » dans le nom de l'acheteur ou d'un "
        "titulaire, montant ou code CPV bidon, titulaire identique à l'acheteur…) : il n'est pas "
        "compté.",
        "Demandez à l'éditeur de la plateforme de retirer ses données de test du flux publié.",
        f"{TEST_SIGNALS} >= 2",
        "r.raw_object",
        source="decp-table-schema-utils",
    ),
    # --- identifiers ------------------------------------------------------------------------------
    Rule(
        "ID_CLEANED",
        REPAIRED,
        "id",
        "Identifiant nettoyé",
        "L'identifiant contenait des espaces, barres, points ou virgules, remplacés par « _ » "
        "pour former un identifiant stable.",
        "Rien à faire.",
        "r.id IS NOT NULL AND r.id <> r.raw_id",
        "r.raw_id",
        "r.id",
        source="decp-processing",
    ),
    Rule(
        "CONCESSION_ID_FORMAT",
        INFO,
        "id",
        "Identifiant de concession hors format",
        "L'identifiant d'un contrat de concession devrait suivre la forme année (4 chiffres), "
        "numéro interne (1 à 10 caractères), numéro d'ordre (2 chiffres).",
        "Rien à faire pour l'observatoire ; à signaler au producteur.",
        "r.kind = 'concession' AND r.id IS NOT NULL "
        "AND NOT regexp_full_match(r.raw_id, '\\d{4}[A-Z0-9]{1,10}\\d{2}')",
        "r.raw_id",
        source="règles DAJ",
    ),
    Rule(
        "ID_TOO_LONG",
        WARNING,
        "id",
        "Identifiant trop long",
        "L'identifiant dépasse les 16 caractères prévus par le format DECP.",
        "Vérifiez l'identifiant publié.",
        "length(r.id) > 16",
        "r.raw_id",
        "r.id",
        source="schéma DECP",
    ),
    Rule(
        "UID_MISMATCH",
        INFO,
        "uid",
        "uid publié différent de SIRET + id",
        "Le champ « uid » publié ne correspond pas au SIRET de l'acheteur suivi de l'identifiant ; "
        "l'observatoire utilise SIRET + id.",
        "Rien à faire.",
        "r.raw_uid IS NOT NULL AND r.uid IS NOT NULL AND r.raw_uid <> r.uid",
        "r.raw_uid",
        "r.uid",
    ),
    Rule(
        "BUYER_SIRET_WHITESPACE",
        REPAIRED,
        "acheteur.id",
        "Espaces retirés du SIRET acheteur",
        "Le SIRET de l'acheteur contenait des espaces ou tabulations, retirés.",
        "Rien à faire.",
        "r.buyer_siret <> r.raw_buyer_id",
        "r.raw_buyer_id",
        "r.buyer_siret",
        source="decp-processing",
    ),
    Rule(
        "BUYER_SIRET_CHECKSUM",
        WARNING,
        "acheteur.id",
        "SIRET de l'acheteur invalide",
        "Le SIRET de l'acheteur a 14 chiffres mais sa clé de contrôle (Luhn) est fausse : il "
        "contient probablement une faute de frappe.",
        "Vérifiez le SIRET dans l'annuaire SIRENE.",
        "NOT bc.valid",
        "r.raw_buyer_id",
    ),
    # --- names and text ----------------------------------------------------------------------------
    Rule(
        "TEXT_ENCODING",
        WARNING,
        "objet",
        "Caractères illisibles dans l'objet",
        "L'objet contient des caractères mal encodés (« � », « Ã© ») : le texte publié a été "
        "abîmé avant publication et ne peut pas être réparé de façon sûre.",
        "Republiez les données en UTF-8.",
        f"regexp_matches(r.raw_object, '{MOJIBAKE}')",
        "r.raw_object",
    ),
    Rule(
        "TEXT_ENCODING",
        WARNING,
        "acheteur.nom",
        "Caractères illisibles dans le nom de l'acheteur",
        "Le nom de l'acheteur contient des caractères mal encodés ; un autre nom publié pour le "
        "même SIRET est utilisé quand il existe.",
        "Republiez les données en UTF-8.",
        f"regexp_matches(r.raw_buyer_name, '{MOJIBAKE}')",
        "r.raw_buyer_name",
    ),
    Rule(
        "BUYER_NAME_BUDGET_LABEL",
        WARNING,
        "acheteur.nom",
        "Nom d'acheteur = libellé budgétaire",
        "Le nom publié est celui d'un budget (« BUDGET PRINCIPAL ») et non de l'organisme ; un "
        "autre nom publié pour le même SIRET est utilisé quand il existe.",
        "Publiez la dénomination de l'organisme acheteur.",
        f"regexp_matches(upper(r.raw_buyer_name), '{BUDGET_LABEL}')",
        "r.raw_buyer_name",
    ),
    *(Rule(
        "CONTROL_CHARACTERS",
        INFO,
        field,
        f"Caractères de contrôle dans {label}",
        f"{label[0].upper()}{label[1:]} contient des caractères de contrôle invisibles (U+0000 "
        "à U+001F hors tabulation et retours à la ligne) que le XML et les tableurs refusent : "
        "ils sont retirés des fichiers CSV et XLSX et du flux Atom ; la valeur publiée reste "
        "entière dans l'entrepôt et en JSON.",
        "Rien à faire pour l'observatoire ; à signaler au producteur.",
        f"regexp_matches({raw}, '{CONTROL}')",
        raw,
    ) for field, label, raw in (("objet", "l'objet", "r.raw_object"),
                                ("id", "l'identifiant", "r.raw_id"))),
    Rule(
        "OBJECT_MISSING",
        WARNING,
        "objet",
        "Objet absent",
        "Le marché n'a pas d'objet : on ne sait pas ce qu'il achète.",
        "Publiez l'objet.",
        "NULLIF(trim(r.raw_object), '') IS NULL AND NULLIF(trim(r.raw_cpv), '') IS NOT NULL "
        f"AND {present('raw_object')}",
    ),
    Rule(
        "OBJECT_TRUNCATED",
        INFO,
        "objet",
        "Objet peut-être tronqué",
        "L'objet a exactement la longueur maximale du format (256 ou 1 000 caractères) : il a "
        "probablement été coupé. La recherche plein texte peut le manquer.",
        "Rien à faire.",
        "length(r.raw_object) IN (256, 1000)",
        "r.raw_object",
    ),
    # --- dates ---------------------------------------------------------------------------------------
    *_date_rules(
        "dateNotification",
        "r.raw_notification_date",
        "r.notification_parsed",
        "Date de notification",
    ),
    *_date_rules(
        "datePublicationDonnees",
        "r.raw_publication_date",
        "r.publication_parsed",
        "Date de publication",
    ),
    Rule(
        "NOTIFICATION_FROM_PUBLICATION",
        REPAIRED,
        "dateNotification",
        "Date de notification absente : date de publication utilisée",
        "La date de notification manque ou est inutilisable ; la date de publication des données "
        "la remplace pour rattacher le marché à une année (règle de gestion de la DAJ).",
        "Publiez la date de notification.",
        "r.notification_date_source = 'publication'",
        "r.raw_notification_date",
        "CAST(r.notification_date AS VARCHAR)",
        source="règles DAJ",
    ),
    Rule(
        "PUBLICATION_BEFORE_NOTIFICATION",
        WARNING,
        "datePublicationDonnees",
        "Publication avant la notification",
        "Les données ont été publiées avant la notification du marché, ce qui est impossible : "
        "l'une des deux dates est fausse.",
        "Vérifiez les deux dates à la source.",
        "r.publication_date < r.notification_date_checked",
        "r.raw_publication_date || ' < ' || r.raw_notification_date",
    ),
    # --- enums --------------------------------------------------------------------------------------
    *_enum_rules(
        "procedure", "r.raw_procedure", "r.procedure", "Procédure", "r.procedure_obsolete"
    ),
    *_enum_rules("nature", "r.raw_nature", "r.nature", "Nature", "r.nature_obsolete"),
    *_enum_rules(
        "lieuExecution.typeCode",
        "r.raw_place_type",
        "r.place_type",
        "Type de code du lieu d'exécution",
        None,
    ),
    *_enum_rules("ccag", "r.raw_ccag", "r.ccag", "CCAG", None),
    *_enum_rules(
        "typeGroupementOperateurs", "r.raw_grouping", "r.grouping_type", "Type de groupement", None
    ),
    Rule(
        "ENUM_UNKNOWN",
        WARNING,
        "formePrix",
        "Forme du prix : valeur hors liste",
        "La forme du prix n'appartient à aucune liste officielle (2019 ou 2024).",
        "Corrigez la valeur à la source.",
        "NULLIF(trim(r.raw_price_form), '') IS NOT NULL AND r.price_form_canonical IS NULL "
        "AND r.price_type_2019 IS NULL",
        "r.raw_price_form",
    ),
    Rule(
        "PRICE_FORM_OLD_MEANING",
        REPAIRED,
        "formePrix",
        "Forme du prix au sens de 2019",
        "Dans un marché au format 2024, « formePrix » porte une valeur du format 2019 (Ferme, "
        "Révisable…) qui désigne en 2024 le type de prix ; elle est rangée dans le type de prix.",
        "Publiez le type de prix dans « typesPrix » et la forme (Unitaire, Forfaitaire, Mixte) "
        "dans « formePrix ».",
        "r.family = '2024' AND r.price_type_2019 IS NOT NULL",
        "r.raw_price_form",
        "r.price_type_2019",
        source="schéma DECP 2.0",
    ),
    # --- CPV ---------------------------------------------------------------------------------------
    Rule(
        "CPV_PADDED",
        REPAIRED,
        "codeCPV",
        "Code CPV complété d'un zéro initial",
        "Le code CPV avait 7 chiffres (zéro initial perdu, par exemple par un tableur) ; le zéro "
        "a été rétabli.",
        "Rien à faire.",
        "r.cpv_repair = 'padded'",
        "r.raw_cpv",
        "r.cpv",
        source="règles DAJ",
    ),
    Rule(
        "CPV_PADDED_RIGHT",
        REPAIRED,
        "codeCPV",
        "Code CPV complété d'un zéro final",
        "Le code CPV avait 7 chiffres et aucun code n'existe avec un zéro initial ; complété d'un "
        "zéro final, il forme un code valide de la nomenclature CPV 2008.",
        "Vérifiez le code CPV.",
        "r.cpv_repair = 'padded_right'",
        "r.raw_cpv",
        "r.cpv",
        source="decp-processing",
    ),
    Rule(
        "CPV_TRUNCATED",
        REPAIRED,
        "codeCPV",
        "Code CPV trop long, ramené à 8 chiffres",
        "Le code CPV avait plus de 8 chiffres ; ses 8 premiers chiffres forment un code valide.",
        "Vérifiez le code CPV.",
        "r.cpv_repair = 'truncated'",
        "r.raw_cpv",
        "r.cpv",
        source="decp-processing",
    ),
    Rule(
        "CPV_TO_DIVISION",
        REPAIRED,
        "codeCPV",
        "Code CPV inconnu remplacé par sa division",
        "Le code CPV n'existe pas dans la nomenclature CPV 2008 ; le code de sa division "
        "(2 premiers chiffres) est retenu.",
        "Corrigez le code CPV à la source.",
        "r.cpv_repair = 'division'",
        "r.raw_cpv",
        "r.cpv",
        source="règles DAJ",
    ),
    Rule(
        "CPV_CLEANED",
        REPAIRED,
        "codeCPV",
        "Code CPV nettoyé",
        "Le code CPV contenait des caractères parasites (lettres, espaces), retirés.",
        "Rien à faire.",
        "r.cpv IS NOT NULL AND split_part(trim(r.raw_cpv), '-', 1) <> r.cpv_digits",
        "r.raw_cpv",
        "r.cpv",
    ),
    Rule(
        "CPV_CHECK_DIGIT_WRONG",
        REPAIRED,
        "codeCPV",
        "Clé de contrôle du code CPV fausse",
        "Le code CPV existe mais la clé publiée après le tiret ne correspond pas à celle de la "
        "nomenclature CPV 2008 ; le code est gardé, la clé est ignorée.",
        "Vérifiez le code CPV (faute de frappe possible).",
        "r.cpv_repair IS NULL AND r.cpv_check_digit IS NOT NULL "
        "AND regexp_matches(trim(r.raw_cpv), '-\\d$') "
        "AND right(trim(r.raw_cpv), 1) <> r.cpv_check_digit",
        "r.raw_cpv",
        "r.cpv || '-' || r.cpv_check_digit",
        source="règles DAJ",
    ),
    Rule(
        "CPV_INVALID",
        WARNING,
        "codeCPV",
        "Code CPV invalide",
        "Le code CPV n'est pas un code de la nomenclature CPV 2008, même après réparation ; il est "
        "considéré comme inconnu.",
        "Corrigez le code CPV à la source.",
        "NULLIF(trim(r.raw_cpv), '') IS NOT NULL AND r.cpv IS NULL",
        "r.raw_cpv",
        source="règles DAJ",
    ),
    Rule(
        "CPV_MISSING",
        WARNING,
        "codeCPV",
        "Code CPV absent",
        "Le marché n'a pas de code CPV : son domaine d'achat est inconnu.",
        "Publiez le code CPV principal.",
        "r.kind = 'marche' AND NULLIF(trim(r.raw_cpv), '') IS NULL "
        f"AND NULLIF(trim(r.raw_object), '') IS NOT NULL AND {present('raw_cpv')}",
    ),
    # --- amounts -------------------------------------------------------------------------------------
    Rule(
        "AMOUNT_MISSING",
        WARNING,
        "montant",
        "Montant absent",
        "Le montant n'est pas publié : le marché est compté mais pas son montant.",
        "Publiez le montant HT (ou le maximum de l'accord-cadre).",
        f"r.amount_issue = 'missing' AND {present('raw_amount')}",
        source="règles DAJ",
    ),
    Rule(
        "AMOUNT_NOT_A_NUMBER",
        WARNING,
        "montant",
        "Montant illisible",
        "Le montant publié n'est pas un nombre ; il est considéré comme inconnu.",
        "Publiez un nombre (séparateur décimal « . »).",
        "r.amount_issue = 'not_a_number'",
        "r.raw_amount",
    ),
    Rule(
        "AMOUNT_ZERO",
        WARNING,
        "montant",
        "Montant nul",
        "Le montant vaut 0 (souvent un accord-cadre publié « sans montant ») ; il est considéré "
        "comme inconnu et n'entre pas dans les totaux.",
        "Publiez le montant estimé ou le maximum de l'accord-cadre.",
        "r.amount_issue = 'zero'",
        "r.raw_amount",
        source="règles DAJ",
    ),
    Rule(
        "AMOUNT_ABSURD",
        WARNING,
        "montant",
        "Montant inexploitable",
        "Le montant est inférieur à 1 € ou supérieur à 3 milliards d'euros : il est considéré comme "
        "inconnu et n'entre pas dans les totaux.",
        "Corrigez le montant à la source.",
        "r.amount_issue = 'absurd'",
        "r.raw_amount",
        source="règles DAJ",
    ),
    Rule(
        "AMOUNT_PLACEHOLDER",
        WARNING,
        "montant",
        "Montant fictif",
        "Le montant ressemble à une valeur de remplissage (999999, 123456789…, chiffres "
        "répétés) : il est considéré comme inconnu et n'entre pas dans les totaux.",
        "Publiez le montant réel.",
        "r.amount_issue = 'placeholder'",
        "r.raw_amount",
        source="règles DAJ",
    ),
    Rule(
        "AMOUNT_BELOW_THRESHOLD",
        INFO,
        "montant",
        "Montant sous le seuil de publication",
        "Le montant est inférieur au seuil de publication obligatoire (25 000 € HT jusqu'en "
        "2019, 40 000 € HT ensuite) : le marché est publié volontairement, les marchés de ce "
        "niveau ne sont pas tous connus.",
        "Rien à faire.",
        "r.amount IS NOT NULL AND r.amount < CASE WHEN year(r.notification_date) < 2020 "
        "THEN 25000 ELSE 40000 END",
        "r.raw_amount",
    ),
    # --- duration -----------------------------------------------------------------------------------
    Rule(
        "DURATION_MISSING",
        WARNING,
        "dureeMois",
        "Durée absente",
        "La durée du marché n'est pas publiée : sa date de fin ne peut pas être estimée.",
        "Publiez la durée en mois.",
        f"NULLIF(trim(r.raw_duration), '') IS NULL AND {present('raw_duration')}",
        source="règles DAJ",
    ),
    Rule(
        "DURATION_INVALID",
        WARNING,
        "dureeMois",
        "Durée inexploitable",
        "La durée n'est pas un nombre de mois plausible (texte comme « NC », zéro, négative ou "
        "plus de 100 ans) ; elle est considérée comme inconnue.",
        "Publiez la durée en mois (nombre entier ≥ 1).",
        "NULLIF(trim(r.raw_duration), '') IS NOT NULL AND r.duration_months IS NULL",
        "r.raw_duration",
        source="règles DAJ",
    ),
    Rule(
        "DURATION_LONG",
        WARNING,
        "dureeMois",
        "Durée très longue",
        "La durée dépasse 180 mois (15 ans) : c'est possible (concessions) mais souvent une "
        "erreur d'unité (jours au lieu de mois).",
        "Vérifiez la durée.",
        "r.duration_months > 180",
        "r.raw_duration",
        "CAST(r.duration_months AS VARCHAR)",
        source="règles DAJ",
    ),
    Rule(
        "DURATION_ROUNDED",
        REPAIRED,
        "dureeMois",
        "Durée arrondie au mois supérieur",
        "La durée n'était pas un nombre entier de mois ; elle est arrondie au mois supérieur "
        "comme le prévoit le format.",
        "Rien à faire.",
        "r.duration_months IS NOT NULL AND r.duration_value <> r.duration_months",
        "r.raw_duration",
        "CAST(r.duration_months AS VARCHAR)",
        source="schéma DECP",
    ),
    # --- place ---------------------------------------------------------------------------------------
    Rule(
        "PLACE_MISSING",
        WARNING,
        "lieuExecution.code",
        "Lieu d'exécution absent",
        "Le lieu d'exécution n'est pas publié.",
        "Publiez le code du lieu d'exécution.",
        f"r.kind = 'marche' AND NULLIF(trim(r.raw_place_code), '') IS NULL "
        f"AND {present('raw_place_code')}",
    ),
    Rule(
        "PLACE_POSTCODE_PADDED",
        REPAIRED,
        "lieuExecution.code",
        "Code postal complété",
        "Le code postal avait 4 chiffres (zéro initial perdu) ; le zéro a été rétabli.",
        "Rien à faire.",
        "r.place_type = 'Code postal' AND r.place_code <> upper(trim(r.raw_place_code))",
        "r.raw_place_code",
        "r.place_code",
    ),
    Rule(
        "PLACE_CODE_UNKNOWN",
        WARNING,
        "lieuExecution.code",
        "Code du lieu d'exécution inconnu",
        "Le code du lieu d'exécution ne correspond à aucun lieu connu pour le type indiqué "
        "(code postal, commune, département ou région) ; le lieu est considéré comme inconnu.",
        "Publiez un code INSEE ou un code postal valide et le bon type de code.",
        "r.place_code IS NOT NULL AND r.place_type IN ('Code postal', 'Code commune', "
        "'Code département', 'Code région') AND r.place_checked "
        "AND r.place_departement_code IS NULL "
        "AND r.place_region_code IS NULL",
        "COALESCE(r.raw_place_type, '') || ' ' || r.raw_place_code",
    ),
    # --- 2024 format ------------------------------------------------------------------------------
    Rule(
        "MANDATORY_2024_MISSING",
        WARNING,
        "format 2024",
        "Champs obligatoires absents (2024)",
        "Des champs obligatoires du format 2024 manquent ; les indicateurs qui en ont besoin "
        "compteront ce marché comme « non renseigné ».",
        "Complétez ces champs dans l'outil de publication.",
        f"r.family = '2024' AND r.kind = 'marche' AND {MANDATORY_2024} <> ''",
        MANDATORY_2024,
        source="schéma DECP 2.0",
    ),
    Rule(
        "ADVANCE_RATE_INVALID",
        WARNING,
        "tauxAvance",
        "Taux d'avance invalide",
        "Le taux d'avance doit être compris entre 0 et 1 (ex. 0,3 pour 30 %).",
        "Publiez le taux sous forme décimale.",
        "NULLIF(trim(r.raw_advance_rate), '') IS NOT NULL AND r.advance_rate IS NULL",
        "r.raw_advance_rate",
    ),
    Rule(
        "ORIGIN_INCONSISTENT",
        WARNING,
        "origineFrance",
        "Part d'origine France > part UE",
        "La part d'origine France ne peut pas dépasser la part d'origine UE, qui l'inclut.",
        "Vérifiez les deux parts.",
        "r.origin_fr_share > r.origin_eu_share",
        "r.raw_origin_fr || ' > ' || r.raw_origin_eu",
        source="schéma DECP 2.0",
    ),
    Rule(
        "STRUCTURE_DRIFT",
        INFO,
        "structure",
        "Structure inhabituelle lue",
        "L'enregistrement a une structure qui s'écarte du format (titulaires imbriqués, "
        "modifications en objet, « _type » incohérent, clé « acheteur.id » à plat, clé entourée "
        "d'espaces, caractère NUL retiré d'un identifiant…) ; il a été lu quand même. Une clé "
        "qu'aucun lecteur n'utilise et qui porte une valeur est nommée (« cle_non_lue:clé ») : "
        "sa valeur n'est pas reprise.",
        "Rien à faire ; signalez-le au producteur.",
        "len(r.notes) > 0",
        "array_to_string(r.notes, ', ')",
        source="decp-processing",
    ),
    # --- holders ---------------------------------------------------------------------------------
    Rule(
        "HOLDERS_MISSING",
        WARNING,
        "titulaires",
        "Aucun titulaire",
        "Le marché n'a pas de titulaire publié : on ne sait pas qui l'a remporté.",
        "Publiez le ou les titulaires.",
        "r.kind = 'marche' AND COALESCE(f.holder_count, 0) = 0",
        source="règles DAJ",
    ),
    Rule(
        "HOLDER_IS_BUYER",
        WARNING,
        "titulaires",
        "Titulaire identique à l'acheteur",
        "Le titulaire a le même SIREN que l'acheteur : c'est souvent une donnée de test ou une "
        "erreur de saisie.",
        "Vérifiez le titulaire.",
        "COALESCE(f.holder_is_buyer, false)",
        source="decp-table-schema-utils",
    ),
    Rule(
        "HOLDER_ID_MISSING",
        WARNING,
        "titulaire.id",
        "Identifiant du titulaire absent",
        "Un titulaire est publié sans identifiant.",
        "Publiez son SIRET.",
        "h.holder_id IS NULL",
        "h.holder_name_raw",
        over="holder",
    ),
    Rule(
        "HOLDER_SIRET_WHITESPACE",
        REPAIRED,
        "titulaire.id",
        "Espaces retirés du SIRET titulaire",
        "Le SIRET du titulaire contenait des espaces ou tabulations, retirés.",
        "Rien à faire.",
        "h.id_type = 'SIRET' AND h.holder_id <> h.holder_id_raw",
        "h.holder_id_raw",
        "h.holder_id",
        over="holder",
        source="decp-processing",
    ),
    Rule(
        "HOLDER_TYPE_INFERRED",
        REPAIRED,
        "titulaire.typeIdentifiant",
        "Type d'identifiant déduit (SIRET)",
        "Le type d'identifiant du titulaire manquait ; l'identifiant a 14 chiffres, c'est un SIRET.",
        "Rien à faire.",
        "NULLIF(trim(h.id_type_raw), '') IS NULL AND h.id_type = 'SIRET' "
        f"AND {present('holder_id_type')}",
        "h.id_type_raw",
        "h.id_type",
        over="holder",
        source="decp-processing",
    ),
    Rule(
        "HOLDER_TYPE_NORMALISED",
        REPAIRED,
        "titulaire.typeIdentifiant",
        "Type d'identifiant normalisé",
        "Le type d'identifiant du titulaire est une variante (« TVA_INTRACOMMUNAUTAIRE ») du "
        "libellé officiel, qui est retenu.",
        "Rien à faire.",
        "NULLIF(trim(h.id_type_raw), '') IS NOT NULL AND h.id_type IS NOT NULL "
        "AND h.id_type_raw <> h.id_type",
        "h.id_type_raw",
        "h.id_type",
        over="holder",
    ),
    Rule(
        "HOLDER_TYPE_UNKNOWN",
        WARNING,
        "titulaire.typeIdentifiant",
        "Type d'identifiant du titulaire inconnu",
        "Le type d'identifiant du titulaire n'est pas dans la liste officielle.",
        "Utilisez SIRET, TVA, TAHITI, RIDET, FRWF, IREP, UE ou HORS-UE.",
        "NULLIF(trim(h.id_type_raw), '') IS NOT NULL AND h.id_type IS NULL",
        "h.id_type_raw",
        over="holder",
    ),
    Rule(
        "HOLDER_SIRET_FORMAT",
        WARNING,
        "titulaire.id",
        "SIRET du titulaire mal formé",
        "Le titulaire est identifié par SIRET mais l'identifiant ne fait pas 14 chiffres (zéro "
        "perdu, SIREN seul…) : il ne peut pas être rapproché de SIRENE.",
        "Corrigez le SIRET du titulaire.",
        "h.id_type = 'SIRET' AND h.holder_id IS NOT NULL "
        "AND NOT regexp_full_match(h.holder_id, '\\d{14}')",
        "h.holder_id_raw",
        over="holder",
        source="règles DAJ",
    ),
    Rule(
        "HOLDER_ID_PLACEHOLDER",
        WARNING,
        "titulaire.id",
        "Identifiant du titulaire fictif",
        "L'identifiant du titulaire n'est fait que de zéros ou de chiffres qui se suivent "
        "(1234567890) : ce n'est pas un vrai identifiant, le titulaire ne peut pas être reconnu.",
        "Publiez le vrai SIRET du titulaire.",
        "regexp_full_match(COALESCE(h.holder_id, ''), '0+|1234567890|123456789|12345678900000')",
        "h.holder_id_raw",
        over="holder",
        source="decp-table-schema-utils",
    ),
    Rule(
        "HOLDER_SIRET_CHECKSUM",
        WARNING,
        "titulaire.id",
        "SIRET du titulaire invalide",
        "Le SIRET du titulaire a 14 chiffres mais sa clé de contrôle (Luhn) est fausse.",
        "Vérifiez le SIRET dans l'annuaire SIRENE.",
        "h.id_type = 'SIRET' AND NOT hc.valid",
        "h.holder_id_raw",
        over="holder",
    ),
    # --- versions and subcontracting (checked on the model) ------------------------------------
    Rule(
        "MODIFICATION_SAME_DAY",
        WARNING,
        "modifications",
        "Modification le jour même",
        "Une modification est notifiée le jour même de la notification du marché : c'est souvent "
        "une saisie de test ou une correction publiée comme modification.",
        "Vérifiez la modification.",
        "v.version_kind = 'modification' AND v.notification_date = v.contract_notification_date",
        "CAST(v.notification_date AS VARCHAR)",
        over="version",
    ),
    Rule(
        "MODIFICATION_DATE_MISSING",
        WARNING,
        "modifications",
        "Modification sans date",
        "Une modification n'a pas de date de notification : elle est placée après les autres.",
        "Publiez la date de notification de la modification.",
        "v.version > 0 AND v.notification_date IS NULL",
        over="version",
    ),
    Rule(
        "SUBCONTRACT_INCOMPLETE",
        WARNING,
        "actesSousTraitance",
        "Acte de sous-traitance incomplet",
        "L'acte de sous-traitance n'a pas de montant ou de date de notification ; les montants "
        "sous-traités sont sous-estimés.",
        "Complétez l'acte de sous-traitance.",
        "st.amount IS NULL OR st.notification_date IS NULL",
        "st.act_id",
        over="subcontract",
    ),
    Rule(
        "SUBCONTRACTOR_SIRET_INVALID",
        WARNING,
        "sousTraitant.id",
        "SIRET du sous-traitant invalide",
        "Le SIRET du sous-traitant n'a pas 14 chiffres ou sa clé de contrôle est fausse.",
        "Corrigez le SIRET du sous-traitant.",
        "st.id_type = 'SIRET' AND (NOT regexp_full_match(COALESCE(st.subcontractor_id, ''), '\\d{14}') "
        "OR NOT sc.valid)",
        "st.subcontractor_id",
        over="subcontract",
    ),
    # --- duplicates (checked when records are merged into contracts) ----------------------------
    Rule(
        "DUPLICATE_IN_SOURCE",
        INFO,
        "uid",
        "Doublon dans le même fichier",
        "Le même marché (même SIRET acheteur + id) est publié plusieurs fois dans ce fichier ; "
        "les publications sont fusionnées en un seul marché.",
        "Rien à faire.",
        "d.merge_reason = 'same_file'",
        "d.uid",
        over="duplicate",
        source="decp-processing",
    ),
    Rule(
        "DUPLICATE_ACROSS_SOURCES",
        INFO,
        "uid",
        "Marché publié par plusieurs sources",
        "Le même marché est publié par une autre source ; les publications sont fusionnées et "
        "toutes les provenances gardées.",
        "Rien à faire.",
        "d.merge_reason = 'other_file'",
        "d.uid",
        over="duplicate",
    ),
    Rule(
        "DUPLICATE_CONFLICT",
        WARNING,
        "uid",
        "Publications en désaccord",
        "Deux publications du même marché donnent des valeurs différentes. La publication la plus "
        "récente (date de publication), puis la plus complète, puis la première chargée, est "
        "retenue ; l'autre valeur est indiquée ici.",
        "Vérifiez laquelle est juste et corrigez l'autre source.",
        "d.conflict IS NOT NULL AND d.merge_reason IN ('same_file', 'other_file')",
        "d.conflict",
        over="duplicate",
    ),
]

# --- what one contract is: reused and placeholder ids, amendment amounts -----------------------
#: Ids that identify nothing (cleaned id, lower case, accents removed): records carrying one are
#: never merged on it (see model.contracts.IDENTITY).
PLACEHOLDER_ID = (
    "0+|1|x+|[-_]+|sans_?objet|s_o|neant|aucun|inconnu|n_?[acd]_?|null|none"
    "|non_(renseigne|communique)"
)
#: A modification whose amount would cut the amount in force by more than this share is read as a
#: delta (model.contracts.CONTRACT_VERSIONS).
DELTA_CUT = 0.8

RULES += [
    Rule(
        "ID_REUSED",
        WARNING,
        "id",
        "Identifiant réutilisé pour plusieurs marchés",
        "L'acheteur a publié sous un même identifiant plusieurs marchés différents (le plus "
        "souvent les lots d'une consultation) : titulaires différents, ou, le même jour dans le "
        "même fichier, montant ou code CPV différents ; pour une ligne de fichier consolidé, "
        "code CPV, procédure ou nombre d'offres différents. Chacun devient un marché distinct, "
        "identifié par l'uid publié suivi de « ~ » et d'une empreinte de son contenu ; l'uid "
        "publié reste la clé de la consultation.",
        "Publiez un identifiant distinct pour chaque lot (par exemple l'identifiant de la "
        "consultation suivi du numéro de lot).",
        "i.reason = 'reused_id'",
        "i.published_uid",
        "i.uid",
        over="identity",
        source="schéma DECP",
    ),
    Rule(
        "ID_PLACEHOLDER",
        WARNING,
        "id",
        "Identifiant fictif",
        "L'identifiant du marché est une valeur de remplissage (0, 1, « sans objet »…) : il ne "
        "permet pas de reconnaître le marché. Les enregistrements qui le portent ne sont pas "
        "fusionnés, sauf la même publication répétée (mêmes titulaires, montant, CPV, date et "
        "objet) ; chacun est identifié par l'uid publié suivi de « ~ » et d'une empreinte de son "
        "contenu.",
        "Publiez l'identifiant interne du marché.",
        "i.reason = 'placeholder_id'",
        "i.published_uid",
        "i.uid",
        over="identity",
    ),
    Rule(
        "MODIFICATION_AMOUNT_AS_DELTA",
        WARNING,
        "modifications.montant",
        "Montant de modification lu comme une variation",
        "Le montant d'une modification est le nouveau montant total du marché ; celui-ci le "
        f"réduirait de plus de {DELTA_CUT * 100:.0f} % (par rapport au plus grand montant publié avant "
        "lui), ce qu'une modification ne peut pas faire. Il est lu comme la variation apportée "
        "par l'avenant et ajouté au montant en vigueur ; le montant publié reste à côté.",
        "Publiez dans une modification le montant total du marché après l'avenant.",
        "v.amount_reading = 'delta'",
        "CAST(v.amount AS VARCHAR)",
        "CAST(v.amount_after AS VARCHAR)",
        over="version",
    ),
]

RULES_BY_ID: dict[str, Rule] = {}
for _rule in RULES:
    RULES_BY_ID.setdefault(_rule.id, _rule)
