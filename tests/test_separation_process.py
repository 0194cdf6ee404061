"""The evening's separation in a process of its own (rtsep.host.separation_process): the same
stems as the thread, a bad file is one line and the evening goes on, the child ends with the
producer and with its host, a dead child is one line."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rtsep.errors import RtsepError
from rtsep.host.queue import SongQueue

from test_keytempo import RATE, _tone

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the separation process needs Linux (memfd)")


class HalfStems:
    """Vocals = half the song, accompaniment = the other half: bit-exact either way it runs."""

    name = "half"

    def __call__(self, sample_rate, channels):
        return self

    def stream(self, blocks):
        for b in blocks:
            yield 0.5 * b, b - 0.5 * b


class BrokenStems:
    """A separator whose model cannot be built."""

    def __call__(self, sample_rate, channels):
        raise RuntimeError("model file is corrupt")


def _children() -> list:
    return [p for p in mp.active_children() if p.name == "rtsep-separation"]


def _queue(tmp_path, names=("one.wav", "two.flac")):
    paths = []
    for k, name in enumerate(names):
        p = tmp_path / name
        sf.write(p, _tone(1.0 + 0.5 * k, 330 + 110 * k), RATE)
        paths.append(p)
    return SongQueue.from_items(paths)


def _separated(producer, songs, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and producer.error is None:
        if all(j in producer.stores and producer.stores[j].complete for j in songs):
            return {j: producer.stores[j].data.copy() for j in songs}
        time.sleep(0.02)
    raise AssertionError(f"not separated in {timeout_s} s: {producer.error!r}")


@pytest.mark.timeout(120)
def test_stems_from_the_process_equal_the_thread_and_it_ends_with_the_producer(tmp_path):
    from rtsep.host.evening import QueueProducer

    got = {}
    for how in ("process", "thread"):
        producer = QueueProducer(_queue(tmp_path), RATE, 2, HalfStems(), separate_in=how)
        producer.start()
        try:
            got[how] = _separated(producer, [0, 1])
            if how == "process":
                assert producer.priority.endswith("a process of its own"), producer.priority
                assert producer.priority.startswith(("SCHED_IDLE", "nice"))
                assert len(_children()) == 1
            assert producer.name == "half"
        finally:
            producer.stop()
        assert producer.error is None
        assert not _children()  # stopped with the producer
    for j in (0, 1):
        assert got["process"][j].shape == got["thread"][j].shape
        assert np.array_equal(got["process"][j], got["thread"][j])
    song = sf.read(tmp_path / "one.wav", dtype="float32")[0]
    assert np.array_equal(got["process"][0][:, 4:], song)         # the dry song
    assert np.array_equal(got["process"][0][:, 2:4], 0.5 * song)  # the vocals


def test_auto_picks_the_process_where_the_separator_can_go_there(tmp_path):
    from rtsep.host.evening import QueueProducer

    q = _queue(tmp_path)
    assert QueueProducer(q, RATE, 2, HalfStems()).separate_in == "process"
    assert QueueProducer(q, RATE, 2, lambda rate, ch: HalfStems()).separate_in == "thread"  # not picklable
    with pytest.raises(ValueError):
        QueueProducer(q, RATE, 2, HalfStems(), separate_in="gpu")


@pytest.mark.timeout(120)
def test_a_bad_file_is_one_line_and_the_next_song_is_separated(tmp_path):
    from rtsep.host.evening import QueueProducer

    queue = _queue(tmp_path, ("one.wav", "bad.wav", "two.flac"))
    # readable when listed, damaged when its turn comes: the child's decoding fails
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200)))
    producer = QueueProducer(queue, RATE, 2, HalfStems(), separate_in="process")
    producer.start()
    try:
        _separated(producer, [0, 2])  # the one after the bad one is next
    finally:
        producer.stop()
    rows = queue.rows()
    assert rows[1]["state"] == "failed" and "\n" not in rows[1]["error"] and "bad.wav" in rows[1]["error"]
    assert producer.error is None


@pytest.mark.timeout(120)
def test_a_separator_that_cannot_be_built_and_a_dead_child_are_one_line(tmp_path):
    from rtsep.host.evening import QueueProducer
    from rtsep.host.separation_process import SeparationProcess

    with pytest.raises(RtsepError, match="separation process failed: model file is corrupt"):
        SeparationProcess(BrokenStems(), RATE, 2)
    producer = QueueProducer(_queue(tmp_path), RATE, 2, HalfStems(), separate_in="process")
    producer.start()
    try:
        _separated(producer, [0, 1])
        (child,) = _children()
        child.kill()
        deadline = time.monotonic() + 30
        while producer.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        producer.stop()
    assert isinstance(producer.error, RtsepError)
    assert "separation process ended" in str(producer.error) and "\n" not in str(producer.error)


@pytest.mark.timeout(120)
def test_the_child_ends_when_its_host_dies(tmp_path):
    song = tmp_path / "long.wav"
    sf.write(song, _tone(30.0, 440), RATE)
    host = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from rtsep.host.separation_process import SeparationProcess
        from test_separation_process import HalfStems
        if __name__ == "__main__":
            child = SeparationProcess(HalfStems(), {RATE}, 2)
            child.open(0, {str(song)!r}, lambda: False)
            print(child._proc.pid, flush=True)
            os._exit(0)  # the host dies without closing anything
    """)
    script = tmp_path / "host.py"
    script.write_text(host)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-2000:]
    pid = int(out.stdout.split()[-1])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:  # gone, or a zombie nobody reaps (a container's first process may not)
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        raise AssertionError("the separation child outlived its host by 20 s")
