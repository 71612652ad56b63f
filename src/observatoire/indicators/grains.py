"""The grains indicators count, and the fields of their fact tables.

Each grain is a documented warehouse table with flat, scalar columns, so that catalogue
expressions stay in a portable SQL subset (no lists, no structs). Derived facts are three-valued:
TRUE, FALSE, or NULL when the data does not tell (an unknown value lowers an indicator's coverage,
it is never counted as "no").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str
    sql_type: str
    description: str


@dataclass(frozen=True)
class Grain:
    id: str
    table: str
    description: str
    fields: tuple[Field, ...]
    #: Breakdown id → column of this grain.
    breakdowns: dict[str, str]
    #: The indicator source whose data this grain holds (``source`` of an indicator).
    source: str = "decp"

    @property
    def types(self) -> dict[str, str]:
        return {f.name: f.sql_type for f in self.fields}


#: Breakdowns and their French names (the results table keeps the ids).
BREAKDOWN_LABELS = {
    "buyer": "Acheteur",
    "mandate": "Acheteur ou mandataire",
    "purchase_domain": "Domaine d'achat",
    "directorate": "Direction",
    "buyer_departement": "Département de l'acheteur",
    "buyer_region": "Région de l'acheteur",
    "procedure": "Procédure",
    "cpv_division": "Division CPV",
    "purchase_category": "Catégorie d'achat",
    "supplier_category": "Catégorie d'entreprise du titulaire",
    "supplier_departement": "Département du titulaire",
    "subcontractor_category": "Catégorie d'entreprise du sous-traitant",
    "source": "Source",
    "canteen": "Cantine",
    "departement": "Département de la cantine",
    "family": "Famille de produits",
    "amount_type": "Type de montant",
}

#: What one counted row of each grain is, in French (the public wording of a grain).
GRAIN_LABELS = {
    "contract": "un marché",
    "holder": "un titulaire d'un marché (un marché compte une fois par titulaire)",
    "subcontract": "un acte de sous-traitance",
    "record": "un enregistrement publié (avant fusion des doublons)",
    "purchase_line": "une ligne d'achat alimentaire",
    "canteen": "une cantine sur une année",
}

#: The perimeters of the barometer beside buyer, mandate and domain: the directorate and the
#: buyer's territory (the buyer's place, not the contract's: a SPASER is the buyers' policy, and
#: the contract's best known place falls back to its holder's, which the local-supplier
#: indicators measure).
_PERIMETER_FIELDS = (
    Field("directorate", "VARCHAR", "Directorate of the contract (`contracts.directorate_id`, "
          "from the profile's `directorates.toml`); NULL when none applies or the profile "
          "defines none."),
    Field("buyer_departement", "VARCHAR", "Département of the buyer (`buyers.departement_code`:"
          " its SIRENE establishment, else as published with its contracts)."),
    Field("buyer_region", "VARCHAR", "Région of the buyer (`buyers.region_code`)."),
)
#: Their breakdowns (breakdown id → column, the same name).
PERIMETER_BREAKDOWNS = {f.name: f.name for f in _PERIMETER_FIELDS}

_CONTRACT_DIMENSIONS = (
    Field("uid", "VARCHAR", "Contract (see contracts)."),
    Field("period_year", "INTEGER", "Period: year of notification (signature for concessions)."),
    Field("kind", "VARCHAR", "`marche` or `concession`."),
    Field("buyer_siret", "VARCHAR", "Buyer SIRET."),
    Field("mandate", "VARCHAR", "The profile's name for the buyer (the organisation or one of "
          "its mandataires); `Autres acheteurs` when the profile does not name it."),
    Field("purchase_domain", "VARCHAR", "Purchase domain of the profile (longest CPV prefix)."),
    Field("purchase_category", "VARCHAR", "Travaux, Fournitures or Services (CPV)."),
    Field("cpv_division", "VARCHAR", "First two digits of the CPV code."),
    Field("procedure", "VARCHAR", "Award procedure (canonical label)."),
    *_PERIMETER_FIELDS,
    Field("amount", "DECIMAL(38,6)", "Current amount after modifications (euros HT); NULL when "
          "unknown or doubtful. A framework agreement's is its maximum, shared equally by the "
          "copies a buyer published once per holder (same buyer, day, object and maximum)."),
)

_SUPPLIER_FACTS = (
    Field("supplier_category", "VARCHAR", "PME, ETI or GE (SIRENE). For a contract with several "
          "holders: the lead holder's (listed first, the mandataire of a grouping)."),
    Field("supplier_departement", "VARCHAR", "Département of the supplier establishment (SIRENE "
          "→ COG); for a contract, that of its lead holder (listed first)."),
    Field("supplier_is_sme", "BOOLEAN", "The holder is a PME (NULL when its category is "
          "unknown); for a contract with several holders, the lead holder (national reference "
          "method, OECP)."),
    Field("supplier_is_local", "BOOLEAN", "The holder's establishment is in the profile's "
          "territory (NULL when not located); for a contract, the lead holder's."),
    Field("supplier_is_new", "BOOLEAN", "A holder (SIREN) had no contract of the profile's buyers "
          "in the look-back window before this notification (TRUE); all had one (FALSE); NULL "
          "when a SIREN is unknown or the data does not cover the window."),
)

#: Breakdowns of the grains that carry a contract's dimensions (breakdown id → column).
_CONTRACT_BREAKDOWNS = {
    "buyer": "buyer_siret",
    "mandate": "mandate",
    "purchase_domain": "purchase_domain",
    "procedure": "procedure",
    "cpv_division": "cpv_division",
    "purchase_category": "purchase_category",
    "supplier_category": "supplier_category",
    "supplier_departement": "supplier_departement",
    **PERIMETER_BREAKDOWNS,
}

CONTRACT = Grain(
    "contract",
    "indicator_contracts",
    "One row per contract of the profile's scope, with the facts indicators count.",
    (
        *_CONTRACT_DIMENSIONS,
        Field("amount_type", "VARCHAR", "`accord-cadre` (the amount is a framework agreement's "
              "maximum), `ferme` (a firm amount) or NULL (not published)."),
        Field("nature", "VARCHAR", "Nature (canonical label)."),
        Field("cpv", "VARCHAR", "Main CPV code (8 digits, without check digit)."),
        Field("format_family", "VARCHAR", "DECP format of the primary record (2019 or 2024)."),
        Field("notification_date", "DATE", "Notification date."),
        Field("publication_date", "DATE", "Date the data was published."),
        Field("amount_initial", "DECIMAL(38,2)", "Amount at notification (euros HT)."),
        Field("duration_months", "INTEGER", "Current duration in months."),
        Field("is_framework_agreement", "BOOLEAN", "Framework agreement (accord-cadre)."),
        Field("is_subsequent_contract", "BOOLEAN", "Contract under a framework agreement."),
        Field("offers_received", "INTEGER", "Number of offers received."),
        Field("advance_granted", "BOOLEAN", "An advance was granted."),
        Field("advance_rate", "DOUBLE", "Advance rate 0–1 (NULL when unknown)."),
        Field("is_grouping", "BOOLEAN", "Awarded to a grouping of operators (conjoint or "
              "solidaire)."),
        Field("subcontracting_declared", "BOOLEAN", "Subcontracting declared at award."),
        Field("is_innovative", "BOOLEAN", "Innovative contract."),
        Field("has_revisable_price", "BOOLEAN", "A price type is révisable or actualisable."),
        Field("has_social_consideration", "BOOLEAN", "At least one social consideration."),
        Field("has_social_clause", "BOOLEAN", "Social execution clause."),
        Field("has_social_criterion", "BOOLEAN", "Social award criterion."),
        Field("is_reserved_contract", "BOOLEAN", "Reserved contract (marché réservé)."),
        Field("has_environmental_consideration", "BOOLEAN", "At least one environmental "
              "consideration."),
        Field("has_environmental_clause", "BOOLEAN", "Environmental execution clause."),
        Field("has_environmental_criterion", "BOOLEAN", "Environmental award criterion."),
        Field("origin_fr_share", "DOUBLE", "Share of French origin (0–1)."),
        Field("origin_eu_share", "DOUBLE", "Share of EU origin (0–1)."),
        Field("modification_count", "INTEGER", "Modifications after the initial version."),
        Field("is_modified", "BOOLEAN", "At least one modification."),
        Field("above_eu_threshold", "BOOLEAN", "Initial amount at or above the European "
              "threshold of its category at its notification date (profile's table)."),
        Field("published_within_two_months", "BOOLEAN", "Data published at most two months "
              "after notification (NULL when either date is unknown)."),
        Field("holder_count", "INTEGER", "Current holders."),
        *_SUPPLIER_FACTS,
        Field("any_holder_is_sme", "BOOLEAN", "Alternative method: a holder is a PME (TRUE); "
              "none is and all are known (FALSE); otherwise NULL."),
        Field("any_holder_is_local", "BOOLEAN", "Alternative method: a holder is local (TRUE); "
              "none is and all are located (FALSE); otherwise NULL."),
        Field("sme_holder_share", "DOUBLE", "Alternative method (amount shared): the share of "
              "the holders that are PME (0–1); NULL when a category is unknown."),
        Field("local_holder_share", "DOUBLE", "Alternative method (amount shared): the share of "
              "the holders that are local (0–1); NULL when one is not located."),
    ),
    {**_CONTRACT_BREAKDOWNS, "amount_type": "amount_type"},
)

HOLDER = Grain(
    "holder",
    "indicator_holders",
    "One row per contract × current holder (the amount is the contract's: never sum it here).",
    (
        *_CONTRACT_DIMENSIONS,
        Field("supplier_key", "VARCHAR", "Supplier identity (see suppliers)."),
        Field("supplier_siren", "VARCHAR", "SIREN of the holder when its id is a SIRET."),
        *_SUPPLIER_FACTS,
        Field("holder_count", "INTEGER", "Current holders of the contract."),
        Field("lead_rank", "INTEGER", "1 for the lead holder (the first the publication lists, "
              "the mandataire of a grouping), then 2, 3…"),
    ),
    _CONTRACT_BREAKDOWNS,
)

SUBCONTRACT = Grain(
    "subcontract",
    "indicator_subcontracts",
    "One row per subcontracting act of a contract in scope.",
    (
        *_CONTRACT_DIMENSIONS[:-1],
        Field("amount", "DECIMAL(38,2)", "Amount subcontracted (euros HT)."),
        Field("subcontractor_siren", "VARCHAR", "SIREN of the subcontractor."),
        Field("subcontractor_category", "VARCHAR", "PME, ETI or GE (SIRENE)."),
        Field("subcontractor_is_sme", "BOOLEAN", "The subcontractor is a PME (NULL when its "
              "category is unknown)."),
    ),
    {
        "buyer": "buyer_siret",
        "mandate": "mandate",
        "purchase_domain": "purchase_domain",
        "procedure": "procedure",
        "cpv_division": "cpv_division",
        "subcontractor_category": "subcontractor_category",
        **PERIMETER_BREAKDOWNS,
    },
)

RECORD = Grain(
    "record",
    "indicator_records",
    "One row per input record (published DECP record) of the profile's scope, whatever became "
    "of it, with the quality of its values as published.",
    (
        Field("record_key", "VARCHAR", "Input record (see source_records)."),
        Field("period_year", "INTEGER", "Year of the contract's notification, or of the date "
              "written in the record when it was set aside."),
        Field("buyer_siret", "VARCHAR", "Buyer SIRET (NULL when unusable)."),
        Field("mandate", "VARCHAR", "The profile's name for the buyer."),
        Field("directorate", "VARCHAR", "Directorate of the record's contract; for a record "
              "that made no contract, the one its findings got from a buyer rule."),
        *_PERIMETER_FIELDS[1:],
        Field("source", "VARCHAR", "Source of the file."),
        Field("status", "VARCHAR", "kept, duplicate or set_aside."),
        Field("is_set_aside", "BOOLEAN", "Set aside for a blocking defect."),
        Field("identifiers_valid", "BOOLEAN", "Buyer, contract and holder identifiers valid as "
              "published (no finding on them other than information)."),
        Field("cpv_valid", "BOOLEAN", "CPV code valid as published."),
        Field("place_valid", "BOOLEAN", "Place-of-execution code valid as published."),
    ),
    {"buyer": "buyer_siret", "mandate": "mandate", "source": "source", **PERIMETER_BREAKDOWNS},
)

#: The barometer's territory perimeter for the Egalim grains: the canteen is the buyer of its
#: food, so its place (establishments file of the profile) stands for the buyer's territory.
_CANTEEN_PLACE = (
    Field("buyer_departement", "VARCHAR", "Département of the canteen (establishments file): "
          "the barometer's territory perimeter."),
    Field("buyer_region", "VARCHAR", "Région of the canteen (establishments file)."),
)
_CANTEEN_TERRITORY = {f.name: f.name for f in _CANTEEN_PLACE}

PURCHASE_LINE = Grain(
    "purchase_line",
    "indicator_purchase_lines",
    "One row per food purchase line of the profile's canteens (Egalim), dated by its purchase "
    "date. Labels the data does not give leave the Egalim facts NULL (coverage).",
    (
        Field("line_key", "VARCHAR", "Purchase line (see egalim_lines)."),
        Field("period_year", "INTEGER", "Period: calendar year of the purchase date."),
        Field("canteen_key", "VARCHAR", "Canteen (SIRET, or `id:` + ma-cantine id)."),
        Field("canteen", "VARCHAR", "Canteen name (establishments file of the profile)."),
        Field("departement", "VARCHAR", "Département of the canteen."),
        Field("family", "VARCHAR", "Product family (ma-cantine code); NULL when unknown."),
        Field("amount", "DECIMAL(18,2)", "Price of the line, euros HT."),
        Field("is_egalim", "BOOLEAN", "Counts as durable et de qualité on its date for its "
              "family (NULL when its labels are unknown)."),
        Field("is_bio", "BOOLEAN", "Counts as organic (conversion included); NULL when its "
              "labels are unknown."),
        Field("is_meat_fish", "BOOLEAN", "Meat and poultry or fishery products (the 60 % pool)."),
        Field("is_local", "BOOLEAN", "Marked local (information only, never Egalim)."),
        Field("is_france", "BOOLEAN", "Origin France, with the declaration's rule of its year."),
        *_CANTEEN_PLACE,
    ),
    {"canteen": "canteen", "departement": "departement", "family": "family",
     **_CANTEEN_TERRITORY},
    source="catering",
)

CANTEEN = Grain(
    "canteen",
    "indicator_canteens",
    "One row per canteen and calendar year with purchases (Egalim results of the canteen).",
    (
        Field("canteen_key", "VARCHAR", "Canteen (SIRET, or `id:` + ma-cantine id)."),
        Field("period_year", "INTEGER", "Calendar year."),
        Field("canteen", "VARCHAR", "Canteen name."),
        Field("departement", "VARCHAR", "Département of the canteen."),
        Field("amount", "DECIMAL(38,2)", "Food purchases of the year, euros HT."),
        Field("egalim_rate", "DOUBLE", "Egalim share (0–1) of the year's purchases."),
        Field("bio_rate", "DOUBLE", "Organic share (0–1)."),
        Field("meets_legal_targets", "BOOLEAN", "Both legal thresholds reached (≥ 50 % Egalim "
              "and ≥ 20 % bio); NULL when less than half the value has known labels."),
        *_CANTEEN_PLACE,
    ),
    {"departement": "departement", **_CANTEEN_TERRITORY},
    source="catering",
)

GRAINS: dict[str, Grain] = {
    g.id: g for g in (CONTRACT, HOLDER, SUBCONTRACT, RECORD, PURCHASE_LINE, CANTEEN)
}
