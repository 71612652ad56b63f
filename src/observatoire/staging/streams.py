"""Byte streams for the parsers: re-encoding to UTF-8 and removing XML-illegal control bytes.

Both work chunk by chunk, so memory does not grow with the file size.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
#: Bytes forbidden in XML 1.0. They never occur inside a UTF-8 multibyte sequence, so removing
#: them from the byte stream is safe.
XML_CONTROL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32)])


class _Recoder(io.RawIOBase):
    """Reads a file in another encoding and yields UTF-8 bytes."""

    def __init__(self, raw: BinaryIO, encoding: str, errors: str) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            chunk = self._raw.read(CHUNK)
            final = not chunk
            self._buffer = self._decoder.decode(chunk, final=final).encode("utf-8")
            if final:
                break
        n = min(len(b), len(self._buffer))
        b[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


class ControlByteFilter(io.RawIOBase):
    """Removes XML-illegal control bytes and counts them."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.removed = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(CHUNK if size is None or size < 0 else size)
        clean = chunk.translate(None, XML_CONTROL_BYTES)
        self.removed += len(chunk) - len(clean)
        return clean

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class NanFilter(io.RawIOBase):
    """Replaces bare ``NaN`` tokens (invalid JSON that real exports contain) with ``null``.

    Only tokens outside JSON strings are replaced: the filter follows whether each chunk starts
    inside a string (quote parity, escapes excluded). Chunks without the bytes ``NaN`` only update
    that parity, with C-speed counts; the token-by-token walk runs on the rare chunks with ``NaN``.
    """

    TOKENS = re.compile(rb'\\.|"|NaN', re.DOTALL)

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._held = b""  # bytes kept for the next chunk: a cut escape or a cut token
        self._out = b""
        self._in_string = False
        self.replaced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._out:
            chunk = self._raw.read(CHUNK)
            data = self._held + chunk
            if not chunk:
                self._held = b""
                self._out = self._process(data)
                break
            # Hold back a possible start of "NaN", and never cut an escape from what it escapes.
            cut = len(data)
            if not data.endswith(b"NaN"):
                cut -= 2 if data.endswith(b"Na") else 1 if data.endswith(b"N") else 0
            while cut > 0 and data[cut - 1] == 0x5C:  # backslash
                cut -= 1
            self._held = data[cut:]
            self._out = self._process(data[:cut])
        n = min(len(b), len(self._out))
        b[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _process(self, data: bytes) -> bytes:
        if b"NaN" not in data:
            unescaped = re.sub(rb"\\.", b"", data, flags=re.DOTALL) if b"\\" in data else data
            if unescaped.count(b'"') % 2:
                self._in_string = not self._in_string
            return data
        parts = []
        start = 0
        for m in self.TOKENS.finditer(data):
            token = m.group()
            if token == b'"':
                self._in_string = not self._in_string
            elif token == b"NaN" and not self._in_string:
                parts.append(data[start : m.start()])
                parts.append(b"null")
                start = m.end()
                self.replaced += 1
        parts.append(data[start:])
        return b"".join(parts)


@contextmanager
def open_bytes(path: Path, encoding: str, errors: str = "strict") -> Iterator[BinaryIO]:
    """Open ``path`` as a UTF-8 byte stream, converting from ``encoding`` when needed."""
    with path.open("rb") as raw:
        if encoding == "utf-8" and errors == "strict":
            yield raw
        else:
            yield io.BufferedReader(_Recoder(raw, encoding, errors), CHUNK)


@contextmanager
def open_json(
    path: Path, encoding: str, errors: str = "strict", nan_tokens: bool = True
) -> Iterator[BinaryIO | NanFilter]:
    """A UTF-8 byte stream of a JSON file; with ``nan_tokens``, bare NaN tokens become null.

    The NaN filter walks every byte: callers skip it for files without the bytes ``NaN``.
    """
    with open_bytes(path, encoding, errors) as fh:
        yield NanFilter(fh) if nan_tokens else fh


class AmpersandFilter(io.RawIOBase):
    """Escapes bare ``&`` as ``&amp;``: any ``&`` that does not start a character reference or
    one of the five entities XML predefines (DECP files declare no others: ``&nbsp;`` is kept as
    the text "&nbsp;").

    A bare ``&`` is the most common defect of hand-made XML exports ("Dupont & Fils"); an XML
    parser stops at it and everything after it would be lost. The filter keeps the lines where it
    repaired one (the first :data:`KEPT_LINES`), for the load's message.
    """

    BARE = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)")
    #: A reference is never longer than this: a ``&`` closer to a chunk's end waits for the next.
    LOOKAHEAD = 64
    KEPT_LINES = 10

    def __init__(self, raw: BinaryIO | io.RawIOBase) -> None:
        self._raw = raw
        self._held = b""
        self._out = b""
        self._line = 1  # line number at the start of the next byte processed
        self.repaired = 0
        self.lines: list[int] = []

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._out:
            chunk = self._raw.read(CHUNK)
            data = self._held + chunk
            if not chunk:
                self._held = b""
                self._out = self._process(data)
                break
            amp = data.rfind(b"&", max(0, len(data) - self.LOOKAHEAD))
            cut = amp if amp >= 0 else len(data)
            self._held = data[cut:]
            self._out = self._process(data[:cut])
        n = min(len(b), len(self._out))
        b[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _process(self, data: bytes) -> bytes:
        if b"&" in data:
            parts = []
            start = 0
            for m in self.BARE.finditer(data):
                self.repaired += 1
                if len(self.lines) < self.KEPT_LINES:
                    self.lines.append(self._line + data.count(b"\n", 0, m.start()))
                parts.append(data[start : m.start()])
                parts.append(b"&amp;")
                start = m.end()
            if parts:
                parts.append(data[start:])
                self._line += data.count(b"\n")
                return b"".join(parts)
        self._line += data.count(b"\n")
        return data
