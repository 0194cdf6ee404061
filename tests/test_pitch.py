"""Pitch guide and score: reference melody (pYIN), live pitch (YIN), octave-folded score, ``rtsep melody``."""

from __future__ import annotations

import json
import math
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from conftest import SHARED_DATA, assert_one_line_error, fifo_allowed, run_cli
from rtsep.pitch import (Melody, MelodyProcess, MelodyServer, MelodyTracker, PitchError, Scorer, StreamingPitch, cents_error_folded,
                         read_melody_csv, reference_melody, song_melody, write_melody_csv)

SR = 16000
NOTES = [57, 60, 62, 64, 62, 60, 59, 57]   # MIDI: A3 C4 D4 E4 D4 C4 B3 A3


def midi_hz(m):
    return 440.0 * 2.0 ** ((np.asarray(m, float) - 69.0) / 12.0)


def sung_phrase(sample_rate: int = SR, shift_semitones: float = 0.0, note_s: float = 0.45, gap_s: float = 0.15,
                lead_s: float = 0.5) -> np.ndarray:
    """A voice-like phrase: harmonic tones with 5.5 Hz, +-30 cent vibrato, attack/decay, silent gaps."""
    n_note, n_gap = int(note_s * sample_rate), int(gap_s * sample_rate)
    out = [np.zeros(int(lead_s * sample_rate))]
    phase = 0.0
    for k, note in enumerate(NOTES):
        t = np.arange(n_note) / sample_rate
        f = midi_hz(note + shift_semitones) * 2.0 ** (0.3 * np.sin(2 * np.pi * 5.5 * t + k) / 12.0)
        ph = phase + 2 * np.pi * np.cumsum(f) / sample_rate
        tone = sum((0.6 ** h) * np.sin(h * ph) for h in range(1, 7))
        env = np.minimum(1.0, np.minimum(t / 0.04, (note_s - t) / 0.06))
        out += [0.25 * env * tone, np.zeros(n_gap)]
    return np.concatenate(out).astype(np.float32)


def mir1k_vocal():
    """A MIR-1K test clip's true vocal (16 kHz mono), or None without the research data."""
    clips = SHARED_DATA / "mir1k" / "clips"
    splits = SHARED_DATA / "mir1k" / "splits.json"
    if not splits.is_file():
        return None
    name = json.loads(splits.read_text())["test"][0]
    audio, sr = sf.read(clips / f"{name}.vocals.opus", dtype="float32")
    return audio, sr


def sing(melody: Melody, audio: np.ndarray, sample_rate: int, block: int = 128) -> Scorer:
    """Stream ``audio`` through StreamingPitch block by block and score it, as the live host does."""
    pitch = StreamingPitch(sample_rate)
    scorer = Scorer(melody)
    seen = 0
    for i in range(0, len(audio), block):
        pitch.push(audio[i:i + block])
        if pitch.analyses != seen:
            seen = pitch.analyses
            scorer.update(*pitch.latest())
    return scorer


@pytest.fixture(scope="module")
def phrase_melody():
    return reference_melody(sung_phrase(), SR)


# ---------------------------------------------------------------------------------------------- score
def test_cents_error_folded():
    assert cents_error_folded(440.0, 220.0) == pytest.approx(0.0, abs=1e-9)       # octave up: right
    assert cents_error_folded(110.0, 220.0) == pytest.approx(0.0, abs=1e-9)       # octave down: right
    assert cents_error_folded(midi_hz(61), midi_hz(60)) == pytest.approx(100.0)
    assert cents_error_folded(midi_hz(59 - 24), midi_hz(60)) == pytest.approx(-100.0)
    assert cents_error_folded(midi_hz(66), midi_hz(60)) == pytest.approx(-600.0)  # a tritone folds to -600
    assert math.isnan(cents_error_folded(0.0, 220.0)) and math.isnan(cents_error_folded(220.0, 0.0))
    err = cents_error_folded(np.geomspace(50, 2000, 1001), 261.6)
    assert err.shape == (1001,) and np.all((err >= -600) & (err < 600))


