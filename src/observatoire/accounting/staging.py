"""The staging shape shared by every accounting reader (PES V2, Chorus, Chorus Pro, exports).

One reader, one file → rows of these tables plus findings; the model joins them later. Columns
are named for what they mean, whatever the flow calls them (the PES element or Chorus column is
in the comment). Amounts are euros as DECIMAL(18, 2) text-free numbers; dates are ISO dates.
A reader leaves a column NULL when its flow does not carry it: never 0, never ''.
"""

from __future__ import annotations

import pyarrow as pa

#: Bumped when a column changes: staging files of another version are parsed again.
STAGING_VERSION = 1

_MONEY = pa.decimal128(18, 2)

#: Where a row comes from: the file (sha256), the record's position, its line in the file.
_PROVENANCE = [
    pa.field("file_hash", pa.string()),
    pa.field("position", pa.int64()),
    pa.field("line", pa.int64()),
    #: pes_depense, pes_retour, pes_marche, chorus_dp, chorus_ej, chorus_pro, export
    pa.field("flow", pa.string()),
]

#: One payment line (PES Dépense LigneDePiece, Chorus DP line, export row).
PAYMENT_LINES = pa.schema([
    *_PROVENANCE,
    pa.field("buyer_id", pa.string()),  # SIRET of the collectivité (EnTetePES/IdColl)
    pa.field("budget_code", pa.string()),  # CodBud
    pa.field("fiscal_year", pa.int32()),  # Exer
    pa.field("batch_id", pa.string()),  # bordereau IdBord
    pa.field("batch_date", pa.date32()),  # DteBordEm
    pa.field("piece_id", pa.string()),  # mandat IdPce / Chorus DP number
    pa.field("line_id", pa.string()),  # IdLigne
    pa.field("piece_type", pa.string()),  # TypPce (code as published)
    pa.field("piece_nature", pa.string()),  # NatPce: avance, acompte, solde, annulation…
    pa.field("cancelled_piece_id", pa.string()),  # the piece an annulation/réduction nets
    pa.field("budget_nature", pa.string()),  # Nature (compte)
    pa.field("budget_function", pa.string()),  # Fonction
    pa.field("object", pa.string()),  # ObjetLigne / Objet
    pa.field("amount_ht", _MONEY),
    pa.field("amount_tva", _MONEY),
    pa.field("amount_ttc", _MONEY),
    pa.field("supplier_ref", pa.string()),  # IdTiers in the flow
    pa.field("supplier_siret", pa.string()),
    pa.field("supplier_name", pa.string()),
    pa.field("supplier_natural_person", pa.bool_()),  # individual tiers: never published by name
    pa.field("contract_ref", pa.string()),  # IdMarche / contract number
    pa.field("commitment_ref", pa.string()),  # engagement juridique (EJ)
    pa.field("invoice_number", pa.string()),
    pa.field("invoice_date", pa.date32()),
    pa.field("invoice_received_date", pa.date32()),  # DGP start when that is what it is
    pa.field("delay_start_date", pa.date32()),  # DGP: DteDebDGP / date de base
    pa.field("delay_days_allowed", pa.int32()),  # DGP: DurDGP
    pa.field("interest_code", pa.string()),  # DGP: CodIntMor
    pa.field("interest_rate", pa.float64()),
    pa.field("subcontractor_paid", pa.bool_()),  # paiement direct d'un sous-traitant
    pa.field("commitment_line", pa.string()),  # Chorus oi_ebelp / N° poste EJ
    pa.field("service_done_date", pa.date32()),  # Chorus: date comptable du service fait
    pa.field("buyer_unit", pa.string()),  # paying service when no buyer SIRET (Chorus cfund_ctr)
])

#: What the accountant did with a piece (PES Retour, Chorus CP): prise en charge, payments.
PAYMENT_EVENTS = pa.schema([
    *_PROVENANCE,
    pa.field("buyer_id", pa.string()),
    pa.field("fiscal_year", pa.int32()),
    pa.field("batch_id", pa.string()),
    pa.field("piece_id", pa.string()),
    pa.field("line_id", pa.string()),
    pa.field("state", pa.string()),  # état du mandat as published
    pa.field("taken_in_charge_date", pa.date32()),  # prise en charge
    pa.field("payment_date", pa.date32()),  # DtePay
    pa.field("amount_paid", _MONEY),  # MtPay
    pa.field("suspension_days", pa.int32()),
    pa.field("commitment_ref", pa.string()),
])

