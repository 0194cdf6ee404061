"""A queue of songs: files, folders and M3U playlists (read, never run); songs follow one another
without a gap, the next one separated before the current one ends; bad entries are skipped with
one line each; next / skip; a summary row per song. Device-free producer tests read the stem ring
at the pace of a 48 kHz callback; the CLI and the GUI run on a private JACK server."""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from rtsep.errors import RtsepError
from rtsep.host.queue import SongQueue, expand_sources, parse_m3u

from jack_server import jack_server, run_cli  # noqa: F401  (fixture)
from test_keytempo import RATE, ToneStems, _freq, _tone, play


def _songs(tmp_path, spec):
    """``{name: (seconds, hz)}`` → tone files; returns their paths."""
    paths = {}
    for name, (seconds, hz) in spec.items():
        paths[name] = tmp_path / name
        sf.write(paths[name], _tone(seconds, hz), RATE, subtype="FLOAT" if name.endswith(".wav") else None)
    return paths


# --- the list ----------------------------------------------------------------------------------

def test_files_folders_and_playlists_expand_in_order_with_one_line_per_bad_entry(tmp_path):
    p = _songs(tmp_path, {"b.wav": (0.5, 440), "a.flac": (0.5, 330)})
    (tmp_path / "notes.txt").write_text("not audio")
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 4)
    sub = tmp_path / "list"
    sub.mkdir()
    marker = tmp_path / "ran"
    (sub / "evening.m3u").write_text(
        "#EXTM3U\n#EXTINF:1,First - Song\n../b.wav\n"
        f"{p['a.flac']}\n"
        f"$(touch {marker})\n"                      # a line is a path, never a command
        "http://example.com/song.mp3\n"
        "other.m3u\n"
        "../missing.ogg\n")
    songs, notes = expand_sources([tmp_path / "a.flac", tmp_path, sub / "evening.m3u"])
    titles = [s.title for s in songs]
    # the folder: its audio files by name (broken.wav is listed, then fails its probe)
    assert titles[:4] == ["a", "a", "b", "broken"]
    assert titles[4:6] == ["First - Song", "a"]
    assert [s.playable for s in songs] == [True, True, True, False, True, True, False, False, False, False]
    assert not marker.exists()
    assert len(notes) == 5 and all(n.startswith("skipped ") and "\n" not in n for n in notes), notes
    assert any("URLs are not fetched" in n for n in notes) and any("playlist inside" in n for n in notes)
    assert any("missing.ogg: no such file" in n for n in notes)
    assert songs[0].duration_s == pytest.approx(0.5)
    assert parse_m3u(sub / "evening.m3u")[0] == ("../b.wav", "First - Song")


def test_a_queue_without_a_playable_song_is_one_error_line(tmp_path):
    with pytest.raises(RtsepError, match="no playable song") as e:
        SongQueue.from_items([tmp_path / "none.wav", tmp_path])
    assert "\n" not in str(e.value)


def test_next_index_skips_failed_and_skipped_songs_and_wraps_when_looping(tmp_path):
    p = _songs(tmp_path, {"1.wav": (0.2, 440), "2.wav": (0.2, 440), "3.wav": (0.2, 440)})
    q = SongQueue.from_items([p["1.wav"], tmp_path / "gone.wav", p["2.wav"], p["3.wav"]])
    assert q.current == 0 and q.next_index(0) == 2
    q.skip(2)
    assert q.next_index(0) == 3 and q.songs[2].state == "skipped"
    assert q.next_index(3) is None
    q.loop = True
    assert q.next_index(3) == 0
    q.skip(2, False)
    assert q.next_index(0) == 2 and q.songs[2].state == "queued"


@pytest.mark.parametrize("command", ["live", "gui"])
def test_the_loop_flag_makes_the_queue_wrap_and_needs_a_source(tmp_path, command):
    from rtsep.cli import build_parser
    from rtsep.commands.live import song_source

    p = _songs(tmp_path, {"1.wav": (0.2, 440), "2.wav": (0.2, 330)})
    parse = build_parser().parse_args
    looping = song_source(parse([command, "--source", str(p["1.wav"]), str(p["2.wav"]), "--loop"]))
    once = song_source(parse([command, "--source", str(p["1.wav"]), str(p["2.wav"])]))
    assert looping.loop and looping.next_index(1) == 0
    assert not once.loop and once.next_index(1) is None
    with pytest.raises(RtsepError, match="--loop needs --source"):
        song_source(parse([command, "--loop"]))


# --- the producer: songs one after the other ---------------------------------------------------

