"""The quality rules on payments (PES, Chorus, exports): a rule set of the same engine as the
DECP rules (``quality.findings.findings_sql`` with these rules and subjects), with the same
severity vocabulary and the same ``Rule`` shape.

Subjects: ``payment`` (alias ``p``: one row of the warehouse's ``payments``) and
``contract_payment`` (alias ``cp``: one row of ``contract_payments``, what was paid on one
contract against what was awarded).
"""

from __future__ import annotations

from observatoire.quality.rules import INFO, WARNING, Rule, Subject

#: Tolerance on euro comparisons (rounding of the cents of several lines).
CENT = "0.01"

#: What a finding says of its line, file and buyer, carried from the rule's row (a join of
#: the findings back to ``payments`` by key spilled to disk past millions of lines).
_PAYMENT_SCOPE = (("file_hash", "p.file_hash"), ("position", "p.position"), ("line", "p.line"),
                  ("buyer_siret", "p.buyer_id"))
_CONTRACT_SCOPE = (("file_hash", "CAST(NULL AS VARCHAR)"), ("position", "CAST(NULL AS BIGINT)"),
                   ("line", "CAST(NULL AS BIGINT)"), ("buyer_siret", "cp.buyer_id"))

#: A payment line is one row of ``payments``, a contract one of ``contract_payments``.
PAYMENT_SUBJECTS: dict[str, Subject] = {
    "payment": Subject("payments p", "p.payment_key", "p.contract_uid", _PAYMENT_SCOPE,
                       one_row_a_record=True),
    "contract_payment": Subject("contract_payments cp", "cp.contract_uid", "cp.contract_uid",
                                _CONTRACT_SCOPE, one_row_a_record=True),
}

