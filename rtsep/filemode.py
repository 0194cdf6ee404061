"""File mode: the live streaming code run over files, block by block, faster than real time.

Outputs are aligned to the input sample for sample: the first ``latency_samples`` output
frames are dropped and the stream is flushed with as many zeros at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import AudioFileError, RtsepError
from .io.audiofile import atomic_outputs, check_writable_dir, is_audio_file, open_input
from .io.writer import BackgroundWriter

if TYPE_CHECKING:
    from .plugins.separator import Separator

STEMS = ("vocals", "accompaniment")
READ_FRAMES = 1048576  # frames read per block in file mode (8 MB of stereo; 64 steps of the pipeline, whose
# fill and drain at each block would cost ~10 % at a quarter of that)


@dataclass
class SeparationResult:
    """Stems of one signal, aligned to it.

    Attributes:
        vocals, accompaniment: ``(frames, channels)`` float32.
        vad: ``(n_frames,)`` float32 vocal activity per STFT frame.
        vad_times_s: ``(n_frames,)`` input time of each ``vad`` value, seconds.
        latency_samples: algorithmic latency that was compensated.
        nonfinite_samples: NaN/Inf input samples that were replaced by zero.
        vad_threshold: the activity value at and above which a frame counts as sung.
    """

    vocals: np.ndarray
    accompaniment: np.ndarray
    vad: np.ndarray
    vad_times_s: np.ndarray
    latency_samples: int
    sample_rate: int
    nonfinite_samples: int = 0
    vad_threshold: float = 0.5
    extra: dict = field(default_factory=dict)


class _VadLog:
    def __init__(self):
        self.values: list[np.ndarray] = []
        self.times: list[np.ndarray] = []

    def add(self, sep: Separator) -> None:
        n = sep.vad_frames
        if n:
            self.values.append(sep.vad[:n].copy())
            self.times.append(sep.frame_times_s(n))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.values:
            return np.zeros(0, np.float32), np.zeros(0)
        return np.concatenate(self.values), np.concatenate(self.times)


def _aligned(run: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], latency: int,
             chunks: Iterable[np.ndarray], zeros: Callable[[int], np.ndarray]
             ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``run(chunk) -> (vocals, accompaniment)`` of a stream ``latency`` samples late, over
    ``chunks``: the first ``latency`` output samples dropped, then ``zeros(n)`` (at most ``n``
    frames of silence) pushed until the output is as long as the input."""
    skip = latency
    total_in = total_out = 0

    def emit(block):
        nonlocal skip, total_out
        v, a = run(block)
        start = min(skip, len(v))
        skip -= start
        stop = min(len(v), start + (total_in - total_out))
        if stop > start:
            total_out += stop - start
            return v[start:stop], a[start:stop]
        return None

    for chunk in chunks:
        total_in += len(chunk)
        got = emit(chunk)
        if got:
            yield got
    while total_out < total_in:
        got = emit(zeros(skip + total_in - total_out))
        if got:
            yield got


