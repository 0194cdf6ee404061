"""Decoding the files users have: M4A/AAC, MP3, Opus, Ogg, FLAC, WAV and the audio of videos.

Every test file is encoded here from a known signal with PyAV's own encoders, so the
decoded content can be checked against its source (start alignment, rate, channels,
SNR), not only that something came out.
"""

from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from conftest import assert_one_line_error, run_cli
from rtsep.errors import AudioFileError
from rtsep.io.audiofile import is_audio_file, open_input, read_audio
from rtsep.io.decode import FfmpegReader, SndfileReader

av = pytest.importorskip("av")

LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}


def source_signal(rate: int, channels: int, seconds: float = 1.5) -> np.ndarray:
    """A different chirp per channel, gated on and off: no period, so a shift shows."""
    t = np.arange(int(rate * seconds) + 123) / rate
    gate = 0.5 + 0.5 * (np.sin(2 * np.pi * 1.7 * t) > 0)
    chans = [0.3 * gate * np.sin(2 * np.pi * ((150 + 40 * c) * t + (300 + 50 * c) * t ** 2)) for c in range(channels)]
    if channels == 6:  # 5.1: the fourth channel is the LFE, which AAC low-passes at 120 Hz
        chans[3] = 0.3 * gate * np.sin(2 * np.pi * (40 * t + 10 * t ** 2))
    return np.stack(chans, axis=1).astype(np.float32)


def encode(path, audio: np.ndarray | None, rate: int, codec: str | None, video: str | None = None, **options):
    """Write ``audio`` (frames x channels) with ``codec`` into ``path`` (the container from
    its extension), with a short black ``video`` stream if named."""
    out = av.open(str(path), "w")
    vstream = None
    if video:
        vstream = out.add_stream(video, rate=25)
        vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
    if audio is not None:
        layout = LAYOUTS[audio.shape[1]]
        stream = out.add_stream(codec, rate=rate, layout=layout, options=options)
        fmt = stream.codec_context.format.name
        step = stream.codec_context.frame_size or 1024
        for i in range(0, len(audio), step):
            block = audio[i:i + step]
            data = block.T if fmt.endswith("p") else block.reshape(1, -1)
            if fmt.startswith("s16"):
                data = np.clip(np.round(data * 32767), -32768, 32767).astype(np.int16)
            elif fmt.startswith("s32"):
                data = np.round(data.astype(np.float64) * 2147483647).astype(np.int32)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, i, Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    if vstream is not None:
        for k in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * k % 255, np.uint8), format="rgb24")
            frame.pts = k
            for packet in vstream.encode(frame):
                out.mux(packet)
        for packet in vstream.encode(None):
            out.mux(packet)
    out.close()
    return path


def lag_and_snr_db(src: np.ndarray, dec: np.ndarray) -> tuple[int, float]:
    """Shift of the decoded signal against its source (samples) and the SNR at that shift."""
    n = min(len(src), len(dec)) - 2048
    size = 1 << (n + 2048).bit_length()
    xcorr = np.fft.irfft(np.fft.rfft(dec[:n + 2048, 0], size) * np.conj(np.fft.rfft(src[:n, 0], size)), size)
    lag = int(np.argmax(xcorr[:2048]))  # shifts 0..2047 of the decoded signal
    err = dec[lag:lag + n] - src[:n]
    return lag, 10 * np.log10(np.sum(src[:n].astype(np.float64) ** 2) / max(np.sum(err.astype(np.float64) ** 2), 1e-20))


# (file name, codec, rate, channels, least SNR dB, extra encoder options, video codec)
CASES = [
    ("song.m4a", "aac", 44100, 2, 12, {}, None),
    ("song.mp4", "aac", 48000, 2, 12, {}, None),
    ("song.mp3", "libmp3lame", 44100, 2, 12, {}, None),
    ("mono22k.mp3", "libmp3lame", 22050, 1, 12, {}, None),
    ("song.opus", "libopus", 48000, 2, 8, {}, None),
    ("song.webm", "libopus", 48000, 2, 8, {}, None),
    ("song.ogg", "vorbis", 44100, 2, 8, {"strict": "experimental"}, None),
    ("surround.m4a", "aac", 44100, 6, 12, {"b": "384k"}, None),
    ("song.flac", "flac", 44100, 2, 80, {}, None),
    ("lossless.m4a", "alac", 44100, 2, 80, {}, None),  # Apple Lossless: 16-bit planar from FFmpeg
    ("pcm.mov", "pcm_s16le", 32000, 2, 80, {}, None),  # 16-bit interleaved from FFmpeg
    ("pcm24.mka", "pcm_s24le", 96000, 1, 100, {}, None),  # 24-bit in 32-bit words
    ("odd.flac", "flac", 11025, 1, 80, {}, None),
    ("karaoke.mp4", "aac", 44100, 2, 12, {}, "mpeg4"),
    ("karaoke.mkv", "aac", 44100, 2, 12, {}, "mpeg4"),
    ("karaoke.webm", "libopus", 48000, 2, 8, {}, "libvpx"),
]


