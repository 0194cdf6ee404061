"""Stereo training mixtures: produced voices placed in real stereo accompaniment.

:class:`StereoMixer` wraps the mono :class:`rtsep.train.data.Mixer` (its vocal/accompaniment
choice, pitch augmentation, vocal-to-accompaniment ratio and level) and turns each mixture
into stereo ``(2, samples)`` (L, R):

- a share ``mono_prob`` stays mono-as-stereo (L = R), as MIR-1K and any mono source arrive;
- otherwise the voice goes through a random production chain
  (:class:`rtsep.train.augment.VocalProducer`, share ``produce_prob``) or is only placed
  near the centre, and the accompaniment is, with ``stereo_music_prob``, a stereo crop of
  instrumental music (L/R randomly swapped) at the level the mono mixer chose.

The peak level of the mono mixture is kept. Shares one random generator with the wrapped
mixer, so checkpoints that save ``mixer.rng`` resume this stream too.
"""

from __future__ import annotations

import numpy as np

from .augment import VocalProducer, _rms, place
from .data import Mixer


class StereoMixer:
    def __init__(self, mixer: Mixer, extra_stereo: np.ndarray | None = None, mono_prob: float = 0.3,
                 produce_prob: float = 0.8, stereo_music_prob: float = 0.6):
        self.mixer = mixer
        self.rng = mixer.rng
        self.n = mixer.n
        self.extra = extra_stereo  # (samples, 2)
        self.mono_prob = mono_prob
        self.produce_prob = produce_prob
        self.stereo_music_prob = stereo_music_prob if extra_stereo is not None else 0.0
        self.producer = VocalProducer(self.rng)

    def _stereo_music(self, level_rms: float) -> np.ndarray | None:
        """A ``(2, n)`` crop of the stereo music at per-channel RMS ``level_rms`` (None if
        the crop is near silence)."""
        j = int(self.rng.integers(0, len(self.extra) - self.n))
        crop = np.array(self.extra[j:j + self.n], dtype=np.float32).T
        if self.rng.random() < 0.5:
            crop = crop[::-1]
        r = _rms(crop)
        if r < 1e-4:
            return None
        return np.ascontiguousarray(crop * np.float32(level_rms / r))

    def sample(self):
        """``vocal (2, n)``, ``accompaniment (2, n)`` float32, ``labels (n,)`` uint8."""
        v, acc, lab = self.mixer.sample()
        rng = self.rng
        if rng.random() < self.mono_prob:
            return np.stack([v, v]), np.stack([acc, acc]), lab
        peak = float(np.abs(v + acc).max())
        if rng.random() < self.produce_prob:
            vs = self.producer(v)
        else:
            vs = place(v, float(np.clip(rng.normal(0, 0.06), -0.15, 0.15)))
        accs = None
        if rng.random() < self.stereo_music_prob:
            accs = self._stereo_music(_rms(acc))
        if accs is None:
            accs = np.stack([acc, acc])
        g = np.float32(peak / (float(np.abs(vs + accs).max()) + 1e-9))
        return vs * g, accs * g, lab

    def batch(self, size: int):
        """``vocals (size, 2, n)``, ``accompaniments (size, 2, n)``, ``labels (size, n)``."""
        vs, accs, labs = zip(*(self.sample() for _ in range(size)))
        return np.stack(vs), np.stack(accs), np.stack(labs)
