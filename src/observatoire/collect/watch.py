"""Inbox folders watched by the kernel, so that a dropped file is taken at once.

On Linux the collector asks inotify (through ``ctypes``: the standard library, no dependency)
about its inbox folders. A file *renamed into* a folder, or *closed after being written*, is
complete at that moment: it is taken without the stability delay, and the continuous loop
wakes as soon as it lands instead of at its next round. A file still being written has had no
such event (or has changed since: its size and modification time are compared with those seen
at the event), so it waits.

Where there is no inotify (another system, a folder shared over the network whose writers are
other machines, an event queue that overflowed), nothing changes: the stability delay
(``--stabilite``) and the round interval (``--intervalle``) still apply to every file.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import select
import struct
import threading
import time
from collections.abc import Iterable
from pathlib import Path

LOG = logging.getLogger(__name__)

# <sys/inotify.h>
_MODIFY, _CLOSE_WRITE, _MOVED_FROM, _MOVED_TO = 0x2, 0x8, 0x40, 0x80
_CREATE, _DELETE, _DELETE_SELF, _MOVE_SELF = 0x100, 0x200, 0x400, 0x800
_OVERFLOW, _IGNORED, _ONLYDIR = 0x4000, 0x8000, 0x01000000
_MASK = (_MODIFY | _CLOSE_WRITE | _MOVED_FROM | _MOVED_TO | _CREATE | _DELETE | _DELETE_SELF
         | _MOVE_SELF | _ONLYDIR)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then the name, NUL-padded
#: How often a wait looks at ``stop`` (a signal handler cannot interrupt ``select``).
_SLICE = 0.2

Signature = tuple[int, int]


def signature(path: Path) -> Signature | None:
    """A file's size and modification time (None when it is gone)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def takeable(name: str) -> bool:
    """A name the inbox takes: not hidden, not a partial download or copy."""
    return not name.startswith(".") and not name.endswith((".part", ".tmp", ".crdownload"))


class InboxWatch:
    """The inbox folders' events. ``active`` is False where the kernel gives none."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._libc: ctypes.CDLL | None = None
        self._folders: dict[int, Path] = {}
        #: Files known complete, with their signature when the event came.
        self._complete: dict[Path, Signature] = {}
        #: A file became complete since the last wait returned (a file left in the inbox, by a
        #: source in error say, wakes the loop once, not at every turn).
        self._new = False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):  # not Linux (no such function)
            return
        if fd < 0:  # too many instances for this user, say
            LOG.warning("inotify indisponible (%s) : dépôts vus par l'intervalle et le délai "
                        "de stabilité", os.strerror(ctypes.get_errno()))
            return
        self._fd, self._libc = fd, libc

    @property
    def active(self) -> bool:
        return self._fd is not None

    def watch(self, folders: Iterable[Path]) -> None:
        """Watch these folders too (those already watched, or missing, are left as they are)."""
        if self._fd is None or self._libc is None:
            return
        known = set(self._folders.values())
        for folder in folders:
            if folder in known or not folder.is_dir():
                continue
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), _MASK)
            if wd < 0:
                LOG.warning("dossier %s non surveillé (%s)", folder,
                            os.strerror(ctypes.get_errno()))
                continue
            self._folders[wd] = folder

    def complete(self, path: Path) -> bool:
        """Whether ``path`` was renamed into its folder or closed after writing, and has not
        changed since."""
        self._drain()
        seen = self._complete.get(path)
        return seen is not None and seen == signature(path)

    def wait(self, seconds: float, stop: threading.Event) -> None:
        """Until a file is complete in a watched folder, ``stop`` is set, or ``seconds`` pass."""
        end = time.monotonic() + seconds
        while not stop.is_set():
            self._drain()
            if self._new:
                self._new = False
                return
            left = end - time.monotonic()
            if left <= 0:
                return
            if self._fd is None:
                stop.wait(min(left, _SLICE))
            else:
                select.select([self._fd], [], [], min(left, _SLICE))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _drain(self) -> None:
        """Read the pending events."""
        if self._fd is not None:
            while True:
                try:
                    data = os.read(self._fd, 64 * 1024)
                except BlockingIOError:
                    break
                self._events(data)
        # our own move to traités/ removes the file: forget it then
        self._complete = {p: s for p, s in self._complete.items() if p.exists()}

    def _events(self, data: bytes) -> None:
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size: offset + _EVENT.size + length]
            offset += _EVENT.size + length
            if mask & _OVERFLOW:  # events were lost: trust none, the stability delay decides
                self._complete.clear()
                continue
            folder = self._folders.get(wd)
            if folder is None:
                continue
            if mask & (_IGNORED | _DELETE_SELF | _MOVE_SELF):  # the folder itself went
                del self._folders[wd]
                self._complete = {p: s for p, s in self._complete.items() if p.parent != folder}
                continue
            name = os.fsdecode(raw.rstrip(b"\0"))
            if not name or not takeable(name):
                continue
            path = folder / name
            if mask & (_CLOSE_WRITE | _MOVED_TO):
                seen = signature(path)
                if seen is not None:
                    self._complete[path] = seen
                    self._new = True
            else:  # written to, created anew, removed or renamed away: not complete (yet)
                self._complete.pop(path, None)
