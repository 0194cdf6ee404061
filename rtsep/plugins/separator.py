"""The separator plugin: streaming STFT → ONNX mask network → overlap-add resynthesis."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

from ..dsp.features import mid_side_features, mono_features
from ..dsp.masking import apply_mask, delay_frames, downmix_for_model
from ..dsp.midside import apply_mid_side_mask, mid_side_for_model
from ..dsp.stft import StreamingStft
from ..dsp.windows import design_windows, fast_fft_size
from ..model.onnx_model import MaskModel
from ..model.registry import resolve_model
from ..errors import ModelError
from .base import Plugin, deliver
from .stems import MODES, VOCAL_SHARE_SCALE, StemControlled, StemControls  # noqa: F401  (MODES: importers)

# Vocal activity = min(model's vad head, VOCAL_SHARE_SCALE (plugins.stems) * share of the frame's
# energy the mask gives the vocals). The head alone fires on sustained instruments; the energy share
# alone on loud vocal-like accompaniment; both agree on singing. Threshold 0.5 means head
# >= 0.5 and share >= 10 %: on unseen MIR-1K singers 87 % frame accuracy (head alone at its
# best threshold 87 %), on the synthetic demo song 93 % (head alone 68 %). It is the default:
# a model may carry its own, ``activity_threshold``, chosen on its validation clips.
VAD_THRESHOLD = 0.5
# Model frames per block above which the network runs on the whole batch in one call
# (file mode); below it, one bound, allocation-free call per frame (live blocks).
_BATCH_MIN_FRAMES = 4
PRECISIONS = ("int8", "float32")  # of the live host's network calls


@njit(nogil=True, cache=True)
def _combine_activity(vad, share, n):
    for t in range(n):
        vad[t] = min(vad[t], min(1.0, VOCAL_SHARE_SCALE * share[t]))


@njit(nogil=True, cache=True)
def _append_activity(vad, ends, n, vad_all, ends_all, done):
    """Copy a step's ``n`` activity values and frame end times after the ``done`` before."""
    for t in range(n):
        vad_all[done + t] = vad[t]
        ends_all[done + t] = ends[t]