def test_songs_follow_each_other_without_a_gap_and_a_bad_one_is_skipped(tmp_path):
    from rtsep.host.evening import QueueProducer

    p = _songs(tmp_path, {"one.wav": (1.5, 440), "gone.wav": (1.0, 550), "two.wav": (1.5, 330)})
    queue = SongQueue.from_items([p["one.wav"], p["gone.wav"], p["two.wav"]])
    os.remove(p["gone.wav"])  # readable when listed, gone when its turn comes: skipped while playing
    producer = QueueProducer(queue, RATE, 2, ToneStems())
    producer.start()
    producer.wait_ready(0.5)
    seen = {}

    def on_block(frame):  # the next song is separated before the current one ends
        if frame >= int(1.2 * RATE) and "two" not in seen:
            store = producer.stores.get(2)
            seen["two"] = store is not None and store.complete

    try:
        y, misses = play(producer, 4.0, on_block)
    finally:
        producer.stop()
    assert producer.error is None and not misses, misses
    if sys.platform == "linux":  # separating ahead runs only on CPU nothing else wants, in a child
        assert producer.priority == "SCHED_IDLE, a process of its own"
    expect = np.concatenate([_tone(1.5, 440), _tone(1.5, 330)])
    assert len(y) >= len(expect) - 256
    assert np.array_equal(y[:len(expect) - 256], expect[:len(expect) - 256])  # exact, back to back
    assert seen["two"]
    rows = queue.rows()
    assert [r["state"] for r in rows] == ["played", "failed", "played"]
    assert "no such file" in rows[1]["error"] and len(queue.messages) == 1
    assert rows[2]["ahead_s"] == pytest.approx(1.5)  # separated whole before it began
    assert rows[0]["duration"] == 1.5 and rows[0]["played_s"] > 1.4


