"""The data dictionary of the warehouse: every table and column, documented from the code.

A test checks that this dictionary and a real build have exactly the same tables and columns, and
that ``docs/data-dictionary.md`` is the current output of :func:`markdown`.
"""

from __future__ import annotations

from observatoire.egalim.dictionary import TABLES as EGALIM_TABLES
from observatoire.indicators.dictionary import TABLES as INDICATOR_TABLES
from observatoire.model.payment_dictionary import PAYMENT_TABLES
from observatoire.quality.rules import DELTA_CUT

#: staging raw column -> the source field it holds (DECP JSON path or CSV column)
RAW_FIELDS = {
    "raw_type": "_type",
    "raw_source": "source (2019 files)",
    "raw_uid": "uid",
    "raw_id": "id",
    "raw_buyer_id": "acheteur.id / autoriteConcedante.id",
    "raw_buyer_name": "acheteur.nom / autoriteConcedante.nom (2019 only)",
    "raw_nature": "nature",
    "raw_object": "objet",
    "raw_cpv": "codeCPV",
    "raw_procedure": "procedure",
    "raw_place_code": "lieuExecution.code",
    "raw_place_type": "lieuExecution.typeCode",
    "raw_place_name": "lieuExecution.nom",
    "raw_duration": "dureeMois",
    "raw_notification_date": "dateNotification (dateSignature for concessions)",
    "raw_publication_date": "datePublicationDonnees",
    "raw_amount": "montant (valeurGlobale for concessions)",
    "raw_price_form": "formePrix",
    "raw_framework_id": "idAccordCadre",
    "raw_innovative": "marcheInnovant",
    "raw_ccag": "ccag",
    "raw_offers": "offresRecues",
    "raw_advance_granted": "attributionAvance",
    "raw_advance_rate": "tauxAvance",
    "raw_grouping": "typeGroupementOperateurs",
    "raw_subcontracting_declared": "sousTraitanceDeclaree",
    "raw_origin_eu": "origineUE",
    "raw_origin_fr": "origineFrance",
    "raw_signature_date": "dateSignature",
    "raw_start_date": "dateDebutExecution",
    "raw_subsidy": "montantSubventionPublique",
    "raw_version": "modification_id (consolidated CSV)",
    "raw_holder_departement": "titulaire_departement_code (consolidated CSV)",
    "raw_holder_region": "titulaire_region_code (consolidated CSV)",
    "raw_buyer_departement": "acheteur_departement_code (consolidated CSV)",
    "raw_buyer_region": "acheteur_region_code (consolidated CSV)",
    "raw_techniques": "techniques.technique[]",
    "raw_execution_modes": "modalitesExecution.modaliteExecution[]",
    "raw_price_types": "typesPrix.typePrix[]",
    "raw_social": "considerationsSociales.considerationSociale[]",
    "raw_environmental": "considerationsEnvironnementales.considerationEnvironnementale[]",
}