def test_scorer_counts_voiced_reference_frames_only():
    m = Melody(0.01, [0, 0, 220, 220, 440, 0, 330])
    s = Scorer(m)
    for t, f in [(0.0, 0), (0.01, 200), (0.02, 110.5), (0.03, 233.1), (0.04, 445), (0.05, 0), (0.06, 0)]:
        s.update(t, f)
    # 220 vs 110.5: octave, ~8 cents (hit); 233.1 vs 220: ~100 cents (miss); 445 vs 440: hit; 330 silent: miss
    assert (s.voiced_frames, s.hit_frames, s.sung_frames) == (4, 2, 3)
    assert s.score == pytest.approx(50.0)
    summary = s.summary()
    assert summary["score"] == 50.0 and summary["tolerance_cents"] == 50.0
    assert math.isnan(s.last_cents)


def test_scorer_update_allocates_nothing(phrase_melody):
    s = Scorer(phrase_melody)
    s.update(0.0, 220.0)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for k in range(2000):
        s.update(k * 0.0025, 220.0 + k % 7)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(d.size_diff for d in after.compare_to(before, "filename") if d.size_diff > 0)
    assert grown < 2048, grown
    assert s.voiced_frames > 0


def test_scorer_jumps_do_not_double_count(phrase_melody):
    s = Scorer(phrase_melody, max_gap_s=0.5)
    s.update(1.0, 0.0)
    s.update(3.0, 0.0)        # seek forward: only the last 0.5 s is scored
    n = s.voiced_frames
    assert 0 < n <= 51
    s.update(2.0, 0.0)        # seek back: nothing scored
    assert s.voiced_frames == n


# --------------------------------------------------------------------------------- reference melody
def test_reference_melody_follows_the_notes(phrase_melody):
    m = phrase_melody
    assert m.hop_s == pytest.approx(0.01) and len(m) == 1 + len(sung_phrase()) // 160
    assert m.at(0.25) == 0.0                             # the lead-in silence is unvoiced
    for k, note in enumerate(NOTES):                     # the middle of each note, vibrato included
        mid = 0.5 + k * 0.6 + 0.225
        assert abs(cents_error_folded(m.at(mid), midi_hz(note))) < 45, (k, m.at(mid))
        assert m.at(0.5 + k * 0.6 + 0.52) == 0.0         # the gap after it
    assert 0.55 < m.voiced_share() < 0.8


def test_tracker_chunks_match_whole_signal_at_44k():
    x = sung_phrase(44100)
    whole = reference_melody(x, 44100)
    tracker = MelodyTracker(44100)
    parts = [tracker.push(x[i:i + 4410]) for i in range(0, len(x), 4410)] + [tracker.finish()]
    chunked = np.concatenate([p.f0_hz for p in parts])
    assert len(chunked) == len(whole) == len(tracker.melody)
    same = np.abs(chunked - whole.f0_hz) < 1.0
    assert same.mean() > 0.97, same.mean()
    assert all(len(p) == 0 or len(p) >= 100 for p in parts[:-1])   # frames come in chunks of >= 1 s
    times = np.concatenate([p.times_s for p in parts])              # each batch placed in the song
    assert np.allclose(times, whole.times_s)
    batch = next(p for p in parts if p.start_index > 0 and len(p))
    assert batch.at(batch.times_s[5]) == batch.f0_hz[5] and batch.at(0.0) == 0.0


def test_melody_process_matches_the_tracker_and_reports_a_dead_child():
    x = sung_phrase(44100)
    with MelodyProcess(44100) as proc:
        for i in range(0, len(x), 4410):
            proc.push(np.stack([x[i:i + 4410]] * 2, axis=1))
        assert proc.finish(timeout=0) is proc.melody        # queues the end, returns at once
        got = proc.finish(timeout=120)
        assert proc.done
    want = reference_melody(x, 44100)
    assert len(got) == len(want) and np.allclose(got.f0_hz, want.f0_hz)
    dead = MelodyProcess(16000)
    dead.server._proc.terminate()
    with pytest.raises(PitchError, match="ended"):
        dead.finish(timeout=30)
    with pytest.raises(PitchError):
        dead.push(np.zeros(160, np.float32))


