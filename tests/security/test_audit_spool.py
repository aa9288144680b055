"""The audit spool's files: segments rotate, are drained in order exactly once, and are
deleted only when drained and no longer written; one spool drains at a time."""

import errno
import os
import uuid

import pytest

from fhir_server.storage import audit_spool
from fhir_server.storage.audit_spool import AuditSpool


def _records(count: int) -> list[dict]:
    return [{"resourceType": "AuditEvent", "id": str(uuid.uuid4()), "n": n} for n in range(count)]


def _drain(spool: AuditSpool, limit: int = 7) -> list[dict]:
    drained = []
    while (batch := spool.pending(limit)).offsets:
        drained += batch.records
        spool.commit(batch)
    return drained


def test_segments_rotate_and_drain_in_order_exactly_once(tmp_path):
    spool = AuditSpool(tmp_path, segment_bytes=500)
    spool.open()
    records = _records(40)
    for record in records[:25]:
        spool.append(record)
    assert len(list(tmp_path.glob("*.jsonl"))) > 3
    assert spool.become_drainer()
    first = _drain(spool)
    for record in records[25:]:
        spool.append(record)
    spool.sync()
    assert first + _drain(spool) == records
    assert _drain(spool) == []
    # Only the segment still being written is left.
    assert len(list(tmp_path.glob("*.jsonl"))) == 1
    spool.close()
    assert _drain(AuditSpool(tmp_path)) == []


def test_a_live_writers_segment_is_kept_and_another_process_takes_over(tmp_path):
    first, second = AuditSpool(tmp_path), AuditSpool(tmp_path)
    first.open()
    second.open()
    assert first.become_drainer() and not second.become_drainer()
    records = _records(6)
    for record in records[:3]:
        second.append(record)
    assert _drain(first) == records[:3]
    assert len(list(tmp_path.glob("*.jsonl"))) == 2, "a segment still written was deleted"
    first.close()  # the drainer stops: the other one drains from now on
    assert second.become_drainer()
    for record in records[3:]:
        second.append(record)
    assert _drain(second) == records[3:]
    assert len(list(tmp_path.glob("*.jsonl"))) == 1
    second.close()


def test_a_lost_offset_file_only_reads_again(tmp_path):
    spool = AuditSpool(tmp_path)
    spool.open()
    records = _records(3)
    for record in records:
        spool.append(record)
    assert spool.become_drainer()
    spool.commit(spool.pending(10))
    assert spool.pending(10).records == []
    (tmp_path / "drained.json").write_text("{trunc")  # a power loss cut it short
    assert spool.pending(10).records == records
    spool.close()


def test_a_record_cut_short_by_a_full_disk_does_not_take_the_next_one(tmp_path, monkeypatch):
    spool = AuditSpool(tmp_path)
    spool.open()
    records = _records(3)
    spool.append(records[0])
    real_write, calls = os.write, []

    def half_then_full(fd: int, data: bytes) -> int:
        calls.append(fd)
        if len(calls) == 1:
            return real_write(fd, data[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audit_spool.os, "write", half_then_full)
    with pytest.raises(OSError):
        spool.append(records[1])
    monkeypatch.setattr(audit_spool.os, "write", real_write)
    spool.append(records[2])
    assert spool.become_drainer()
    assert _drain(spool) == [records[0], records[2]]


def test_a_failed_fsync_is_tried_again_and_rotated_segments_still_close(tmp_path, monkeypatch):
    spool = AuditSpool(tmp_path, segment_bytes=100)
    spool.open()
    records = _records(3)
    for record in records:
        spool.append(record)  # each one fills a segment: two are retired
    real_fsync = os.fsync

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(audit_spool.os, "fsync", failing)
    with pytest.raises(OSError):
        spool.sync()
    assert spool.dirty
    monkeypatch.setattr(audit_spool.os, "fsync", real_fsync)
    spool.sync()
    assert not spool.dirty
    assert spool.become_drainer()
    assert _drain(spool) == records
    # The rotated segments were closed, so once drained they are gone.
    assert len(list(tmp_path.glob("*.jsonl"))) == 1


def test_a_rotation_that_fails_on_a_full_disk_keeps_the_record_and_leaks_nothing(
    tmp_path, monkeypatch
):
    spool = AuditSpool(tmp_path, segment_bytes=100)
    spool.open()
    records = _records(3)
    real_rename = os.rename

    def full_disk(source, target) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    open_before = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(audit_spool.os, "rename", full_disk)
    spool.append(records[0])  # fills the segment; its rotation fails
    spool.append(records[1])  # and fails again
    assert len(os.listdir("/proc/self/fd")) == open_before
    assert not list(tmp_path.glob(".*.new"))
    monkeypatch.setattr(audit_spool.os, "rename", real_rename)
    spool.append(records[2])
    spool.sync()
    assert spool.become_drainer()
    assert _drain(spool) == records