@pytest.mark.parametrize("name,codec,rate,channels,min_snr,options,video", CASES, ids=[c[0] for c in CASES])
def test_decoded_content_matches_its_source(tmp_path, name, codec, rate, channels, min_snr, options, video):
    x = source_signal(rate, channels)
    path = encode(tmp_path / name, x, rate, codec, video=video, **options)
    assert is_audio_file(path)
    y, sr = read_audio(path)
    assert sr == rate and y.dtype == np.float32 and y.shape[1] == channels
    lag, snr = lag_and_snr_db(x, y)
    assert lag == 0, f"decoded signal shifted by {lag} samples (encoder priming left in)"
    assert snr >= min_snr, f"SNR {snr:.1f} dB against the source"
    # The end: what the container marks as padding is cut; AAC without gapless data may
    # keep up to one codec frame (1024) of it.
    exact = codec.startswith(("libopus", "libmp3lame", "flac", "alac", "pcm"))
    assert len(y) == len(x) if exact else len(x) <= len(y) <= len(x) + 1024
    for c in range(1, channels):  # channels stay in their order
        assert np.corrcoef(y[:len(x) - 1024, c], x[:len(x) - 1024, c])[0, 1] > 0.9


def test_lossless_files_are_read_exactly_by_libsndfile(tmp_path):
    x = source_signal(44100, 2)
    sf.write(tmp_path / "a.wav", x, 44100, subtype="FLOAT")
    sf.write(tmp_path / "a.flac", x, 44100, subtype="PCM_24")
    with open_input(tmp_path / "a.wav") as f:
        assert isinstance(f, SndfileReader) and f.frames_exact and f.frames == len(x)
        np.testing.assert_array_equal(f.read(), x)
    y, _ = read_audio(tmp_path / "a.flac")
    assert np.max(np.abs(y - x)) < 2 ** -22


def test_streaming_reads_equal_one_read_and_the_length_becomes_exact(tmp_path):
    x = source_signal(44100, 2, seconds=3)
    path = encode(tmp_path / "s.m4a", x, 44100, "aac")
    whole, _ = read_audio(path)
    with open_input(path) as f:
        assert isinstance(f, FfmpegReader) and not f.frames_exact
        assert abs(f.frames - len(x)) < 2048, "the container's estimate"
        parts, sizes = [], [1, 4095, 9075, 20000, 333]
        while True:
            block = f.read(sizes[len(parts) % len(sizes)])
            if not len(block):
                break
            assert block.shape[1] == 2 and len(block) <= sizes[len(parts) % len(sizes)]
            parts.append(block)
            assert f.tell() == sum(map(len, parts))
            assert f.frames > f.tell() or f.frames_exact  # `frames - tell()` frames are left
        assert f.frames_exact and f.frames == len(whole) == f.tell()
        assert f.read(100).shape == (0, 2)
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    with open_input(path) as f:
        assert f.read(10, dtype="float64", always_2d=True).dtype == np.float64
    mono = encode(tmp_path / "m.mp3", source_signal(44100, 1), 44100, "libmp3lame")
    with open_input(mono) as f:
        assert f.read(100, always_2d=False).shape == (100,)


def test_video_without_audio_is_one_line(tmp_path):
    path = encode(tmp_path / "silent.mp4", None, 0, None, video="mpeg4")
    with pytest.raises(AudioFileError, match="has no audio stream \\(video only\\)"):
        open_input(path)
    p = run_cli("separate", str(path), "-o", str(tmp_path / "o"), "--latency", "low", "--quiet")
    assert "no audio stream" in assert_one_line_error(p)
    assert not (tmp_path / "o" / "silent").exists()


