"""Online REPET-SIM (Rafii & Pardo, ISMIR 2012; online variant ICASSP 2013) as a streaming plugin.

For each new STFT frame, the mono magnitude spectrum ``|X|`` (magnitude of the channel mean)
is compared by cosine similarity with the frames of the last ``buffer_s`` seconds; the
element-wise median of the ``k`` most similar past frames is the *repeating model* ``W``
(the accompaniment: what keeps coming back). The accompaniment mask is
``min(W, |X|) / |X|``, the vocal mask is one minus it (zero below ``highpass_hz``, where
REPET assigns everything to the accompaniment), and the vocal mask is applied to every
channel's complex spectrum. Only past frames are used, so the method is causal; the only
latency is the STFT's (``synthesis_len - 1`` samples).

Frames closer than ``min_gap_s`` to the current one are not candidates: with 75 % overlap the
last few frames always look like the current one (a held sung note would be its own
"repetition" and end up in the accompaniment).

Until the first candidate exists (the first ``min_gap_s``) everything is accompaniment;
with fewer than ``k`` candidates the median of those available is used.

Karaoke output is ``dry - vocals`` (the input delayed by the latency minus the vocal
estimate), so ``karaoke + vocals`` is exactly the delayed input.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..dsp.stft import StreamingStft
from ..plugins.base import Plugin, deliver
from ..plugins.stems import StemControlled, StemControls
from ._offline import Setup, default_setup


@njit(nogil=True, cache=True, boundscheck=False)
def _select(v, n, kth):
    """Partially order ``v[:n]`` in place so that ``v[kth]`` is the kth smallest (quickselect)."""
    lo = 0
    hi = n - 1
    while hi > lo:
        pivot = v[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while v[i] < pivot:
                i += 1
            while v[j] > pivot:
                j -= 1
            if i <= j:
                t = v[i]
                v[i] = v[j]
                v[j] = t
                i += 1
                j -= 1
        if kth <= j:
            hi = j
        elif kth >= i:
            lo = i
        else:
            break
    return v[kth]


@njit(nogil=True, cache=True, boundscheck=False)
def _top(sims, n, kk, order, scratch):
    """``order[:kk]`` = indices of the ``kk`` largest of ``sims[:n]`` (ties: the earliest),
    without allocating (``scratch``: ``n`` floats)."""
    for i in range(n):
        scratch[i] = sims[i]
    least = _select(scratch, n, n - kk)  # the smallest similarity that is in
    m = 0
    for i in range(n):
        if sims[i] > least:
            order[m] = i
            m += 1
    for i in range(n):
        if m == kk:
            break
        if sims[i] == least:
            order[m] = i
            m += 1


@njit(nogil=True, cache=True, boundscheck=False)
def _repet_frames(spec, n, mag_ring, norm_ring, state, k, min_gap, lo_bin, mono, sims, cand, tmp, order, scratch):
    """Replace ``spec[:n]`` by its vocal estimate; update the ring of past magnitudes.

    ``state[0]`` counts frames seen since reset; frame ``j`` lives in ring slot ``j % B``.
    """
    B, F = mag_ring.shape
    channels = spec.shape[1]
    inv_c = 1.0 / channels
    for t in range(n):
        nrm2 = 0.0
        for f in range(F):
            s = 0j
            for c in range(channels):
                s += spec[t, c, f]
            a = abs(s) * inv_c
            mono[f] = a
            nrm2 += a * a
        nrm = np.sqrt(nrm2)
        count = state[0]
        lo = count - B
        if lo < 0:
            lo = 0
        hi = count - min_gap  # newest candidate, inclusive
        nc = 0
        for j in range(lo, hi + 1):
            slot = j % B
            row = mag_ring[slot]
            d = 0.0
            for f in range(F):
                d += mono[f] * row[f]
            den = nrm * norm_ring[slot]
            sims[nc] = d / den if den > 0.0 else 0.0
            cand[nc] = slot
            nc += 1
        kk = k if k < nc else nc
        if kk == 0:
            for c in range(channels):
                for f in range(F):
                    spec[t, c, f] = 0.0
        else:
            _top(sims, nc, kk, order, scratch)  # the kk most similar (np.argsort would allocate)
            half = kk // 2
            for f in range(F):
                xm = mono[f]
                vm = 0.0
                if f >= lo_bin and xm > 0.0:
                    for i in range(kk):
                        tmp[i] = mag_ring[cand[order[i]], f]
                    w = _select(tmp, kk, half)
                    if kk % 2 == 0:
                        # the other middle value: the largest of the lower half
                        lower = tmp[0]
                        for i in range(1, half):
                            if tmp[i] > lower:
                                lower = tmp[i]
                        w = 0.5 * (lower + w)
                    if w < xm:
                        vm = 1.0 - w / xm
                for c in range(channels):
                    spec[t, c, f] *= vm
        slot = count % B
        for f in range(F):
            mag_ring[slot, f] = mono[f]
        norm_ring[slot] = nrm
        state[0] = count + 1


class RepetSim(StemControlled, Plugin):
    """Online REPET-SIM separator; ``mode`` "karaoke" outputs the accompaniment, "vocals" the
    voice, "mix" both at ``vocals_db`` / ``accompaniment_db``.

    Args:
        sample_rate, channels, max_block: stream format.
        mode, vocals_db, accompaniment_db: the separators' shared controls
            (:mod:`rtsep.plugins.stems`); changes between blocks crossfade over 10 ms.
        setup: STFT setup (:class:`Setup` or ``(n_fft, hop, synthesis_len)``); default
            a ~64 ms sqrt-Hann frame with 75 % overlap (1024/256 at 16 kHz, 2048/512 at 48 kHz).
        buffer_s: how far back similar frames are searched.
        k: number of most similar frames whose median is the repeating model.
        min_gap_s: frames closer than this to the current one are not candidates.
        highpass_hz: below this, everything goes to the accompaniment.
    """

    def __init__(self, sample_rate: float, channels: int, mode: str = "karaoke", max_block: int = 8192,
                 setup=None, buffer_s: float = 4.0, k: int = 100, min_gap_s: float = 0.25,
                 highpass_hz: float = 100.0, vocals_db: float = 0.0, accompaniment_db: float = 0.0):
        self.sample_rate = sample_rate
        self.channels = int(channels)
        self.max_block = int(max_block)
        self.setup = Setup.coerce(setup) if setup is not None else default_setup(sample_rate)
        s = self.setup
        self.stft = StreamingStft.from_setup(s.n_fft, s.hop, s.synthesis_len, self.channels, self.max_block)
        self.latency_samples = self.stft.latency_samples
        # mode changes crossfade over 10 ms, in the STFT's read
        self.controls = StemControls(mode, vocals_db, accompaniment_db, ramp_samples=int(0.01 * sample_rate))
        self.stft.set_stem_gains(*self.controls.weights)
        self.controls.subscribe(lambda c: self.stft.set_stem_gains(*c.weights, c.ramp_samples))
        frame_rate = sample_rate / s.hop
        self.k = max(1, int(k))
        self.min_gap = max(1, int(round(min_gap_s * frame_rate)))
        n_buf = max(self.k, int(round(buffer_s * frame_rate)))
        bins = self.stft.n_bins
        self._lo_bin = int(np.ceil(highpass_hz * s.n_fft / sample_rate))
        self._mag = np.zeros((n_buf, bins))
        self._norm = np.zeros(n_buf)
        self._state = np.zeros(1, dtype=np.int64)
        self._mono = np.zeros(bins)
        self._sims = np.zeros(n_buf)
        self._cand = np.zeros(n_buf, dtype=np.int64)
        self._order = np.zeros(n_buf, dtype=np.int64)
        self._scratch = np.zeros(n_buf)
        self._tmp = np.zeros(self.k)
        self._out = np.zeros((self.max_block, self.channels), dtype=np.float32)
        self._voc = np.zeros((self.max_block, self.channels), dtype=np.float32)
        self._acc = np.zeros((self.max_block, self.channels), dtype=np.float32)

    def _analyze(self, block: np.ndarray) -> None:
        n = self.stft.analyze(block)
        if n:
            _repet_frames(self.stft.spec, n, self._mag, self._norm, self._state, self.k, self.min_gap,
                          self._lo_bin, self._mono, self._sims, self._cand, self._tmp, self._order,
                          self._scratch)
            self.stft.synthesize(self.stft.spec, n)

    def _process(self, block: np.ndarray) -> np.ndarray:
        m = block.shape[0]
        self._analyze(block)
        out = self._out[:m]
        self.stft.read(out, m)
        return out

    def process_stems(self, block: np.ndarray, out: tuple[np.ndarray, np.ndarray] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`process` but gives both ``(vocals, accompaniment)`` (latency-delayed):
        new arrays, or the two ``out`` arrays filled."""
        m = block.shape[0]
        self._analyze(block)
        self.stft.read(self._out[:m], m, stems_v=self._voc[:m], stems_a=self._acc[:m])
        if out is None:
            return self._voc[:m].copy(), self._acc[:m].copy()
        return deliver(self._voc[:m], out[0]), deliver(self._acc[:m], out[1])

    def reset(self) -> None:
        self.stft.reset()
        self._mag[:] = 0.0
        self._norm[:] = 0.0
        self._state[0] = 0


def separate_repet(audio: np.ndarray, sample_rate: float, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Run the online plugin over a whole file; ``(vocals, accompaniment)`` aligned with the input."""
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    block = 4096
    p = RepetSim(sample_rate, audio.shape[1], max_block=block, **kw)
    lat = p.latency_samples
    x = np.zeros((len(audio) + lat, audio.shape[1]), dtype=np.float32)
    x[:len(audio)] = audio
    voc = np.empty_like(x)
    acc = np.empty_like(x)
    for i in range(0, len(x), block):
        blk = x[i:i + block]
        p.process_stems(blk, out=(voc[i:i + len(blk)], acc[i:i + len(blk)]))
    return np.ascontiguousarray(voc[lat:]), np.ascontiguousarray(acc[lat:])