def test_one_melody_server_tracks_interleaved_songs_and_forgets_dropped_ones():
    # An evening's queue: one child for every song; songs overlap (the next one is tracked
    # while the current one plays) and a skipped song is dropped half-way.
    x = sung_phrase(44100)
    with MelodyServer() as server:
        a, b, skipped = server.track(44100), server.track(44100), server.track(44100)
        pid = server._proc.pid
        skipped.push(x[:4410])
        for i in range(0, len(x), 4410):
            a.push(x[i:i + 4410])
            b.push(np.stack([x[i:i + 4410]] * 2, axis=1))
        skipped.close()
        assert skipped.done and not server._songs.get(skipped._song)
        got_a, got_b = a.finish(timeout=120), b.finish(timeout=120)
        assert server._proc.pid == pid and server.alive     # the same child all along
        c = server.track(44100)                              # and it takes the next song
        c.push(x)
        got_c = c.finish(timeout=120)
    want = reference_melody(x, 44100)
    for got in (got_a, got_b, got_c):
        assert len(got) == len(want) and np.allclose(got.f0_hz, want.f0_hz)
    assert not server._proc.is_alive()
    with pytest.raises(PitchError, match="closed"):
        server.track(44100)


def test_a_melody_child_started_from_a_realtime_thread_runs_at_idle_priority():
    # The GUI thread is SCHED_FIFO beside a real-time server, and a queue built from it (a device
    # change) starts the melody child, which would inherit that: pYIN above every ordinary thread.
    # It runs at SCHED_IDLE, below them all (rtsep.pitch.worker._background_policy).
    import os
    import threading
    import time

    from rtsep.host.realtime import make_realtime

    if not fifo_allowed():
        pytest.skip("SCHED_FIFO not permitted here")
    box = {}

    def start():
        assert make_realtime(1).startswith("SCHED_FIFO")
        box["server"] = MelodyServer()

    t = threading.Thread(target=start)
    t.start()
    t.join()
    with box["server"] as server:
        deadline = time.monotonic() + 60
        while os.sched_getscheduler(server._proc.pid) != os.SCHED_IDLE and time.monotonic() < deadline:
            time.sleep(0.05)
        # background work: below every ordinary thread (those of the host holding its interpreter lock)
        assert os.sched_getscheduler(server._proc.pid) == os.SCHED_IDLE


def test_reference_melody_of_silence_and_bad_input():
    assert reference_melody(np.zeros((16000, 2), np.float32), SR).voiced_share() == 0.0
    noisy = sung_phrase()
    noisy[1000:1010] = np.nan
    assert reference_melody(noisy, SR).voiced_share() > 0.5       # NaN samples are zeroed, not fatal
    with pytest.raises(PitchError):
        reference_melody(np.zeros((0,)), SR)
    with pytest.raises(PitchError):
        reference_melody(np.zeros(1000), 500)
    with pytest.raises(PitchError):
        reference_melody(np.zeros((10, 2, 2)), SR)


# ------------------------------------------------------------------ whole-song melody (rtsep melody)
def assert_follows_the_notes(m: Melody, lead_s: float = 0.5) -> None:
    assert m.at(lead_s / 2) == 0.0                       # the lead-in is unvoiced
    for k, note in enumerate(NOTES):                     # the middle of each note, vibrato included
        mid = lead_s + k * 0.6 + 0.225
        assert abs(cents_error_folded(m.at(mid), midi_hz(note))) < 45, (k, m.at(mid))
        assert m.at(lead_s + k * 0.6 + 0.52) == 0.0      # the gap after it


@pytest.mark.parametrize("sample_rate", [8000, 16000, 44100, 96000])
def test_song_melody_follows_the_notes_at_the_files_rate(sample_rate):
    """Analysed at the file's rate (8 and 96 kHz: resampled to 16 and 48 kHz), 10 ms frames
    centred on i * 10 ms, 1 + samples // hop of them."""
    from rtsep.pitch.song import analysis_rate, frame_length

    x = sung_phrase(sample_rate)
    m = song_melody(np.stack([x, x], axis=1), sample_rate)
    rate = analysis_rate(sample_rate)
    assert rate == min(max(sample_rate, 16000), 48000) and analysis_rate(22050) == 44100
    assert frame_length(rate) == {16000: 1024, 44100: 2048, 48000: 2048}[rate]
    assert m.hop_s == pytest.approx(0.01) and abs(len(m) - (1 + len(x) / sample_rate / 0.01)) <= 1
    assert_follows_the_notes(m)
    assert 0.55 < m.voiced_share() < 0.8


