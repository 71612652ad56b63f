"""PES V2 ``PES_Aller`` with ``PES_DepenseAller``: bordereaux → pièces (mandats) → lignes + tiers,
one PAYMENT_LINES row per line.

Streaming: the reader handles the finished ``Piece`` elements by groups of at most
``PIECE_GROUP`` of a bordereau (validated against the official schema in one call, turned into
rows, then freed), so memory does not grow with the file. A bordereau's totals are
added up line by line and compared with what its ``BlocBordereau`` announces when the
bordereau ends. A ``PES_RecetteAller`` part in the same file is recognised, counted and set
aside (not read yet).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from lxml import etree

from observatoire.accounting.pes_common import (
    SIGNATURE,
    BatchCheck,
    PesResult,
    Reporter,
    RowWriter,
    children,
    day,
    drop_previous,
    euros,
    integer,
    leaves,
    line_of,
    localname,
    money,
    natural_person,
    note_signature,
    rate,
    siret,
    v,
)
from observatoire.accounting.pes_schema import (
    REVISION,
    WRAPPER_NS,
    Violation,
    aller_schema,
    validate_pieces,
)

FLOW = "pes_depense"

#: TypBord 02 and NatPce 06 / 10 are annulations or reductions of earlier pieces.
CANCELLING_BATCH_TYPES = {"02"}
#: Yes and no as xs:boolean spells them (the PES schema allows only "true" and "false": the
#: others are read and reported by the schema check); any other text is unknown, not a no.
XS_BOOLEAN = {"true": True, "1": True, "false": False, "0": False}
CANCELLING_NATURES = {"06", "10"}

#: NatPce codes (official schema's documentation), for docs and later pages.
PIECE_NATURES = {
    "01": "Fonctionnement", "02": "Investissement", "03": "Inventaire", "04": "Emprunt",
    "05": "Régie", "06": "Annulation / réduction", "07": "Complémentaire", "08": "Réémis",
    "09": "Annulant un titre", "10": "Annulation du mandat de rattachement", "11": "Paie",
    "12": "Retenue de garantie", "13": "Dernier acompte sur marché", "14": "Avance forfaitaire",
    "18": "Opération d'ordre liée aux cessions",
}
PIECE_TYPES = {
    "01": "Mandat ordinaire", "02": "Mandat correctif", "03": "Mandat d'ordre budgétaire",
    "04": "Mandat d'ordre mixte", "05": "Mandat émis après paiement", "06": "Mandat global",
    "07": "Mandat d'admission en non-valeurs", "08": "Mandat collectif",
    "09": "Mandat sur marché", "10": "Mandat de rattachement",
    "12": "Demande d'émission de mandat", "13": "Charges constatées d'avance",
}

#: Pièces of a bordereau held, then validated in one call (libxml2's check costs about a third
#: less per pièce than one call each, docs/benchmarks.md). The pièces the parser has read ahead
#: (32 KiB at most) are checked again with their own group: groups are not made much smaller.
PIECE_GROUP = 1000

TAGS = ("Enveloppe", "EnTetePES", "EnTeteDepense", "BlocBordereau", "Piece", "Bordereau",
        SIGNATURE, "PJ", "PES_RecetteAller", "PES_PJ")


class _Piece(NamedTuple):
    """What a piece gives each of its lines' rows."""

    head: tuple[Any, ...]  # buyer_id … batch_type, in PAYMENT_LINES' order
    piece_id: str | None
    piece_type: str | None
    piece_nature: str | None
    object: str | None
    delays: tuple[Any, ...]  # delay_eligible … interest_rate, in PAYMENT_LINES' order


@dataclass
class _Batch:
    fiscal_year: int | None = None
    batch_id: str | None = None
    batch_date: Any = None
    batch_type: str | None = None
    line: int = 0
    pieces_announced: int | None = None
    amount_ht_announced: Decimal | None = None
    amount_tva_announced: Decimal | None = None
    pieces: int = 0
    amount_ht: Decimal = Decimal(0)
    amount_tva: Decimal = Decimal(0)
    keys: set[tuple[str | None, str | None]] = field(default_factory=set)
    repeated: bool = False


