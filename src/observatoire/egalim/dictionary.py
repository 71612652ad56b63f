"""Data dictionary of the Egalim tables (merged into the warehouse's)."""

from __future__ import annotations

from observatoire.egalim.codes import CATEGORIES
from observatoire.egalim.compute import RATES

_SUMS = {
    "total": "All food purchases (euros HT), every family, lines without a family included.",
    "known": "Purchases whose labels are known (the others lower the coverage).",
    "egalim": "Purchases that count as durables et de qualité (bio included) on their date.",
    "bio": "Purchases counted as organic (conversion included).",
    "bio_fair_trade": "Of which organic and fair trade.",
    "siqo": "Label Rouge, AOC/AOP, IGP, STG (not organic).",
    "egalim_others": "HVE and niveau 2, pêche durable, RUP, fair trade, fermier (not above).",
    "egalim_others_fair_trade": "Of which fair trade.",
    "externalities_performance": "Externalités environnementales or performance (contract "
    "criteria), nothing above.",
    "meat_fish": "Meat and poultry plus fishery products (the 60 % pool; charcuterie is out).",
    "meat_fish_egalim": "Of which Egalim.",
    "meat": "Meat and poultry.",
    "meat_egalim": "Of which Egalim.",
    "meat_france": "Of which origin France (the declaration's rule of the year).",
    "fish": "Fishery and aquaculture products.",
    "fish_egalim": "Of which Egalim.",
    "fish_france": "Of which origin France.",
    "france": "Origin France (information only; in 2025 circuit court and local lines too).",
    "europe": "Origin Europe outside France (information, from 2026).",
    "short_circuit": "Circuit court (information only).",
    "local": "Local (information only, never Egalim).",
    "no_family": "Purchases without a product family.",
}