class Separator(StemControlled, Plugin):
    """Separates vocals from accompaniment in a stream of any rate and channel count.

    The STFT runs at the stream rate with frames ``sample_rate / model_rate`` times the
    model's (rounded to the nearest fast FFT length, :func:`rtsep.dsp.windows.fast_fft_size`:
    within 0.3 %), so the model's bins map one-to-one onto the low end of the stream's spectrum;
    content above the model band gets the mask of the model's top bins (``edge_bins``),
    which keeps the accompaniment full-band. A mono model sees the channel mean and its
    mask is applied to every channel; a stereo (mid/side) model on a two-channel stream sees
    mid and side and masks both (on other channel counts it gets the mean: its mono path).
    ``accompaniment = input (delayed) - vocals`` exactly, so
    ``mix`` at 0 dB / 0 dB gives back the delayed input.

    Args:
        model: ONNX file (``None``: the default model in ``models/`` for ``latency``).
        sample_rate: stream rate in Hz.
        channels: stream channel count.
        mode: ``"karaoke"`` (accompaniment), ``"vocals"`` or ``"mix"`` (per-source gains);
            with ``vocals_db``, ``accompaniment_db`` (the gains of the two sources in ``mix``
            mode): the separators' shared controls (:mod:`rtsep.plugins.stems`), settable
            while streaming (ramped over ``fade_ms``).
        max_block: frames the engine takes in one step; :meth:`process` accepts blocks of any
            length and runs longer ones in steps of ``max_block`` (the output does not depend
            on how the signal is cut into blocks). Blocks up to ``max_block`` allocate nothing.
        threads: ONNX Runtime intra-op threads (1: leave the other cores to the host).
        fade_ms: crossfade time of mode and gain changes.
        latency: operating point of the default model: ``"low"`` (<= 12 ms, live input) or
            ``"quality"`` (long window and look-ahead, for files).
        live: every model call is one frame through bound buffers, so no block size allocates
            on the audio path; ``False`` (file mode) runs blocks of >= 4 model frames in one call
            and the FFTs in single precision (2.5x faster at 44.1 kHz; see rtsep.dsp.stft).
        workers: threads: with 2, a block of one step has half its frames transformed (and
            half its channels resynthesised) on a second thread while the caller's thread does
            the rest; a longer block runs as a pipeline, the second thread analysing step k + 1
            and resynthesising step k - 1 while the caller's runs the model on step k. Either
            way the output is the same as with 1. ``None``: 2 in file mode (``live=False``)
            where the process may use two cores, 1 in live mode (the live host has its own
            threads). The second thread is started on first use, by the thread that first
            processes (it inherits that thread's priority).
        precision: live mode only: ``"int8"`` runs the network's dense layers in int8 and its
            features outside the graph (rtsep.model.int8: a quarter less time per frame, the
            same separation to 0.01 dB); ``"float32"`` the model as trained, which gives file
            mode's output to 1e-5. An int8 network that fails its load-time check runs in
            float32; models that cannot be cut run whole, in float32.
    """

    def __init__(self, model: str | os.PathLike | None = None, sample_rate: int = 48000, channels: int = 2,
                 mode: str = "karaoke", vocals_db: float = 0.0, accompaniment_db: float = 0.0,
                 max_block: int = 8192, threads: int = 1, fade_ms: float = 10.0, edge_bins: int = 32,
                 latency: str = "low", live: bool = False, workers: int | None = None,
                 precision: str = "int8"):
        if precision not in PRECISIONS:
            raise ModelError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if channels < 1:
            raise ModelError(f"channels must be >= 1, got {channels}")
        if not 1000 <= sample_rate <= 768000:
            raise ModelError(f"unsupported sample rate {sample_rate} Hz")
        self.model = MaskModel(resolve_model(model, latency), threads=threads)
        card = self.model.card
        self.card = card
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.max_block = int(max_block)
        scale = self.sample_rate / card.sample_rate
        # at another rate: the nearest fast transform length (2,816, not 2,822, at 44.1 kHz)
        n_fft = card.n_fft if self.sample_rate == card.sample_rate else fast_fft_size(card.n_fft * scale)
        # floor: never more latency than the model's; and the synthesis tail fits in the frame
        tail_hops = card.synthesis_len // card.hop
        hop = max(1, min(int(card.hop * scale), n_fft // tail_hops))
        synthesis_len = hop * tail_hops
        self.lookahead_frames = card.lookahead_frames
        if workers is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            workers = 1 if live else min(2, cores)
        self.workers = max(1, int(workers))
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="rtsep-stft") if self.workers > 1 else None
        self.stft = StreamingStft(design_windows(n_fft, hop, synthesis_len), self.channels, self.max_block,
                                  lookahead_frames=self.lookahead_frames, blocks_in_flight=3 if self._pool else 1,
                                  fft32=not live)
        self._in_gain = card.n_fft / (n_fft * self.channels)  # the longer frame sums more samples
        self._edge_bins = int(min(edge_bins, card.n_bins)) if self.stft.n_bins > card.n_bins else 0
        frames = self.stft.max_frames
        self._batch_min_frames = frames + 1 if live else _BATCH_MIN_FRAMES
        self._model_in = np.zeros((frames, card.n_bins, 2), dtype=np.float32)
        self._mask = np.zeros((frames, card.n_bins), dtype=np.float32)
        # mid/side model on a stereo stream: mid in _model_in (same gain as the mean), side here
        self._mid_side = self.model.stereo and self.channels == 2
        side_frames = frames if self._mid_side else 1
        self._side_in = np.zeros((side_frames, card.n_bins, 2), dtype=np.float32)
        self._side_mask = np.zeros((side_frames, card.n_bins), dtype=np.float32)
        self._masked = np.zeros_like(self.stft.spec)
        # Look-ahead: spectra wait in a history ring until their (later) mask arrives.
        self._hist = np.zeros((self.lookahead_frames + frames,) + self.stft.spec.shape[1:], self.stft.spec.dtype)
        self._hist_end = np.zeros(self.lookahead_frames + frames, np.int64)
        self._hist_count = np.zeros(1, np.int64)
        self._delayed = np.zeros_like(self.stft.spec)
        self._delayed_end = np.zeros(frames, np.int64)
        # Outputs and per-frame vocal activity of the last block (grown for longer blocks),
        # and the latest activity value for meters.
        self._chunk_vad = np.zeros(frames, dtype=np.float32)
        self._grow(self.max_block)
        # the model's own threshold where calibrated on its validation clips (rtsep.train.calibrate)
        self.vad_threshold = card.activity_threshold if card.activity_threshold is not None else VAD_THRESHOLD
        if not 0.0 < self.vad_threshold < 1.0:
            raise ModelError(f"model {card.path}: activity_threshold must be in (0, 1), got {self.vad_threshold}")
        self._share = np.zeros(frames, dtype=np.float64)
        self.vad_frames = 0
        self.vad_latest = 0.0
        self.controls = StemControls(mode, vocals_db, accompaniment_db,
                                     ramp_samples=int(fade_ms * 1e-3 * self.sample_rate))
        self.stft.set_stem_gains(*self.controls.weights)  # at once; later changes ramp in the STFT's read
        self.controls.subscribe(lambda c: self.stft.set_stem_gains(*c.weights, c.ramp_samples))
        # The pipeline's second buffers: analysis writes step k + 1 while steps k and k - 1
        # are still read (frame ends: three, since step k - 1 resynthesises at its own).
        pair = 2 if self._pool else 1
        self._specs = (self.stft.spec,) + tuple(np.zeros_like(self.stft.spec) for _ in range(pair - 1))
        self._ends = (self.stft.frame_end,) + tuple(np.zeros(frames, np.int64) for _ in range(2 * pair - 2))
        self._masked_b = (self._masked,) + tuple(np.zeros_like(self._masked) for _ in range(pair - 1))
        self._delayed_b = (self._delayed,) + tuple(np.zeros_like(self._delayed) for _ in range(pair - 1))
        self._delayed_end_b = (self._delayed_end,) + tuple(np.zeros(frames, np.int64) for _ in range(pair - 1))
        self._step_ends = self._delayed_end
        # ... and of the model's input and output: the pool's thread masks step k - 1 and
        # prepares the input of step k + 1 while this one runs the network on step k.
        self._model_in_b = (self._model_in,) + tuple(np.zeros_like(self._model_in) for _ in range(pair - 1))
        # File mode: features computed here and the network cut in two sessions
        # (rtsep.model.front_end: a third of the network's time was its feature passes); the
        # encoder runs with the features, in the pipeline on the second thread.
        core = self._core = None if live else self.model.enable_core(threads)
        # Live: the same features, and the network after them in one bound one-frame session
        # (int8 dense layers unless precision="float32").
        self._live_core = None
        if live:  # an int8 network that fails its load-time check falls back to float32
            self._live_core = ((precision == "int8" and self.model.enable_live(True, threads))
                               or self.model.enable_live(False, threads))
        cut = core or self._live_core
        self._feat = np.zeros((frames, cut.n_features) if cut else (1, 1), np.float32)
        self._enc_b = tuple(np.zeros((frames, core.n_encoded) if core else (1, 1), np.float32) for _ in range(pair))
        self._side_in_b = (self._side_in,) + tuple(np.zeros_like(self._side_in) for _ in range(pair - 1))
        self._mask_b = (self._mask,) + tuple(np.zeros_like(self._mask) for _ in range(pair - 1))
        self._side_mask_b = (self._side_mask,) + tuple(np.zeros_like(self._side_mask) for _ in range(pair - 1))
        self._vad_b = (self._chunk_vad,) + tuple(np.zeros_like(self._chunk_vad) for _ in range(pair - 1))
        # the mid/side masking kernel reads and writes (re, im) as floats (it vectorises so)
        real = self.stft.spec.real.dtype
        self._specs_f, self._delayed_f, self._masked_f = (tuple(a.view(real) for a in bufs) for bufs in
                                                          (self._specs, self._delayed_b, self._masked_b))
        self._ms_gains = np.zeros((2, 2 * self.stft.n_bins), real)

    def _grow(self, n_frames: int) -> None:
        """Output buffers for blocks of up to ``n_frames`` frames."""
        self._out = np.zeros((n_frames, self.channels), dtype=np.float32)
        self._vocals = np.zeros_like(self._out)
        self._accomp = np.zeros_like(self._out)
        model_frames = n_frames // self.stft.hop + 1
        self.vad = np.zeros(model_frames, dtype=np.float32)
        self._vad_end = np.zeros(model_frames, dtype=np.int64)

    # --- plugin -------------------------------------------------------------------
    @property
    def latency_samples(self) -> int:
        return self.stft.latency_samples

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate / self.stft.hop

    def reset(self) -> None:
        self.stft.reset()
        self.model.reset()
        self._hist_count[0] = 0
        self.vad_frames = 0
        self.vad_latest = 0.0

    def _model_step(self, n: int, spec: np.ndarray, ends: np.ndarray, slot: int, done: int) -> int:
        """Model and mask for ``n`` analysed frames (``spec``, ``ends``): the masked spectra
        go to ``_masked_b[slot]`` and their frame ends to ``_step_ends``; their vocal activity
        and end times to ``vad``/``_vad_end`` after the ``done`` frames of earlier steps.
        Returns how many frames are ready to resynthesise (fewer than ``n`` only in the
        first look-ahead frames after a reset)."""
        self._model_input(n, spec, slot)
        self._model_run(n, slot)
        return self._apply_model(n, spec, ends, slot, done)

    def _model_input(self, n: int, spec: np.ndarray, slot: int) -> None:
        """The network's input for ``n`` frames of ``spec``: ``_model_in_b[slot]`` (and the side),
        or in file mode for a batch the encoder's output, ``_enc_b[slot]``."""
        core = self._core
        if core is not None and n >= self._batch_min_frames:
            # a mid/side model on another channel count: its stereo cues stay zero
            kernel = mid_side_features if self._mid_side else mono_features
            kernel(spec, n, self._in_gain, core.mean, core.std, self._feat)
            self.model.encode(self._feat[:n], self._enc_b[slot])
        elif self._live_core is not None:  # live: one frame per call, as below
            kernel = mid_side_features if self._mid_side else mono_features
            kernel(spec, n, self._in_gain, self._live_core.mean, self._live_core.std, self._feat)
        elif self._mid_side:
            mid_side_for_model(spec, n, self._model_in_b[slot], self._side_in_b[slot], self._in_gain)
        else:
            downmix_for_model(spec, n, self._model_in_b[slot], self._in_gain)

    def _model_run(self, n: int, slot: int) -> None:
        """The network on ``n`` prepared frames: masks and activity into ``slot``'s buffers."""
        model_in, mask, vad_out = self._model_in_b[slot], self._mask_b[slot], self._vad_b[slot]
        if self._core is not None and n >= self._batch_min_frames:
            res = self.model.run_encoded(self._enc_b[slot][:n])
            mask[:n] = res[0]
            if self._mid_side:
                self._side_mask_b[slot][:n] = res[1]
            vad_out[:n] = res[-1]
        elif self._live_core is not None:
            for t in range(n):
                res = self.model.run_features(self._feat[t:t + 1])
                mask[t] = res[0][0]
                if self._mid_side:
                    self._side_mask_b[slot][t] = res[1][0]
                vad_out[t] = res[-1][0]
        elif self._mid_side:
            side_in, side_mask = self._side_in_b[slot], self._side_mask_b[slot]
            if n >= self._batch_min_frames:
                m, sm, vad = self.model.run_stereo(model_in[:n], side_in[:n])
                mask[:n] = m
                side_mask[:n] = sm
                vad_out[:n] = vad
            else:
                for t in range(n):
                    m, sm, vad = self.model.run_stereo(model_in[t:t + 1], side_in[t:t + 1])
                    mask[t] = m[0]
                    side_mask[t] = sm[0]
                    vad_out[t] = vad[0]
        elif n >= self._batch_min_frames:
            m, vad = self.model.run(model_in[:n])
            mask[:n] = m
            vad_out[:n] = vad
        else:
            for t in range(n):
                m, vad = self.model.run(model_in[t:t + 1])
                mask[t] = m[0]
                vad_out[t] = vad[0]

    def _apply_model(self, n: int, spec: np.ndarray, ends: np.ndarray, slot: int, done: int) -> int:
        """Look-ahead delay, masking and vocal activity of a step whose masks are in ``slot``
        (see :meth:`_model_step`)."""
        vad_out, mask, side_mask = self._vad_b[slot], self._mask_b[slot], self._side_mask_b[slot]
        masked = self._masked_b[slot]
        if self.lookahead_frames:
            delayed, delayed_end = self._delayed_b[slot], self._delayed_end_b[slot]
            m = delay_frames(spec, ends, n, self._hist, self._hist_end, self._hist_count,
                             self.lookahead_frames, delayed, delayed_end)
            if m and self._mid_side:
                apply_mid_side_mask(self._delayed_f[slot], m, mask[n - m:n], side_mask[n - m:n],
                                    self._masked_f[slot], self._edge_bins, self._share, self._ms_gains)
            elif m:
                apply_mask(delayed, m, mask[n - m:n], masked, self._edge_bins, self._share)
            if m and m != n:  # only in the first look-ahead frames after a reset
                for i in range(m):  # forward copy: the ranges may overlap, no temporary
                    vad_out[i] = vad_out[n - m + i]
            ends = delayed_end
            n = m
        elif self._mid_side:
            apply_mid_side_mask(self._specs_f[slot], n, mask, side_mask, self._masked_f[slot], self._edge_bins,
                                self._share, self._ms_gains)
        else:
            apply_mask(spec, n, mask, masked, self._edge_bins, self._share)
        self._step_ends = ends
        if n:
            _combine_activity(vad_out, self._share, n)
            self.vad_latest = float(vad_out[n - 1])
            _append_activity(vad_out, ends, n, self.vad, self._vad_end, done)
        return n

    def _separate(self, block: np.ndarray, done: int) -> int:
        """Separate one step of at most ``max_block`` frames (see :meth:`_model_step`)."""
        stft = self.stft
        n = stft.analyze(block, self._pool)
        if n:
            n = self._model_step(n, stft.spec, stft.frame_end, 0, done)
            if n:
                stft.synthesize(self._masked, n, self._step_ends, self._pool)
        return n

    def _read(self, lo: int, hi: int, stems: bool, pos: int | None = None) -> None:
        """Output frames ``lo:hi`` of the block (the step that ended at input time ``pos``)."""
        if lo == 0:  # every live block: no view objects
            out, v, a = self._out, self._vocals, self._accomp
        else:
            out, v, a = self._out[lo:], self._vocals[lo:], self._accomp[lo:]
        if stems:
            self.stft.read(out, hi - lo, stems_v=v, stems_a=a, pos=pos)
        else:
            self.stft.read(out, hi - lo, pos=pos)

    def _run(self, block: np.ndarray, stems: bool) -> int:
        """Separate ``block`` in steps of ``max_block`` frames into the output buffers."""
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected a (frames, {self.channels}) block, got shape {block.shape}")
        n_out = block.shape[0]
        if n_out > self._out.shape[0]:
            self._grow(n_out)  # longer than any block before: the only allocation
        if self._pool is not None and n_out > self.max_block and self.max_block >= 4 * self.stft.hop:
            # (steps of under 4 frames would cost more in hand-offs than they share)
            self.vad_frames = self._run_pipelined(block, stems)
            return n_out
        done = 0
        i = 0
        while i < n_out:
            j = min(i + self.max_block, n_out)
            done += self._separate(block if i == 0 and j == n_out else block[i:j], done)
            self._read(i, j, stems)
            i = j
        self.vad_frames = done
        return n_out

    def _run_pipelined(self, block: np.ndarray, stems: bool) -> int:
        """:meth:`_run` over two threads. The network is the one serial chain (its state
        carries from frame to frame): this thread only runs the network on step k, while the
        pool's thread masks, resynthesises and writes out step k - 1, then analyses step k + 1
        and prepares its network input. The same operations on the same data as one thread,
        only reordered where they touch different buffers; returns the frames of vocal
        activity written."""
        stft, step, n_out = self.stft, self.max_block, block.shape[0]
        pos0 = stft.samples_pushed
        n_steps = -(-n_out // step)
        done = [0]  # activity frames written so far (only the pool's thread adds, in order)

        def finish(k: int, n: int, scratch: int, pool=None) -> None:
            """Mask, resynthesise and write out step ``k`` (``n`` analysed frames)."""
            slot = k % 2
            m = self._apply_model(n, self._specs[slot], self._ends[k % 3], slot, done[0]) if n else 0
            if m:
                if pool is None:
                    stft.synthesize_channels(self._masked_b[slot], m, self._step_ends, 0, self.channels, scratch)
                else:
                    stft.synthesize(self._masked_b[slot], m, self._step_ends, pool)
            done[0] += m
            end = min((k + 1) * step, n_out)
            self._read(k * step, end, stems, pos0 + end)

        def analyse(k: int, scratch: int) -> int:
            """Analyse step ``k`` and prepare its network input; its frame count."""
            n = stft.analyze_into(block[k * step:(k + 1) * step], self._specs[k % 2], self._ends[k % 3],
                                  scratch=scratch)
            if n:
                self._model_input(n, self._specs[k % 2], k % 2)
            return n

        def pool_work(k: int, n_prev: int) -> int:
            if k > 0:
                finish(k - 1, n_prev, 1)
            return analyse(k + 1, 1) if k + 1 < n_steps else 0

        n = analyse(0, 0)
        n_prev = 0
        for k in range(n_steps):
            job = self._pool.submit(pool_work, k, n_prev)
            if n:
                self._model_run(n, k % 2)
            n_prev, n = n, job.result()
        # the last step: both threads are free, its resynthesis splits the channels
        finish(n_steps - 1, n_prev, 0, self._pool)
        return done[0]

    def _process(self, block: np.ndarray) -> np.ndarray:
        """``(frames, channels)`` float32 in (any number of frames) → the current mode's
        output, ``latency_samples`` late (see :meth:`Plugin.process`)."""
        n_out = self._run(block, stems=False)
        return self._out[:n_out]

    def process_stems(self, block: np.ndarray, out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Like :meth:`process`, also giving the ``vocals`` and ``accompaniment`` stems:
        ``(output, vocals, accompaniment)``, new arrays, or the three ``out`` arrays filled."""
        n_out = self._run(block, stems=True)
        got = (self._out[:n_out], self._vocals[:n_out], self._accomp[:n_out])
        if out is None:
            return tuple(g.copy() for g in got)
        return tuple(deliver(g, o) for g, o in zip(got, out))

    def frame_times_s(self, n_frames: int) -> np.ndarray:
        """Input-time (s) of the vocal-activity values of the last block's frames: the
        centre of the synthesis tail each frame writes."""
        return (self._vad_end[:n_frames] - (self.stft.windows.synthesis_len - 1) / 2.0) / self.sample_rate

    def describe(self) -> dict:
        s = self.stft
        return {
            "model": self.model.describe(),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "mode": self.mode,
            "model_input": "mid/side" if self._mid_side else "channel mean",
            "stft": {"n_fft": s.n_fft, "hop": s.hop, "synthesis_len": s.windows.synthesis_len,
                     "window": "asymmetric" if s.windows.synthesis_len < s.n_fft else "sqrt-hann"},
            "latency_samples": self.latency_samples,
            "latency_ms": 1000.0 * self.latency_samples / self.sample_rate,
            "vad_threshold": self.vad_threshold,
            "network_precision": self.model.live_precision if self._live_core else "float32",
        }
