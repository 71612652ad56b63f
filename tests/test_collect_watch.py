"""The inbox watched by the kernel (inotify): a file renamed into the inbox, or closed after
being written, is taken without the stability delay; a file still being written is not, and
nothing is lost or loaded twice. Real folders, real files of the demo, the real catalog.

The stability delay is set to an hour here: a file taken by these rounds was taken because
of the kernel's event, never because it had settled."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from observatoire.collect import runner
from observatoire.collect.watch import InboxWatch
from observatoire.config import Settings

from .test_collect import GIP, INBOX, MEGALIS, decp_records, home_with, loads_of

HOUR = 3600.0

pytestmark = pytest.mark.skipif(not InboxWatch().active,
                                reason="inotify: Linux only (elsewhere the delay applies)")


def _watched_inbox(tmp_path: Path) -> tuple[Settings, Path, InboxWatch]:
    settings = home_with(tmp_path, INBOX)
    inbox = settings.home / "depot"
    inbox.mkdir(parents=True)
    watch = InboxWatch()
    # a first round: the collector starts watching its inbox (empty)
    first = runner.collect_once(settings, settle=HOUR, build=False, watch=watch)
    assert first.sources[0].files == 0
    return settings, inbox, watch


def test_a_file_renamed_into_the_inbox_is_taken_at_once(tmp_path: Path) -> None:
    settings, inbox, watch = _watched_inbox(tmp_path)
    staged = inbox / f".{GIP.name}.tmp"  # written beside, under a hidden name
    staged.write_bytes(GIP.read_bytes())
    os.replace(staged, inbox / GIP.name)

    taken = runner.collect_once(settings, settle=HOUR, build=False, watch=watch)
    assert (taken.sources[0].files, taken.sources[0].new) == (1, 1)
    assert [(ld.file_name, ld.records) for ld in loads_of(settings, "depot")] == [
        (GIP.name, decp_records(GIP))]
    assert (inbox / "traités" / GIP.name).read_bytes() == GIP.read_bytes()
    watch.close()


def test_a_file_still_being_written_is_not_taken_until_closed(tmp_path: Path) -> None:
    settings, inbox, watch = _watched_inbox(tmp_path)
    data = MEGALIS.read_bytes()
    half = len(data) // 2
    with (inbox / MEGALIS.name).open("wb") as fh:  # a copy in progress, in the inbox itself
        fh.write(data[:half])
        fh.flush()
        during = runner.collect_once(settings, settle=HOUR, build=False, watch=watch)
        assert during.sources[0].files == 0 and loads_of(settings, "depot") == []
        fh.write(data[half:])
    # closed after writing: complete, taken whole, once
    after = runner.collect_once(settings, settle=HOUR, build=False, watch=watch)
    assert (after.sources[0].files, after.sources[0].new) == (1, 1)
    again = runner.collect_once(settings, settle=HOUR, build=False, watch=watch)
    assert again.sources[0].files == 0
    assert [(ld.file_name, ld.records, ld.status) for ld in loads_of(settings, "depot")] == [
        (MEGALIS.name, decp_records(MEGALIS), "loaded")]
    watch.close()


def test_a_complete_file_opened_again_for_writing_waits(tmp_path: Path) -> None:
    settings, inbox, watch = _watched_inbox(tmp_path)
    target = inbox / MEGALIS.name
    data = MEGALIS.read_bytes()
    target.write_bytes(data[:100])  # closed: complete for a moment…
    with target.open("ab") as fh:  # …then written to again (an upload that resumes)
        fh.write(data[100:200])
        fh.flush()
        during = runner.collect_once(settings, settle=HOUR, build=False, watch=watch)
        assert during.sources[0].files == 0 and target.exists()
        fh.write(data[200:])
    after = runner.collect_once(settings, settle=HOUR, build=False, watch=watch)
    assert after.sources[0].new == 1
    assert [ld.records for ld in loads_of(settings, "depot")] == [decp_records(MEGALIS)]
    watch.close()


def test_without_the_watch_the_stability_delay_applies(tmp_path: Path) -> None:
    settings = home_with(tmp_path, INBOX)
    inbox = settings.home / "depot"
    inbox.mkdir(parents=True)
    staged = inbox / ".depot.tmp"
    staged.write_bytes(GIP.read_bytes())
    os.replace(staged, inbox / GIP.name)
    alone = runner.collect_once(settings, settle=HOUR, build=False)
    assert alone.sources[0].files == 0 and (inbox / GIP.name).exists()


def test_the_continuous_loop_wakes_when_a_file_lands(tmp_path: Path) -> None:
    """The loop waits an hour between rounds; a file renamed into the inbox is taken anyway."""
    settings = home_with(tmp_path, INBOX)
    inbox = settings.home / "depot"
    inbox.mkdir(parents=True)
    stop, rounds = threading.Event(), []
    first, taken = threading.Event(), threading.Event()

    def done(result: runner.Round) -> None:
        rounds.append(result)
        first.set()
        if any(s.new for s in result.sources):
            taken.set()

    loop = threading.Thread(target=runner.run_forever, args=(settings, stop), kwargs={
        "poll": HOUR, "on_round": done, "settle": HOUR, "build": False})
    loop.start()
    try:
        assert first.wait(60)  # the first round looked at the empty inbox, then waits
        staged = inbox / ".arrivee.tmp"
        staged.write_bytes(GIP.read_bytes())
        os.replace(staged, inbox / GIP.name)
        assert taken.wait(60)
    finally:
        stop.set()
        loop.join(60)
    assert not loop.is_alive()
    assert [(ld.file_name, ld.records) for ld in loads_of(settings, "depot")] == [
        (GIP.name, decp_records(GIP))]
    assert sum(s.new for r in rounds for s in r.sources) == 1
