"""Stems kept on disk (rtsep.host.stem_cache): a song that comes round again is not separated
again; an edited song, another separator or a damaged file is; the folder stays bounded."""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from rtsep.errors import RtsepError
from rtsep.host.queue import SongQueue
from rtsep.host.stem_cache import HEADER_BYTES, StemCache, separator_identity, stems_nbytes, write_header

from test_keytempo import RATE, _tone
from test_separation_process import _separated

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="the separation process needs Linux (memfd)")


class CountingStems:
    """Vocals = 0.25 x the song; appends the song's length to ``log`` each time it separates one
    (in the child: a file, so the test can count)."""

    name = "counting"

    def __init__(self, log):
        self.log = str(log)

    def __call__(self, sample_rate, channels):
        return self

    def stream(self, blocks):
        n = 0
        for b in blocks:
            n += len(b)
            yield 0.25 * b, b - 0.25 * b
        with open(self.log, "a") as fh:
            fh.write(f"{n}\n")


def _buffer(frames: int, channels: int, fill: float = 0.5) -> bytearray:
    buf = bytearray(stems_nbytes(frames, channels))
    write_header(np.frombuffer(buf, np.uint8, HEADER_BYTES), frames, channels)
    np.frombuffer(buf, np.int64, 1)[0] = frames
    np.frombuffer(buf, np.float32, frames * 3 * channels, HEADER_BYTES)[:] = fill
    return buf


def test_keys_follow_the_song_file_the_stream_and_the_separator(tmp_path):
    cache = StemCache(str(tmp_path / "c"))
    song = tmp_path / "a.wav"
    sf.write(song, _tone(0.5, 440), RATE)
    k = cache.key(str(song), 48000, 2, "unet")
    assert k == cache.key(str(song), 48000, 2, "unet")
    link = tmp_path / "link.wav"
    link.symlink_to(song)
    assert cache.key(str(link), 48000, 2, "unet") == k  # the file, not the name it was given by
    assert len({k, cache.key(str(song), 44100, 2, "unet"), cache.key(str(song), 48000, 1, "unet"),
                cache.key(str(song), 48000, 2, "other")}) == 4
    sf.write(song, _tone(0.6, 440), RATE)  # edited
    assert cache.key(str(song), 48000, 2, "unet") != k
    with pytest.raises(OSError):
        cache.key(str(tmp_path / "missing.wav"), 48000, 2, "unet")


def test_stored_stems_open_whole_and_damaged_ones_are_removed(tmp_path):
    cache = StemCache(str(tmp_path / "c"))
    assert cache.open("x.stems", 2) is None  # no folder yet
    assert cache.store("x.stems", _buffer(1000, 2))
    fd, frames = cache.open("x.stems", 2)
    try:
        assert frames == 1000
        data = np.frombuffer(os.pread(fd, 4 * 1000 * 6, HEADER_BYTES), np.float32)
        assert np.all(data == 0.5)
    finally:
        os.close(fd)
    assert cache.open("x.stems", 1) is None  # another channel count: removed, separated again
    assert not (tmp_path / "c" / "x.stems").exists()
    cache.store("t.stems", _buffer(1000, 2))
    with open(tmp_path / "c" / "t.stems", "r+b") as fh:  # truncated (a full disk, a copy cut short)
        fh.truncate(HEADER_BYTES + 100)
    assert cache.open("t.stems", 2) is None and not (tmp_path / "c" / "t.stems").exists()
    half = _buffer(1000, 2)
    np.frombuffer(half, np.int64, 1)[0] = 400  # not separated whole
    cache.store("h.stems", half)
    assert cache.open("h.stems", 2) is None
    assert [p.name for p in (tmp_path / "c").iterdir()] == []  # no temporary file left either