def test_song_melody_in_pieces_equals_one_call():
    """Memory is bounded by analysing pieces with context either side: the cuts change nothing."""
    x = np.concatenate([sung_phrase(SR, shift_semitones=s) for s in (0, 3, -2)])
    whole = song_melody(x, SR, piece_s=1000.0)
    pieces = song_melody(x, SR, piece_s=1.3)
    assert len(pieces) == len(whole) == 1 + len(x) // 160
    assert np.mean(np.abs(pieces.f0_hz - whole.f0_hz) < 1e-6) > 0.99


def test_song_melody_drops_quiet_bleed_that_plain_pyin_calls_voiced():
    """A soft steady tone under the lead-in (accompaniment left in separated vocals, 30 dB below
    the singing) is unvoiced; plain pYIN calls it voiced."""
    import librosa

    x = sung_phrase(SR)
    n_lead = int(0.5 * SR)
    x[:n_lead] += 0.25 * 0.03 * np.sin(2 * np.pi * 150.0 * np.arange(n_lead) / SR).astype(np.float32)
    f0, voiced, _ = librosa.pyin(x, fmin=65.0, fmax=1000.0, sr=SR, frame_length=1024, hop_length=160)
    assert voiced[5:45].mean() > 0.9                     # plain pYIN: the bleed is "sung"
    m = song_melody(x, SR)
    assert np.all(m.f0_hz[5:45] == 0.0)
    assert_follows_the_notes(m)


def test_song_melody_of_silence_and_bad_input():
    assert song_melody(np.zeros((16000, 2), np.float32), 44100).voiced_share() == 0.0
    noisy = sung_phrase()
    noisy[1000:1010] = np.nan
    assert song_melody(noisy, SR).voiced_share() > 0.5            # NaN samples are zeroed, not fatal
    for bad, rate in ((np.zeros((0,)), SR), (np.zeros(1000), 500), (np.zeros((10, 2, 2)), SR)):
        with pytest.raises(PitchError):
            song_melody(bad, rate)
    with pytest.raises(PitchError):
        song_melody(sung_phrase(), SR, hop_s=0.00001)


# ---------------------------------------------------------------------------------- streaming pitch
@pytest.mark.parametrize("sample_rate", [16000, 44100, 48000])
@pytest.mark.parametrize("f0", [196.0, 440.0])
def test_streaming_pitch_reads_a_sine_within_a_few_cents(sample_rate, f0):
    x = (0.3 * np.sin(2 * np.pi * f0 * np.arange(sample_rate) / sample_rate)).astype(np.float32)
    sp = StreamingPitch(sample_rate)
    got = []
    for i in range(0, len(x), 128):
        sp.push(x[i:i + 128, None])                     # frames x 1, as a tap delivers it
        got.append(sp.latest())
    t, f = got[-1]
    assert abs(1200 * np.log2(f / f0)) < 8, f
    assert t == pytest.approx((len(x) - sp.frame_length / 2) / sample_rate, abs=0.01)
    assert sp.analyses >= 95                            # one per 10 ms hop
    silent = StreamingPitch(sample_rate)
    silent.push(np.zeros((4096, 2), np.float32))
    assert silent.latest()[1] == 0.0


def test_streaming_pitch_noise_is_unvoiced_and_buffers_do_not_grow(rng):
    sp = StreamingPitch(48000)
    ids = (id(sp._ring), id(sp._window), sp._ring.nbytes)
    noise = (0.1 * rng.standard_normal((48000, 2))).astype(np.float32)
    voiced = 0
    for i in range(0, len(noise), 256):
        sp.push(noise[i:i + 256])
        voiced += sp.latest()[1] > 0
    assert voiced < 0.1 * sp.analyses
    assert (id(sp._ring), id(sp._window), sp._ring.nbytes) == ids
    with pytest.raises(PitchError):
        StreamingPitch(48000, hop_samples=0)


# ---------------------------------------------------------------------------- singer vs reference
@pytest.fixture(scope="module")
def true_vocal():
    """(reference melody, vocal, rate): a MIR-1K true vocal when the data is there, else the phrase."""
    found = mir1k_vocal()
    audio, sr = found if found is not None else (sung_phrase(), SR)
    return reference_melody(audio, sr), audio, sr


def test_true_vocal_as_singer_scores_near_100(true_vocal):
    melody, audio, sr = true_vocal
    s = sing(melody, audio, sr)
    assert s.voiced_frames > 100
    assert s.score > 85, s.summary()