class DepenseReader:
    def __init__(self, result: PesResult, report: Reporter, lines: RowWriter) -> None:
        self.result, self.report, self.lines = result, report, lines
        self.buyer_id: str | None = None
        self.budget_code: str | None = None
        self.batch: _Batch | None = None
        self.batch_keys: set[tuple[int | None, str | None, str | None]] = set()
        self.tiers: set[tuple[str | None, ...]] = set()
        self.position = 0
        self.no_dgp = 0
        self.no_tiers = 0
        self.first_no_dgp: int | None = None
        self.unlinked_cancellations: list[str] = []
        self.recette_pieces = 0
        self.attachments = 0
        self.schema = aller_schema()
        #: The file-level elements met (header, signatures, attachments, Recette): a part of
        #: the file read on its own must not meet the header again (``pes_split``).
        self.met: set[str] = set()
        #: Finished pièces of ``holder`` (a bordereau) not read yet (``flush``).
        self.pending: list[etree._Element] = []
        self.holder: etree._Element | None = None

    def where(self) -> str:
        c = self.result
        return f"{c.bordereaux} bordereau(x), {c.pieces} pièce(s), {c.records_in} ligne(s)"

    # -- dispatch -----------------------------------------------------------------------------

    def handle(self, el: etree._Element) -> None:
        tag = el.tag
        if tag == "Piece" and (bordereau := _bordereau_of(el)) is not None:
            if bordereau is not self.holder:
                self.flush()
                self.holder = bordereau
            self.pending.append(el)
            if len(self.pending) >= PIECE_GROUP:
                self.flush()
            return
        self.flush()
        if tag == "Piece":
            if _part_of(el) == "PES_RecetteAller":
                self.recette_piece(el)
            else:
                self.piece(el, None)
            drop_previous(el)
        elif tag == "BlocBordereau":
            if _part_of(el) == "PES_DepenseAller":
                self.start_batch(el)
        elif tag == "Bordereau":
            parent = el.getparent()
            if parent is not None and parent.tag == "PES_DepenseAller":
                self.end_batch(complete=True)
            drop_previous(el)
        elif tag == "EnTeteDepense":
            self.met.add(tag)
            self.result.revision = v(el, "IdVer")
            if self.result.revision != "2":
                self.report.add(
                    "PES_REVISION",
                    f"Le fichier annonce la version {self.result.revision or '(aucune)'} du PES "
                    f"Dépense (IdVer) ; les schémas de référence ({REVISION}) attendent 2. Il "
                    "est lu quand même, champ par champ.",
                    "Rien à faire ; les écarts au schéma sont signalés un par un.",
                    line=line_of(el), element="IdVer")
        elif tag == SIGNATURE:
            self.signature(el)
        elif tag == "PJ":
            parent = el.getparent()
            if parent is not None and parent.tag == "PES_PJ":
                self.attachments += 1
                drop_previous(el)
        elif tag in ("Enveloppe", "EnTetePES"):
            self.met.add(tag)
            if tag == "EnTetePES":
                self.buyer_id = v(el, "IdColl")
                self.budget_code = v(el, "CodBud")
            self.report.check(tag, self.schema, WRAPPER_NS, el, None)
        elif tag == "PES_RecetteAller":
            drop_previous(el)

    def flush(self) -> None:
        """Read the pièces held (validated in one call), in order, then free them."""
        pieces, bordereau = self.pending, self.holder
        if not pieces or bordereau is None:
            return
        self.pending, self.holder = [], None
        checks = None
        if self.report.validate:
            while pieces[0].getprevious() is not None:  # the bordereau's header, read already
                del bordereau[0]
            checks = validate_pieces(self.schema, WRAPPER_NS, bordereau, len(pieces))
        for i, el in enumerate(pieces):
            self.piece(el, None if checks is None else checks[i])
        last = pieces[-1]
        pieces.clear()  # no proxy left on the pièces: freeing them needs no copy
        drop_previous(last)

    def signature(self, el: etree._Element) -> None:
        note_signature(self.result, self.report, el)
        parent = el.getparent()
        if parent is not None and localname(parent.tag) in ("Bordereau", "PES_Aller"):
            self.report.check("Signature", self.schema, WRAPPER_NS, el, self._batch_label())
        el.clear()

    # -- bordereaux ---------------------------------------------------------------------------

    def start_batch(self, el: etree._Element) -> None:
        b = _Batch(line=line_of(el) or 0)
        b.fiscal_year = integer(v(el, "Exer"))
        b.batch_id = v(el, "IdBord")
        b.batch_date = day(v(el, "DteBordEm"))
        b.batch_type = v(el, "TypBord")
        b.pieces_announced = integer(v(el, "NbrPce"))
        for name, attr in (("MtBordHT", "amount_ht_announced"),
                           ("MtBordTVA", "amount_tva_announced")):
            with contextlib.suppress(ValueError):  # reported by the schema check
                setattr(b, attr, money(v(el, name)))
        key = (b.fiscal_year, self.budget_code, b.batch_id)
        if key in self.batch_keys:
            b.repeated = True
            self.report.add(
                "PES_DUPLICATE_BATCH",
                f"Le bordereau n° {b.batch_id} de l'exercice {b.fiscal_year} figure deux fois "
                "dans le fichier : ses lignes sont comptées comme doublons.",
                "Vérifiez l'export du logiciel financier.",
                line=b.line, record=self._batch_label(b))
        self.batch_keys.add(key)
        self.batch = b
        self.result.bordereaux += 1
        self.report.check("BlocBordereau", self.schema, WRAPPER_NS, el, self._batch_label(b))

    def end_batch(self, complete: bool) -> None:
        b = self.batch
        if b is None:
            return
        self.batch = None
        check = BatchCheck(b.fiscal_year, b.batch_id, b.line, b.pieces_announced, b.pieces,
                           b.amount_ht_announced, b.amount_ht, b.amount_tva_announced,
                           b.amount_tva, complete)
        self.result.batches.append(check)
        label = self._batch_label(b)
        if not complete:
            self.report.add(
                "PES_BATCH_INCOMPLETE",
                f"Le fichier s'arrête dans le {label} : {b.pieces} pièce(s) lue(s) sur "
                f"{b.pieces_announced} annoncée(s) ; ses totaux ne peuvent pas être vérifiés.",
                "Demandez le fichier complet.", line=b.line, record=label)
            return
        if b.pieces_announced is not None and b.pieces_announced != b.pieces:
            self.report.add(
                "PES_BATCH_PIECE_COUNT_MISMATCH",
                f"Le {label} annonce {b.pieces_announced} pièce(s) (NbrPce) mais en contient "
                f"{b.pieces}.",
                "Vérifiez le bordereau dans le logiciel financier.",
                line=b.line, record=label, element="NbrPce")
        for name, announced, summed in (("MtBordHT", b.amount_ht_announced, b.amount_ht),
                                        ("MtBordTVA", b.amount_tva_announced, b.amount_tva)):
            if announced is not None and announced != summed:
                self.report.add(
                    "PES_BATCH_TOTAL_MISMATCH",
                    f"Le {label} annonce {euros(announced)} ({name}) mais ses lignes "
                    f"totalisent {euros(summed)} (écart {euros(announced - summed)}).",
                    "Les lignes sont gardées telles qu'elles sont ; vérifiez le bordereau dans "
                    "le logiciel financier (ligne manquante, montant mal saisi).",
                    line=b.line, record=label, element=name)

    def _batch_label(self, b: _Batch | None = None) -> str:
        b = b or self.batch
        if b is None:
            return ""
        return f"bordereau n° {b.batch_id} (exercice {b.fiscal_year})"

    # -- pièces and lines ---------------------------------------------------------------------

    def recette_piece(self, el: etree._Element) -> None:
        self.recette_pieces += 1
        n = len(el.findall("LigneDePiece"))
        self.result.records_in += n
        self.result.set_aside += n

    def piece(self, el: etree._Element, violations: list[Violation] | None) -> None:
        """Read a pièce and its lines; ``violations``: its schema check made already with
        others (None: check it here)."""
        b = self.batch or _Batch()
        b.pieces += 1
        self.result.pieces += 1
        bloc = children(children(el).get("BlocPiece"))
        info, dgp = leaves(bloc.get("InfoPce")), leaves(bloc.get("DGP"))
        piece_id = info.get("IdPce")
        record = f"{self._batch_label(b)}, pièce n° {piece_id}"
        if violations is None:
            self.report.check("Pièce", self.schema, WRAPPER_NS, el, record)
        else:
            self.report.violations("Pièce", violations, record)
        nature = info.get("NatPce")
        cancelling = nature in CANCELLING_NATURES or b.batch_type in CANCELLING_BATCH_TYPES
        if "DGP" not in bloc:
            self.no_dgp += 1
            self.first_no_dgp = self.first_no_dgp or line_of(el)
        dgp_flag = dgp.get("Dgp")
        base = _Piece(
            (self.buyer_id, self.budget_code, b.fiscal_year, b.batch_id, b.batch_date,
             b.batch_type),
            piece_id, info.get("TypPce"), nature, info.get("Obj"),
            (XS_BOOLEAN.get(dgp_flag or ""), day(dgp.get("DteDebDgp")),
             day(dgp.get("DteFinDgp")), integer(dgp.get("DureeDgp")), dgp.get("CodIntMor"),
             rate(dgp.get("TxIntMor"))))
        linked = False
        for line_el in el.iterchildren("LigneDePiece"):
            linked |= self.line(line_el, base, b, cancelling, record)
        if cancelling and not linked:
            self.unlinked_cancellations.append(record)

    def line(self, el: etree._Element, base: _Piece, b: _Batch, cancelling: bool,
             piece_record: str) -> bool:
        res = self.result
        res.records_in += 1
        self.position += 1
        info, attach, links, tiers, has_tiers = _line_blocks(el)
        line_id = info.get("IdLigne")
        try:
            ht = money(info.get("MtHT"))
            tva = money(info.get("MtTVA"))
            invoice_ht = money(info.get("MtFactHT"))
        except ValueError as exc:
            res.set_aside += 1
            self.report.add(
                "PES_LINE_SET_ASIDE",
                f"Ligne mise de côté : le montant « {exc.args[0]} » n'est pas un montant "
                "lisible (nombre avec au plus deux décimales).",
                "Corrigez le montant dans le logiciel financier et renvoyez le bordereau.",
                line=line_of(el), record=f"{piece_record}, ligne n° {line_id}",
                element="MtHT")
            return bool(attach)
        if ht is None or base.piece_id is None or line_id is None:
            res.set_aside += 1
            missing = ", ".join(name for name, value in (
                ("IdPce", base.piece_id), ("IdLigne", line_id), ("MtHT", ht))
                if value is None)
            self.report.add(
                "PES_LINE_SET_ASIDE",
                f"Ligne mise de côté : il lui manque {missing}, sans quoi elle ne peut pas être "
                "rattachée à un mandat ni comptée.",
                "Corrigez la pièce dans le logiciel financier et renvoyez le bordereau.",
                line=line_of(el), record=f"{piece_record}, ligne n° {line_id}",
                element=missing.split(", ")[0])
            return bool(attach)
        b.amount_ht += ht
        b.amount_tva += tva or 0
        key = (base.piece_id, line_id)
        if b.repeated or key in b.keys:
            res.duplicates += 1
            if not b.repeated:
                self.report.add(
                    "PES_DUPLICATE_LINE",
                    f"La ligne n° {line_id} de la pièce n° {base.piece_id} apparaît deux fois "
                    "dans le bordereau : la seconde est comptée comme doublon et n'est pas "
                    "gardée (son montant reste dans le total du bordereau).",
                    "Vérifiez la pièce dans le logiciel financier.",
                    line=line_of(el), record=f"{piece_record}, ligne n° {line_id}")
            return bool(attach)
        b.keys.add(key)
        orig_piece = attach.get("IdPceOrig")
        category, legal = tiers.get("CatTiers"), tiers.get("NatJur")
        first_name, civility = tiers.get("Prenom"), tiers.get("Civilite")
        id_type, ident = tiers.get("NatIdTiers"), tiers.get("IdTiers")
        name = " ".join(p for p in (tiers.get("Nom"), tiers.get("ComplNom"), first_name) if p)
        if not has_tiers:
            self.no_tiers += 1
        else:
            self.tiers.add((tiers.get("RefTiers"), ident, name))
        labels = [t for t in (info.get("LibVir1"), info.get("LibVir2")) if t]
        # PAYMENT_LINES' columns in order (the test of every column checks them one by one).
        self.lines.append_values((
            res.file_hash, self.position, line_of(el), FLOW,
            *base.head,  # buyer_id, budget_code, fiscal_year, batch_id, batch_date, batch_type
            base.piece_id, line_id, base.piece_type, base.piece_nature,
            orig_piece if cancelling else None,  # cancelled_piece_id
            attach.get("IdLigneOrig") if cancelling else None,  # cancelled_line_id
            integer(attach.get("ExerRat")) if cancelling else None,  # cancelled_fiscal_year
            None if cancelling else orig_piece,  # attached_piece_id
            info.get("Nature"), info.get("Fonction"), base.object,
            " ".join(labels) or None,  # payment_label
            info.get("ModRegl"),  # payment_mode
            ht, tva, ht + tva if tva is not None else None, invoice_ht,
            tiers.get("RefTiers"), ident, id_type, siret(id_type, ident),
            name or None,  # supplier_name
            category, legal,
            natural_person(category, legal, first_name, civility) if has_tiers else None,
            links.get("IdMarche"),  # contract_ref
            None,  # commitment_ref
            info.get("Facture"),  # invoice_number
            None, None,  # invoice_date, invoice_received_date
            *base.delays,  # delay_eligible, delay_start_date, delay_end_date,
            #                delay_days_allowed, interest_code, interest_rate
            None, None, None, None,  # subcontractor_paid, commitment_line, service_done_date,
            #                          buyer_unit
        ))
        res.kept += 1
        return orig_piece is not None

    # -- end of file --------------------------------------------------------------------------

    def finish(self) -> None:
        self.flush()
        res = self.result
        if self.batch is not None:  # the file stopped inside a bordereau
            self.end_batch(complete=False)
        res.tiers = len(self.tiers)
        if self.recette_pieces:
            self.report.add(
                "PES_RECETTE_NOT_HANDLED",
                f"Le fichier contient aussi un PES Recette ({self.recette_pieces} titre(s)) : "
                "les recettes ne sont pas encore lues par l'observatoire ; leurs lignes sont "
                "comptées comme mises de côté.",
                "Rien à faire pour l'instant ; les dépenses du fichier sont lues.")
        if self.attachments:
            self.report.add(
                "PES_ATTACHMENTS_NOT_READ",
                f"Le fichier porte {self.attachments} pièce(s) justificative(s) (PES_PJ) : "
                "elles ne sont pas lues.", "Rien à faire.")
        if self.no_dgp and res.pieces:
            self.report.add(
                "PES_DGP_MISSING",
                f"{self.no_dgp} pièce(s) sur {res.pieces} sans bloc DGP (délai global de "
                "paiement, facultatif) : leur délai de paiement est inconnu, pas nul.",
                "Pour suivre les délais de paiement, faites renseigner le bloc DGP par le "
                "logiciel financier.", line=self.first_no_dgp, element="DGP")
        if self.no_tiers:
            self.report.add(
                "PES_TIERS_MISSING",
                f"{self.no_tiers} ligne(s) sans bloc Tiers (facultatif) : leur fournisseur est "
                "inconnu.", "Rien à faire ; ces lignes sont gardées.", element="Tiers")
        for record in self.unlinked_cancellations[:20]:
            self.report.add(
                "PES_CANCELLATION_UNLINKED",
                "Pièce d'annulation ou de réduction sans rattachement (RattachPiece) : la pièce "
                "qu'elle annule n'est pas connue, elle ne peut pas être déduite d'un mandat "
                "précis.", "Faites renseigner le rattachement dans le logiciel financier.",
                record=record, element="RattachPiece")
        if res.bordereaux == 0 and self.result.state is None:
            self.result.state = "rejected" if not self.recette_pieces else "not_handled"


