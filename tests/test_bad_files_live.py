"""Broken files through ``rtsep live --source``: a song played, or one line, never a crash.

The 500 seeded files of tests/badfiles.py (the fixture of tests/test_bad_files.py) go through
the live source path three ways:

* in-process, faster than real time, every file: as one song (``open_source`` → ``FileSource``
  → the ahead producer, every block pulled) and all of them as one evening (``SongQueue`` →
  ``QueueProducer``, its ring read to the end). Each file ends in the decoder's audio at the
  stream rate, whole and finite, or in one one-line ``RtsepError`` (the decoder's, or "no audio
  frames at 48000 Hz"); in the queue a refused song is one line, the same line, and the evening
  goes on, also at another key and tempo (every song through Rubber Band). The stems there are
  a stand-in that passes the song through (the separator is not what these files break; it
  runs in the two CLI tests);
* ``rtsep live --source <all 500> --key 2 --tempo 1.25`` on a private JACK server: every file
  the queue refuses is one ``rtsep: note: skipped`` line; the files that fail only when decoded
  and the shortest songs come first, between the first songs, and the evening plays on;
* ``rtsep live --source FILE`` for a file of every kind, accepted and refused, with the real
  separator, its output ports recorded: exit 0 with finite sound, or exit 2 with one
  ``rtsep: error:`` line, no traceback and nothing on stdout.

Found and fixed with it: a song of 1-3 frames (a truncated file) at another key or tempo
killed the render thread (pedalboard took its frames for channels), ending the evening; songs
shorter than a render call were left "queued" in the summary after they had played; a song
with no frame left at the stream rate (an absurd rate in a damaged header) played as nothing;
an evening none of whose songs decoded played nothing and exited 0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from rtsep.errors import RtsepError
from rtsep.io.audiofile import open_input, read_audio

from badfiles import KINDS
from conftest import ROOT
from jack_server import RATE, jack_server, rtsep_error_lines  # noqa: F401  (fixture)
from test_bad_files import MUST_WORK, bad_files  # noqa: F401  (fixture)
from test_keytempo import ToneStems, _tone

CHANNELS = 2
FILE_LIMIT_S = 20.0      # no file may take longer than this in-process (a hang, not a speed limit)
CLI_FILE_LIMIT_S = 90.0  # one `rtsep live --source FILE` run, start to exit


def _decoded(path):
    """What rtsep's decoder makes of ``path``: ``(frames x channels, rate)``, or the
    :class:`RtsepError` it raises (any other exception propagates: that is a bug)."""
    try:
        return read_audio(path)
    except RtsepError as exc:
        return exc


def _opens(path) -> bool:
    """Whether the header opens (the queue's probe): a file that opens but fails to decode is
    refused only when its turn comes, while the evening plays."""
    try:
        open_input(path).close()
    except RtsepError:
        return False
    return True


def _live_verdict(path):
    """What ``live --source`` makes of ``path``: the song's frames at the stream rate, or the
    :class:`RtsepError` that refuses it (checked against the decoder by the single-song test)."""
    from rtsep.host.source import FileSource

    try:
        return len(FileSource(path, RATE, CHANNELS).audio)
    except RtsepError as exc:
        return exc


@pytest.fixture(scope="module")
def verdicts(bad_files):  # noqa: F811
    return {f.path: _live_verdict(f.path) for f in bad_files}


def _skip_line(path, error) -> str:
    """The queue's line for a song it cannot play: the single-song error, without the path."""
    return f"skipped {path}: {str(error).removeprefix(f'{path}: ')}"


def _drain(producer, ring_dry: bool, limit_s: float) -> np.ndarray:
    """Start a producer and read its stem ring as fast as it fills until it has finished, then
    stop it: the accompaniment, ``frames x channels``."""
    producer.start()
    try:
        return _read_all(producer, ring_dry, limit_s)
    finally:
        producer.stop()


def _read_all(producer, ring_dry: bool, limit_s: float) -> np.ndarray:
    ring = producer.ring
    block = 8192
    v, a, d = (np.zeros((block, CHANNELS), np.float32) for _ in range(3))
    out = []
    t_end = time.monotonic() + limit_s
    while time.monotonic() < t_end:
        n = min(block, ring.write_count - ring.read_count)
        if n > 0:
            ring.read_into(v[:n], a[:n], n, d[:n] if ring_dry else None)
            out.append(a[:n].copy())
        elif producer.finished:
            break
        else:
            time.sleep(0.002)
    else:
        raise AssertionError(f"the producer did not finish within {limit_s:.0f} s")
    return np.concatenate(out) if out else np.zeros((0, CHANNELS), np.float32)


# --- in-process: every file, faster than real time --------------------------------------------

@pytest.mark.timeout(240)
def test_every_file_as_one_live_song(bad_files):  # noqa: F811
    """``live --source FILE``'s path: the whole song at the stream rate, or one line (the
    decoder's, or none left at the stream rate)."""
    from rtsep.host.ahead import AheadProducer
    from rtsep.host.queue import open_source

    problems = []
    for f in bad_files:
        name, got = f.path.name, _decoded(f.path)
        expect = 0.0 if isinstance(got, RtsepError) else len(got[0]) * RATE / got[1]
        t0 = time.monotonic()
        try:
            src = open_source(str(f.path), RATE, CHANNELS)
        except RtsepError as exc:
            same = str(exc) == str(got) if isinstance(got, RtsepError) else \
                expect < 1 and str(exc).startswith(f"{f.path}: contains no audio frames at {RATE} Hz")
            if "\n" in str(exc) or not same:
                problems.append(f"{name}: refused with {str(exc)!r}; the decoder says {got!r}"[:300])
            elif f.kind in MUST_WORK:
                problems.append(f"{name}: a valid file was refused: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - any other exception is the defect looked for
            problems.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
            continue
        if isinstance(got, RtsepError):
            problems.append(f"{name}: played, but the decoder refuses it: {got}")
            continue
        audio, rate = got
        if src.audio.shape[1] != CHANNELS or abs(len(src.audio) - expect) > 1 or not np.isfinite(src.audio).all():
            problems.append(f"{name}: {src.audio.shape} at {RATE} Hz from {len(audio)} frames at {rate} Hz, "
                            f"finite {np.isfinite(src.audio).all()}")
            continue
        producer = AheadProducer(src.audio, RATE, ToneStems())
        played = _drain(producer, False, FILE_LIMIT_S)
        if producer.error is not None or not np.array_equal(played, src.audio):
            problems.append(f"{name}: {len(played)} of {len(src.audio)} frames through the ahead producer, "
                            f"error {producer.error!r}")
        if time.monotonic() - t0 > FILE_LIMIT_S:
            problems.append(f"{name}: {time.monotonic() - t0:.1f} s")
    assert not problems, "\n".join(problems[:20])


@pytest.mark.timeout(240)
def test_every_file_in_one_live_evening(bad_files, verdicts):  # noqa: F811
    """All 500 as one queue (``live --source A B C ...``): the accepted songs back to back,
    exactly the single song's audio; each refused one a single line (at the start, or when its turn
    comes), the same line the single song gets."""
    from rtsep.host.evening import QueueProducer
    from rtsep.host.queue import SongQueue
    from rtsep.host.source import FileSource

    queue = SongQueue.from_items([str(f.path) for f in bad_files])
    producer = QueueProducer(queue, RATE, CHANNELS, ToneStems())
    played = _drain(producer, True, 200.0)
    assert producer.error is None, producer.error
    lines = queue.notes + queue.messages
    problems, expect = [], []
    for f, song in zip(bad_files, queue.songs, strict=True):
        got = verdicts[f.path]
        mine = [ln for ln in lines if f.path.name in ln]
        if isinstance(got, RtsepError):
            if song.state != "failed" or mine != [_skip_line(f.path, got)]:
                problems.append(f"{f.path.name}: {song.state}, lines {mine}; the single song: {got}"[:300])
        elif song.state != "played" or mine:
            problems.append(f"{f.path.name}: {song.state} ({song.error}), lines {mine}")
        else:
            expect.append(FileSource(f.path, RATE, CHANNELS).audio)
    assert not problems, "\n".join(problems[:20])
    assert len(lines) == sum(isinstance(v, RtsepError) for v in verdicts.values())
    assert queue.messages  # some files were refused only when their turn came, the evening went on
    assert len(expect) > 100  # most damaged files still play
    expect = np.concatenate(expect)
    assert played.shape == expect.shape and np.array_equal(played, expect)


@pytest.mark.timeout(240)
def test_bad_files_in_an_evening_at_another_key_and_tempo(bad_files, verdicts):  # noqa: F811
    """``live --source ... --key 2 --tempo 0.8``: every song through Rubber Band. The refused
    files, the 30 shortest songs (a truncated file may keep 1 frame: Rubber Band took 1-3
    frames for channels and the render thread died, ending the evening) and a song of every
    kind; each plays, about 1.25x as long, finite, or is one line."""
    from rtsep.host.evening import QueueProducer
    from rtsep.host.queue import SongQueue

    tempo = 0.8
    played_ok = sorted((f for f in bad_files if not isinstance(verdicts[f.path], RtsepError)),
                       key=lambda f: verdicts[f.path])
    some = set(played_ok[:30]) | {f for f in _sample(bad_files, verdicts)}
    files = [f for f in bad_files if f in some or isinstance(verdicts[f.path], RtsepError)]
    queue = SongQueue.from_items([str(f.path) for f in files], key=2.0, tempo=tempo)
    producer = QueueProducer(queue, RATE, CHANNELS, ToneStems())
    played = _drain(producer, True, 200.0)
    assert producer.error is None, producer.error
    lines = queue.notes + queue.messages
    problems = []
    for f, song in zip(files, queue.songs, strict=True):
        got = verdicts[f.path]
        mine = [ln for ln in lines if f.path.name in ln]
        want = ("failed", [_skip_line(f.path, got)]) if isinstance(got, RtsepError) else ("played", [])
        if (song.state, mine) != want:
            problems.append(f"{f.path.name}: {song.state}, lines {mine}; the single song: {got!r}"[:300])
    assert not problems, "\n".join(problems[:20])
    songs = sum(v for v in (verdicts[f.path] for f in files) if not isinstance(v, RtsepError))
    assert np.isfinite(played).all()
    assert abs(len(played) - songs / tempo) < 0.01 * songs / tempo, (len(played), songs / tempo)


def test_a_song_with_no_frame_at_the_stream_rate_is_one_line(tmp_path):
    """A header whose rate is absurdly high (a flipped bit makes 800 MHz of it) leaves a few
    frames nothing at 48 kHz: refused like an empty file, not played as nothing (the queue
    listed such a song as still queued after the evening had ended)."""
    import soundfile as sf

    from rtsep.host.evening import QueueProducer
    from rtsep.host.queue import SongQueue, open_source

    tiny, song = tmp_path / "tiny.wav", tmp_path / "song.wav"
    sf.write(tiny, np.full((5, 2), 0.1, np.float32), 2_000_000_000, format="WAV", subtype="FLOAT")
    sf.write(song, _tone(0.5), RATE, subtype="FLOAT")
    with pytest.raises(RtsepError, match="no audio frames at 48000 Hz") as e:
        open_source(str(tiny), RATE, CHANNELS)
    assert "\n" not in str(e.value)
    queue = SongQueue.from_items([tiny, song, tiny])
    producer = QueueProducer(queue, RATE, CHANNELS, ToneStems())
    played = _drain(producer, True, 60.0)
    assert producer.error is None and np.array_equal(played, _tone(0.5))
    assert [s.state for s in queue.songs] == ["failed", "played", "failed"]
    assert queue.messages == [_skip_line(str(tiny), e.value)] * 2


# --- the CLI on a private JACK server ---------------------------------------------------------

def _rtsep(args, server, timeout_s: float, record_s: float = 0.0):
    """``python -m rtsep ARGS`` on ``server``; with ``record_s``, its output ports are recorded
    from when they appear (before its first sample: the stream opens, then the song is
    separated ahead, then it starts). Returns ``(CompletedProcess-like, recording or None)``;
    a run past ``timeout_s`` is killed and fails the test (a hang)."""
    from rtsep.host.jack import JackRecorder, client, portaudio_port_names

    env = dict(os.environ, JACK_DEFAULT_SERVER=server.name)
    proc = subprocess.Popen([sys.executable, "-m", "rtsep", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    t_end = time.monotonic() + timeout_s
    rec = None
    if record_s:
        cl = client("bad-files-tap")
        try:
            while rec is None and proc.poll() is None and time.monotonic() < t_end:
                outs = [p for p in portaudio_port_names(cl) if ":out_" in p]
                if not outs:
                    time.sleep(0.005)
                    continue
                rec = JackRecorder(outs, record_s, name="bad-files-rec")
                try:
                    rec.start()
                except Exception:  # noqa: BLE001 - the ports went away (the run ended): nothing recorded
                    rec.stop()
                    rec = None
                    break
        finally:
            cl.close()
    try:
        out, err = proc.communicate(timeout=max(1.0, t_end - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"rtsep {' '.join(args)[:200]} ran past {timeout_s:.0f} s: {err[-2000:]}")
    finally:
        recording = rec.stop() if rec is not None else None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), recording


@pytest.mark.timeout(240)
def test_cli_live_evening_of_500_bad_files(jack_server, bad_files, verdicts):  # noqa: F811
    """``rtsep live --source <500 files> --key 2 --tempo 1.25``: one note per refused file, no
    traceback, and the evening plays on. The files that fail only when decoded come first,
    between the first songs, so the producer meets each of them while the evening plays, and
    so do the three shortest songs (a few frames each)."""
    tempo = 1.25
    late = [f for f in bad_files if isinstance(verdicts[f.path], RtsepError) and _opens(f.path)]
    shortest = sorted((f for f in bad_files if not isinstance(verdicts[f.path], RtsepError)),
                      key=lambda f: verdicts[f.path])
    good = [f for f in shortest if f.kind in MUST_WORK][:3]
    tiny = shortest[:3]
    assert len(late) >= 10 and len(good) == 3
    half = len(late) // 2
    order = late[:3] + good[:1] + tiny + late[3:half] + good[1:2] + late[half:] + good[2:]
    order += [f for f in bad_files if f not in order]
    seconds = sum(verdicts[f.path] for f in good[:2]) / RATE / tempo
    proc, _ = _rtsep(["live", "--source", *(str(f.path) for f in order), "--key", "2", "--tempo", str(tempo),
                      "--duration", f"{seconds + 4:.1f}", "--json"], jack_server, 180)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    s = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = s["songs"]
    assert [r["path"] for r in rows] == [str(f.path) for f in order]
    lines = rtsep_error_lines(proc.stderr)
    assert not [ln for ln in lines if ln.startswith("rtsep: error:")], lines
    problems = []
    for f, r in zip(order, rows):
        mine = [ln for ln in lines if f.path.name in ln]
        got = verdicts[f.path]
        if r["state"] == "failed":
            want = f"rtsep: note: {_skip_line(f.path, got)}" if isinstance(got, RtsepError) else "(not refused)"
            if mine != [want]:
                problems.append(f"{f.path.name}: failed ({r['error']}), lines {mine}"[:300])
        elif mine or isinstance(got, RtsepError) and not _opens(f.path):
            problems.append(f"{f.path.name}: {r['state']}, lines {mine}, the single song: {got!r}"[:300])
    assert not problems, "\n".join(problems[:20])
    states = {f.path: r["state"] for f, r in zip(order, rows)}
    assert all(states[f.path] == "failed" for f in late), [states[f.path] for f in late]
    # the shortest ones went by between two looks at the playhead: still played, not "queued"
    assert [states[f.path] for f in good[:1] + tiny] == ["played"] * 4, [states[f.path] for f in good + tiny]
    assert states[good[1].path] in ("played", "playing"), states[good[1].path]
    assert s["callbacks"] > 0 and s["stopped"] == "duration"


@pytest.mark.timeout(120)
def test_cli_live_evening_with_no_song_that_decodes_is_one_error_line(jack_server, bad_files, verdicts):  # noqa: F811
    """Songs whose headers open but that all fail to decode (a queue, or one song at a key): one
    ``rtsep: error:`` line naming each and exit 2, as one such song alone gets (it played nothing
    and exited 0)."""
    late = [f for f in bad_files if isinstance(verdicts[f.path], RtsepError) and _opens(f.path)][:2]
    refused = next(f for f in bad_files if not _opens(f.path))
    for files, more in [(late + [refused], []), (late[:1], ["--key", "1"])]:
        proc, _ = _rtsep(["live", "--source", *(str(f.path) for f in files), *more, "--duration", "5", "--json"],
                         jack_server, 60)
        lines = rtsep_error_lines(proc.stderr)
        assert proc.returncode == 2 and not proc.stdout and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert len(lines) == 1 and lines[0].startswith("rtsep: error: --source: no playable song ("), lines
        assert all(lines[0].count(_skip_line(f.path, verdicts[f.path])) == 1 for f in files), lines


def _sample(bad_files, verdicts):  # noqa: F811
    """A file of every kind that plays as a single song and one refused, where the kind has one."""
    picked = {}
    for f in bad_files:
        picked.setdefault((f.kind, isinstance(verdicts[f.path], RtsepError)), f)
    late = next(f for f in bad_files if isinstance(verdicts[f.path], RtsepError) and _opens(f.path))
    return [picked[k] for k in sorted(picked)] + [late]


@pytest.mark.timeout(300)
def test_cli_live_one_bad_file_of_every_kind(jack_server, bad_files, verdicts):  # noqa: F811
    """``rtsep live --source FILE`` with the real separator: exit 0 and finite sound out, or
    exit 2 and one ``rtsep: error:`` line naming the file, no traceback, nothing on stdout. And
    the shortest song (a frame) at ``--key 2``: a queue of one through Rubber Band (it was
    "separating the song failed: could not broadcast input array ...")."""
    sample = _sample(bad_files, verdicts)
    assert {f.kind for f in sample} == set(KINDS)
    shortest = min((f for f in bad_files if not isinstance(verdicts[f.path], RtsepError)),
                   key=lambda f: verdicts[f.path])
    problems = []
    for f, more in [(f, []) for f in sample] + [(shortest, ["--key", "2"])]:
        got = verdicts[f.path]
        proc, y = _rtsep(["live", "--source", str(f.path), *more, "--duration", "1.5", "--json"], jack_server,
                         CLI_FILE_LIMIT_S, record_s=4.0)
        lines = rtsep_error_lines(proc.stderr)
        if "Traceback" in proc.stderr:
            problems.append(f"{f.path.name}: {proc.stderr[-1500:]}")
        elif isinstance(got, RtsepError):
            if proc.returncode != 2 or proc.stdout or lines != [f"rtsep: error: {got}"]:
                problems.append(f"{f.path.name}: exit {proc.returncode}, lines {lines}, stdout {proc.stdout[:200]!r}")
        elif proc.returncode != 0 or [ln for ln in lines if ln.startswith("rtsep: error:")]:
            problems.append(f"{f.path.name} ({f.kind}): exit {proc.returncode}, {lines}")
        else:
            s = json.loads(proc.stdout.strip().splitlines()[-1])
            if s["callbacks"] <= 0 or s["stopped"] not in ("duration", "source-ended"):
                problems.append(f"{f.path.name}: {s['callbacks']} callbacks, stopped {s['stopped']}")
            audible = got >= RATE // 10  # a song of a few frames may be silence at another key
            if y is None or not len(y) or not np.isfinite(y).all() or audible and not np.abs(y).max() > 0:
                problems.append(f"{f.path.name}: output recorded "
                                f"{None if y is None else (len(y), np.isfinite(y).all(), np.abs(y).max())}")
    assert not problems, "\n".join(problems)