_RESULTS = {
    "scope": "`canteen`, `departement` or `territory` (all the profile's canteens).",
    "scope_key": "Canteen key, département code, or empty for the territory.",
    "year": "Calendar year of the purchase dates.",
    "month": "Month 1–12, or 0 for the whole year.",
    "lines": "Purchase lines.",
    **_SUMS,
    **{f"category_{c}": f"Value counted in the category `{c}` (precedence order)."
       for c in [*CATEGORIES, "non_egalim"]},
    **{name: f"{num} ÷ {den} (a fraction 0–1; NULL when {den} is 0)."
       for name, (num, den) in RATES.items()},
}

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "egalim_canteens": (
        "The canteens of the profile (its establishments file): lines are attached to them.",
        {
            "canteen_key": "Key: the SIRET, or `id:` + ma-cantine's canteen id.",
            "siret": "SIRET of the establishment.",
            "cantine_id": "ma-cantine's canteen id.",
            "uai": "UAI (school identifier), when the file gives it.",
            "nom": "Name.",
            "commune_insee": "INSEE code of the commune.",
            "departement": "Département code.",
            "region": "Région code.",
            "mode_gestion": "Management: direct or conceded.",
        },
    ),
    "egalim_declarations": (
        "The yearly ratios the canteens declared on ma-cantine (profile's `[egalim] "
        "declarations`), shown beside the observatory's own results.",
        {
            "siret": "SIRET of the canteen.",
            "year": "Year of the purchases declared.",
            "bio_ratio": "Declared organic share (0–1); NULL when published empty (0 or unknown).",
            "egalim_excluding_bio_ratio": "Declared Egalim share excluding organic (0–1).",
        },
    ),
    "egalim_lines": (
        "Every food purchase line imported (ma-cantine formats or mapped exports), with its "
        "provenance. Lines refused at import are not here: the load log lists them.",
        {
            "line_key": "`<load id>:<line number>`.",
            "load_id": "Load (see the load log) of the file.",
            "file_name": "File the line came from.",
            "line_number": "Line in that file (1 is the header).",
            "simulated": "Generated for the demo (never real purchases).",
            "canteen_key": "Canteen (see egalim_canteens).",
            "canteen_known": "The profile lists the canteen.",
            "departement": "Département of the canteen.",
            "canteen_siret": "SIRET as written in the file.",
            "canteen_id": "ma-cantine canteen id as written in the file.",
            "description": "Product description.",
            "supplier": "Supplier name.",
            "supplier_siret": "Supplier SIRET (mapped exports).",
            "article_code": "Article of the shared nomenclature (mapped exports).",
            "purchase_date": "Purchase (invoice) date.",
            "price_ht": "Price, euros HT.",
            "family": "Product family as the file gives it (ma-cantine code), NULL when unknown.",
            "characteristics": "Labels and origin as the file gives them, as codes (see "
            "docs/egalim.md).",
            "labels_known": "The file says which labels the product has (none is an answer).",
            "local_definition": "What local means for this line (PAT, COMMUNE, …).",
            "local_km": "Distance in km when local_definition is KM.",
            "raw_labels": "The label cell(s) as written, for audit.",
            "nomenclature_code": "Article of the nomenclature the line is linked to (see "
            "article_source), NULL when none.",
            "article_source": "`file` (article_code is in the nomenclature), `mapping` (a "
            "mapping of the description is in force in the application database), `matrix` "
            "(the supplier's reference, through its matrix) or `none`.",
            "effective_family": "Family the results use: the line's, else its article's.",
            "family_source": "`line`, `article` or `none`.",
            "matrix_load_id": "Load of the supplier matrix whose row matches the line (same "
            "supplier and article), NULL when none.",
            "matrix_characteristics": "Codes of that matrix row.",
            "contract_reference": "Contract (egalim_contracts) the line belongs to by supplier "
            "SIRET and date, NULL when none.",
            "effective_characteristics": "Codes the results use: the line's own Egalim labels, "
            "else its matrix article's (with the line's origin codes), plus EXTERNALITES / "
            "PERFORMANCE of its contract.",
            "effective_labels_known": "The labels are known, from the line or its matrix.",
            "labels_source": "`line` (the file says, labels or none), `matrix` (taken from "
            "the supplier matrix) or `none` (unknown).",
        },
    ),
    "egalim_articles": (
        "The shared nomenclature of food articles (the profile's `[egalim] nomenclature`).",
        {
            "code": "Article code.",
            "label": "Label.",
            "family": "Product family (ma-cantine code).",
            "line_number": "Line in the nomenclature file.",
        },
    ),
    "egalim_matrix": (
        "Supplier matrices: per supplier and article, the labels as the supplier writes them "
        "and their codes. Only the latest matrix of each supplier is kept.",
        {
            "load_id": "Load (see the load log, kind egalim-matrice) of the matrix file.",
            "line_number": "Line in that file (1 is the header).",
            "supplier": "Supplier name given at import.",
            "supplier_siret": "Supplier SIRET given at import.",
            "supplier_key": "What lines are matched on: the SIRET, else `nom:` + the "
            "normalised name.",
            "article_ref": "The supplier's article reference.",
            "article_code": "Article of the nomenclature, when the matrix gives it.",
            "designation": "Designation as written.",
            "characteristics": "Codes of the labels and origin, normalised at each build "
            "from raw_labels and origin (private labels, claims and unknown strings give none; "
            "an unknown string a person mapped gives its decided code).",
            "raw_labels": "The labels cell as written, for audit.",
            "origin": "The origin cell as written.",
            "warnings": "Warnings of the normalisation (private label, unknown string not "
            "decided by a person).",
        },
    ),
    "egalim_contracts": (
        "Contracts and lots with an environmental award criterion (the profile's "
        "`[egalim] marches`): their lines inherit EXTERNALITES / PERFORMANCE.",
        {
            "reference": "Contract or lot reference.",
            "supplier_siret": "SIRET of the holder: lines are matched on it.",
            "externalites": "Criterion « externalités environnementales ».",
            "performance": "Criterion « performance environnementale et approvisionnements "
            "directs ».",
            "start_date": "First day (NULL: open).",
            "end_date": "Last day (NULL: open).",
            "family": "Family of the lot (ma-cantine code): only lines of that family inherit "
            "the criteria; NULL: every family of the supplier.",
        },
    ),
    "egalim_line_facts": (
        "One row per purchase line with the category it counts in (precedence order, label "
        "validity on its date and family).",
        {
            "line_key": "Line (see egalim_lines).",
            "canteen_key": "Canteen.",
            "departement": "Département of the canteen.",
            "family": "Product family.",
            "purchase_date": "Purchase date.",
            "year": "Calendar year.",
            "month": "Month 1–12.",
            "price_ht": "Price, euros HT.",
            "labels_known": "The labels are known.",
            "category": "First category of the precedence order the line carries, or "
            "`non_egalim`.",
            "egalim_group": "bio, siqo, egalim_autres or externalites_performance (NULL: none).",
            "is_egalim": "Counts for Egalim.",
            "bio_fair_trade": "Organic and fair trade.",
            "others_fair_trade": "In egalim_autres and fair trade.",
            "meat_fish": "In the meat-and-fish pool.",
            "origin_france": "Origin France, with the rule of its year.",
            "origin_europe": "Origin Europe outside France (from 2026).",
            "short_circuit": "Circuit court.",
            "local": "Local.",
        },
    ),
    "egalim_results": (
        "Sums and rates per canteen, département and territory, per year and per month. Rates "
        "above the canteen are value-weighted (Σ numerators ÷ Σ denominators).",
        _RESULTS,
    ),
    "egalim_family_details": (
        "Per canteen, year and family: the value in each category (precedence order) and the "
        "information sums, as ma-cantine's detailed yearly declaration asks.",
        {
            "canteen_key": "Canteen.",
            "year": "Calendar year.",
            "family": "Product family.",
            "total": "All purchases of the family.",
            **{c: f"Value counted in `{c}`." for c in [*CATEGORIES, "non_egalim"]},
            "bio_dont_commerce_equitable": "Organic and fair trade.",
            "france": "Origin France.",
            "europe": "Origin Europe outside France.",
            "circuit_court": "Circuit court.",
            "local": "Local.",
        },
    ),
    "egalim_rules": (
        "The build rules of catering purchases (the Egalim rule set of the quality engine, "
        "also in `quality_rules` with the import rules).",
        {
            "rule_id": "Rule id (EG01…).",
            "severity": "avertissement or information.",
            "field": "Field of the import format concerned.",
            "title": "Title (French).",
            "explanation": "What is wrong, for users (French).",
            "hint": "What to do (French).",
        },
    ),
    "egalim_findings": (
        "Data-quality findings on purchase lines and canteens, from the quality engine.",
        {
            "finding_id": "Stable id (digest of what the finding says).",
            "rule_id": "Rule (see egalim_rules).",
            "severity": "Severity of the rule.",
            "field": "Field concerned.",
            "line_key": "Line concerned (NULL for a canteen-month finding).",
            "canteen_key": "Canteen.",
            "year": "Year.",
            "month": "Month.",
            "value": "The value found.",
            "load_id": "Load of the line's file.",
            "file_name": "File of the line.",
            "line_number": "Line in the file.",
        },
    ),
    "egalim_canteen_quality": (
        "A quality score per canteen and year.",
        {
            "canteen_key": "Canteen.",
            "year": "Year.",
            "lines": "Purchase lines.",
            "total": "Purchases, euros HT.",
            "clean_value": "Value of the lines without a warning.",
            "flagged_lines": "Lines with a warning.",
            "missing_months": "Months without purchases between the first and the last "
            "(August excepted).",
            "score": "100 × clean_value ÷ total − 5 per missing month, within 0–100.",
        },
    ),
}
