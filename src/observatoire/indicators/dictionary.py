"""Data dictionary of the tables the indicator step writes (merged into the warehouse's)."""

from __future__ import annotations

from observatoire.indicators.grains import GRAINS

_RESULTS = {
    "indicator_id": "Indicator (see indicators).",
    "version": "Definition version the value was computed with.",
    "code": "Reference code (A01…G09).",
    "period": "Notification year, `date inconnue` for the records without a date, or `toutes` "
    "for every record (those without a date included).",
    "period_year": "The year (NULL for `toutes` and `date inconnue`).",
    "breakdown": "`total` (the whole scope) or the breakdown (buyer, mandate, purchase_domain, "
    "procedure, cpv_division, supplier_category, supplier_departement, source…).",
    "breakdown_value": "Value of the breakdown (a SIRET, a domain id, a département code…); NULL "
    "is the group whose value is unknown.",
    "breakdown_label": "Readable name of that value, where one exists.",
    "category": "Distributions only: the category whose share this row gives.",
    "category_label": "Readable name of the category.",
    "basis": "count, value (amount HT), mean, median, sum, distinct or ratio.",
    "numerator": "Numerator (count or euros) over the rows whose needed fields are known.",
    "denominator": "Denominator over the same rows (NULL for counts, sums and medians).",
    "value": "The value: a fraction 0–1 for percentages, else in the indicator's unit; NULL when "
    "no row is known or the sample is too small (small_sample).",
    "record_count": "Rows of the population (contracts, holders, acts or records).",
    "known_count": "Rows whose needed fields are known (they make the value).",
    "coverage": "known_count / record_count: how much of the population the value speaks for.",
    "undated_count": "Rows of the population without a date (counted in `toutes`, in no year).",
    "unknown_low": "Shares only: the value if every unknown row were a no (the low end of the "
    "range the unknowns allow).",
    "unknown_high": "Shares only: the value if every unknown row were a yes.",
    "small_sample": "Fewer known rows than the profile's min_population: no value, no range and "
    "no status are published.",
    "provisional": "The year may still receive records (current year, or the previous one "
    "within the two months contracts may still be published in).",
    "target_value": "Target in force for the period (a fraction for percentages).",
    "target_comparator": "How the value is compared with it (>=, >, <=, <).",
    "target_date": "Deadline of the target.",
    "target_source": "Document that sets the target.",
    "status": "met, not_met, on_track (deadline ahead, value improving), insufficient_data "
    "(coverage below the profile's minimum or no known row), unavailable (the data source is not "
    "collected yet), small_sample (too few known rows, whatever the target); NULL without a "
    "target.",
}

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    **{
        g.table: (g.description, {f.name: f.description for f in g.fields})
        for g in GRAINS.values()
    },
    "indicators": (
        "The indicator catalogue of the profile, one row per indicator version, with the SQL "
        "that computes it.",
        {
            "indicator_id": "Slug id.",
            "version": "Definition version.",
            "code": "Reference code (A01…G09).",
            "title": "French title.",
            "definition": "Plain-language French definition.",
            "axis_id": "SPASER axis (see indicator_axes).",
            "kind": "target (indicateur cible) or transparency.",
            "regulatory": "Required by law or regulation.",
            "legal_reference": "Legal reference.",
            "unit": "percent, count, euros, number or ratio.",
            "grain": "What it counts: contract, holder, subcontract or record.",
            "source": "Data it needs: decp, accounting, purchasing_system, catering, external.",
            "available": "That data is collected (otherwise: données non disponibles).",
            "data_requirement": "What data it waits for (French).",
            "measure": "share, average, total, sum, count_distinct, ratio or distribution.",
            "bases": "Bases computed (count, value, mean, median…).",
            "population": "SQL filter of the population.",
            "condition": "SQL condition counted by a share.",
            "expression": "SQL expression measured.",
            "numerator": "Aggregate numerator of a ratio.",
            "denominator": "Aggregate denominator of a ratio.",
            "value_field": "Amount used by value bases.",
            "breakdowns": "Breakdowns computed.",
            "valid_from": "First day of the definition's validity.",
            "valid_to": "Last day (NULL: still valid).",
            "notes": "Notes (benchmarks, assumptions).",
            "catalogue_file": "Profile file that declares it.",
            "query": "The SQL that computed its results.",
            "unknown_counts_as_no": "A share whose legal definition divides by the whole "
            "population: rows whose condition is unknown stay in the denominator (as a no) and "
            "lower the coverage.",
        },
    ),
    "indicator_targets": (
        "Targets of each indicator version, with their source.",
        {
            "indicator_id": "Indicator.",
            "version": "Definition version.",
            "basis": "Basis the target applies to.",
            "target_value": "Target (a fraction for percentages).",
            "comparator": ">=, >, <= or <.",
            "target_date": "Deadline.",
            "from_date": "Date from which the target applies (NULL: always).",
            "source": "Document that sets it; for a target changed in the application: who "
                      "changed it, when, why (and the document given).",
            "label": "Short name (e.g. SPASER 2023-2025).",
            "change_id": "The change made in the application that set this target "
                         "(indicator_target_changes); NULL: the profile's target.",
        },
    ),
    "indicator_target_changes": (
        "Targets changed by an administrator in the application (stewardship), applied on top "
        "of the profile's targets at every build: every change, in force or not, with the "
        "profile's target it replaced. One row per change and indicator version.",
        {
            "change_id": "Id of the change in the application database.",
            "indicator_id": "Indicator.",
            "version": "Definition version (NULL: the profile no longer has this indicator and "
                       "basis).",
            "basis": "Basis.",
            "action": "set (a new target for this deadline) or withdraw (the profile's target "
                      "of this deadline no longer applies).",
            "status": "active (in force), superseded (by a later change) or reverted (the "
                      "profile's target is back).",
            "applied": "Applied by this build (in force and matching the profile).",
            "target_value": "New target (a fraction for percentages); NULL for a withdrawal.",
            "comparator": "Comparator of the new target.",
            "target_date": "Deadline of the target (the key, with the indicator and basis).",
            "from_date": "Date from which the new target applies (NULL: always).",
            "source": "Source written for the new target (who, when, why).",
            "label": "Short name given to the new target.",
            "reason": "Reason given by the administrator.",
            "changed_at": "When the change was made (UTC).",
            "closed_at": "When it was superseded or reverted (UTC).",
            "closed_reason": "Reason of the revert or of the change that superseded it.",
            "previous_value": "The profile's target of this deadline it replaced (NULL: none).",
            "previous_comparator": "Its comparator.",
            "previous_from_date": "Its start date.",
            "previous_source": "Its source.",
            "previous_label": "Its label.",
        },
    ),
    "indicator_axes": (
        "SPASER axes of the profile, in display order.",
        {"axis_id": "Axis id.", "position": "Display order.", "title": "French title.",
         "description": "French description."},
    ),
    "indicator_breakdowns": (
        "Breakdown ids and their French names.",
        {"breakdown": "Breakdown id.", "label": "French name."},
    ),
    "indicator_profile": (
        "The deployment profile the indicators were computed with.",
        {
            "profile_id": "Profile id.",
            "name": "Name.",
            "organisation": "Organisation.",
            "territory": "Territory whose suppliers are local.",
            "scope": "all_buyers or profile_buyers.",
            "new_supplier_lookback_years": "Look-back window of A04, in years.",
            "min_coverage": "Minimum coverage for a value to be judged against its target.",
            "min_population": "Minimum known rows for a value to be published.",
            "reference_year": "The period every headline of the barometer shows.",
            "provisional_from": "First provisional year at computation.",
            "computed_on": "Date of the computation.",
            "digest": "SHA-256 of the profile's files.",
        },
    ),
    "indicator_results": (
        "Every indicator × period × breakdown × basis, with its evidence: numerator, "
        "denominator, rows, coverage, target in force and status.",
        _RESULTS,
    ),
    "indicator_groups": (
        "The groups every indicator query computes its results from (a period, a breakdown "
        "value, a category), with their aggregates: kept so that an incremental build patches "
        "those of the groups its changed rows fall in rather than read every row again.",
        {
            "digest": "SHA-256 of the queries (an incremental build patches the groups of "
            "the same queries only).",
            "batch": "The query (the indicators that read the same rows, in catalogue order).",
            "period_year": "The year (NULL for every period and for the records without a date).",
            "gp": "1 for the group of every period, else 0.",
            "breakdown": "`total` or the breakdown.",
            "breakdown_value": "Value of the breakdown (NULL: the group whose value is unknown).",
            "category": "Distributions only: the category.",
            "exact": "The counts and sums of the query, in its order (exact decimals).",
            "approximate": "Its other aggregates (medians), in its order.",
        },
    ),
    "indicator_history": (
        "Headline values (whole scope) as published, build after build: a row each time a "
        "value changes. Kept in the catalog, so it survives rebuilds.",
        {
            "profile_id": "Profile.",
            "indicator_id": "Indicator.",
            "version": "Definition version.",
            "period": "Period.",
            "basis": "Basis.",
            "value": "Value published.",
            "numerator": "Numerator.",
            "denominator": "Denominator.",
            "coverage": "Coverage.",
            "status": "Status.",
            "build_id": "Build that published it.",
            "recorded_at": "When (UTC).",
        },
    ),
    "profile_buyers": (
        "Buyers the profile names (the organisation and its mandataires).",
        {"siren": "SIREN.", "name": "Name.", "role": "organisation or mandataire."},
    ),
    "profile_territory": (
        "The profile's territory (local suppliers).",
        {"level": "region or departement.", "code": "INSEE code."},
    ),
    "profile_purchase_domains": (
        "Purchase domains by CPV prefix (the longest prefix wins).",
        {"domain_id": "Domain id.", "label": "French name.", "cpv_prefix": "CPV prefix (NULL "
         "on the default domain's row).", "is_default": "Domain of codes no prefix covers."},
    ),
    "profile_eu_thresholds": (
        "European thresholds for sub-central authorities, by date (euros HT).",
        {"valid_from": "From.", "works": "Works.", "supplies_services": "Supplies and services.",
         "source": "Regulation."},
    ),
}