def stream_stems(sep: Separator, blocks: Iterable[np.ndarray], vad_log: _VadLog | None = None
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield latency-compensated ``(vocals, accompaniment)`` blocks for ``blocks``.

    The yielded arrays are views into the separator's buffers: copy or write them out
    before the next iteration.
    """
    def run(block):
        _, v, a = sep.process_stems(block)
        if vad_log is not None:
            vad_log.add(sep)
        return v, a

    # A Separator takes blocks of any length (a long one runs as its two-thread pipeline).
    step = None if isinstance(sep, _separator_class()) else sep.max_block
    chunks = (chunk for block in blocks
              for chunk in ((block,) if step is None else (block[i:i + step] for i in range(0, len(block), step))))
    zeros = np.zeros((min(sep.max_block, 4096), sep.channels), dtype=np.float32)
    yield from _aligned(run, sep.latency_samples, chunks,
                        lambda need: zeros[:min(len(zeros), sep.latency_samples + 1)])


def stream_unet_stems(stream, blocks: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Aligned ``(vocals, accompaniment)`` blocks of a :class:`rtsep.unet.streaming.StreamingUNet`
    (a time budget's separator): its ``push`` output with the first ``latency_samples`` dropped,
    flushed with zeros at the end; the same samples as ``stream.separate(whole signal)`` and as
    a live run (which plays them ``latency_samples`` + the compute allowance late), in bounded
    memory."""
    stream.reset()
    yield from _aligned(stream.push, stream.latency_samples, blocks,
                        lambda need: np.zeros((min(65536, need), stream.channels), np.float32))


def _budget_choice(latency, sample_rate: int, channels: int):
    """The :class:`rtsep.latency_budget.Choice` of a time budget, or ``None`` for low/quality."""
    from .latency_budget import choose, is_budget

    return choose(latency, sample_rate, channels) if is_budget(latency) else None


def separate_array(audio: np.ndarray, sample_rate: int, model: str | os.PathLike | None = None,
                   blocksize: int = 4096, separator: Separator | None = None, latency: str = "quality"
                   ) -> SeparationResult:
    """Separate a whole ``(frames, channels)`` (or ``(frames,)``) signal through the streaming
    engine (``model=None``: the default model of the ``latency`` operating point). ``latency``
    may be a time budget (``"0.3s"``, :mod:`rtsep.latency_budget`): the separator it picks, run as
    a live stream would (the streaming U-Net: no vocal activity, ``extra["true_delay_samples"]``)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    choice = _budget_choice(latency, sample_rate, audio.shape[1]) if separator is None else None
    if choice is not None and choice.is_unet:
        parts = list(stream_unet_stems(choice.stream, (audio[i:i + 65536] for i in range(0, len(audio), 65536))))
        empty = np.zeros((0, audio.shape[1]), np.float32)
        return SeparationResult(np.concatenate([p[0] for p in parts]) if parts else empty,
                                np.concatenate([p[1] for p in parts]) if parts else empty,
                                np.zeros(0, np.float32), np.zeros(0), choice.algorithmic_samples, sample_rate,
                                choice.stream.nonfinite_samples,
                                extra={"true_delay_samples": choice.true_delay_samples, "choice": choice.describe()})
    if choice is not None:
        latency = choice.operating_point
    sep = separator or _separator_class()(model=model, sample_rate=sample_rate, channels=audio.shape[1],
                                            mode="vocals", max_block=min(max(blocksize, 1), 8192),
                                            latency=latency)
    sep.reset()
    vocals = np.empty_like(audio)
    accomp = np.empty_like(audio)
    log = _VadLog()
    pos = 0
    blocks = (audio[i:i + blocksize] for i in range(0, len(audio), blocksize))
    for v, a in stream_stems(sep, blocks, log):
        vocals[pos:pos + len(v)] = v
        accomp[pos:pos + len(a)] = a
        pos += len(v)
    vad, times = log.arrays()
    return SeparationResult(vocals, accomp, vad, times, sep.latency_samples, sample_rate,
                            sep.stft.nonfinite_samples, sep.vad_threshold)


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, and the audio files directly inside any folder given."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if is_audio_file(q))
            if not found:
                raise AudioFileError(f"{p}: folder holds no audio files")
            paths.extend(found)
        else:
            paths.append(p)
    return paths


def _separator_class():
    from .plugins.separator import Separator  # Numba: only when a recurrent model runs

    return Separator


def output_paths(outdir: Path, path: Path, stems: Iterable[str] = STEMS) -> dict[str, Path]:
    return {stem: outdir / path.stem / f"{stem}.wav" for stem in stems}


class FileSeparator:
    """Separates files into ``OUTDIR/<name>/{vocals,accompaniment}.wav``.

    One :class:`Separator` is kept per (rate, channels) and reset between files. The offline
    U-Net (:class:`rtsep.unet.UNetSeparator`) runs instead when ``model`` is ``"unet"`` (or a
    U-Net file) or when neither ``model`` nor ``latency`` is given (``latency=None``).
    """

    def __init__(self, model=None, blocksize: int = 16384, progress: bool = True,
                 plugin_factory: Callable[[int, int], Separator] | None = None, latency: str | None = "quality",
                 method: str = "net", wiener: bool = False, threads: int | None = None, full_band: bool = False):
        from .model.registry import wants_unet

        self.model = model
        self.latency = latency or "quality"  # or a time budget: the separator picked per rate
        self.method = method
        self.unet = plugin_factory is None and method == "net" and wants_unet(model, latency)
        self.wiener = wiener
        self.full_band = full_band
        self.threads = threads
        self.blocksize = int(blocksize)
        if not 1 <= self.blocksize <= 65536:
            raise RtsepError(f"--blocksize must be between 1 and 65536, got {blocksize}")
        self.progress = progress
        self._factory = plugin_factory or (lambda sr, ch: _separator_class()(
            model=self.model, sample_rate=sr, channels=ch, mode="vocals", max_block=self.blocksize,
            latency=self._point(sr, ch), workers=self.threads))  # threads: also the recurrent path's (None: 2)
        self._cache: dict[tuple[int, int], Separator] = {}
        self._unet_cache: dict[tuple[int, int], object] = {}
        self._choices: dict[tuple[int, int], object] = {}

    def budget_choice(self, sample_rate: int, channels: int):
        """What a time budget (``latency="0.3s"``) picks at this rate (kept), else ``None``."""
        key = (sample_rate, channels)
        if key not in self._choices:
            self._choices[key] = _budget_choice(self.latency, sample_rate, channels)
        return self._choices[key]

    def _point(self, sample_rate: int, channels: int) -> str:
        """The recurrent operating point: ``latency``, or the one a time budget picked."""
        choice = self.budget_choice(sample_rate, channels)
        return self.latency if choice is None else choice.operating_point

    def unet_separator(self, sample_rate: int, channels: int):
        """The :class:`rtsep.unet.UNetSeparator` for this rate and channel count (kept)."""
        from .unet import UNetSeparator

        key = (sample_rate, channels)
        if key not in self._unet_cache:
            self._unet_cache[key] = UNetSeparator(sample_rate, channels, wiener=self.wiener, threads=self.threads,
                                                  model=self.model, full_band=self.full_band)
        return self._unet_cache[key]

    def separator(self, sample_rate: int, channels: int) -> Separator:
        key = (sample_rate, channels)
        if key not in self._cache:
            self._cache[key] = self._factory(sample_rate, channels)
        sep = self._cache[key]
        sep.reset()
        return sep

    def separate(self, path: Path, outdir: Path, stems: tuple[str, ...] = STEMS
                 ) -> tuple[dict[str, Path], SeparationResult]:
        """Separate one file into the named ``stems``; returns their paths and a result
        holding the vocal activity (not the stems, which went to disk)."""
        outs = output_paths(outdir, path, stems)
        if self.method != "net":
            return outs, self._separate_classic(path, outs)
        with open_input(path) as f:
            unet = self.unet_separator(f.samplerate, f.channels) if self.unet else None
            choice = None if unet else self.budget_choice(f.samplerate, f.channels)
            stream = choice.stream if choice is not None and choice.is_unet else None  # streaming U-Net
            sep = None if unet or stream else self.separator(f.samplerate, f.channels)
            log = _VadLog()
            bar = None
            if self.progress:
                from tqdm import tqdm
                bar = tqdm(total=f.frames, unit="frame", unit_scale=True, desc=path.name, leave=False,
                           disable=None)

            # Several engine steps per read: the separator pipelines them over two threads.
            read_frames = self.blocksize if unet else self.blocksize * max(1, READ_FRAMES // self.blocksize)

            def blocks():
                while True:
                    try:
                        block = f.read(read_frames, dtype="float32", always_2d=True)
                    except AudioFileError:
                        raise
                    except Exception as exc:
                        raise AudioFileError(f"{path}: cannot decode ({str(exc).strip()[:120]})") from None
                    if not len(block):
                        return
                    if bar is not None:
                        bar.update(len(block))
                    yield block

            try:
                with atomic_outputs(list(outs.values()), f.samplerate, f.channels) as files, \
                        BackgroundWriter(files) as writer:
                    index = {stem: i for i, stem in enumerate(outs)}
                    iv, ia = index.get("vocals"), index.get("accompaniment")
                    stems = (unet.stream(blocks()) if unet else stream_unet_stems(stream, blocks()) if stream
                             else stream_stems(sep, blocks(), log))
                    for v, a in stems:
                        if iv is not None:
                            writer.write(iv, v)
                        if ia is not None:
                            writer.write(ia, a)
            except OSError as exc:
                raise AudioFileError(f"cannot write outputs for {path}: {exc.strerror or exc}") from None
            finally:
                if bar is not None:
                    bar.close()
            vad, times = log.arrays()
            if stream is not None:  # the streaming U-Net: a live run's stems, aligned; no activity output
                return outs, SeparationResult(np.zeros((0, f.channels), np.float32),
                                              np.zeros((0, f.channels), np.float32), vad, times,
                                              choice.algorithmic_samples, f.samplerate, stream.nonfinite_samples,
                                              extra={"duration_s": f.frames / f.samplerate,
                                                     "true_delay_samples": choice.true_delay_samples,
                                                     "choice": choice.describe()})
            if unet:  # offline: no algorithmic latency, no vocal-activity output
                return outs, SeparationResult(np.zeros((0, f.channels), np.float32),
                                              np.zeros((0, f.channels), np.float32), vad, times, 0, f.samplerate,
                                              unet.nonfinite_samples, extra={"duration_s": f.frames / f.samplerate,
                                                                             "card": unet.card})
            res = SeparationResult(np.zeros((0, f.channels), np.float32), np.zeros((0, f.channels), np.float32),
                                   vad, times, sep.latency_samples, f.samplerate, sep.stft.nonfinite_samples,
                                   sep.vad_threshold, extra={"duration_s": f.frames / f.samplerate, "card": sep.card})
        return outs, res


    def _separate_classic(self, path: Path, outs: dict[str, Path]) -> SeparationResult:
        """A classic method (``rtsep.methods``) over the whole file; no vocal activity."""
        from .io.audiofile import read_audio
        from .methods import separate_method

        audio, sr = read_audio(path)
        finite = np.isfinite(audio)
        nonfinite = int(audio.size - np.count_nonzero(finite))
        audio = np.where(finite, audio, 0.0).astype(np.float32)
        stems = dict(zip(STEMS, separate_method(self.method, audio, sr)))
        try:
            with atomic_outputs(list(outs.values()), sr, audio.shape[1]) as files:
                for stem, f in zip(outs, files):
                    f.write(stems[stem])
        except OSError as exc:
            raise AudioFileError(f"cannot write outputs for {path}: {exc.strerror or exc}") from None
        return SeparationResult(np.zeros((0, audio.shape[1]), np.float32), np.zeros((0, audio.shape[1]), np.float32),
                                np.zeros(0, np.float32), np.zeros(0), 0, sr, nonfinite,
                                extra={"duration_s": len(audio) / sr})


def prepare_outdir(outdir: str | os.PathLike) -> Path:
    outdir = Path(outdir)
    check_writable_dir(outdir)
    return outdir
