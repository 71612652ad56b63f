"""The French names and meanings of the columns of the public files.

The downloads (``/donnees/`` and the explorer's selections) head their columns in French; the
data dictionary on ``/donnees/`` gives, for each, the French header, the identifier of the
warehouse column (what the API, the JSON files and SQL users see) and its meaning in French.
The warehouse's own dictionary (``model.dictionary``, in English for developers) stays the
reference for the tables; a test checks that every published column has its French entry here.
"""

from __future__ import annotations

from observatoire.model.dictionary import RAW_FIELDS

#: identifier → (French header, meaning), for the columns that mean the same in every table.
COLUMNS: dict[str, tuple[str, str]] = {
    # contracts
    "uid": ("Identifiant du marché",
            "Identité du marché : SIRET de l'acheteur suivi de son identifiant nettoyé."),
    "kind": ("Type de contrat", "« marche » (marché) ou « concession »."),
    "format_family": ("Format DECP",
                      "Format de la publication retenue : 2019 (schéma 1.x) ou 2024 (2.0.x)."),
    "buyer_siret": ("SIRET de l'acheteur",
                    "SIRET de l'acheteur ou de l'autorité concédante."),
    "buyer_name": ("Nom de l'acheteur", "Nom de l'acheteur le plus fiable publié."),
    "contract_id": ("Identifiant interne",
                    "Identifiant du marché chez l'acheteur, nettoyé (espaces, barres, points et "
                    "virgules remplacés par « _ »)."),
    "object": ("Objet", "Objet du marché, tel que publié."),
    "nature": ("Nature", "Nature, libellé normalisé (accord-cadre et marché subséquent 2019 → "
               "Marché)."),
    "is_framework_agreement": ("Accord-cadre",
                               "Accord-cadre (nature 2019 ou technique « Accord-cadre » 2024)."),
    "is_subsequent_contract": ("Marché subséquent",
                               "Marché passé en application d'un accord-cadre."),
    "framework_id": ("Identifiant de l'accord-cadre",
                     "idAccordCadre : identifiant de l'accord-cadre parent."),
    "procedure": ("Procédure", "Procédure de passation, libellé normalisé."),
    "cpv": ("Code CPV", "Code CPV principal, 8 chiffres sans clé, valide dans la CPV 2008 "
            "(réparé si besoin)."),
    "cpv_label": ("Libellé CPV", "Libellé français du code CPV."),
    "cpv_division": ("Division CPV", "Deux premiers chiffres du code CPV."),
    "purchase_category": ("Catégorie d'achat", "Travaux (CPV 45), Fournitures (03 à 44, 48) ou "
                          "Services (autres)."),
    "purchase_domain": ("Domaine d'achat", "Domaine d'achat du profil, déduit du code CPV."),
    "place_type": ("Type de lieu d'exécution", "Type du code du lieu d'exécution."),
    "place_code": ("Code du lieu d'exécution",
                   "Code du lieu d'exécution (codes postaux complétés à 5 chiffres)."),
    "place_departement_code": ("Département d'exécution",
                               "Département du lieu d'exécution (COG), quand il se déduit."),
    "place_region_code": ("Région d'exécution",
                          "Région du lieu d'exécution (COG), quand elle se déduit."),
    "location_commune_code": ("Commune du lieu retenu",
                              "Code commune (COG) du lieu le mieux connu du marché (voir « Base "
                              "du lieu retenu ») ; vide quand cette base ne donne pas la commune."),
    "location_departement_code": ("Département du lieu retenu",
                                  "Département du lieu le mieux connu du marché."),
    "location_region_code": ("Région du lieu retenu", "Région du lieu le mieux connu du marché."),
    "location_basis": ("Base du lieu retenu",
                       "D'où vient le lieu retenu : « execution_place » (lieu d'exécution, "
                       "quand son code se retrouve dans le code officiel géographique), sinon "
                       "« holder_establishment » (établissement du premier titulaire localisé : "
                       "SIRENE, ou département publié dans le fichier consolidé), sinon "
                       "« buyer_establishment » (établissement de l'acheteur : SIRENE, ou "
                       "département publié dans le fichier consolidé), sinon "
                       "« unknown » (inconnu)."),
    "notification_date": ("Date de notification",
                          "Date de notification (de signature pour les concessions) ; la date "
                          "de publication quand elle manque."),
    "notification_date_source": ("Origine de la date",
                                 "« notification » ou « publication » (voir ci-dessus)."),
    "notification_year": ("Année de notification",
                          "Année de la date de notification : la période des indicateurs."),
    "publication_date": ("Date de publication", "Date de publication des données."),
    "start_date": ("Début d'exécution", "Début d'exécution (concessions)."),
    "amount_initial": ("Montant initial (€ HT)",
                       "Montant à la notification ; vide quand il manque ou est inutilisable "
                       "(voir « Problème de montant »)."),
    "amount": ("Montant (€ HT)", "Montant actuel, après modifications."),
    "amount_issue": ("Problème de montant",
                     "Pourquoi le montant initial est vide ou douteux : missing (absent), "
                     "not_a_number (illisible), zero, absurd, placeholder (valeur de "
                     "remplissage)."),
    "duration_months_initial": ("Durée initiale (mois)",
                                "Durée à la notification, en mois."),
    "duration_months": ("Durée (mois)", "Durée actuelle après modifications, en mois."),
    "estimated_end_date": ("Fin estimée",
                           "Date de notification plus la durée actuelle."),
    "price_form": ("Forme du prix", "formePrix 2024 : Unitaire, Forfaitaire ou Mixte."),
    "price_types": ("Types de prix", "Types de prix (typesPrix 2024 ; formePrix 2019 "
                    "rapportée à eux)."),
    "techniques": ("Techniques d'achat", "Techniques 2024 (Accord-cadre, Concours…)."),
    "execution_modes": ("Modalités d'exécution",
                        "Modalités d'exécution 2024 (Tranches, Bons de commande…)."),
    "ccag": ("CCAG", "Cahier des clauses administratives générales de référence."),
    "offers_received": ("Offres reçues", "Nombre d'offres reçues."),
    "advance_granted": ("Avance accordée", "Une avance a été accordée."),
    "advance_rate": ("Taux d'avance", "Taux d'avance, de 0 à 1 ; vide quand il est inconnu."),
    "grouping_type": ("Groupement", "Type de groupement des titulaires (Conjoint, Solidaire, "
                      "Pas de groupement)."),
    "subcontracting_declared": ("Sous-traitance déclarée",
                                "Sous-traitance déclarée à l'attribution."),
    "is_innovative": ("Marché innovant", "Marché innovant."),
    "social_considerations": ("Considérations sociales",
                              "Considérations sociales 2024, telles que publiées."),
    "environmental_considerations": ("Considérations environnementales",
                                     "Considérations environnementales 2024, telles que "
                                     "publiées."),
    "has_social_consideration": ("Clause sociale", "Au moins une considération sociale ; vide "
                                 "quand l'information n'est pas publiée."),
    "has_environmental_consideration": ("Clause environnementale",
                                        "Au moins une considération environnementale ; vide "
                                        "quand l'information n'est pas publiée."),
    "origin_eu_share": ("Part d'origine UE", "Part d'origine européenne (0 à 1), pour les "
                        "produits que liste l'arrêté."),
    "origin_fr_share": ("Part d'origine France", "Part d'origine française (0 à 1)."),
    "public_subsidy": ("Subvention publique", "Subvention publique (concessions)."),
    "holder_count": ("Nombre de titulaires", "Nombre de titulaires actuels."),
    "holders": ("Titulaires", "Noms (ou identifiants) des titulaires actuels."),
    "holder_categories": ("Catégories des titulaires",
                          "Catégories d'entreprise SIRENE (PME, ETI, GE) des titulaires "
                          "actuels ; vide quand aucune n'est connue."),
    "holder_departements": ("Départements des titulaires",
                            "Départements des établissements des titulaires actuels (SIRENE)."),
    "modification_count": ("Nombre de modifications",
                           "Nombre de versions après la version initiale."),
    "record_count": ("Enregistrements fusionnés",
                     "Nombre d'enregistrements sources fusionnés dans ce marché."),
    "source_count": ("Nombre de sources", "Nombre de sources distinctes qui l'ont publié."),
    "sources": ("Sources", "Ces sources."),
    "primary_record_key": ("Enregistrement retenu",
                           "L'enregistrement source dont le marché porte les valeurs."),
    "corrected_fields": ("Champs corrigés",
                         "Champs DECP dont un gestionnaire a corrigé la valeur ; vide sinon."),
    "directorate_id": ("Direction", "Direction de l'organisation à laquelle revient le marché "
                       "(par son acheteur, sinon par son domaine d'achat) ; vide sinon."),
    "directorate_source": ("Origine de la direction",
                           "« buyer » (par l'acheteur) ou « domain » (par le domaine d'achat)."),
    # contract versions
    "version": ("Version", "Version du marché : 0 = initiale, puis 1, 2… dans l'ordre des "
                "notifications."),
    "version_kind": ("Type de version", "« initial », « modification » ou "
                     "« consolidated_version » (ligne d'un CSV consolidé)."),
    "record_key": ("Enregistrement source",
                   "Identité de l'enregistrement lu : « empreinte SHA-256 du fichier#position »."),
    "modification_id": ("Identifiant de la modification",
                        "Identifiant de la modification tel que publié (2024)."),
    "modification_object": ("Objet de la modification", "objetModification (2019)."),
    "amount_raw": ("Montant tel qu'écrit", "Le montant tel qu'il est écrit dans la source."),
    "duration_raw": ("Durée telle qu'écrite", "La durée telle qu'elle est écrite."),
    "changes_holders": ("Change les titulaires", "La version remplace la liste des titulaires."),
    "amount_after": ("Montant après (€ HT)", "Montant en vigueur après cette version."),
    "duration_months_after": ("Durée après (mois)", "Durée en vigueur après cette version."),
    "amount_reading": ("Lecture du montant",
                       "« total » : le montant publié est le nouveau montant du marché ; « delta » "
                       ": il baisserait le montant en vigueur de plus de 80 %, il est lu comme "
                       "l'augmentation que l'avenant ajoute."),
    "consultation_uid": ("Identifiant publié (consultation)",
                         "Identifiant tel que publié (SIRET de l'acheteur et identifiant) ; les "
                         "lots d'une consultation qui le partagent sont des marchés distincts."),
    "undated_count": ("Sans date", "Lignes de la population sans date de notification : "
                      "comptées dans « toutes » et « date inconnue », dans aucune année."),
    "unknown_low": ("Fourchette basse", "La part si toutes les valeurs inconnues étaient "
                    "« non »."),
    "unknown_high": ("Fourchette haute", "La part si toutes les valeurs inconnues étaient "
                     "« oui »."),
    "small_sample": ("Échantillon trop petit", "Moins de lignes connues que le minimum du "
                     "profil : ni valeur ni statut publiés."),
    "provisional": ("Provisoire", "Année en cours, ou année précédente avant la fin de la "
                    "fenêtre de publication de deux mois : la valeur peut encore changer."),
    "unknown_counts_as_no": ("Inconnu compté comme non", "Les lignes dont la condition est "
                             "inconnue restent au dénominateur comme « non » (taux légaux "
                             "Egalim) ; leur part est donnée par la couverture."),
    "published_name": ("Nom publié", "Nom le plus fréquent dans les publications (vide si "
                       "SIRENE interdit de le diffuser)."),
    "official_name": ("Nom officiel (SIRENE)", "Dénomination de l'unité légale dans SIRENE, "
                      "quand elle est connue."),
    "name_source": ("Source du nom", "« publication », « sirene » (le nom publié est illisible "
                    "ou absent) ou « non_diffusible » (personne que SIRENE interdit de nommer)."),
    "location_source": ("Source du lieu",
                        "« sirene » : l'adresse de l'établissement dans SIRENE ; « publication » "
                        ": le département et la région publiés avec le marché (SIRENE ne le "
                        "situe pas) ; vide : lieu inconnu."),
    # holders and suppliers
    "supplier_key": ("Clé du titulaire",
                     "Identité du titulaire : « type d'identifiant:identifiant », ou "
                     "« NOM:nom » sans identifiant publié."),
    "id_type": ("Type d'identifiant", "Type d'identifiant (SIRET, TVA, HORS-UE…)."),
    "holder_id": ("Identifiant du titulaire", "Identifiant, nettoyé."),
    "holder_name": ("Nom publié", "Nom tel que publié (format 2019 seulement)."),
    "is_current": ("Titulaire actuel", "Le titulaire est dans la dernière liste de titulaires."),
    "siret": ("SIRET", "SIRET, quand l'identifiant en est un."),
    "siren": ("SIREN", "SIREN (9 premiers chiffres du SIRET)."),
    "siret_is_valid": ("SIRET valide", "Le SIRET passe le contrôle de Luhn (vide si ce n'est "
                       "pas un SIRET)."),
    "category": ("Catégorie d'entreprise", "Catégorie SIRENE : PME, ETI ou GE (vide si "
                 "inconnue)."),
    "postal_code": ("Code postal", "Code postal de l'établissement (SIRENE)."),
    "commune_code": ("Code commune", "Code commune INSEE de l'établissement (SIRENE)."),
    "naf_code": ("Code NAF", "Activité principale (NAF)."),
    "commune_name": ("Commune", "Commune (COG)."),
    "departement_code": ("Département", "Département (COG)."),
    "region_code": ("Région", "Région (COG)."),
    # buyers
    "buyer_siren": ("SIREN de l'acheteur", "SIREN (9 premiers chiffres du SIRET)."),
    "name": ("Nom", "Nom publié le plus fiable : lisible, pas un libellé budgétaire, le plus "
             "fréquent."),
    "name_is_reliable": ("Nom fiable", "Le nom n'est ni abîmé ni un libellé budgétaire."),
    "siret_checksum_invalid": ("SIRET invalide", "Le SIRET échoue au contrôle de Luhn."),
    "contract_count": ("Nombre de marchés", "Marchés."),
    "amount_total": ("Montant total (€ HT)", "Somme des montants actuels des marchés."),
    "first_notification_date": ("Première notification", "Première notification."),
    "last_notification_date": ("Dernière notification", "Dernière notification."),
    # indicator results
    "indicator_id": ("Indicateur", "Identifiant de l'indicateur."),
    "code": ("Code", "Code de référence (A01…G09)."),
    "period": ("Période", "Année de notification, ou « toutes » pour toutes les années."),
    "period_year": ("Année", "L'année (vide pour « toutes »)."),
    "breakdown": ("Ventilation", "« total » (tout le périmètre) ou la ventilation (acheteur, "
                  "mandat, domaine d'achat, procédure, division CPV, catégorie ou département "
                  "du titulaire, source…)."),
    "breakdown_value": ("Valeur de ventilation", "Valeur de la ventilation (un SIRET, un "
                        "domaine, un département…) ; vide : le groupe dont la valeur est "
                        "inconnue."),
    "breakdown_label": ("Libellé de ventilation", "Nom lisible de cette valeur, s'il existe."),
    "category_label": ("Libellé de catégorie", "Nom lisible de la catégorie."),
    "basis": ("Base", "count (nombre), value (montant HT), mean, median, sum, distinct ou "
              "ratio."),
    "numerator": ("Numérateur", "Numérateur (nombre ou euros) sur les lignes dont les champs "
                  "nécessaires sont connus."),
    "denominator": ("Dénominateur", "Dénominateur sur les mêmes lignes (vide pour les "
                    "nombres, sommes et médianes)."),
    "value": ("Valeur", "La valeur : une fraction de 0 à 1 pour les pourcentages, sinon dans "
              "l'unité de l'indicateur."),
    "known_count": ("Lignes connues", "Lignes dont les champs nécessaires sont connus (elles "
                    "font la valeur)."),
    "coverage": ("Couverture", "Lignes connues / population : la part de la population dont "
                 "la valeur parle."),
    "target_value": ("Cible", "Cible en vigueur pour la période (une fraction pour les "
                     "pourcentages)."),
    "target_comparator": ("Comparaison à la cible", "Comment la valeur se compare à la cible "
                          "(>=, >, <=, <)."),
    "target_date": ("Échéance de la cible", "Échéance de la cible."),
    "target_source": ("Source de la cible", "Document qui fixe la cible."),
    "status": ("État", "met (atteinte), not_met (non atteinte), on_track (en bonne voie), "
               "insufficient_data (données insuffisantes), unavailable (source pas encore "
               "collectée) ; vide sans cible."),
    # findings
    "finding_id": ("Identifiant du constat", "Identité stable : empreinte de l'enregistrement, "
                   "de la règle, du champ et des valeurs."),
    "rule_id": ("Règle", "Règle de qualité (voir la page Qualité)."),
    "severity": ("Gravité", "bloquant, avertissement, correction ou information."),
    "field": ("Champ", "Champ DECP concerné."),
    "file_hash": ("Empreinte du fichier", "SHA-256 du fichier source déposé."),
    "position": ("Position", "Position de l'enregistrement dans le fichier (à partir de 1)."),
    "line": ("Ligne", "Ligne de l'enregistrement dans le fichier, quand elle est connue."),
    "load_id": ("Chargement", "Le chargement qui a apporté le fichier."),
    "file_name": ("Fichier", "Nom du fichier source."),
    "raw_value": ("Valeur publiée", "La valeur telle qu'elle est écrite."),
    "follow_key": ("Clé de suivi", "Ce qui suit le constat d'une construction à l'autre "
                   "(empreinte du marché, de la règle, du champ et de la valeur écrite)."),
    # source records
    "source": ("Source", "Nom de la source donné au dépôt."),
    "family": ("Famille de format", "Famille de format DECP (2019/2024)."),
    "reasons": ("Motifs", "Écarté : les règles bloquantes, et EXCLUDED_BY_STEWARD pour un "
                "marché exclu par un gestionnaire. Doublon : same_file, other_file, holder_row "
                "ou version_row."),
    "structure_notes": ("Structures inhabituelles",
                        "Structures inhabituelles rencontrées à la lecture de l'enregistrement."),
}