def test_corrupt_files_are_one_line_errors(tmp_path):
    good = encode(tmp_path / "good.m4a", source_signal(44100, 2), 44100, "aac").read_bytes()
    mp3 = encode(tmp_path / "good.mp3", source_signal(44100, 2), 44100, "libmp3lame").read_bytes()
    bad = {
        "garbage.m4a": b"\x00\x00\x00\x18ftypM4A " + bytes(range(256)) * 20,
        "text.mp3": b"not audio at all\n" * 200,
        "header-only.m4a": good[:64],
        "half.m4a": good[:len(good) // 2],  # the index (moov) is at the end: nothing to play
        "noise.webm": np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        "riff.wav": b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 30,
        "empty.opus": b"",
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(AudioFileError) as err:
            read_audio(tmp_path / name)
        msg = str(err.value)
        assert msg.startswith(str(tmp_path / name)) and "\n" not in msg and len(msg) < 300, msg
    # A truncated MP3 has no index to lose: what is there is decoded.
    (tmp_path / "cut.mp3").write_bytes(mp3[:len(mp3) // 2])
    y, _ = read_audio(tmp_path / "cut.mp3")
    assert 0.3 < len(y) / len(source_signal(44100, 2)) < 0.7
    p = run_cli("separate", str(tmp_path / "half.m4a"), str(tmp_path / "garbage.m4a"), "-o", str(tmp_path / "o"),
                "--latency", "low", "--quiet")
    assert p.returncode != 0 and "Traceback" not in p.stderr
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("rtsep: error:")]
    assert len(errors) == 2 and all("half.m4a" in e or "garbage.m4a" in e for e in errors), p.stderr
    assert not list((tmp_path / "o").rglob("*.wav"))


def test_separate_an_m4a_end_to_end(tmp_path, placeholder_model):
    x = source_signal(44100, 2, seconds=2.0)
    path = encode(tmp_path / "song.m4a", x, 44100, "aac")
    decoded, _ = read_audio(path)
    (tmp_path / "in").mkdir()
    path.rename(tmp_path / "in" / "song.m4a")
    p = run_cli("separate", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", str(placeholder_model),
                "--quiet")  # a folder: the .m4a in it is found
    assert p.returncode == 0, p.stderr
    v, sr_v = sf.read(tmp_path / "out" / "song" / "vocals.wav", dtype="float32", always_2d=True)
    a, sr_a = sf.read(tmp_path / "out" / "song" / "accompaniment.wav", dtype="float32", always_2d=True)
    assert sr_v == sr_a == 44100 and v.shape == a.shape == decoded.shape
    np.testing.assert_allclose(v + a, decoded, atol=1e-5)  # aligned to the decoded input, sample for sample
    assert 0.05 < np.std(v) / np.std(decoded) < 0.95
    assert "x real time" in p.stdout and "2.0 s" in p.stdout  # the exact length, known after decoding


def test_file_source_plays_a_video_soundtrack(tmp_path):
    from rtsep.host.source import FileSource

    x = source_signal(44100, 2)
    path = encode(tmp_path / "clip.mkv", x, 44100, "aac", video="mpeg4")
    src = FileSource(path, sample_rate=48000, channels=2)
    assert src.file_rate == 44100 and abs(src.frames - round(len(x) * 48000 / 44100)) <= 1200
    out = np.zeros((4800, 2), np.float32)
    assert src.read_into(out) == 4800 and np.std(out) > 0.05


def test_version():
    p = run_cli("--version")
    assert p.returncode == 0 and p.stdout.startswith("rtsep 0.") and " av " in p.stdout, p.stdout + p.stderr


def test_outputs_get_the_usual_file_mode(tmp_path):
    """Stems are written through temporary files (mkstemp: 0600) but end up as any new file
    would, 0666 less the umask."""
    import os

    from rtsep.io.audiofile import atomic_outputs

    with atomic_outputs([tmp_path / "a.wav"], 44100, 2) as (f,):
        f.write(np.zeros((10, 2), np.float32))
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "a.wav").stat().st_mode & 0o777 == 0o666 & ~mask


def test_float_samples_of_impossible_magnitude_read_as_nan(tmp_path):
    """A flipped exponent bit in a float WAV gives 1e35: read as NaN (zeroed and counted downstream),
    not passed on to overflow the transforms."""
    audio = np.full((1000, 2), 0.25, np.float32)
    audio[10, 1] = 2.5e35
    audio[20, 0] = -3.0  # loud but possible: kept
    path = tmp_path / "flipped.wav"
    sf.write(str(path), audio, 44100, subtype="FLOAT")
    got, _ = read_audio(path)
    assert np.isnan(got[10, 1]) and got[20, 0] == -3.0
    assert np.count_nonzero(np.isnan(got)) == 1