def test_the_folder_keeps_to_its_limit_least_recently_played_first(tmp_path):
    one = stems_nbytes(1000, 2)
    cache = StemCache(str(tmp_path), limit_bytes=int(3.5 * one))
    for i, name in enumerate(("a.stems", "b.stems", "c.stems")):
        cache.store(name, _buffer(1000, 2))
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    os.close(cache.open("a.stems", 2)[0])  # played: now the most recent
    stale = tmp_path / ".part-dead"
    stale.write_bytes(b"x")
    os.utime(stale, (1, 1))
    cache.store("d.stems", _buffer(1000, 2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.stems", "c.stems", "d.stems"]


def test_the_option_and_the_default_folder(tmp_path, monkeypatch):
    assert StemCache.from_option("off") is None and StemCache.from_option(" OFF ") is None
    assert StemCache.from_option(str(tmp_path)).folder == str(tmp_path)
    monkeypatch.setenv("RTSEP_STEM_CACHE", str(tmp_path / "env"))
    assert StemCache.from_option(None).folder == str(tmp_path / "env")
    monkeypatch.delenv("RTSEP_STEM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert StemCache.from_option(None).folder == str(tmp_path / "xdg" / "rtsep" / "stems")
    f = tmp_path / "file"
    f.write_bytes(b"")
    with pytest.raises(RtsepError, match="not a folder"):
        StemCache.from_option(str(f))


def test_separator_identity_names_the_model_file(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"1")

    class Card:
        path = str(model)

    class Model:
        card = Card()

    class Sep:
        name = "unet"
        model = Model()

    a = separator_identity(Sep())
    os.utime(model, ns=(0, 123_000_000_000))  # a new model file in its place
    assert separator_identity(Sep()) != a and str(model) in a
    assert separator_identity(CountingStems("x")) != separator_identity(Sep())


def _run_queue(paths, log, cache, songs=(0, 1), counts=None):
    """The songs' stems through a queue's producer; ``counts``: the producer's
    ``(songs_separated, songs_cached)`` expected."""
    from rtsep.host.evening import QueueProducer

    queue = SongQueue.from_items([str(p) for p in paths], stem_cache=cache)
    producer = QueueProducer(queue, RATE, 2, CountingStems(log), separate_in="process")
    producer.start()
    try:
        got = _separated(producer, list(songs))
        if counts is not None:
            deadline = time.monotonic() + 10  # counted after the store is complete
            while (producer.songs_separated, producer.songs_cached) != counts and time.monotonic() < deadline:
                time.sleep(0.01)
            assert (producer.songs_separated, producer.songs_cached) == counts
            assert producer.speed_x < 1e5 or counts[0] == 0  # cached songs do not count as separated
        return got
    finally:
        producer.stop()
        assert producer.error is None


def _separations(log) -> int:
    return len(log.read_text().split()) if log.exists() else 0


@linux_only
@pytest.mark.timeout(180)
def test_a_song_that_comes_round_again_is_not_separated_again(tmp_path):
    paths = []
    for k, name in enumerate(("one.wav", "two.flac")):
        paths.append(tmp_path / name)
        sf.write(paths[-1], _tone(1.0 + 0.5 * k, 330 + 110 * k), RATE)
    cache, log = StemCache(str(tmp_path / "cache")), tmp_path / "log"
    first = _run_queue(paths, log, cache, counts=(2, 0))
    assert _separations(log) == 2
    assert len(list((tmp_path / "cache").glob("*.stems"))) == 2
    again = _run_queue(paths, log, cache, counts=(0, 2))
    assert _separations(log) == 2  # both from the cache
    for j in (0, 1):
        assert np.array_equal(first[j], again[j])
    song = sf.read(paths[0], dtype="float32")[0]
    assert np.array_equal(again[0][:, 4:], song) and np.array_equal(again[0][:, 2:4], 0.25 * song)

    time.sleep(0.01)
    sf.write(paths[1], _tone(1.2, 550), RATE)  # edited: separated again
    edited = _run_queue(paths, log, cache, counts=(1, 1))
    assert _separations(log) == 3
    assert len(edited[1]) == int(1.2 * RATE)
    # a damaged cache file: that song is separated again, with the same stems
    for p in (tmp_path / "cache").glob("*.stems"):
        with open(p, "r+b") as fh:
            fh.truncate(p.stat().st_size - 4)
    repaired = _run_queue(paths, log, cache)
    assert _separations(log) == 5
    for j in (0, 1):
        assert np.array_equal(repaired[j], edited[j])
    # off: every time
    _run_queue(paths, log, None)
    assert _separations(log) == 7