#: (table, identifier) → (French header, meaning), where a column means something else there.
BY_TABLE: dict[tuple[str, str], tuple[str, str]] = {
    ("contract_versions", "notification_date"): (
        "Date de notification", "Date de notification (ou de signature) de la version."),
    ("contract_versions", "publication_date"): (
        "Date de publication", "Date de publication de la version."),
    ("contract_versions", "amount"): (
        "Montant (€ HT)", "Montant fixé par cette version (vide si elle ne le change pas)."),
    ("contract_versions", "duration_months"): (
        "Durée (mois)", "Durée fixée par cette version (vide si elle ne la change pas)."),
    ("contract_holders", "version"): ("Version", "Version qui liste ce titulaire."),
    ("suppliers", "name"): ("Nom", "Nom publié le plus fréquent."),
    ("suppliers", "contract_count"): ("Nombre de marchés", "Marchés tenus."),
    ("indicator_results", "version"): (
        "Version de la définition", "Version de la définition avec laquelle la valeur est "
        "calculée."),
    ("indicator_results", "category"): (
        "Catégorie", "Répartitions seulement : la catégorie dont la ligne donne la part."),
    ("indicator_results", "record_count"): (
        "Population", "Lignes de la population (marchés, titulaires, actes ou "
        "enregistrements)."),
    ("findings", "value"): ("Valeur retenue", "La valeur retenue (réparée), s'il y en a une."),
    ("findings", "uid"): ("Identifiant du marché", "Marché concerné (vide s'il n'y en a pas)."),
    ("findings", "directorate_id"): ("Direction", "Direction du marché du constat."),
    ("source_records", "status"): (
        "État", "« kept » (gardé), « duplicate » (doublon fusionné) ou « set_aside » (écarté)."),
    ("source_records", "uid"): (
        "Identifiant du marché", "Marché auquel l'enregistrement a abouti (vide sans "
        "identité)."),
    # the payment lines of the « Dépenses » explorer and its downloads (spending.COLUMNS)
    ("payments", "payment_key"): (
        "Identifiant de la ligne", "Identité de la ligne de paiement (empreinte de l'acheteur, "
        "du budget, de l'exercice, du mandat et de la ligne)."),
    ("payments", "buyer_id"): ("SIRET de l'acheteur", "SIRET de l'acheteur (vide pour les "
                               "flux de l'État, Chorus, qui ne le donnent pas)."),
    ("payments", "fiscal_year"): ("Exercice", "Exercice budgétaire du mandat."),
    ("payments", "mandate_date"): ("Date du mandat", "Date d'émission du bordereau du mandat."),
    ("payments", "piece_id"): ("Mandat", "Numéro du mandat (pièce) dans l'exercice."),
    ("payments", "line_id"): ("Ligne", "Numéro de la ligne dans le mandat."),
    ("payments", "kind"): (
        "Type de paiement", "avance, acompte (sur marché), dernier_acompte, retenue "
        "(libération de la retenue de garantie), interets (intérêts moratoires et "
        "indemnités), annulation, paiement (hors marché ou sans nature)."),
    ("payments", "piece_nature"): ("Nature de la pièce (code)", "Nature de la pièce PES "
                                   "(NatPce) telle que publiée."),
    ("payments", "object"): ("Objet", "Objet de la pièce ; vide pour une personne physique."),
    ("payments", "supplier_siret"): ("SIRET du fournisseur", "SIRET du fournisseur ; jamais "
                                     "donné pour une personne physique."),
    ("payments", "supplier_name"): (
        "Fournisseur", "Nom du fournisseur ; « Personne physique (nom masqué) » ou « Nom non "
        "diffusible (SIRENE) » quand il ne peut pas être publié."),
    ("payments", "supplier_masked"): ("Nom masqué", "Le nom du fournisseur est masqué."),
    ("payments", "amount_ht"): ("Montant de la ligne (€ HT)", "Montant HT de la ligne, tel "
                                "que publié (positif pour une annulation aussi)."),
    ("payments", "signed_amount_ht"): ("Montant signé (€ HT)", "Montant HT, négatif pour une "
                                       "annulation ou réduction."),
    ("payments", "net_amount_ht"): (
        "Montant net payé (€ HT)", "Montant HT moins ce que les annulations en retirent ; 0 "
        "pour une annulation (son effet est sur la ligne qu'elle annule)."),
    ("payments", "payment_date"): ("Date de paiement", "Dernière date de paiement de la ligne "
                                   "(retour du comptable)."),
    ("payments", "payment_delay_days"): (
        "Délai de paiement (jours)", "De la réception de la facture au paiement, suspensions "
        "déduites ; vide quand une date manque."),
    ("payments", "late_days"): ("Jours de retard", "Jours au-delà du délai légal (30 jours, "
                                "50 pour les établissements de santé)."),
    ("payments", "contract_uid"): ("Identifiant du marché", "Marché payé ; vide : hors "
                                   "marché."),
    ("payments", "contract_ref"): ("Numéro de marché de la ligne", "Numéro de marché donné "
                                   "par la ligne (IdMarche)."),
    ("payments", "link_method"): (
        "Méthode de rattachement", "contract_number, finance_contract_number, commitment ou "
        "buyer_supplier_dates ; vide quand la ligne n'est rattachée à aucun marché."),
    ("payments", "link_confidence"): ("Confiance du rattachement", "high, medium ou low."),
    ("payments", "source"): ("Source", "pes, pes_simule (jeu PES déclaré simulé : "
                             "démonstration, aucun paiement réel), chorus, export, ou simule "
                             "(autre flux déclaré simulé)."),
    ("payments", "file_name"): ("Fichier", "Fichier comptable d'où vient la ligne."),
}


def french(table: str, column: str) -> tuple[str, str]:
    """The French header and meaning of a published column; raw values are named after the
    DECP field they hold."""
    if (table, column) in BY_TABLE:
        return BY_TABLE[(table, column)]
    if column in COLUMNS:
        return COLUMNS[column]
    if column in RAW_FIELDS:
        source = RAW_FIELDS[column].split(" (")[0]
        return (f"Brut : {source}", f"Valeur brute publiée du champ « {RAW_FIELDS[column]} ».")
    raise KeyError(f"{table}.{column} has no French header (observatoire.public_columns)")


def header(table: str, column: str) -> str:
    """The French header of a column of a public file."""
    return french(table, column)[0]
