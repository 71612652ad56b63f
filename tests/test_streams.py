"""Byte-stream filters at every chunk boundary, and whole-file encoding detection."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from observatoire.staging import streams
from observatoire.staging.detect import detect
from observatoire.staging.streams import NanFilter

DOC = (b'{"a": NaN, "b": "x NaN y", "c": [NaN,1], "d": "q\\\\", "e": NaN,'
       b' "f": "esc \\" NaN", "g": "\\\\\\"NaN", "h":NaN}')
EXPECTED = {"a": None, "b": "x NaN y", "c": [None, 1], "d": "q\\", "e": None,
            "f": 'esc " NaN', "g": '\\"NaN', "h": None}


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 11, 64, 1 << 20])
def test_nan_replaced_only_outside_strings(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(streams, "CHUNK", chunk)
    nan_filter = NanFilter(io.BytesIO(DOC))
    out = io.BufferedReader(nan_filter, 3).read()
    assert json.loads(out) == EXPECTED
    assert nan_filter.replaced == 4


def test_file_without_nan_passes_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "CHUNK", 5)
    doc = b'{"a": "Na", "b": "N\\"aN", "c": 1}'
    assert io.BufferedReader(NanFilter(io.BytesIO(doc))).read() == doc


def test_mixed_file_stays_utf8(tmp_path: Path) -> None:
    """A UTF-8 file with one stray Latin-1 byte is read as UTF-8, that byte replaced."""
    record = '{"id": "1", "objet": "Rénovation de l\'école"}'
    text = '{"marches": [' + ", ".join([record] * 3) + "]}"
    data = text.encode("utf-8").replace(b"l'\xc3\xa9cole", b"l'\xe9cole", 1)
    path = tmp_path / "mixed.json"
    path.write_bytes(data)
    det = detect(path)
    assert (det.encoding, det.errors) == ("utf-8", "replace")
    assert det.notes == ["1 octet(s) invalide(s) en UTF-8 remplacé(s) par « � »"]


XML = (b"<a>Cloix & Mendes-Gil &amp; &#38; &#x26;\n&lt; &change &nbsp;\n"
       b"&quot;&apos;&gt; fin &</a>")


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 11, 64, 1 << 20])
def test_bare_ampersands_escaped_at_every_boundary(monkeypatch: pytest.MonkeyPatch,
                                                   chunk: int) -> None:
    """Written by hand: the bare "&" are those before " Mendes", "change", "nbsp;" and "</a>"
    (on lines 1, 2, 2, 3); entities and character references are left alone."""
    monkeypatch.setattr(streams, "CHUNK", chunk)
    amp = streams.AmpersandFilter(io.BytesIO(XML))
    out = io.BufferedReader(amp, 3).read()
    assert out == (b"<a>Cloix &amp; Mendes-Gil &amp; &#38; &#x26;\n&lt; &amp;change &amp;nbsp;\n"
                   b"&quot;&apos;&gt; fin &amp;</a>")
    assert (amp.repaired, amp.lines) == (4, [1, 2, 2, 3])
