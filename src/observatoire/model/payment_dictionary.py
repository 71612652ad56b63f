"""The payment tables of the warehouse (``model/payments.py``, ``indicators/payments.py``),
documented like ``model.dictionary.TABLES``. They are built only where accounting files are
loaded; ``observatoire dictionary`` lists them in their own section."""

from __future__ import annotations

_FILE = {
    "file_hash": "SHA-256 of the accounting file the row comes from.",
    "position": "Rank of the record in its file (1-based).",
    "line": "Line of the record in the file.",
}
_MASKED = "Personne physique (nom masqué)"

PAYMENT_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "accounting_files": (
        "One row per accounting file read (PES Dépense, Retour, Marché; Chorus; Chorus Pro; "
        "exports), with its reader's counts.",
        {
            "file_hash": "SHA-256 of the file.",
            "file_name": "File name.",
            "flow": "`pes_depense`, `pes_retour`, `pes_marche`, or the reader's format id.",
            "status": "loaded, partial, rejected or not_handled (the reader's).",
            "records_in": "Records met by the reader (payment lines, retour lines, contracts).",
            "kept": "Records the reader kept.",
            "duplicates": "Records met twice in the file.",
            "set_aside": "Records set aside by the reader (with a finding).",
            "simulated": "The file is simulated (declared by a `.provenance.toml` beside it, "
                         "recorded in its load-log line; or named `SIMULE_…` by "
                         "`accounting.simulate`): its rows are labelled simulated "
                         "(docs/accounting.md, « Simulated files »).",
        },
    ),
    "payments": (
        "One row per payment line (PES Dépense `LigneDePiece`, Chorus DP line, export row), "
        "the same line sent again in another file counted once; with what the accountant did "
        "(PES Retour), the invoice's reception, the payment delay and the link to its contract "
        "(docs/accounting.md, « Payments in the model »). Annulations and reductions are rows "
        f"of their own and net the line they cancel. Natural persons: name shown as « {_MASKED} "
        "», identifier dropped.",
        {
            "payment_key": "Line identity: digest of buyer, budget, fiscal year, piece, line.",
            "buyer_id": "SIRET of the buyer (PES IdColl).",
            "budget_code": "Budget (CodBud).",
            "fiscal_year": "Fiscal year (Exer).",
            "batch_id": "Bordereau (IdBord).",
            "mandate_date": "Date the bordereau of the mandat was issued (DteBordEm).",
            "batch_type": "TypBord: 01 ordinary, 02 annulation / réduction.",
            "piece_id": "Mandat (IdPce).",
            "line_id": "Line (IdLigne).",
            "piece_type": "TypPce as published (09 mandat sur marché…).",
            "piece_nature": "NatPce as published (14 avance forfaitaire, 13 dernier acompte, 12 "
            "retenue de garantie, 06 annulation / réduction…).",
            "is_cancellation": "An annulation or reduction (TypBord 02, NatPce 06 or 10, or a "
            "cancelled piece given).",
            "cancelled_piece_id": "The piece an annulation cancels (RattachPiece/IdPceOrig).",
            "cancelled_line_id": "Its line (IdLigneOrig).",
            "cancels_payment_key": "The payment line this annulation nets (NULL when not found).",
            "attached_piece_id": "RattachPiece/IdPceOrig of a piece that is not an annulation.",
            "budget_nature": "Budget account (Nature).",
            "budget_function": "Budget function (Fonction).",
            "is_interest": "Late-payment interest or flat indemnity (account 6711…).",
            "is_advance": "An advance (NatPce 14), not an annulation.",
            "object": "Object of the piece (Obj); NULL for a natural person (it often names "
            "them).",
            "payment_mode": "ModRegl.",
            "amount_ht": "Amount HT as published (positive for annulations too).",
            "amount_tva": "TVA.",
            "amount_ttc": "HT + TVA.",
            "signed_amount_ht": "Amount HT, negative for an annulation / reduction.",
            "cancelled_amount_ht": "What annulations take off this line (0 when none).",
            "net_amount_ht": "amount_ht − cancelled_amount_ht; 0 for the annulation rows "
            "themselves (their effect is on the line they cancel): sum it for what was paid.",
            "net_amount_ttc": "The same, TTC.",
            "supplier_ref": "The buyer's own tiers code (RefTiers).",
            "supplier_id": "Tiers identifier as published (IdTiers); NULL for a natural person.",
            "supplier_id_type": "NatIdTiers (01 SIRET…).",
            "supplier_siret": "SIRET when the identifier is one.",
            "supplier_has_id": "The tiers has an identifier (before a natural person's is "
            "dropped).",
            "supplier_name": f"Tiers name; « {_MASKED} » for a natural person, « Nom non "
            "diffusible (SIRENE) » for a SIRET whose legal unit or establishment SIRENE marks "
            "as not diffusible.",
            "supplier_natural_person": "Individual tiers (CatTiers 01, NatJur 01, first name or "
            "civility given).",
            "supplier_not_diffusible": "SIRENE forbids naming the supplier (its SIRET's legal "
            "unit or establishment is not diffusible).",
            "supplier_category": "CatTiers.",
            "contract_ref": "Contract number given by the line (IdMarche).",
            "commitment_ref": "Commitment (engagement juridique), Chorus.",
            "invoice_number": "Invoice number (Facture).",
            "invoice_date": "Invoice date when the flow gives it.",
            "invoice_received_date": "Reception of the invoice: Chorus Pro reception (pivot "
            "DateReception or status 01 « Déposée » of the status flux, the first), else the "
            "flow's, else the DGP start date (DteDebDgp).",
            "invoice_received_source": "`chorus_pro`, `flow` or `dgp_start`.",
            "service_done_date": "Service fait: Chorus Pro status 07 (status flux or the "
            "pivot's validation cycle, the first), else the flow's (Chorus DP date comptable "
            "du service fait).",
            "delay_start_date": "Start of the payment delay (R2192-12): the reception, or the "
            "Chorus Pro service fait when it is later than the reception (and not after the "
            "payment) or the reception is unknown; the DGP start as the finance software gives "
            "it (already its rule).",
            "delay_start_method": "`reception`, `service_fait` or `dgp_start`.",
            "delay_eligible": "Subject to the global payment delay (DGP/Dgp).",
            "delay_days_allowed": "Delay the buyer declares (DureeDgp).",
            "interest_code": "CodIntMor (01 legal rate, 02 ECB rate, 03 other).",
            "interest_rate": "TxIntMor.",
            "accountant_state": "Last state from the PES Retour (EtatPce: 02 prise en charge, 04 "
            "rejected, 05 soldé…).",
            "taken_in_charge_date": "Prise en charge by the accountant (DtePcePec).",
            "payment_date": "Last payment date of the line (DtePay).",
            "amount_paid": "Sum of the line's payments (MtPay).",
            "suspension_days": "Days the delay was suspended (DteFinSusp − DteDebSusp).",
            "payment_delay_days": "payment_date − delay_start_date − suspension_days; NULL "
            "when a date is missing, for annulations and lines outside the DGP.",
            "legal_delay_days": "30 days (R2192-10), or 50 when the DGP declares 50 (public "
            "health establishments, R2192-11).",
            "late_days": "Days beyond the legal delay (0 in time, NULL when unknown).",
            "interest_mandated": "A late line for which an interest line (6711) was mandated "
            "later to the same supplier for the same contract.",
            "paid_to_subcontractor": "A direct payment to a subcontractor: as the flow says "
            "(export), else whether the supplier SIRET is a direct-payment subcontractor of the "
            "linked PES Marché contract; NULL when nothing says.",
            "duplicate_of_piece_id": "An earlier, not annulled piece paying the same supplier "
            "the same invoice for the same amount.",
            "contract_uid": "The contract paid (`contracts.uid`, or `finance_contracts."
            "contract_uid` for a contract known only from PES Marché); NULL: outside contracts.",
            "contract_source": "`decp` or `finance`.",
            "link_method": "`contract_number`, `finance_contract_number`, `commitment`, "
            "`buyer_supplier_dates`; NULL when not linked.",
            "link_confidence": "`high`, `medium`, `low`.",
            "flow": "Flow of the line (pes_depense, chorus_dp, export).",
            **_FILE,
        },
    ),
    "contract_payments": (
        "Per contract with linked payments: paid to date against awarded.",
        {
            "contract_uid": "Contract.",
            "contract_source": "`decp` or `finance`.",
            "buyer_id": "Buyer SIRET.",
            "paid_ht": "Sum of net_amount_ht, late-payment interest left out.",
            "advances_ht": "Advances paid (NatPce 14), net.",
            "interest_ht": "Late-payment interest and indemnities mandated on the contract.",
            "payment_lines": "Payment lines (annulations left out).",
            "first_payment_date": "First payment.",
            "last_payment_date": "Last payment.",
            "awarded_ht": "Amount awarded after modifications (DECP `contracts.amount`, else "
            "the PES Marché notified amount).",
            "advance_granted": "DECP attributionAvance (NULL when unknown).",
            "advance_rate": "Advance rate (DECP, else PES Marché).",
            "advance_allowed_ht": "0 when no advance is granted, rate × awarded when both are "
            "known, else NULL (unknown).",
        },
    ),
    "finance_contracts": (
        "Contracts as the finance software (PES Marché) or a purchasing export knows them, "
        "below 40 k€ included; the "
        "latest send of each. The same identity rule as DECP (buyer SIRET + cleaned id).",
        {
            "contract_uid": "Buyer SIRET + cleaned contract number.",
            "decp_uid": "The DECP contract with that identity, when exactly one.",
            "contract_ref": "IdContrat as sent.",
            "buyer_id": "Collectivité that sends it.",
            "object": "Objet.",
            "nature": "NatureMarche code.",
            "cpv": "CodeCPV.",
            "procedure": "ProcedureMarche code.",
            "notification_date": "DateNotification.",
            "duration_months": "DureeEnMois.",
            "amount_ht": "MontantHTNotifie.",
            "estimate_ht": "MontantHTEstime.",
            "advance_rate": "PourcentageAvance when every holder has the same.",
            "holder_sirets": "SIRET of the holders.",
            "direct_payment_subcontractor_sirets": "SIRET of the direct-payment subcontractors "
            "(SousTraitantPaiementDirect).",
            "execution_start_date": "Earliest DateDebutExecution of the holders (start of "
            "execution: B06's start).",
            "consultation_ref": "Consultation the contract is a lot of (purchasing export; A05).",
            "lots_count": "Number of lots of that consultation (purchasing export; A05).",
            "retention_rate": "Retenue de garantie rate, a fraction (an export's value above 1 "
            "is read as a percentage; B08).",
            "electronic_procedure": "Procedure run entirely electronically (purchasing export; "
            "C07).",
            "equality_clause": "Clause or criterion of equality between women and men or "
            "against discrimination (purchasing export; D07).",
            **_FILE,
        },
    ),
    "invoices": (
        "Invoices (Chorus Pro): one row per supplier, number and type; an invoice known "
        "only from the status flux is a row of its own (`invoice_source` `status`).",
        {
            "invoice_number": "Number.",
            "supplier_siret": "Supplier SIRET.",
            "supplier_name": f"Supplier name; « {_MASKED} » for a natural person, « Nom non "
            "diffusible (SIRENE) » when SIRENE forbids naming it.",
            "supplier_natural_person": "Individual supplier.",
            "buyer_id": "Buyer.",
            "service_code": "Service code.",
            "issue_date": "Issue date.",
            "received_date": "Reception: the pivot's DateReception, else the first status 01 "
            "« Déposée » of the status flux.",
            "service_done_date": "First status 07 « Service fait » (validation cycle or status "
            "flux).",
            "status": "Status as published.",
            "amount_ht": "Amount HT.",
            "amount_ttc": "Amount TTC.",
            "contract_ref": "Contract number given.",
            "commitment_ref": "Commitment given.",
            "invoice_type": "380 invoice, 381 credit note.",
            "invoice_source": "`pivot` (format pivot) or `status` (status flux only).",
            **_FILE,
        },
    ),
    "payment_reconciliation": (
        "Per accounting file: records in = kept + duplicates (in the file, or already met in "
        "another file) + set aside.",
        {
            "file_hash": "File.",
            "file_name": "File name.",
            "flow": "Flow.",
            "status": "The reader's status.",
            "records_in": "Records met by the reader.",
            "kept": "Payment lines in `payments` (Dépense), or the reader's kept records.",
            "duplicates_in_file": "Records met twice in the file (reader).",
            "duplicates_across_files": "Payment lines already brought by another file.",
            "set_aside": "Set aside by the reader.",
            "balanced": "records_in = kept + duplicates_in_file + duplicates_across_files + "
            "set_aside.",
        },
    ),
    "payment_batch_checks": (
        "Each PES Dépense bordereau: its announced totals (MtBordHT, MtBordTVA, NbrPce) "
        "against what its readable lines add up to (duplicates included: the bordereau "
        "announces what it carries).",
        {
            "file_hash": "File.",
            "file_name": "File name.",
            "fiscal_year": "Exer.",
            "batch_id": "IdBord.",
            "line": "Line of the bordereau in the file.",
            "pieces_announced": "NbrPce (NULL when not given).",
            "pieces_read": "Pieces read.",
            "amount_ht_announced": "MtBordHT.",
            "amount_ht_lines": "Sum of its lines' MtHT.",
            "amount_tva_announced": "MtBordTVA.",
            "amount_tva_lines": "Sum of its lines' MtTVA.",
            "complete": "False when the file stops inside the bordereau.",
            "matches": "Announced = read (NULL when the bordereau is incomplete).",
        },
    ),
    "payment_findings": (
        "Findings of the payment rule set (docs/quality-rules.md), in the shape of `findings`.",
        {
            "finding_id": "Digest of record, rule, field and values.",
            "rule_id": "Rule (see quality_rules).",
            "severity": "bloquant, avertissement, correction or information.",
            "field": "PES element concerned.",
            "record_key": "`payments.payment_key`, or the contract uid for a contract rule.",
            **_FILE,
            "load_id": "NULL (accounting files are not DECP loads).",
            "file_name": "File name.",
            "uid": "Contract (NULL if none).",
            "buyer_siret": "Buyer SIRET.",
            "raw_value": "The value found.",
            "value": "The value compared with.",
            "directorate_id": "NULL (not yet given for payments).",
            "follow_key": "As `findings.follow_key`.",
        },
    ),
    "payment_indicator_results": (
        "The indicators computed from the payment tables (`indicators/payments.py`), in the "
        "shape of the indicator results: per year (`toutes` for all years, `date inconnue` "
        "for rows without a date) and overall or per buyer. An indicator whose population is "
        "empty has no row (« données non disponibles »). Units: B02, B08, C07, D07, G06, G07 the "
        "contract; A05 the consultation; "
        "B03, B04, B06, B11 the mandat; B05, E03 the payment line (docs/accounting.md).",
        {
            "indicator_id": "`avance-versee-pme` (B02), `delai-global-paiement` (B03), "
            "`factures-30-jours` (B04), `interets-moratoires` (B05), `delai-versement-avance` "
            "(B06), `delai-paiement-sous-traitants` (B11), `paiements-entreprises-locales` "
            "(E03), `montants-payes-attribues` (G06), `publication-des-premier-euro` (G07), "
            "`allotissement` (A05), `retenue-garantie-pme` (B08), `dematerialisation` (C07), "
            "`egalite-femmes-hommes` (D07).",
            "version": "Definition version.",
            "code": "Catalogue code.",
            "period": "Year (payment year for B03–B06 and B11, fiscal year for E03, "
            "notification year for B02, G06 and G07), `date inconnue`, or `toutes`.",
            "period_year": "That year (NULL for `toutes` and `date inconnue`).",
            "breakdown": "`total` or `buyer`.",
            "breakdown_value": "Buyer SIRET for `buyer`.",
            "category": "B04 band (`1-30`, `31-60`, `61+` days; `1-30` includes day 0); B05 "
            "`intérêts moratoires` or `indemnités forfaitaires` (a 6711 line of exactly 40 €); NULL for the whole.",
            "basis": "`mean`, `median` (B03, B06, B11); `count`, `value` (amount HT: B04, B05, "
            "E03); `ratio` (G06).",
            "numerator": "Sum of delays (mean); what meets the condition (shares: count or "
            "amount); paid to date (G06); the count or amount itself (B05).",
            "denominator": "What is known (delays known, contracts whose SME status is known, "
            "amounts placed, amount awarded); NULL for B05.",
            "value": "Mean or median days; share; ratio; B05's count or amount.",
            "record_count": "Rows of the population.",
            "known_count": "Rows whose condition or delay is known.",
            "coverage": "known_count / record_count.",
            "undated_count": "Rows of the population without a year.",
            "unknown_low": "Shares: the value if every unknown row were a no (NULL otherwise).",
            "unknown_high": "Shares: the value if every unknown row were a yes.",
        },
    ),
}
