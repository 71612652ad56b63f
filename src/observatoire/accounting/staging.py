"""The staging shape shared by every accounting reader (PES V2, Chorus, Chorus Pro, exports).

One reader, one file → rows of these tables plus findings; the model joins them later. Columns
are named for what they mean, whatever the flow calls them (the PES element or Chorus column is
in the comment). Amounts are euros as DECIMAL(18, 2) text-free numbers; dates are ISO dates.
A reader leaves a column NULL when its flow does not carry it: never 0, never ''.
"""

from __future__ import annotations

import pyarrow as pa

#: Bumped when a column changes: staging files of another version are parsed again.
STAGING_VERSION = 3

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
    pa.field("batch_type", pa.string()),  # TypBord: 01 ordinaire, 02 annulation / réduction
    pa.field("piece_id", pa.string()),  # mandat IdPce / Chorus DP number
    pa.field("line_id", pa.string()),  # IdLigne
    pa.field("piece_type", pa.string()),  # TypPce (code as published)
    pa.field("piece_nature", pa.string()),  # NatPce: avance, acompte, solde, annulation…
    pa.field("cancelled_piece_id", pa.string()),  # the piece an annulation/réduction nets
    pa.field("cancelled_line_id", pa.string()),  # RattachPiece/IdLigneOrig
    pa.field("cancelled_fiscal_year", pa.int32()),  # RattachPiece/ExerRat
    #: RattachPiece/IdPceOrig of a piece that is not an annulation (mandat de rattachement…)
    pa.field("attached_piece_id", pa.string()),
    pa.field("budget_nature", pa.string()),  # Nature (compte)
    pa.field("budget_function", pa.string()),  # Fonction
    pa.field("object", pa.string()),  # ObjetLigne / Objet (PES: the piece's Obj)
    pa.field("payment_label", pa.string()),  # LibVir1 + LibVir2 (libellé du virement)
    pa.field("payment_mode", pa.string()),  # ModRegl
    pa.field("amount_ht", _MONEY),
    pa.field("amount_tva", _MONEY),
    pa.field("amount_ttc", _MONEY),
    pa.field("invoice_amount_ht", _MONEY),  # MtFactHT
    pa.field("supplier_ref", pa.string()),  # the buyer's own tiers reference (PES RefTiers)
    pa.field("supplier_id", pa.string()),  # IdTiers as published (SIRET, RNA, NIR…)
    pa.field("supplier_id_type", pa.string()),  # NatIdTiers (01 = SIRET)
    pa.field("supplier_siret", pa.string()),
    pa.field("supplier_name", pa.string()),
    pa.field("supplier_category", pa.string()),  # CatTiers (01 = personne physique)
    pa.field("supplier_legal_nature", pa.string()),  # NatJur (01 = particulier)
    pa.field("supplier_natural_person", pa.bool_()),  # individual tiers: never published by name
    pa.field("contract_ref", pa.string()),  # IdMarche / contract number
    pa.field("commitment_ref", pa.string()),  # engagement juridique (EJ)
    pa.field("invoice_number", pa.string()),
    pa.field("invoice_date", pa.date32()),
    pa.field("invoice_received_date", pa.date32()),  # DGP start when that is what it is
    pa.field("delay_eligible", pa.bool_()),  # DGP: Dgp (dépense soumise au délai global)
    pa.field("delay_start_date", pa.date32()),  # DGP: DteDebDgp / date de base
    pa.field("delay_end_date", pa.date32()),  # DGP: DteFinDgp
    pa.field("delay_days_allowed", pa.int32()),  # DGP: DureeDgp
    pa.field("interest_code", pa.string()),  # DGP: CodIntMor
    pa.field("interest_rate", pa.float64()),  # DGP: TxIntMor
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
    pa.field("piece_type", pa.string()),  # TypPce
    pa.field("piece_nature", pa.string()),  # NatPce
    pa.field("state", pa.string()),  # état du mandat as published (EtatPce: 02 prise en charge…)
    pa.field("state_note", pa.string()),  # ObsEtat
    pa.field("integrated_date", pa.date32()),  # DtePceInt
    pa.field("taken_in_charge_date", pa.date32()),  # prise en charge (DtePcePec)
    pa.field("rejected_date", pa.date32()),  # DtePceRej
    pa.field("pending_date", pa.date32()),  # DtePceInst (mise en instance)
    pa.field("line_amount_ht", _MONEY),  # the line's MtHT
    pa.field("payments_count", pa.int32()),  # InfoPaiement/NbrPay
    pa.field("amount_paid_total", _MONEY),  # InfoPaiement/MtPayTot
    pa.field("payment_id", pa.string()),  # IdPay
    pa.field("payment_mode", pa.string()),  # ModeReg
    pa.field("payment_date", pa.date32()),  # DtePay
    pa.field("amount_paid", _MONEY),  # MtPay
    pa.field("suspension_start", pa.date32()),  # DGP/DteDebSusp
    pa.field("suspension_end", pa.date32()),  # DGP/DteFinSusp
    pa.field("suspension_reason", pa.string()),  # DGP/NatSusp
    pa.field("suspension_days", pa.int32()),
    pa.field("contract_ref", pa.string()),  # LiensIdent/IdMarche
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
    pa.field("buyer_id", pa.string()),  # PES: EnTetePES/IdColl, the collectivité that sends it
    pa.field("send_sequence", pa.int32()),  # SequenceEnvoi
    pa.field("corrective", pa.bool_()),  # CaractereCorrectifEnregistrement
    #: Every buyer of the contract (groupement) with its estimate and notified share.
    pa.field("buyers", pa.list_(pa.struct([
        pa.field("id", pa.string()), pa.field("name", pa.string()),
        pa.field("estimate_ht", _MONEY), pa.field("amount_ht", _MONEY),
        pa.field("amount_tva", _MONEY)]))),
    pa.field("nature", pa.string()),
    pa.field("object", pa.string()),
    pa.field("cpv", pa.string()),
    pa.field("procedure", pa.string()),
    pa.field("place_code", pa.string()),
    pa.field("place_type", pa.string()),  # LieuExecution/TypeCode
    pa.field("place_name", pa.string()),
    pa.field("notification_date", pa.date32()),
    pa.field("publication_date", pa.date32()),  # DatePublicationDonnees
    pa.field("duration_months", pa.int32()),
    pa.field("duration_max_months", pa.int32()),  # DureeEnMoisMaximumPossible
    pa.field("amount_ht", _MONEY),
    pa.field("amount_tva", _MONEY),  # MontantTVANotifie
    pa.field("amount_is_estimate", pa.bool_()),  # CaractereEstimatifMontantNotifie
    pa.field("estimate_ht", _MONEY),
    pa.field("price_form", pa.string()),
    #: The holders' PourcentageAvance when they all agree (each holder keeps its own).
    pa.field("advance_rate", pa.float64()),
    pa.field("guarantee", pa.string()),  # TypeGarantie when every holder has the same
    pa.field("framework_id", pa.string()),  # IdAccordCadre
    pa.field("secondary_cpv", pa.list_(pa.string())),
    pa.field("offers_received", pa.int32()),  # NbTotalPropositionsRecu
    pa.field("social_clause", pa.bool_()),
    pa.field("environmental_clause", pa.bool_()),
    pa.field("ccag", pa.string()),  # CCAGReference
    pa.field("buyer_profile_url", pa.string()),  # URLProfilAcheteur
    #: What only a purchasing system's export gives (no PES element carries them; NULL from
    #: PES Marché): the consultation a contract is a lot of and its number of lots (A05), the
    #: retenue de garantie rate as a fraction (B08), a procedure run entirely electronically
    #: (C07), a clause or criterion of equality between women and men or against
    #: discrimination (D07).
    pa.field("consultation_ref", pa.string()),
    pa.field("lots_count", pa.int32()),
    pa.field("retention_rate", pa.float64()),
    pa.field("electronic_procedure", pa.bool_()),
    pa.field("equality_clause", pa.bool_()),
    #: Holders, then direct-payment subcontractors (role says which); amount_ht is the sum of
    #: their VentilationTitulaire / VentilationSousTraitant over buyers.
    pa.field("holders", pa.list_(pa.struct([
        pa.field("siret", pa.string()), pa.field("name", pa.string()),
        pa.field("natural_person", pa.bool_()),
        pa.field("role", pa.string()),  # titulaire | sous_traitant_paiement_direct
        pa.field("id", pa.string()), pa.field("id_type", pa.string()),
        pa.field("category", pa.string()), pa.field("legal_nature", pa.string()),
        pa.field("holder_type", pa.string()),  # TypeTitulaireMarche
        pa.field("advance_rate", pa.float64()),
        pa.field("start_date", pa.date32()), pa.field("price_form", pa.string()),
        pa.field("amount_ht", _MONEY),
        pa.field("guarantees", pa.list_(pa.struct([
            pa.field("type", pa.string()), pa.field("delay_months", pa.int32()),
            pa.field("rate", pa.float64()), pa.field("amount", _MONEY)]))),
    ]))),
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
