"""Typed JSON schemas of the API's answers: the ``components`` of ``/api/openapi.json``.

A row is written ``"name:kind …"``; kinds: ``s`` text, ``i`` whole number, ``n`` number,
``b`` yes/no, ``d`` date (ISO text), ``t`` date and time, ``l`` list of texts, ``a`` list of
objects, ``o`` object, ``*`` any value. Every value may be null (the sources leave many fields
empty), every listed key is always present. Column meanings come from the data dictionary;
``tests/test_api_schema.py`` checks the kinds of the warehouse's columns against the
warehouse's own types, and every answer against these schemas.
"""

from __future__ import annotations

from typing import Any

from observatoire.model.dictionary import TABLES
from observatoire.model.payment_dictionary import PAYMENT_TABLES

_KINDS: dict[str, dict[str, Any]] = {
    "s": {"type": ["string", "null"]},
    "i": {"type": ["integer", "null"]},
    "n": {"type": ["number", "null"]},
    "b": {"type": ["boolean", "null"]},
    "d": {"type": ["string", "null"], "format": "date"},
    "t": {"type": ["string", "null"], "format": "date-time"},
    "l": {"type": ["array", "null"], "items": {"type": "string"}},
    "a": {"type": ["array", "null"], "items": {"type": "object"}},
    "o": {"type": ["object", "null"]},
    "*": {},
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def array(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def row(spec: str, table: str | None = None, optional: str = "",
        **nested: dict[str, Any]) -> dict[str, Any]:
    """An object of the columns in ``spec`` (all required) and ``optional`` (sometimes
    absent); ``nested`` gives the schema of keys that hold other objects."""
    return _object(spec, table, optional, nested)


def _object(spec: str, table: str | None, optional: str,
            nested: dict[str, dict[str, Any]]) -> dict[str, Any]:
    described = {**TABLES, **PAYMENT_TABLES}.get(table, ("", {}))[1] if table else {}
    properties: dict[str, Any] = {}
    for part in (spec + " " + optional).split():
        name, kind = part.split(":")
        properties[name] = {**_KINDS[kind], **({"description": described[name]}
                                                if name in described else {})}
    properties.update(nested)
    return {"type": "object", "required": [p.split(":")[0] for p in spec.split()] + list(nested),
            "properties": properties}


#: The columns of each warehouse table the API returns whole, with their kinds.
TABLE_COLUMNS = {
    "contracts": (
        "uid:s kind:s format_family:s buyer_siret:s contract_id:s object:s nature:s "
        "is_framework_agreement:b is_subsequent_contract:b framework_id:s procedure:s cpv:s "
        "cpv_label:s cpv_division:s purchase_category:s place_type:s place_code:s "
        "place_departement_code:s place_region_code:s location_commune_code:s "
        "location_departement_code:s location_region_code:s location_basis:s notification_date:d "
        "notification_date_source:s notification_year:i publication_date:d start_date:d "
        "amount_initial:n amount:n amount_issue:s duration_months_initial:i duration_months:i "
        "estimated_end_date:d price_form:s price_types:l techniques:l execution_modes:l ccag:s "
        "offers_received:i advance_granted:b advance_rate:n grouping_type:s "
        "subcontracting_declared:b is_innovative:b social_considerations:l "
        "environmental_considerations:l has_social_consideration:b "
        "has_environmental_consideration:b origin_eu_share:n origin_fr_share:n "
        "public_subsidy:n holder_count:i holder_categories:l holder_departements:l "
        "modification_count:i record_count:i source_count:i sources:l primary_record_key:s "
        "corrected_fields:l directorate_id:s directorate_source:s consultation_uid:s"),
    "contract_versions": (
        "uid:s version:i version_kind:s record_key:s modification_id:s modification_object:s "
        "notification_date:d publication_date:d amount:n amount_raw:s duration_months:i "
        "duration_raw:s changes_holders:b amount_after:n duration_months_after:i "
        "amount_reading:s"),
    "contract_holders": "uid:s supplier_key:s id_type:s holder_id:s holder_name:s version:i "
                        "is_current:b",
    "subcontracts": "uid:s record_key:s act_id:s id_type:s subcontractor_id:s amount:n "
                    "amount_raw:s duration_months:i notification_date:d publication_date:d "
                    "price_variation:s",
    "concession_execution": "uid:s record_key:s publication_date:d publication_date_raw:s "
                            "investment_spending:n investment_raw:s tariffs:a",
    "buyers": "buyer_siret:s buyer_siren:s name:s name_is_reliable:b siret_checksum_invalid:b "
              "contract_count:i amount_total:n first_notification_date:d "
              "last_notification_date:d commune_code:s departement_code:s region_code:s "
              "location_source:s published_name:s official_name:s name_source:s",
    "suppliers": "supplier_key:s id_type:s holder_id:s siret:s siren:s name:s siret_is_valid:b "
                 "category:s postal_code:s commune_code:s naf_code:s commune_name:s "
                 "departement_code:s region_code:s location_source:s contract_count:i "
                 "published_name:s official_name:s name_source:s",
    "indicators": (
        "indicator_id:s version:i code:s title:s definition:s axis_id:s kind:s regulatory:b "
        "legal_reference:s unit:s grain:s source:s available:b data_requirement:s measure:s "
        "bases:l population:s condition:s expression:s numerator:s denominator:s "
        "value_field:s breakdowns:l valid_from:d valid_to:d notes:s catalogue_file:s query:s "
        "unknown_counts_as_no:b"),
    "indicator_results": (
        "indicator_id:s version:i code:s period:s period_year:i breakdown:s breakdown_value:s "
        "breakdown_label:s category:s category_label:s basis:s numerator:n denominator:n "
        "value:n record_count:i known_count:i coverage:n target_value:n target_comparator:s "
        "target_date:d target_source:s status:s undated_count:i unknown_low:n unknown_high:n "
        "small_sample:b provisional:b"),
    "indicator_axes": "axis_id:s position:i title:s description:s",
    "indicator_profile": "profile_id:s name:s organisation:s territory:s scope:s "
                         "new_supplier_lookback_years:i min_coverage:n digest:s "
                         "min_population:i reference_year:i provisional_from:i computed_on:d",
}

#: A contract in a list (``explorer.LIST_COLUMNS``): the explorer, a buyer's or a supplier's
#: latest contracts, the opportunities.
CONTRACT_ITEM = row(
    "uid:s kind:s notification_date:d notification_year:i buyer_siret:s buyer_name:s object:s "
    "cpv:s cpv_label:s procedure:s amount:n duration_months:i estimated_end_date:d "
    "holder_count:i has_social_consideration:b has_environmental_consideration:b "
    "corrected_fields:l purchase_domain:s location_commune_code:s location_departement_code:s "
    "location_region_code:s location_basis:s", "contracts",
    optional="holders:l place_departement_code:s is_framework_agreement:b")
_LATEST = row("count:i amount_total:n amount_unknown:i page:i page_size:i pages:i",
              contracts=array(ref("Marche")))
_BY_YEAR = array(row("year:i contracts:i amount:n"))


def _table(table: str, extra: str = "") -> dict[str, Any]:
    return row(TABLE_COLUMNS[table] + (" " + extra if extra else ""), table)


def page_of(item: dict[str, Any], extra: str = "", **nested: dict[str, Any]) -> dict[str, Any]:
    """The envelope of every paginated list: ``page``, ``taille``, ``pages``, ``total`` and
    the ``elements`` of the page."""
    return _object("page:i taille:i pages:i total:i" + (" " + extra if extra else ""), None,
                   "", {"elements": array(item), **nested})


#: A payment line as the « Dépenses » explorer, its downloads and the API give it
#: (``spending.COLUMNS``): the columns of ``payments`` and what the service adds.
PAYMENT_ITEM = row(
    "payment_key:s buyer_id:s buyer_name:s fiscal_year:i mandate_date:d piece_id:s line_id:s "
    "kind:s piece_nature:s object:s supplier_siret:s supplier_name:s supplier_masked:b "
    "amount_ht:n signed_amount_ht:n net_amount_ht:n payment_date:d payment_delay_days:i "
    "late_days:i contract_uid:s contract_ref:s link_method:s link_confidence:s source:s "
    "file_name:s", "payments")
PAYMENT_ITEM["properties"]["kind"]["description"] = (
    "Type de paiement : avance, acompte, dernier_acompte, retenue, interets, annulation, "
    "paiement (hors marché ou sans nature).")
PAYMENT_ITEM["properties"]["source"]["description"] = (
    "Source : pes, pes_simule (jeu PES déclaré simulé, démonstration), chorus, export, "
    "simule (autre flux déclaré simulé).")
PAYMENT_ITEM["properties"]["supplier_masked"]["description"] = (
    "Nom masqué : personne physique, ou fournisseur non diffusible dans SIRENE. Le SIRET "
    "d'une personne physique n'est jamais donné.")
#: What payment data is loaded for a buyer (``spending._buyer_loaded``).
_LOADED = row("lines:i first_year:i last_year:i first_date:d last_date:d simulated:b",
              sources=array(row("source:s label:s")))

COMPONENTS: dict[str, dict[str, Any]] = {
    "Depense": PAYMENT_ITEM,
    "DepensesMarche": row(
        "loaded:b linked:b paid_share:n",
        contract=row("uid:s buyer_siret:s amount_initial:n amount_awarded:n "
                     "modification_count:i contract_source:s simulated:b"),
        buyer_payments=_LOADED,
        paid=row("paid_ht:n interest_ht:n cancelled_ht:n lines:i cancellations:i "
                 "first_payment_date:d last_payment_date:d unpaid_lines:i"),
        by_year=array(row("year:i net_ht:n lines:i")),
        by_kind=array(row("kind:s label:s net_ht:n signed_ht:n lines:i")),
        links=array(row("method:s method_label:s confidence:s confidence_label:s lines:i "
                        "net_ht:n")),
        sources=array(row("source:s label:s file_name:s lines:i"))),
    "DepensesAcheteur": row(
        "loaded:b min_population:i legal_delay_days:i threshold_ht:i",
        buyer_payments=_LOADED,
        delays=array(row("year:i half:i period:s pieces:i known:i mean_days:n share_1_30:n "
                         "share_31_60:n share_61:n late:i interest_ht:n small_sample:b")),
        suppliers=array(row("supplier_siret:s supplier_name:s masked:b lines:i net_ht:n "
                            "above_threshold_ht:n below_threshold_ht:n unknown_amount_ht:n "
                            "outside_contracts_ht:n")),
        supplier_totals=row("net_ht:n above_threshold_ht:n below_threshold_ht:n "
                            "unknown_amount_ht:n outside_contracts_ht:n")),
    "Marche": CONTRACT_ITEM,
    "MarcheDetail": row(
        "", contract=_table("contracts", "buyer_name:s purchase_domain:s "
                                         "purchase_domain_label:s location_commune_name:s "
                                         "location_departement_name:s location_region_name:s"),
        versions=array(_table("contract_versions")),
        holders=array(_table("contract_holders", "name:s siret:s siren:s category:s "
                                                 "commune_name:s departement_code:s")),
        subcontracts=array(_table("subcontracts")),
        records=array(row("record_key:s source:s file_name:s position:i line:i status:s "
                          "reasons:l family:s load_id:i", "source_records")),
        findings=array(row("rule_id:s severity:s field:s raw_value:s value:s file_name:s "
                           "position:i title:s explanation:s hint:s")),
        execution=array(_table("concession_execution")),
        corrections=array(row("field:s source_value:* corrected_value:* corrected_at:t")),
        paiements=ref("DepensesMarche")),
    "Acheteur": _table("buyers"),
    "AcheteurDetail": row(
        "", buyer=ref("Acheteur"), by_year=_BY_YEAR,
        suppliers=array(row("supplier_key:s siret:s name:s category:s contracts:i amount:n")),
        categories=array(row("category:s contracts:i amount:n")),
        procedures=array(row("procedure:s contracts:i amount:n")),
        supplier_departements=array(row("departement:s name:s contracts:i amount:n")),
        supplier_communes=array(row("commune:s name:s contracts:i")),
        latest=_LATEST, spaser=ref("TableauSpaser"), paiements=ref("DepensesAcheteur")),
    "Titulaire": _table("suppliers"),
    "TitulaireDetail": row(
        "grouped_contracts:i", supplier=ref("Titulaire"), by_year=_BY_YEAR,
        buyers=array(row("buyer_siret:s name:s contracts:i amount:n")),
        places=array(row("departement:s name:s contracts:i amount:n")), latest=_LATEST),
    "IndicateurEtat": row(
        "indicator_id:s version:i code:s title:s axis_id:s axis_title:s axis_position:i kind:s "
        "regulatory:b unit:s measure:s available:b data_requirement:s period:s basis:s value:n "
        "numerator:n denominator:n record_count:i known_count:i coverage:n target_value:n "
        "target_comparator:s target_date:d status:s computed:b has_target:b "
        "summary_status:s provisional:b small_sample:b"),
    "Synthese": row("objectifs:i transparence:i", etats=array(row("etat:s libelle:s sens:s "
                                                                  "nombre:i principal:b"))),
    "Barometre": row(
        "annee:i perimetre:o filtres:o filtres_ignores:l", profil=_table("indicator_profile"),
        annees=array({"type": "integer"}), synthese=ref("Synthese"),
        indicateurs=array(ref("IndicateurEtat"))),
    "TableauSpaser": row(
        "annee:i annee_de_reference:i calcule:b population_minimale:i",
        annees=array({"type": "integer"}), synthese=ref("Synthese"),
        indicateurs=array(ref("IndicateurEtat"))),
    "Indicateur": _table("indicators"),
    "Resultat": _table("indicator_results"),
    "IndicateurDetail": row(
        "bases:l basis:s breakdown:s periods:l period:s group_count:i limit:i offset:i",
        indicator=ref("Indicateur"), versions=array(ref("Indicateur")),
        axis=_table("indicator_axes"), profile=_table("indicator_profile"),
        targets=array({"type": "object"}), target_changes=array({"type": "object"}),
        series=array(ref("Resultat")), breakdowns=array(row("id:s label:s")),
        groups=array(ref("Resultat"))),
    "Qualite": row(
        "", records=array(row("status:s records:i")),
        by_rule=array(row("rule_id:s severity:s field:s title:s findings:i records:i "
                          "explanation:s hint:s")),
        by_file=array(row("file_name:s records:i set_aside:i warnings:i repairs:i")),
        completeness=array(row("source:s contracts:i with_notification_date:n with_amount:n "
                               "with_cpv:n with_holders:n with_place:n "
                               "with_considerations:n")),
        by_buyer=array(row("buyer_siret:s buyer_name:s findings:i blocking:i warnings:i "
                           "records:i"))),
}