#: Invoices (Chorus Pro pivot and statuses): reception and « service fait » dates.
INVOICES = pa.schema([
    *_PROVENANCE,
    pa.field("invoice_number", pa.string()),
    pa.field("supplier_siret", pa.string()),
    pa.field("supplier_name", pa.string()),
    pa.field("buyer_id", pa.string()),
    pa.field("service_code", pa.string()),
    pa.field("issue_date", pa.date32()),
    pa.field("received_date", pa.date32()),
    pa.field("service_done_date", pa.date32()),
    pa.field("status", pa.string()),
    pa.field("amount_ht", _MONEY),
    pa.field("amount_ttc", _MONEY),
    pa.field("contract_ref", pa.string()),
    pa.field("commitment_ref", pa.string()),
    pa.field("invoice_type", pa.string()),  # Chorus Pro Type: 380 facture, 381 avoir
    pa.field("supplier_natural_person", pa.bool_()),  # Chorus Pro TypeIdentifiant 7 (particulier)
])

#: Contracts as the finance software knows them (PES Marché, Chorus EJ, exports), below 40 k€
#: included; the model merges them with DECP contracts by the DECP identity rule.
FINANCE_CONTRACTS = pa.schema([
    *_PROVENANCE,
    pa.field("contract_ref", pa.string()),  # IdContrat / EJ number
    pa.field("buyer_id", pa.string()),
    pa.field("nature", pa.string()),
    pa.field("object", pa.string()),
    pa.field("cpv", pa.string()),
    pa.field("procedure", pa.string()),
    pa.field("place_code", pa.string()),
    pa.field("notification_date", pa.date32()),
    pa.field("duration_months", pa.int32()),
    pa.field("amount_ht", _MONEY),
    pa.field("estimate_ht", _MONEY),
    pa.field("price_form", pa.string()),
    pa.field("advance_rate", pa.float64()),
    pa.field("guarantee", pa.string()),
    pa.field("holders", pa.list_(pa.struct([
        pa.field("siret", pa.string()), pa.field("name", pa.string()),
        pa.field("natural_person", pa.bool_())]))),
])

#: Commitments (Chorus engagements juridiques): one row per EJ line (poste), with its supplier
#: and the amount committed as the flow states it. The model links payments to them by
#: ``commitment_ref`` (+ ``commitment_line``) and, through them, to contracts.
COMMITMENTS = pa.schema([
    *_PROVENANCE,
    pa.field("commitment_ref", pa.string()),  # bbp_po_id / N° EJ
    pa.field("commitment_line", pa.string()),  # bbp_poitem / N° poste EJ
    pa.field("buyer_id", pa.string()),
    pa.field("buyer_unit", pa.string()),  # centre financier (cfund_ctr)
    pa.field("budget_code", pa.string()),  # programme
    pa.field("budget_nature", pa.string()),  # compte budgétaire (cmmt_item)
    pa.field("budget_function", pa.string()),  # domaine fonctionnel (func_area)
    pa.field("goods_group", pa.string()),  # groupe de marchandises (matl_group)
    pa.field("supplier_ref", pa.string()),  # fournisseur titulaire (code Chorus)
    pa.field("supplier_siret", pa.string()),
    pa.field("supplier_name", pa.string()),
    pa.field("supplier_natural_person", pa.bool_()),
    pa.field("amount", _MONEY),  # montant engagé, as the flow states it
    pa.field("commitment_date", pa.date32()),  # doc_date / date de réplication
    pa.field("last_change_date", pa.date32()),  # date de dernière modification de l'EJ
    pa.field("delivery_date", pa.date32()),  # edp_delda
    pa.field("status", pa.string()),  # po_status as published
    pa.field("contract_ref", pa.string()),  # the contract the EJ executes, when given
])

#: Invoice status events (Chorus Pro status flux, and the pivot's validation cycle).
INVOICE_STATUSES = pa.schema([
    *_PROVENANCE,
    pa.field("invoice_number", pa.string()),
    pa.field("invoice_date", pa.date32()),
    pa.field("supplier_siret", pa.string()),
    pa.field("supplier_name", pa.string()),
    pa.field("buyer_id", pa.string()),
    pa.field("status_code", pa.string()),  # IdStatut / CodeStatut as published (07…)
    pa.field("status_label", pa.string()),  # ComplementStatut
    #: what the status means for payment delays: reception, service_fait, or NULL
    pa.field("event", pa.string()),
    pa.field("event_date", pa.date32()),
    pa.field("event_at", pa.string()),  # Horodatage as published (ISO timestamp)
    pa.field("comment", pa.string()),
])
