"""The simulated PES V2 set of the demo: reproducible, valid against DGFiP's XSDs where they
cover it, labelled simulated, and its sums checked by hand (this is not a reader: the tests
walk the XML with lxml to add the amounts up)."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from observatoire.accounting import simulate
from observatoire.accounting.pes_schema import SCHEMAS

from .conftest import DEMO, FIXTURES, ROOT

SOURCE = DEMO / "decp" / "v2" / "megalis_decp-59920013600241-2024-07-09-01.json"
SET = DEMO / "pes-simule"
BUYER = "59920013600241"
YEARS = (2024, 2025)


def v(el: etree._Element, path: str) -> str:
    found = el.find(path)
    assert found is not None, path
    return str(found.get("V"))


def money(el: etree._Element, path: str) -> Decimal:
    return Decimal(v(el, path))


def aller(year: int) -> etree._ElementTree:
    return etree.parse(str(SET / f"SIMULE_PES_DepenseAller_{BUYER}_{year}.xml"))


def retour(year: int) -> etree._ElementTree:
    return etree.parse(str(SET / f"SIMULE_PES_DepenseRetour_{BUYER}_{year}.xml"))


def test_committed_set_is_what_the_generator_writes_byte_for_byte(tmp_path: Path) -> None:
    files = simulate.generate(SOURCE, tmp_path)
    committed = sorted(p.name for p in SET.iterdir())
    assert committed == sorted(files)
    for name in committed:
        assert (tmp_path / name).read_bytes() == (SET / name).read_bytes(), name
    # the README names the real source and how to regenerate
    readme = (SET / "README.md").read_text()
    assert SOURCE.name in readme and "graine 2024" in readme


def test_depense_aller_files_are_valid_against_dgfip_xsd() -> None:
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "Schemas_PES/PES_V2/Rev0/PES_Aller.xsd")))
    for year in YEARS:
        schema.assertValid(aller(year))


def test_retour_blocks_are_valid_against_the_retour_classes(tmp_path: Path) -> None:
    """The Retour classes have no root schema: each piece block, line block and payment is
    validated against them (through a wrapper placed where their relative includes resolve)."""
    tree = tmp_path / "Schemas_PES"
    shutil.copytree(SCHEMAS / "Schemas_PES", tree)
    folder = tree / "PES_V2" / "NS_Depense" / "retour"
    shutil.copytree(SCHEMAS / "retour", folder)
    shutil.copy(tree / "PES_V2" / "NS_Depense" / "r0" / "CommunDepense.xsd", folder)
    (folder / "wrapper.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        '<xs:include schemaLocation="Class_MandatRetour.xsd"/>'
        '<xs:include schemaLocation="Class_LigneMandatRetour.xsd"/>'
        '<xs:include schemaLocation="Class_Paiement.xsd"/>'
        '<xs:element name="BlocPiece" type="TBlocPiece"/>'
        '<xs:element name="BlocLignePiece" type="TBlocLignePiece"/>'
        '<xs:element name="Paiement" type="TPaiement"/></xs:schema>')
    schema = etree.XMLSchema(etree.parse(str(folder / "wrapper.xsd")))
    checked = 0
    for year in YEARS:
        for tag in ("BlocPiece", "BlocLignePiece", "Paiement"):
            for el in retour(year).iter(tag):
                schema.assertValid(etree.fromstring(etree.tostring(el)))
                checked += 1
    assert checked > 100


def test_bordereau_totals_and_counts_equal_the_sum_of_their_lines() -> None:
    for year in YEARS:
        for bord in aller(year).iter("Bordereau"):
            lines = list(bord.iter("InfoLignePce"))
            assert money(bord, "BlocBordereau/MtBordHT") == sum(money(x, "MtHT") for x in lines)
            assert money(bord, "BlocBordereau/MtBordTVA") == sum(money(x, "MtTVA") for x in lines)
            assert int(v(bord, "BlocBordereau/NbrPce")) == len(bord.findall("Piece"))


def test_contract_payments_add_up_to_the_decp_amount_but_the_deliberate_overpayment() -> None:
    decp = json.loads(SOURCE.read_text())["marches"]["marche"]
    amounts = {m["id"]: Decimal(str(m["montant"])) for m in decp}
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for year in YEARS:
        for bord in aller(year).iter("Bordereau"):
            sign = -1 if v(bord, "BlocBordereau/TypBord") == "02" else 1  # annulation
            for line in bord.iter("BlocLignePiece"):
                if line.find("LiensIdent/IdMarche") is not None and \
                        v(line, "InfoLignePce/Nature") == "2313":
                    paid[v(line, "LiensIdent/IdMarche")] += sign * money(line, "InfoLignePce/MtHT")
    assert set(paid) == set(amounts)
    for contract, amount in amounts.items():
        if contract == "H9O2024T0000656":  # 1,450 € of works without a modification
            assert paid[contract] == amount + Decimal("1450.00")
        else:
            assert paid[contract] == amount  # the whole life: advance, instalments, retention


def _pieces() -> dict[tuple[str, str], dict[str, object]]:
    """Aller pieces with their DGP, joined to their Retour payments, by (year, IdPce)."""
    found: dict[tuple[str, str], dict[str, object]] = {}
    for year in YEARS:
        for piece in aller(year).iter("Piece"):
            key = (str(year), v(piece, "BlocPiece/InfoPce/IdPce"))
            ttc = sum(money(x, "MtHT") + money(x, "MtTVA") for x in piece.iter("InfoLignePce"))
            dgp = piece.find("BlocPiece/DGP")
            found[key] = {"nature": v(piece, "BlocPiece/InfoPce/NatPce"), "ttc": ttc,
                          "end": date.fromisoformat(v(dgp, "DteFinDgp")) if dgp is not None
                          else None, "payments": [], "suspended": 0,
                          "contract": piece.find(".//IdMarche").get("V")  # type: ignore[union-attr]
                          if piece.find(".//IdMarche") is not None else None,
                          "lines": [v(x, "Nature") for x in piece.iter("InfoLignePce")]}
        for piece in retour(year).iter("Piece"):
            key = (str(year), v(piece, "BlocPiece/InfoPce/IdPce"))
            info = found[key]
            info["payments"] = [(date.fromisoformat(v(p, "DtePay")), money(p, "MtPay"))
                                for p in piece.iter("Paiement")]
            susp = piece.find("BlocPiece/DGP")
            if susp is not None:
                info["suspended"] = (date.fromisoformat(v(susp, "DteFinSusp"))
                                     - date.fromisoformat(v(susp, "DteDebSusp"))).days
    return found


def test_retour_pays_every_piece_in_full_but_the_annulled_duplicate_and_its_annulation() -> None:
    pieces = _pieces()
    unpaid = [info["nature"] for info in pieces.values() if not info["payments"]]
    assert sorted(unpaid) == ["02", "06"]  # the duplicate instalment and its annulation
    for info in pieces.values():
        if info["payments"]:
            assert sum(m for _, m in info["payments"]) == info["ttc"]  # type: ignore[attr-defined]


def test_late_payments_carry_interest_at_ecb_rate_plus_eight_points_and_the_flat_indemnity(
        ) -> None:
    pieces = _pieces()
    late = {}
    for info in pieces.values():
        if info["end"] and info["payments"]:
            due = info["end"] + timedelta(days=info["suspended"])  # type: ignore[operator]
            days = (max(d for d, _ in info["payments"]) - due).days  # type: ignore[attr-defined]
            if days > 0:
                late[info["contract"]] = (info["ttc"], days, due)
    assert sorted(days for _, days, _ in late.values()) == [17, 44]
    interest = [info for info in pieces.values() if info["lines"] == ["6711", "6711"]]
    assert len(interest) == 2
    for year in YEARS:
        for piece in aller(year).iter("Piece"):
            natures = [v(x, "Nature") for x in piece.iter("InfoLignePce")]
            if natures != ["6711", "6711"]:
                continue
            contract = v(piece, ".//IdMarche")
            ttc, days, due = late.pop(contract)
            # the ECB main refinancing rate on the first day of the half-year, + 8 points
            rate = {(2024, 2): Decimal("12.25"), (2025, 1): Decimal("11.15")}[
                (due.year, 1 if due.month <= 6 else 2)]
            amounts = [money(x, "MtHT") for x in piece.iter("InfoLignePce")]
            expected = (ttc * rate / 100 * days / 365).quantize(Decimal("0.01"))
            assert amounts == [expected, Decimal("40.00")]
    assert late == {}
    # the suspended piece: paid more than 30 days after the invoice, within the delay in law
    assert [info["suspended"] for info in pieces.values() if info["suspended"]] == [12]


def test_every_file_says_it_is_simulated() -> None:
    for path in SET.glob("*.xml"):
        text = path.read_text(encoding="utf-8")
        assert path.name.startswith("SIMULE_")
        assert "<!-- SIMULÉ" in text.splitlines()[1]
        tree = etree.parse(str(path))
        assert v(tree.getroot(), "Enveloppe/Parametres/NomFic") == path.name
        assert v(tree.getroot(), "Enveloppe/Emetteur/Sigle") == "SIMULATION OBSERVATOIRE"
        for obj in tree.iter("Obj"):
            assert obj.get("V", "").endswith("SIMULE")
    assert "simulé" in (SET / "README.md").read_text().lower()
    assert "pes-simule" in (DEMO / "README.md").read_text()


def _children(el: etree._Element) -> list[str]:
    return [str(c.tag) for c in el if isinstance(c.tag, str)]


def _in_order(ours: list[str], reference: list[str]) -> bool:
    position = 0
    for tag in ours:
        if tag not in reference[position:]:
            return False
        position = reference.index(tag, position) + 1
    return True


@pytest.mark.parametrize("path", [".", "Operateurs/Titulaire",
                                  "Operateurs/Titulaire/ConditionsExecutionTitulaire",
                                  "ConditionsExecution"])
def test_pes_marche_follows_the_element_names_and_order_of_dgfip_example(path: str) -> None:
    reference = etree.parse(str(FIXTURES / "accounting" / "pes"
                                / "dgfip_PES_Marche_example_contrat_initial_nov2017.xml"))
    ref_marche = reference.find(".//Marche")
    ours = etree.parse(str(SET / f"SIMULE_PES_Marche_{BUYER}.xml"))
    marches = ours.findall(".//Marche")
    decp = json.loads(SOURCE.read_text())["marches"]["marche"]
    assert sorted(v(m, "IdentifiantMarche/IdContrat") for m in marches) == sorted(
        m["id"] for m in decp)
    assert ref_marche is not None
    expected = _children(ref_marche if path == "." else ref_marche.find(path))  # type: ignore[arg-type]
    for marche in marches:
        el = marche if path == "." else marche.find(path)
        assert el is not None
        assert _in_order(_children(el), expected), _children(el)


def test_generator_command_writes_the_set(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "observatoire.accounting.simulate", str(SOURCE), "--sortie",
         str(tmp_path)], capture_output=True, text=True, check=False, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / f"SIMULE_PES_Marche_{BUYER}.xml").read_bytes() == (
        SET / f"SIMULE_PES_Marche_{BUYER}.xml").read_bytes()


def test_generator_says_in_french_when_the_source_is_not_one_buyers_decp(tmp_path: Path) -> None:
    import subprocess
    import sys

    mixed = DEMO / "decp" / "v1" / "e-marchespublics.json"  # DECP 2019, 58 buyers
    result = subprocess.run(
        [sys.executable, "-m", "observatoire.accounting.simulate", str(mixed), "--sortie",
         str(tmp_path / "out")], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 1
    assert "n'est pas un fichier DECP 2024 (JSON) lisible d'un seul acheteur" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