def test_singer_a_semitone_off_scores_near_0():
    sharp = sing(reference_melody(sung_phrase(), SR), sung_phrase(shift_semitones=1.0), SR)
    assert sharp.score < 10, sharp.summary()
    assert 80 < sharp.summary()["mean_abs_cents"] < 120


def test_singer_an_octave_off_counts_as_right():
    melody = reference_melody(sung_phrase(), SR)
    low = sing(melody, sung_phrase(shift_semitones=-12.0), SR)
    assert low.score > 85, low.summary()


def test_mir1k_vocal_shifted_a_semitone_scores_near_0(true_vocal):
    melody, audio, sr = true_vocal
    if mir1k_vocal() is None:
        pytest.skip(f"MIR-1K not found at {SHARED_DATA}/mir1k (the synthetic phrase is tested above)")
    import librosa
    for steps, lo, hi in ((1.0, 0, 15), (-12.0, 75, 100)):
        shifted = librosa.effects.pitch_shift(audio, sr=sr, n_steps=steps)
        assert lo <= sing(melody, shifted, sr).score <= hi, steps


def test_silent_singer_scores_0(phrase_melody):
    s = sing(phrase_melody, np.zeros(len(sung_phrase()), np.float32), SR)
    assert s.voiced_frames > 100 and s.score == 0.0 and s.summary()["mean_abs_cents"] is None


# ------------------------------------------------------------------------------------- files, CLI
def test_csv_round_trip_and_bad_files(tmp_path, phrase_melody):
    path = write_melody_csv(tmp_path / "m.csv", phrase_melody)
    assert path.read_text().splitlines()[0] == "time_s,f0_hz"
    back = read_melody_csv(path)
    assert back.hop_s == pytest.approx(0.01) and len(back) == len(phrase_melody)
    assert np.allclose(back.f0_hz, phrase_melody.f0_hz, atol=0.006)
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]          # no temporary file left
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s,f0_hz\n0.0,1\n0.5,x\n")
    from rtsep.errors import RtsepError
    with pytest.raises(RtsepError):
        read_melody_csv(bad)


def test_cli_melody_writes_csv(tmp_path):
    song = tmp_path / "phrase.wav"
    x = sung_phrase(22050)
    sf.write(song, np.stack([x, 0.5 * x], axis=1), 22050)
    proc = run_cli("melody", str(song), "-o", str(tmp_path / "out"), "--separator", "none")
    assert proc.returncode == 0, proc.stderr
    csv = tmp_path / "out" / "phrase.csv"
    lines = csv.read_text().splitlines()
    assert lines[0] == "time_s,f0_hz"
    data = np.loadtxt(lines[1:], delimiter=",")
    assert abs(len(data) - (1 + len(x) / 22050 / 0.01)) <= 1 and data[1, 0] == pytest.approx(0.01)
    first_note = data[(data[:, 0] > 0.6) & (data[:, 0] < 0.85), 1]
    assert np.all(np.abs(1200 * np.log2(first_note / midi_hz(NOTES[0]))) < 50)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["phrase.csv"]


def test_cli_melody_bad_inputs(tmp_path):
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    out = tmp_path / "out"
    proc = run_cli("melody", str(junk), str(tmp_path / "missing.wav"), "-o", str(out), "--separator", "none")
    assert "junk.wav" in assert_one_line_error(proc)
    assert "missing.wav" in proc.stderr
    assert not out.exists() or not any(out.iterdir())
    proc = run_cli("melody", str(junk), "-o", str(out), "--hop-ms", "0")
    assert "--hop-ms" in assert_one_line_error(proc)
    proc = run_cli("melody", str(junk), "-o", str(junk))            # the output folder is a file
    assert_one_line_error(proc)


def test_cli_melody_from_a_mixture_through_the_separator(tmp_path):
    x = sung_phrase(SR)
    noise = 0.02 * np.random.default_rng(5).standard_normal(len(x)).astype(np.float32)
    sf.write(tmp_path / "song.wav", x + noise, SR)
    proc = run_cli("melody", str(tmp_path / "song.wav"), "-o", str(tmp_path), "--separator", "net")
    assert proc.returncode == 0, proc.stderr
    m = read_melody_csv(tmp_path / "song.csv")
    assert abs(cents_error_folded(m.at(0.5 + 3 * 0.6 + 0.225), midi_hz(NOTES[3]))) < 50