PAYMENT_RULES: list[Rule] = [
    Rule(
        "PAYMENT_BEFORE_INVOICE",
        WARNING,
        "DtePay",
        "Paiement avant la réception de la facture",
        "La date de paiement est antérieure à la date de réception de la facture (date de "
        "départ du délai global de paiement ou dépôt Chorus Pro) : l'une des deux dates est "
        "fausse. Le délai de paiement de cette ligne n'est pas calculé.",
        "Vérifiez la date de réception de la facture saisie dans le logiciel financier.",
        "p.payment_date < p.invoice_received_date",
        "CAST(p.invoice_received_date AS VARCHAR)",
        "CAST(p.payment_date AS VARCHAR)",
        over="payment",
        source="code de la commande publique, R2192-12",
    ),
    Rule(
        "PAYMENT_SUPPLIER_NO_ID",
        WARNING,
        "IdTiers",
        "Fournisseur sans identifiant",
        "Le tiers payé n'a ni SIRET ni autre identifiant : la dépense ne peut pas être "
        "rattachée à une entreprise (taille, territoire) ni à un marché par son titulaire.",
        "Renseignez le SIRET du tiers dans le logiciel financier.",
        "NOT p.supplier_has_id",
        "p.supplier_ref",
        over="payment",
    ),
    Rule(
        "PAYMENT_NEGATIVE_NOT_CANCELLATION",
        WARNING,
        "MtHT",
        "Montant négatif hors annulation",
        "La ligne porte un montant négatif sans être une annulation ou une réduction "
        "(bordereau de type 02, pièce de nature 06 ou 10) : on ne sait pas quelle dépense "
        "elle réduit. Elle est comptée telle quelle.",
        "Émettez une annulation rattachée au mandat qu'elle réduit.",
        "p.amount_ht < 0 AND NOT p.is_cancellation",
        "CAST(p.amount_ht AS VARCHAR)",
        over="payment",
    ),
    Rule(
        "PAYMENT_DUPLICATE_MANDAT",
        WARNING,
        "IdPce",
        "Mandat en double",
        "Un autre mandat, émis avant celui-ci et non annulé, paie au même fournisseur la même "
        "facture pour le même montant : la facture est peut-être payée deux fois.",
        "Vérifiez le mandat et annulez le doublon s'il en est un.",
        "p.duplicate_of_piece_id IS NOT NULL",
        "p.duplicate_of_piece_id",
        "p.piece_id",
        over="payment",
    ),
    Rule(
        "PAYMENT_CONTRACT_UNKNOWN",
        WARNING,
        "IdMarche",
        "Marché inconnu",
        "La ligne cite un marché (IdMarche) que ni les données essentielles (DECP) de "
        "l'acheteur ni ses PES Marché ne connaissent : la dépense n'est rattachée à ce marché "
        "que si un autre critère le permet (engagement, fournisseur et dates).",
        "Vérifiez le numéro de marché saisi, et que le marché est publié.",
        "p.contract_ref IS NOT NULL AND p.link_method IS DISTINCT FROM 'contract_number' "
        "AND p.link_method IS DISTINCT FROM 'finance_contract_number'",
        "p.contract_ref",
        over="payment",
    ),
    Rule(
        "PAYMENT_LATE_WITHOUT_INTEREST",
        WARNING,
        "DGP",
        "Paiement en retard sans intérêts moratoires",
        "La ligne est payée au-delà du délai légal (30 jours pour l'État et les collectivités, "
        "50 jours pour les établissements publics de santé), suspensions déduites, et aucun "
        "mandat d'intérêts moratoires (compte 6711) n'a été émis ensuite au même fournisseur "
        "pour le même marché. Les intérêts et l'indemnité forfaitaire de 40 € sont dus de "
        "plein droit.",
        "Mandatez les intérêts moratoires et l'indemnité forfaitaire dus au fournisseur.",
        "p.late_days > 0 AND NOT p.interest_mandated",
        "CAST(p.payment_delay_days AS VARCHAR)",
        "CAST(p.late_days AS VARCHAR)",
        over="payment",
        source="code de la commande publique, R2192-10, R2192-11, R2192-31 à R2192-36",
    ),
    Rule(
        "PAYMENT_LATE_WITH_INTEREST",
        INFO,
        "DGP",
        "Paiement en retard, intérêts moratoires mandatés",
        "La ligne est payée au-delà du délai légal, suspensions déduites ; des intérêts "
        "moratoires (compte 6711) ont été mandatés ensuite au même fournisseur pour le même "
        "marché.",
        "Rien à faire pour cette ligne ; réduisez les délais de paiement.",
        "p.late_days > 0 AND p.interest_mandated",
        "CAST(p.payment_delay_days AS VARCHAR)",
        "CAST(p.late_days AS VARCHAR)",
        over="payment",
        source="code de la commande publique, R2192-10, R2192-31",
    ),
    Rule(
        "CONTRACT_PAID_ABOVE_AWARDED",
        WARNING,
        "MtHT",
        "Payé au-delà du montant du marché",
        "Le total mandaté sur ce marché (hors intérêts moratoires, annulations déduites) "
        "dépasse son montant attribué, modifications comprises : un avenant manque, ou des "
        "paiements sont rattachés à tort à ce marché.",
        "Vérifiez les avenants du marché et publiez-les, ou corrigez le rattachement des "
        "mandats.",
        f"cp.awarded_ht IS NOT NULL AND cp.paid_ht > cp.awarded_ht + {CENT}",
        "CAST(cp.awarded_ht AS VARCHAR)",
        "CAST(cp.paid_ht AS VARCHAR)",
        over="contract_payment",
    ),
    Rule(
        "CONTRACT_ADVANCE_ABOVE_ALLOWED",
        WARNING,
        "NatPce",
        "Avance au-delà de ce que le marché prévoit",
        "Le total des avances forfaitaires mandatées (pièces de nature 14) dépasse ce que le "
        "marché prévoit : aucune avance (attributionAvance à faux) ou le taux d'avance publié "
        "appliqué au montant attribué.",
        "Vérifiez les conditions d'avance du marché (et leur publication).",
        f"cp.advances_ht > 0 AND cp.advance_allowed_ht IS NOT NULL "
        f"AND cp.advances_ht > cp.advance_allowed_ht + {CENT}",
        "CAST(cp.advance_allowed_ht AS VARCHAR)",
        "CAST(cp.advances_ht AS VARCHAR)",
        over="contract_payment",
    ),
]
