"""The singer's microphone: one input channel → gain → voice chain → into the output mix.

Runs inside the audio callback, on the block that arrived with it: the microphone path
adds no separator, no worker hand-off and no ring, so what the singer hears of themselves
is one block late (plus the voice chain's own latency and the device's buffers). The voice
chain (reverb, EQ, ... :func:`rtsep.plugins.spec.parse_chain`) must be real-time safe.
"""

from __future__ import annotations

import numpy as np

from ..dsp.jit import callback_kernel
from ..plugins.chain import Chain
from ..plugins.spec import parse_chain

RAMP_SAMPLES = 64


@callback_kernel
def _pick_gain(indata, channel, n, st, target, step, mono, out):
    """``mono[:n, 0] = g * indata[:n, channel]``, copied to every column of ``out``; the gain
    ``st[0]`` moves linearly toward ``target`` by ``step`` per sample."""
    g = st[0]
    for i in range(n):
        if g < target:
            g = min(target, g + step)
        elif g > target:
            g = max(target, g - step)
        s = g * indata[i, channel]
        mono[i, 0] = s
        for c in range(out.shape[1]):
            out[i, c] = s
    st[0] = g


def load_voice_chain(spec, sample_rate: int, channels: int, max_block: int) -> Chain:
    """A :class:`Chain` from a spec string (:func:`rtsep.plugins.spec.parse_chain`), a Chain,
    or ``None`` (empty)."""
    if spec is None or spec == "":
        return Chain([])
    if isinstance(spec, Chain):
        return spec
    chain = parse_chain(str(spec), sample_rate, channels, max_block)
    return chain if isinstance(chain, Chain) else Chain([chain])


class MicInput:
    """The microphone path of the karaoke mix.

    Args:
        channel: the input device channel the microphone is on (0-based).
        channels: the stream's channel count (the mono microphone is copied to each).
        gain_db: microphone gain, before the chain (settable live, ramped).
        voice_chain: the processors the voice runs through (a :class:`Chain`).

    Attributes:
        mono: ``(blocksize, 1)`` the last block after the gain (for taps and the pitch tracker).
        muted: settable; a muted microphone ramps to silence.
    """

    def __init__(self, channel: int, channels: int, blocksize: int, sample_rate: int, gain_db: float = 0.0,
                 voice_chain: Chain | None = None):
        self.channel = int(channel)
        self.blocksize = int(blocksize)
        self.sample_rate = int(sample_rate)
        self.voice_chain = voice_chain if voice_chain is not None else Chain([])
        self.mono = np.zeros((blocksize, 1), dtype=np.float32)
        self._wide = np.zeros((blocksize, channels), dtype=np.float32)
        self._voice = np.zeros((blocksize, channels), dtype=np.float32)  # the voice chain's output
        self._st = np.zeros(1, dtype=np.float64)
        self._gain_db = float(gain_db)
        self._muted = False
        self._target = 10 ** (self._gain_db / 20)
        self._st[0] = self._target

    @property
    def latency_samples(self) -> int:
        """Microphone to output: one block plus the voice chain's latency."""
        return self.blocksize + int(self.voice_chain.latency_samples)

    @property
    def gain_db(self) -> float:
        return self._gain_db

    @gain_db.setter
    def gain_db(self, value: float) -> None:
        self._gain_db = float(value)
        self._target = 0.0 if self._muted else 10 ** (self._gain_db / 20)

    @property
    def muted(self) -> bool:
        return self._muted

    @muted.setter
    def muted(self, value: bool) -> None:
        self._muted = bool(value)
        self.gain_db = self._gain_db

    def warm_up(self) -> None:
        z = np.zeros((self.blocksize, self.channel + 1), dtype=np.float32)
        for _ in range(4):
            self.process(z, self.blocksize)
        self.voice_chain.reset()

    def reset(self) -> None:
        self.voice_chain.reset()

    def process(self, indata: np.ndarray, n: int) -> np.ndarray:
        """Callback: the device's input block → the processed voice, ``(n, channels)`` (a view)."""
        wide = self._wide[:n]
        _pick_gain(indata, self.channel, n, self._st, self._target, 1.0 / RAMP_SAMPLES, self.mono, wide)
        return self.voice_chain.process(wide, out=self._voice[:n])