PROVENANCE = {
    "record_key": "Identity of the input record: `<file sha256>#<position>`.",
    "file_hash": "SHA-256 of the landed source file (its name in the landing area).",
    "position": "1-based position of the record in the file (JSON/XML record order, CSV data row).",
    "line": "Line of the record in the file where known (XML element start, CSV row).",
    "load_id": "The load (see `loads`) that brought the file.",
}

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "contracts": (
        "One row per contract (`uid`), in its current state: the primary publication's values, "
        "with amount and duration after every modification applied in date order. Amounts are "
        "euros HT and belong to the contract, never to a holder: do not sum them over holders.",
        {
            "uid": "Contract identity: buyer SIRET + cleaned id; for the lots of an id reused "
            "for several contracts, and for placeholder ids, that uid + `~` + the first 8 hex "
            "digits of the MD5 of the contract's signature (ID_REUSED, ID_PLACEHOLDER).",
            "consultation_uid": "The published uid (buyer SIRET + cleaned id): the consultation "
            "key that the lots of a reused id share; equal to `uid` for every other contract.",
            "kind": "`marche` or `concession`.",
            "format_family": "DECP format of the primary record: `2019` (schema 1.x) or `2024` (2.0.x).",
            "buyer_siret": "SIRET of the buyer (acheteur) or granting authority (autorité concédante).",
            "contract_id": "The buyer's own id of the contract, cleaned (`[ ,./\\]` → `_`).",
            "object": "Object (objet) as published.",
            "nature": "Nature, canonical label (2019 Accord-cadre / Marché subséquent → Marché).",
            "is_framework_agreement": "Framework agreement (2019 nature or 2024 technique Accord-cadre).",
            "is_subsequent_contract": "Contract awarded under a framework agreement.",
            "framework_id": "idAccordCadre: id of the parent framework agreement.",
            "procedure": "Award procedure, canonical label (obsolete labels mapped).",
            "cpv": "Main CPV code, 8 digits without check digit, valid in CPV 2008 (repaired if needed).",
            "cpv_label": "French label of the CPV code.",
            "cpv_division": "First two digits of the CPV code.",
            "purchase_category": "Travaux (CPV 45), Fournitures (03–44, 48) or Services (others).",
            "place_type": "Type of the place-of-execution code (canonical).",
            "place_code": "Place-of-execution code (postal codes padded to 5 digits).",
            "place_departement_code": "Département of the place of execution (COG), when resolvable.",
            "place_region_code": "Région of the place of execution (COG), when resolvable.",
            "location_commune_code": "Commune (COG code) of the contract's best known place "
            "(`location_basis`); NULL when that basis gives no commune (a postal code or a "
            "département of execution, a holder placed by the consolidated CSV only).",
            "location_departement_code": "Département of the best known place.",
            "location_region_code": "Région of the best known place.",
            "location_basis": "Where the best known place comes from: `execution_place` (the "
            "place of execution, when the COG resolves its code), else `holder_establishment` "
            "(the first current holder whose establishment is placed: SIRENE, else the "
            "département and région the consolidated CSV publishes), else "
            "`buyer_establishment` (the buyer's SIRENE establishment, else the département and "
            "région the consolidated CSV publishes for it: `buyers.location_source`), else "
            "`unknown`.",
            "notification_date": "Notification date (signature date for concessions); the "
            "publication date when the notification date is missing.",
            "notification_date_source": "`notification` or `publication` (see above).",
            "notification_year": "Year of `notification_date`: the default period of indicators.",
            "publication_date": "Date the data was published (datePublicationDonnees).",
            "start_date": "Start of execution (concessions).",
            "amount_initial": "Amount at notification; NULL when missing or unusable (see amount_issue).",
            "amount": "Current amount, after modifications (last known value).",
            "amount_issue": "Why the initial amount is NULL or doubtful: missing, not_a_number, "
            "zero, absurd, placeholder.",
            "duration_months_initial": "Duration at notification, in months.",
            "duration_months": "Current duration after modifications, in months.",
            "estimated_end_date": "notification_date + current duration.",
            "price_form": "2024 formePrix: Unitaire, Forfaitaire or Mixte.",
            "price_types": "Price types (2024 typesPrix; 2019 formePrix mapped to them).",
            "techniques": "2024 techniques (Accord-cadre, Concours…).",
            "execution_modes": "2024 modalitesExecution (Tranches, Bons de commande…).",
            "ccag": "General administrative terms (CCAG) of reference.",
            "offers_received": "Number of offers received.",
            "advance_granted": "An advance payment was granted (attributionAvance).",
            "advance_rate": "Advance rate, 0–1; NULL when unknown (a published 0 with an advance "
            "granted means an unknown rate).",
            "grouping_type": "Type of holders' grouping (Conjoint, Solidaire, Pas de groupement).",
            "subcontracting_declared": "Subcontracting declared at award.",
            "is_innovative": "Innovative contract (marcheInnovant).",
            "social_considerations": "2024 social considerations as published.",
            "environmental_considerations": "2024 environmental considerations as published.",
            "has_social_consideration": "At least one social consideration; NULL when not published.",
            "has_environmental_consideration": "At least one environmental consideration; NULL when "
            "not published.",
            "origin_eu_share": "Share of EU origin (0–1), for the goods listed by the arrêté.",
            "origin_fr_share": "Share of French origin (0–1).",
            "public_subsidy": "Public subsidy (concessions).",
            "holder_count": "Number of current holders.",
            "holder_categories": "Company categories (PME, ETI, GE; SIRENE) of the current "
            "holders, sorted, without duplicates; empty when none is known.",
            "holder_departements": "Départements of the current holders' establishments "
            "(SIRENE), sorted, without duplicates.",
            "modification_count": "Number of versions after the initial one.",
            "record_count": "Number of input records merged into this contract.",
            "source_count": "Number of distinct sources that published it.",
            "sources": "Those sources.",
            "primary_record_key": "The input record whose values the contract carries.",
            "corrected_fields": "DECP fields whose value a steward corrected (see "
            "`corrections_applied`); empty when none.",
            "directorate_id": "Directorate (direction) of the organisation that owns the "
            "contract (see `profile_directorates`): the one listing its buyer, else the one "
            "owning its purchase domain (profile prefixes and decided mappings); NULL when "
            "none does or the profile defines no directorate. Derived from the profile until "
            "a purchasing-system export carries `direction_operationnelle`.",
            "directorate_source": "How the directorate was found: `buyer` (a buyer rule) or "
            "`domain` (the purchase domain); NULL without a directorate.",
        },
    ),
    "contract_versions": (
        "Every version of every contract: the initial one (0) and each modification, in date "
        "order, with the amount and duration in force after it.",
        {
            "uid": "Contract.",
            "version": "0 = initial, then 1, 2… in notification order.",
            "version_kind": "`initial`, `modification`, or `consolidated_version` (a version row "
            "of a consolidated CSV).",
            "record_key": "Input record the version comes from.",
            "modification_id": "Modification id as published (2024).",
            "modification_object": "objetModification (2019).",
            "notification_date": "Notification (or signature) date of the version.",
            "publication_date": "Publication date of the version.",
            "amount": "Amount published by this version (NULL if it does not change it): the "
            "new total, or a delta (see `amount_reading`).",
            "amount_raw": "The amount as written.",
            "duration_months": "Duration set by this version.",
            "duration_raw": "As written.",
            "changes_holders": "The version replaces the list of holders.",
            "amount_reading": "How `amount` is read: `total` (the new amount in force) or "
            f"`delta` (a modification that would cut the amount in force by more than "
            f"{DELTA_CUT * 100:.0f} %, added to it instead: MODIFICATION_AMOUNT_AS_DELTA); NULL "
            "without amount.",
            "amount_after": "Amount in force after this version.",
            "duration_months_after": "Duration in force after this version.",
        },
    ),
    "contract_holders": (
        "Holders (titulaires, concessionnaires) of each contract: the initial ones and those set "
        "by modifications. Carries no amount, on purpose.",
        {
            "uid": "Contract.",
            "supplier_key": "Supplier identity: `<id type>:<id>` (see suppliers).",
            "id_type": "Identifier type (SIRET, TVA, HORS-UE…).",
            "holder_id": "Identifier, cleaned.",
            "holder_name": "Name as published (2019 only); NULL for a holder SIRENE marks as not "
            "diffusible.",
            "version": "Version that lists this holder.",
            "is_current": "Holder in the latest list of holders.",
        },
    ),
    "subcontracts": (
        "Subcontracting acts declared (2024 format).",
        {
            "uid": "Contract.",
            "record_key": "Input record.",
            "act_id": "Act id as published.",
            "id_type": "Subcontractor identifier type.",
            "subcontractor_id": "Subcontractor id.",
            "amount": "Amount subcontracted (HT).",
            "amount_raw": "As written.",
            "duration_months": "Duration.",
            "notification_date": "Notification date.",
            "publication_date": "Publication date.",
            "price_variation": "Price variation clause.",
        },
    ),
    "concession_execution": (
        "Yearly execution data of concessions (donneesExecution): investment spending and the "
        "tariffs charged to users, one row per published year.",
        {
            "uid": "Contract (a concession).",
            "record_key": "Input record the data comes from.",
            "publication_date": "datePublicationDonneesExecution.",
            "publication_date_raw": "As written.",
            "investment_spending": "depensesInvestissement (euros HT).",
            "investment_raw": "As written.",
            "tariffs": "Tariffs: label (intituleTarif), tariff (euros), tariff_raw (as written).",
        },
    ),
    "buyers": (
        "Buyers (acheteurs and autorités concédantes) with at least one contract.",
        {
            "buyer_siret": "SIRET.",
            "buyer_siren": "SIREN (first 9 digits).",
            "name": "Name shown: the best published name (readable, not a budget label, most "
            "frequent), or the SIRENE official name when the published one is garbled, a budget "
            "label or missing and SIRENE has it (`name_source`).",
            "name_is_reliable": "The published name is neither garbled nor a budget label.",
            "siret_checksum_invalid": "The SIRET fails the Luhn check.",
            "contract_count": "Contracts.",
            "amount_total": "Sum of contracts' current amounts (exact to the cent).",
            "first_notification_date": "First notification.",
            "last_notification_date": "Last notification.",
            "commune_code": "INSEE commune of the buyer's SIRENE establishment (NULL when SIRENE "
            "does not place it).",
            "departement_code": "Département: of the SIRENE establishment's commune (COG), else "
            "the one consolidated CSV rows publish for the buyer (most frequent).",
            "region_code": "Région, from the same source as the département.",
            "location_source": "`sirene` or `publication` (as for the suppliers); NULL when the "
            "buyer is not placed.",
            "published_name": "Best published name, as published (kept beside an official one).",
            "official_name": "Name of the legal unit in SIRENE (`denominationUniteLegale`), "
            "NULL when the reference data has none.",
            "name_source": "`publication` or `sirene`: where `name` comes from.",
        },
    ),
    "suppliers": (
        "Suppliers (holders) with SIRENE enrichment where the SIRET is known.",
        {
            "supplier_key": "`<id type>:<id>`, or `NOM:<name>` when no id is published.",
            "id_type": "Identifier type.",
            "holder_id": "Identifier.",
            "siret": "SIRET when the identifier is one.",
            "siren": "SIREN: the SIRET's first 9 digits, or the identifier itself when the "
            "holder was published by its SIREN alone (9 digits, typed SIRET or untyped).",
            "name": "Name shown: the most frequent published name, or the SIRENE official name "
            "when the published one is garbled or missing; NULL for a holder SIRENE marks as not "
            "diffusible (a natural person).",
            "siret_is_valid": "SIRET passes the Luhn check (NULL when not a SIRET).",
            "category": "SIRENE company category of the SIREN: PME, ETI or GE (NULL when "
            "unknown).",
            "postal_code": "Establishment postal code (SIRENE).",
            "commune_code": "Establishment INSEE commune code (SIRENE).",
            "naf_code": "Main activity (NAF).",
            "commune_name": "Commune (COG).",
            "departement_code": "Département: of the SIRENE establishment's commune (COG), "
            "else as consolidated CSV rows publish it for the holder (see `location_source`).",
            "region_code": "Région, from the same source as the département.",
            "location_source": "Where département and région come from: `sirene` (the "
            "establishment's commune), `publication` (the holder's place published by a "
            "consolidated CSV, most frequent value), NULL when unknown.",
            "contract_count": "Contracts held.",
            "published_name": "Most frequent published name (NULL when not diffusible).",
            "official_name": "Name of the legal unit in SIRENE (NULL when unknown or not "
            "diffusible).",
            "name_source": "`publication`, `sirene`, or `non_diffusible` (SIRENE forbids "
            "publishing the name: shown and found by identifier only).",
        },
    ),
    "search_names": (
        "One row per buyer and supplier, to find them by name: a normalised key (lower case, no "
        "accents, œ/æ spelled out) that queries normalised the same way are looked up in.",
        {
            "kind": "`buyer` or `supplier`.",
            "key": "`buyers.buyer_siret` or `suppliers.supplier_key`.",
            "identifier": "SIRET, or the published identifier.",
            "name": "Name shown (as in `buyers` / `suppliers`).",
            "published_name": "Published name (NULL when not diffusible).",
            "name_source": "As in `buyers` / `suppliers`.",
            "contract_count": "Contracts (ranks homonyms).",
            "search_key": "Name and published name, normalised; empty for a holder that is not "
            "diffusible.",
            "has_garbled_name": "The published name has garbled characters: a query letter "
            "French writes accented may stand for one of them.",
        },
    ),
    "contract_search": (
        "The explorer's free text, per contract: its object and its current holders' keys, "
        "lower case and without accents, with its buyer and CPV code. A word is found in a "
        "contract when it is in this object, in these keys, in its buyer's `search_key` "
        "(`search_names`) or in the label of its CPV code (`cpv_search`).",
        {"uid": "Contract.", "buyer_siret": "Buyer (SIRET), as in `contracts`.",
         "cpv": "CPV code, as in `contracts`.",
         "object_key": "The object, normalised as `search_names.search_key`.",
         "holder_keys": "The `search_key` of each current holder, in alphabetical order, "
         "separated by spaces (a holder that is not diffusible has none); NULL without any."},
    ),
    "cpv_search": (
        "The CPV labels of the contracts, normalised as `search_names.search_key`, for the "
        "explorer's free text: one row per code and label.",
        {"cpv": "CPV code.", "label_key": "Its label (`contracts.cpv_label`), normalised."},
    ),
    "source_records": (
        "One row per input record, whatever became of it: `kept` (it is a contract's primary "
        "record), `duplicate` (merged into the contract `uid`) or `set_aside` (blocking defect, "
        "see `reasons`). Raw values are kept as written. Per file: records in = kept + "
        "duplicate + set_aside.",
        {
            **PROVENANCE,
            "source": "Source name given at ingest.",
            "file_name": "Name of the source file.",
            "kind": "`marche` or `concession`.",
            "family": "DECP format family (2019/2024).",
            "status": "`kept`, `duplicate` or `set_aside`.",
            "uid": "Contract the record went to (NULL when it has no identity).",
            "consultation_uid": "The record's published uid (buyer SIRET + cleaned id), to "
            "which corrections attach; differs from `uid` for lots (ID_REUSED).",
            "reasons": "Set aside: the blocking rule ids, and `EXCLUDED_BY_STEWARD` for a "
            "contract a steward excluded. Duplicate: `same_file`, `other_file`, "
            "`holder_row` or `version_row` (rows of a consolidated CSV).",
            **{col: f"Raw value of `{field}`." for col, field in RAW_FIELDS.items()},
            "structure_notes": "Unusual structures met while reading the record (STRUCTURE_DRIFT).",
        },
    ),
    "source_record_holders": (
        "Holders of each input record, raw and cleaned.",
        {
            "record_key": PROVENANCE["record_key"],
            "holder_position": "1-based position in the record's holder list.",
            "id_type_raw": "typeIdentifiant as written.",
            "holder_id_raw": "id as written.",
            "holder_name_raw": "denominationSociale as written (NULL for a holder SIRENE marks "
            "as not diffusible).",
            "holder_id": "Identifier, cleaned (whitespace removed for SIRET).",
            "id_type": "Identifier type, canonical (inferred SIRET for 14-digit ids).",
            "holder_name": "Name, trimmed (NULL when not diffusible).",
        },
    ),
    "findings": (
        "Data-quality findings: one row per rule broken by a record (or its holders, versions, "
        "subcontracts, duplicates). See `quality_rules` for their meaning.",
        {
            "finding_id": "Stable identity: digest of record, rule, field and values, so the same "
            "finding keeps its id from one build to the next.",
            "rule_id": "Rule (see quality_rules).",
            "severity": "bloquant, avertissement, correction or information.",
            "field": "DECP field concerned.",
            **PROVENANCE,
            "file_name": "Source file name.",
            "uid": "Contract (NULL if none).",
            "buyer_siret": "Buyer SIRET as cleaned.",
            "raw_value": "The value as written.",
            "value": "The value kept (repaired), if any.",
            "directorate_id": "Directorate of the finding's contract (`contracts.directorate_id`);"
            " for a record that made no contract, only a buyer rule of the profile gives one.",
            "follow_key": "What the finding is followed by from one build to the next (digest of "
            "contract — or record without one —, rule, field and value as written): the quality "
            "history counts findings opened and closed by it.",
        },
    ),
    "quality_rules": (
        "The catalogue of quality rules, with their French explanations: every rule set of the "
        "one quality engine (contracts, payments, catering purchases), one severity vocabulary.",
        {
            "rule_id": "Rule id.",
            "severity": "Severity.",
            "field": "Field checked.",
            "title": "Short French title.",
            "explanation": "French explanation for users.",
            "hint": "What to do (French).",
            "source": "Origin of the rule (DAJ, schema, peer).",
        },
    ),
    "loads": (
        "The load log at build time (copy of the catalog).",
        {
            "load_id": "Load id.",
            "sha256": "File SHA-256.",
            "source": "Source name.",
            "file_name": "File name.",
            "original_path": "Path it was ingested from.",
            "size_bytes": "Size.",
            "kind": "decp, reference or unknown.",
            "format": "Detected format id.",
            "format_label": "Detected format (French).",
            "records": "Records read.",
            "marches": "Marchés read.",
            "concessions": "Concessions read.",
            "status": "loaded, partial or rejected.",
            "error_count": "Problems reported at load.",
            "loaded_at": "When it was ingested (UTC).",
            "duration_s": "Ingest duration.",
            "superseded_by": "Newer load of the same file (same source and path) that replaces "
            "this one in the build; NULL for the version in use.",
        },
    ),
    "reconciliation": (
        "Per DECP file: records in = kept + duplicates + set aside.",
        {
            "load_id": "Load.",
            "file_name": "File.",
            "source": "Source.",
            "records_in": "Records read at ingest.",
            "records_staged": "Records in the build.",
            "kept": "Kept.",
            "duplicates": "Merged duplicates.",
            "set_aside": "Set aside.",
            "balanced": "records_in = kept + duplicates + set_aside.",
        },
    ),
    "source_overlap": (
        "Contracts published by two sources (overlap matrix).",
        {
            "source_a": "Source.",
            "source_b": "Other source.",
            "shared_contracts": "Contracts both published.",
            "contracts_a": "Contracts of source A.",
            "contracts_b": "Contracts of source B.",
        },
    ),
    "siret_checks": (
        "Luhn check of every SIRET met (python-stdnum).",
        {"siret": "SIRET (14 digits).", "valid": "Passes the check."},
    ),
    "record_index": (
        "One row per staged record: what the next build needs to be incremental (the records "
        "of the contracts a new file touches; buyers and SIRET checks recomputed without the "
        "build's work tables). Not published.",
        {
            "record_key": "Record key (staging file hash # position).",
            "load_id": "Load the record came from.",
            "contract_group": "Published uid (buyer SIRET + cleaned id) from the published "
                              "values: the records of one contract and of its lots share it; "
                              "empty when the record has no usable id or buyer SIRET.",
            "buyer_siret": "Buyer SIRET as cleaned.",
            "buyer_name": "Buyer name as the build read it (corrections applied).",
            "publication_date": "Publication date as cleaned.",
            "ranked": "Not set aside (the record is a contract's primary record or one of its "
                      "duplicates).",
            "subcontract_sirets": "SIRETs of its declared subcontractors, as published.",
        },
    ),
    "ref_cpv": (
        "CPV 2008 nomenclature.",
        {
            "code": "8-digit code.",
            "code_with_check": "Code with check digit.",
            "label": "French label.",
            "parent_code": "Parent code (8 digits) when provided.",
            "division": "First two digits.",
        },
    ),
    "ref_communes": (
        "INSEE Code officiel géographique: communes.",
        {
            "commune_code": "INSEE code.",
            "commune_name": "Name.",
            "departement_code": "Département.",
            "departement_name": "Département name.",
            "region_code": "Région.",
            "region_name": "Région name.",
        },
    ),
    "ref_departements": (
        "Départements (from the COG).",
        {"departement_code": "Code.", "departement_name": "Name.", "region_code": "Région."},
    ),
    "ref_regions": ("Régions (from the COG).", {"region_code": "Code.", "region_name": "Name."}),
    "ref_sirene_establishments": (
        "SIRENE establishments loaded (full stock or extracts).",
        {
            "siret": "SIRET.",
            "siren": "SIREN.",
            "postal_code": "Postal code.",
            "commune_code": "INSEE commune code.",
            "commune_name": "Commune.",
            "naf_code": "NAF.",
            "is_diffusible": "`statutDiffusionEtablissement` is `O` (FALSE for `P`/`N`; NULL "
            "when the file does not say).",
        },
    ),
    "ref_sirene_categories": (
        "SIRENE legal units (by SIREN): company category, and the official name and diffusion "
        "status when the file has them (the full StockUniteLegale does, the demo extract not).",
        {"siren": "SIREN.", "category": "PME, ETI or GE.",
         "name": "`denominationUniteLegale` (never composed from a person's names).",
         "is_diffusible": "`statutDiffusionUniteLegale` is `O` (FALSE for `P`/`N`; NULL when "
         "the file does not say)."},
    ),
    "ref_enum_values": (
        "Controlled vocabularies: matching key → canonical value.",
        {
            "field": "Field.",
            "key": "Matching key (lower case, no accents).",
            "canonical": "Canonical value.",
            "obsolete": "The key is an obsolete label.",
        },
    ),
    "corrections_applied": (
        "Every correction (redressement) in force in the application database when the build "
        "ran, and what became of it. Corrected values replace the raw values before cleaning, "
        "so they are cleaned and checked like published ones; `source_records` keeps the "
        "published values. A correction whose source value changed is `stale`: not applied, "
        "back to its steward for review.",
        {
            "correction_id": "Id of the correction in the application database.",
            "uid": "Contract.",
            "buyer_siret": "Buyer of the contract (the steward's scope).",
            "action": "`set_value` (a field's value), `exclude` (set the contract aside) or "
            "`not_a_defect` (a finding that is accepted as right).",
            "field": "DECP field (as in `findings.field`); empty for `exclude`.",
            "rule_id": "Rule of the finding (`not_a_defect` only).",
            "source_value": "The published (raw) value the correction was made on.",
            "corrected_value": "The value set (`set_value` only).",
            "reason": "Why, as the steward wrote it.",
            "corrected_at": "When the correction was made (UTC).",
            "status": "`applied` or `stale`.",
            "stale_reason": "`source_changed`, `contract_missing` or `finding_gone`.",
            "current_source_values": "Raw values the source publishes now for the field "
            "(`set_value`), to compare with `source_value`.",
        },
    ),
    "purchase_domain_overrides": (
        "CPV prefix → purchase domain mappings decided by a person (proposed by a steward, "
        "accepted by an administrator), read by the indicator facts: the longest prefix wins, "
        "a decided mapping before the profile's at equal length.",
        {
            "mapping_id": "Id of the mapping in the application database.",
            "cpv_prefix": "Beginning of the CPV code (2 to 8 digits).",
            "domain_id": "Purchase domain of the profile.",
            "decided_at": "When it was accepted (UTC).",
        },
    ),
    "profile_directorates": (
        "The deployment profile's directorates (`directorates.toml`) as the build used them; "
        "empty when the profile defines none (the generic profile).",
        {
            "directorate_id": "Directorate id (the value of a `direction:` stewardship scope).",
            "label": "Name (French).",
            "domains": "Purchase domains it owns (`profile_purchase_domains.domain_id`).",
            "buyers": "Buyer SIRETs or SIRENs it owns whatever the domain (a mandataire).",
        },
    ),
    "quality_builds": (
        "Every build whose warehouse was put in service since the quality history began (copy "
        "of the catalog): the builds of the quality history's series.",
        {
            "build_id": "Build id.",
            "recorded_at": "When the build started (UTC).",
            "profile_id": "Deployment profile it was built with.",
            "compared_with": "Build of the warehouse in service it was compared with for the "
            "findings opened and closed; NULL for the first build (or a warehouse too old to "
            "compare with).",
        },
    ),
    "quality_history": (
        "Data quality per scope, build after build (copy of the catalog, where it survives "
        "rebuilds; a build's rows are committed only once its warehouse is in service). A "
        "scope gets a row when one of its numbers changed since its last row; a build without "
        "a row for a scope carries that row forward, with no finding opened or closed. Open "
        "findings are those no applied \"not a defect\" decision accepts, counted once per "
        "contract (or record without one), rule, field and published value.",
        {
            "build_id": "Build that recorded the row.",
            "recorded_at": "When that build started (UTC).",
            "scope_kind": "`total` (every contract of the warehouse), `buyer` (a buyer SIRET; "
            "a canteen is a buyer) or `directorate`.",
            "scope_id": "Buyer SIRET or directorate id; empty for `total`.",
            "contracts": "Contracts.",
            "with_amount": "Contracts with an initial amount (completeness: key fields known).",
            "with_cpv": "Contracts with a valid CPV code.",
            "with_notification_date": "Contracts with a published notification date.",
            "with_holders": "Contracts with at least one holder.",
            "with_place": "Contracts with a place of execution.",
            "contracts_valid": "Contracts without an open blocking or warning finding "
            "(validity).",
            "contracts_blocking": "Contracts with at least one open `bloquant` finding.",
            "contracts_warning": "Contracts with at least one open `avertissement` finding.",
            "contracts_correction": "Contracts with at least one open `correction` finding.",
            "contracts_information": "Contracts with at least one open `information` finding.",
            "open_findings": "Open findings (contracts' and set-aside records').",
            "corrections_applied": "Corrections applied by the build (`corrections_applied`).",
            "findings_opened": "Findings open now and not in the warehouse compared with; NULL "
            "when there was none to compare with.",
            "findings_closed": "Findings open in the warehouse compared with and not now "
            "(corrected, accepted, fixed at source or gone); NULL likewise.",
        },
    ),
    "build_info": (
        "The build that made this warehouse.",
        {
            "build_id": "Build id.",
            "started_at": "Start (UTC).",
            "finished_at": "End (UTC).",
            "parser_version": "Staging parser version.",
            "software_version": "Observatoire version.",
            "input_fingerprint": "Hash of the loaded files: same inputs, same fingerprint.",
            "reconciled": "Every file reconciles.",
            "schema_version": "Version of the warehouse's tables; readers refuse another one "
            "(rebuild).",
        },
    ),
}
# The Egalim and indicator steps' tables are documented next to the code that writes them.
TABLES.update(EGALIM_TABLES)
TABLES.update(INDICATOR_TABLES)


def markdown() -> str:
    lines = [
        "# Warehouse data dictionary",
        "",
        "Generated by `observatoire dictionary` from `src/observatoire/model/dictionary.py`; a test",
        "checks it against a real build. The warehouse is `$OBSERVATOIRE_HOME/warehouse.duckdb`;",
        "open it read-only with any DuckDB client.",
        "",
    ]
    for table, (description, columns) in TABLES.items():
        lines += _table(table, description, columns)
    lines += ["# Payment tables", "",
              "Built from the accounting files loaded (PES V2, Chorus, Chorus Pro, mapped exports:",
              "the `accounting` source kind); empty where none is (`model/payments.py`; linking",
              "rules in docs/accounting.md).", ""]
    for table, (description, columns) in PAYMENT_TABLES.items():
        lines += _table(table, description, columns)
    return "\n".join(lines)


def _table(table: str, description: str, columns: dict[str, str]) -> list[str]:
    return [f"## `{table}`", "", description, "", "| column | meaning |", "|---|---|",
            *(f"| `{c}` | {d} |" for c, d in columns.items()), ""]