def test_next_moves_on_within_a_second_crossfaded(tmp_path):
    from rtsep.host.evening import QueueProducer

    p = _songs(tmp_path, {"long.wav": (8.0, 440), "next.wav": (3.0, 330)})
    queue = SongQueue.from_items([p["long.wav"], p["next.wav"]])
    producer = QueueProducer(queue, RATE, 2, ToneStems())
    producer.start()
    producer.wait_ready(1.0)
    at = int(1.0 * RATE)

    def on_block(frame):
        if frame >= at and queue.next_seq == 0:
            queue.next()

    try:
        y, misses = play(producer, 3.0, on_block)
    finally:
        producer.stop()
    assert not misses, misses
    switch = producer.last_change["out_frame"]
    assert 0 < switch - at <= RATE
    assert _freq(y[switch - RATE // 2:switch, 0]) == pytest.approx(440.0, abs=0.5)
    assert _freq(y[switch + 2048:switch + RATE // 2, 0]) == pytest.approx(330.0, abs=0.5)
    assert queue.current == 1 and queue.songs[0].state == "played"


def test_tempo_0_8_plays_the_song_for_1_25x_as_long(tmp_path):
    """End to end through the queue's producer: output frames until the queue ends."""
    from rtsep.host.evening import QueueProducer

    p = _songs(tmp_path, {"s.wav": (2.0, 440)})
    queue = SongQueue.from_items([p["s.wav"]], tempo=0.8)
    producer = QueueProducer(queue, RATE, 2, ToneStems())
    producer.start()
    try:
        t_end = time.monotonic() + 60
        while not producer.finished and time.monotonic() < t_end:
            producer.ring.read_count = producer.ring.write_count  # a reader as fast as it can be
            time.sleep(0.01)
    finally:
        producer.stop()
    assert producer.finished and producer.error is None
    assert producer.ring.write_count / (2.0 * RATE) == pytest.approx(1.25, abs=0.003)


# --- on JACK --------------------------------------------------------------------------------

def test_cli_live_plays_a_queue_with_a_key_and_reports_a_row_per_song(jack_server, tmp_path):
    _songs(tmp_path, {"one.wav": (2.0, 440), "two.wav": (2.0, 330)})
    (tmp_path / "evening.m3u").write_text("one.wav\nnot-there.wav\ntwo.wav\n")
    proc = run_cli(["live", "--source", str(tmp_path / "evening.m3u"), "--key", "2", "--tempo", "1.25", "--mic",
                    "--duration", "10", "--json", "--stem-cache", str(tmp_path / "stems")], jack_server, timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "leaked" not in proc.stderr, proc.stderr  # the melody child's queues are closed, not left to exit
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("rtsep: note: skipped")]
    assert len(notes) == 1 and "not-there.wav" in notes[0], proc.stderr
    s = json.loads(proc.stdout.strip().splitlines()[-1])
    assert s["stopped"] == "source-ended" and (s["key"], s["tempo"]) == (2.0, 1.25)
    assert s.get("karaoke_error") is None, s  # the pitch guide of each song, the (silent) singer scored
    assert [r["title"] for r in s["songs"]] == ["one", "not-there", "two"]
    assert [r["state"] for r in s["songs"]] == ["played", "failed", "played"]
    for r in (s["songs"][0], s["songs"][2]):
        assert r["duration"] == 2.0 and r["ahead_s"] is not None and "score" in r
    # 4 s of songs at 1.25x: 3.2 s of output, then the host stops (a gap would make it longer)
    assert 3.1 * RATE / 256 <= s["callbacks"] <= 4.0 * RATE / 256, s["callbacks"]
    assert len(list((tmp_path / "stems").glob("*.stems"))) == 2  # kept: sung again, not separated again
    assert (s["songs_separated"], s["songs_cached"], s["stem_cache"]) == (2, 0, str(tmp_path / "stems"))


@pytest.mark.parametrize("args, text", [
    (["--key", "7"], "--key must be -6..+6"),
    (["--tempo", "2"], "--tempo must be 0.5..1.5"),
    (["--key", "2", "--model", "quality"], "need the songs separated ahead"),
    (["--key", "1", "--no-source"], "--key and --tempo need --source"),
    (["--key", "1", "--stem-cache", "/dev/null"], "--stem-cache: /dev/null is not a folder"),
])
def test_key_and_tempo_errors_are_one_line(tmp_path, args, text):
    p = _songs(tmp_path, {"s.wav": (0.5, 440)})
    src = [] if "--no-source" in args else ["--source", str(p["s.wav"])]
    proc = run_cli(["live", *src, *[a for a in args if a != "--no-source"], "--duration", "1"], timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("rtsep:")]
    assert len(lines) == 1 and text in lines[0], proc.stderr


def test_gui_shows_the_queue_and_its_controls_move_the_song(jack_server, tmp_path):
    """Offscreen window over a queue: the panel lists the songs; the key box re-renders the
    accompaniment; Next moves to the next song."""
    pytest.importorskip("pyqtgraph")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from rtsep.gui.window import HostSpec, LiveWindow
    from rtsep.plot import ensure_qt_app

    p = _songs(tmp_path, {"one.wav": (8.0, 440), "two.wav": (4.0, 330)})
    app = ensure_qt_app()
    queue = SongQueue.from_items([p["one.wav"], p["two.wav"]])
    spec = HostSpec(source=queue, blocksize=256, extra={"stems": ToneStems()})
    win = LiveWindow(spec, fps=30, gui_priority=0)
    win.show()

    def pump(seconds):
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end:
            app.processEvents()
            time.sleep(0.01)

    try:
        pump(1.0)
        panel = win.queue_panel
        assert panel.isVisible() and panel.list.count() == 2
        assert panel.list.item(0).text().startswith("▶  1. one")
        panel.key.setValue(3)
        assert queue.controls.key == 3.0
        pump(1.5)
        assert win.host.ahead.producer.changes == 1
        panel.next_button.click()
        pump(2.0)
        prod = win.host.ahead.producer
        assert queue.current == 1 and panel.list.item(1).text().startswith("▶  2. two"), \
            (prod.changes, prod.last_change, prod.ring.read_count, prod.ring.write_count, queue.next_seq,
             win.host.running, win.errors, [r["state"] for r in queue.rows()])
        assert "key +3" in panel.info.text()
    finally:
        win.close()
        app.processEvents()
    assert not win.errors, win.errors


def test_a_looping_queue_plays_again_and_an_ended_one_restarts(tmp_path):
    """``loop``: after the last song the first again (separated anew), back to back; an ended
    queue's ``restart`` (the GUI's Start after the end) plays it from its first song."""
    from rtsep.host.evening import QueueProducer

    p = _songs(tmp_path, {"a.wav": (0.75, 440), "b.wav": (0.75, 330)})
    queue = SongQueue.from_items([p["a.wav"], p["b.wav"]], loop=True)
    producer = QueueProducer(queue, RATE, 2, ToneStems())
    producer.start()
    producer.wait_ready(0.5)
    try:
        y, misses = play(producer, 3.5)
    finally:
        producer.stop()
    assert not misses, misses
    cycle = np.concatenate([_tone(0.75, 440), _tone(0.75, 330)])
    n = len(y) - len(cycle)
    assert np.array_equal(y[len(cycle):len(cycle) + n], np.tile(cycle, (2, 1))[:n])
    queue.loop = False
    producer = QueueProducer(queue, RATE, 2, ToneStems())
    producer.start()
    try:
        first, _ = play(producer, 3.0)
        assert producer.finished
        producer.restart()
        producer.start()
        producer.wait_ready(0.5)
        again, misses = play(producer, 3.0)
    finally:
        producer.stop()
    assert not misses and len(again) >= len(cycle) - 256
    assert np.array_equal(again[:len(cycle) - 256], cycle[:len(cycle) - 256])
    assert [s.state for s in queue.songs] == ["played", "played"]