_Values = dict[str, str]


def _line_blocks(el: etree._Element) -> tuple[_Values, _Values, _Values, _Values, bool]:
    """The values of a line's InfoLignePce, RattachPiece, LiensIdent and InfoTiers, and whether
    it has a Tiers, in one walk (the hottest path of the reader)."""
    info: _Values = {}
    attach: _Values = {}
    links: _Values = {}
    tiers: _Values = {}
    has_tiers = False
    for part in el:
        if part.tag == "BlocLignePiece":
            for block in part:
                tag = block.tag
                if tag == "InfoLignePce":
                    info = leaves(block)
                elif tag == "RattachPiece":
                    attach = leaves(block)
                elif tag == "LiensIdent":
                    links = leaves(block)
        elif part.tag == "Tiers":
            has_tiers = True
            for block in part:
                if block.tag == "InfoTiers":
                    tiers = leaves(block)
    return info, attach, links, tiers, has_tiers


def _bordereau_of(piece: etree._Element) -> etree._Element | None:
    """The Dépense bordereau a pièce is a child of; None for a pièce anywhere else."""
    parent = piece.getparent()
    if parent is None or parent.tag != "Bordereau":
        return None
    grand = parent.getparent()
    return parent if grand is not None and grand.tag == "PES_DepenseAller" else None


def _part_of(el: etree._Element) -> str | None:
    """The PES part (PES_DepenseAller, PES_RecetteAller) a bordereau's child belongs to."""
    parent = el.getparent()
    grand = parent.getparent() if parent is not None else None
    return grand.tag if grand is not None and isinstance(grand.tag, str) else None
