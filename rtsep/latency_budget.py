"""The latency budget: ``--latency low|quality|TIME`` picks the best separator whose true delay fits.

``low`` and ``quality`` name the recurrent models (11.94 ms and 111.94 ms of algorithmic delay).
A time (``150ms``, ``0.25s``, ``1s``; parsed with a regular expression, never evaluated) is a
budget: rtsep takes the best separator whose **true delay** fits it, where

* a recurrent model's true delay is its algorithmic delay at the stream rate (it runs per
  frame; the live host's hand-off block and the device buffers come on top for every
  separator alike and are reported by ``rtsep live``);
* the streaming U-Net's is its algorithmic delay (window frame + look-ahead + the chunk a call
  outputs, :attr:`rtsep.unet.streaming.StreamingUNet.latency_samples`) plus the compute
  allowance, one step, in which its worker thread runs the network for that chunk
  (:mod:`rtsep.unet.live`).

Budgets at or above the U-Net ladder's shortest point (:func:`rtsep.unet.ladder.points`) get the
longest ladder point that fits (quality grows with delay along the ladder); shorter budgets get
the quality recurrent model if it fits, else the low one; a budget below 11.94 ms is an error.

Python::

    import rtsep
    sep = rtsep.separator_for_latency("0.3s", 44100, 2, mode="karaoke")   # a Plugin
    sep.latency_samples                          # the true delay: what a stream hears
    rtsep.choose_latency("0.3s", 44100).describe()  # what was picked, without building it
"""

from __future__ import annotations

import functools
import math
import re
import time
from dataclasses import dataclass, field

from .errors import RtsepError

NAMED = ("low", "quality")
MAX_BUDGET_S = 60.0
_TIME = re.compile(r"^(?P<num>(?:\d+(?:\.\d*)?|\.\d+))\s*(?P<unit>ms|s)$")
_HELP = "low, quality or a time such as 150ms, 0.25s or 1s"
HELP = ("latency budget: low (the 11.94 ms recurrent model), quality (the 111.94 ms one) or a time such as "
        "150ms, 0.3s, 1s: the best separator whose true delay fits (the streaming U-Net from its shortest "
        "point up)")


@dataclass(frozen=True)
class Budget:
    """A parsed ``--latency``: ``name`` ("low"/"quality") or ``seconds`` (a time budget)."""

    text: str
    name: str | None = None
    seconds: float | None = None

    @property
    def is_time(self) -> bool:
        return self.seconds is not None


def parse_budget(value) -> Budget:
    """``"low"``, ``"quality"``, ``"150ms"``, ``"0.25s"``, ``"1s"`` (or, from Python, a number of
    seconds) → :class:`Budget`. Anything else is a one-line :class:`RtsepError`."""
    if isinstance(value, Budget):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
        text = f"{seconds:g}s"
    elif isinstance(value, str):
        text = value.strip()
        low = text.lower()
        if low in NAMED:
            return Budget(low, name=low)
        m = _TIME.match(low)
        if m is None:
            shown = text if len(text) <= 40 else text[:37] + "..."
            hint = " (give a unit: ms or s)" if re.fullmatch(r"[\d.]+", low) else ""
            raise RtsepError(f"--latency {shown!r}: expected {_HELP}{hint}")
        seconds = float(m["num"]) * (1e-3 if m["unit"] == "ms" else 1.0)
    else:
        raise RtsepError(f"--latency must be {_HELP}, got {type(value).__name__}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise RtsepError(f"--latency {text}: a time budget must be more than 0")
    if seconds > MAX_BUDGET_S:
        raise RtsepError(f"--latency {text}: at most {MAX_BUDGET_S:g}s (the U-Net's longest point is about 1.5 s)")
    return Budget(text, seconds=seconds)


def is_budget(value) -> bool:
    """Whether ``value`` is a time budget (not ``None``/``low``/``quality``); bad text raises."""
    return value is not None and parse_budget(value).is_time


def recurrent_latency_samples(point: str, sample_rate: int) -> int:
    """The recurrent default model of ``point``'s algorithmic delay at ``sample_rate``: the
    STFT setup :class:`rtsep.plugins.separator.Separator` derives from the model card (frames
    scaled to the rate, a fast FFT length, the hop floored so the synthesis tail fits)."""
    from .dsp.windows import fast_fft_size
    from .model.onnx_model import MaskModel
    from .model.registry import resolve_model

    card = MaskModel(resolve_model(None, point)).card
    scale = sample_rate / card.sample_rate
    n_fft = card.n_fft if sample_rate == card.sample_rate else fast_fft_size(card.n_fft * scale)
    tail_hops = card.synthesis_len // card.hop
    hop = max(1, min(int(card.hop * scale), n_fft // tail_hops))
    return hop * tail_hops - 1 + card.lookahead_frames * hop


@dataclass
class Choice:
    """What a budget picked at a stream rate.

    Attributes:
        kind: ``"recurrent"`` or ``"unet-stream"``.
        operating_point: the recurrent model's ``"low"`` / ``"quality"``; ``None`` for the U-Net.
        point: the :class:`rtsep.unet.ladder.LadderPoint` (U-Net), else ``None``.
        algorithmic_samples, allowance_samples: the delay's two parts at ``sample_rate``.
    """

    budget: Budget
    kind: str
    sample_rate: int
    algorithmic_samples: int
    allowance_samples: int = 0
    operating_point: str | None = None
    point: object = None
    stream: object = field(default=None, repr=False)  # the StreamingUNet built to measure the delay
    threads: int = 1  # the U-Net's ONNX Runtime threads

    @property
    def true_delay_samples(self) -> int:
        return self.algorithmic_samples + self.allowance_samples

    @property
    def true_delay_ms(self) -> float:
        return 1000.0 * self.true_delay_samples / self.sample_rate

    @property
    def is_unet(self) -> bool:
        return self.kind == "unet-stream"

    @property
    def model_name(self) -> str:
        if self.is_unet:
            return "unet-2stems (streaming)"
        return f"release-{self.operating_point}"

    def describe(self) -> dict:
        """JSON-ready: the budget, the separator, its window / look-ahead / step and delays."""
        sr = self.sample_rate
        ms = lambda n: round(1000.0 * n / sr, 3)  # noqa: E731
        d = {"budget": self.budget.text, "budget_ms": None if self.budget.seconds is None
             else round(1000.0 * self.budget.seconds, 3),
             "separator": self.kind, "model": self.model_name, "sample_rate": sr,
             "algorithmic_samples": self.algorithmic_samples, "algorithmic_ms": ms(self.algorithmic_samples),
             "allowance_samples": self.allowance_samples, "allowance_ms": ms(self.allowance_samples),
             "delay_samples": self.true_delay_samples, "delay_ms": ms(self.true_delay_samples)}
        if self.is_unet:
            p = self.point
            d.update({"ladder_point": p.name, "window_frames": p.window_frames,
                      "lookahead_frames": p.lookahead_frames, "step_frames": p.step_frames,
                      "hop_samples_44k": 1024, "step_samples": int(getattr(self.stream, "step_samples", 0)) or None,
                      "expected_sdr_db": {"vocals": p.vocals_sdr_db, "accompaniment": p.accompaniment_sdr_db}})
        else:
            d["operating_point"] = self.operating_point
        return d


@functools.lru_cache(maxsize=4)
def _session(threads: int):
    """One dynamic-T U-Net session per thread count, shared by the streams this process builds
    (building one takes seconds; ONNX Runtime sessions may run on several threads at once)."""
    from .unet.dynamic import dynamic_session
    from .unet.separator import unet_model_path

    return dynamic_session(unet_model_path(), threads)


def _unet_choice(budget: Budget, point, sample_rate: int, channels: int, threads: int) -> Choice:
    from .unet.streaming import StreamingUNet

    stream = StreamingUNet(point, sample_rate, channels, session=_session(threads))
    allowance = int(math.ceil(point.compute_samples_44k * sample_rate / 44100))
    return Choice(budget, "unet-stream", sample_rate, int(stream.latency_samples), allowance, point=point,
                  stream=stream, threads=threads)


def choose(latency, sample_rate: int, channels: int = 2, *, threads: int = 2) -> Choice:
    """The separator ``latency`` (see :func:`parse_budget`) picks at ``sample_rate``.

    A U-Net choice carries the :class:`~rtsep.unet.streaming.StreamingUNet` it built to read
    its exact delay at this rate (other rates resample; a point whose delay there exceeds the
    budget gives way to the next shorter one)."""
    budget = parse_budget(latency)
    sample_rate = int(sample_rate)
    if budget.name is not None:
        return Choice(budget, "recurrent", sample_rate, recurrent_latency_samples(budget.name, sample_rate),
                      operating_point=budget.name)
    limit = int(math.floor(budget.seconds * sample_rate + 1e-9))
    from .unet.ladder import points

    for point in reversed(points()):  # longest first: quality grows with delay
        if point.true_delay_samples_44k * sample_rate / 44100 > limit + 0.02 * sample_rate:
            continue  # clearly too long: do not build it
        choice = _unet_choice(budget, point, sample_rate, channels, threads)
        if choice.true_delay_samples <= limit:
            return choice
    for name in ("quality", "low"):
        n = recurrent_latency_samples(name, sample_rate)
        if n <= limit:
            return Choice(budget, "recurrent", sample_rate, n, operating_point=name)
    shortest = recurrent_latency_samples("low", sample_rate)
    raise RtsepError(f"--latency {budget.text}: no separator is that fast; the shortest delay is "
                     f"{1000.0 * shortest / sample_rate:.2f} ms (--latency low)")


def separator_for_latency(latency, sample_rate: int, channels: int = 2, *, mode: str = "karaoke",
                          vocals_db: float = 0.0, accompaniment_db: float = 0.0, live: bool = False,
                          max_block: int = 8192, precision: str = "int8", model=None, threads: int = 2,
                          choice: Choice | None = None):
    """The separator plugin a latency budget picks (:func:`choose`), ready to stream.

    ``live=True`` builds it for an audio callback (the recurrent model one bound call per
    frame; the U-Net's worker never waited for: a late chunk is a deadline miss); ``False``
    (files, offline chains) makes the U-Net's ``process`` wait for its worker, so the output is
    what a live run outputs when the worker keeps up. ``model`` (recurrent only) overrides the
    default model of ``low`` / ``quality``."""
    choice = choice or choose(latency, sample_rate, channels, threads=threads)
    if choice.is_unet:
        from .unet.live import LiveUNet

        return LiveUNet(choice.point, sample_rate, channels, mode=mode, vocals_db=vocals_db,
                        accompaniment_db=accompaniment_db, max_block=max_block, blocking=not live,
                        stream=choice.stream, allowance_samples=choice.allowance_samples, budget=choice.budget.text,
                        threads=choice.threads)
    from .plugins.separator import Separator

    return Separator(model, sample_rate=sample_rate, channels=channels, mode=mode, vocals_db=vocals_db,
                     accompaniment_db=accompaniment_db, max_block=max_block, latency=choice.operating_point,
                     live=live, precision=precision)


def measure_load(choice: Choice, channels: int = 2, seconds: float = 1.0, blocksize: int = 128) -> dict:
    """The CPU the chosen separator needs on this machine, measured now (a short calibration).

    U-Net: as the live worker runs it (normal priority, its own network session), the network and
    transforms of a few steps (``StreamingUNet.push`` of one step of noise each, after the window
    has filled), as a share of the step's duration: it must stay well below 1 for the worker to
    keep up. Recurrent: ``seconds`` of noise through the live separator in ``blocksize``-frame
    blocks, one thread."""
    import numpy as np

    rng = np.random.default_rng(0)
    sr = choice.sample_rate
    if choice.is_unet:
        import threading

        result: dict = {}
        thread = threading.Thread(target=_time_steps, args=(choice, channels, seconds, result), name="rtsep-calib")
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]
        return result
    sep = separator_for_latency(choice.budget, sr, channels, live=True, max_block=max(blocksize, 1024),
                                choice=choice)
    x = (0.1 * rng.standard_normal((int(seconds * sr), channels))).astype(np.float32)
    for i in range(0, 4 * blocksize, blocksize):  # warm-up: kernels and first calls
        sep.process(x[i:i + blocksize])
    sep.reset()
    t0 = time.perf_counter()
    for i in range(0, len(x) - blocksize + 1, blocksize):
        sep.process(x[i:i + blocksize])
    dt = time.perf_counter() - t0
    return {"method": f"measured now: {seconds:g} s of noise in {blocksize}-frame blocks, one thread",
            "load": round(dt / seconds, 3), "threads": 1}


def live_separator(point, sample_rate: int, channels: int, blocksize: int, *, stats=None, controls=None,
                   model=None, method: str = "net", switchable: bool = False):
    """The live host's side: ``(recurrent operating point or None, LiveUNet or None, note)``.

    ``point`` "low" / "quality" / ``None`` passes through; a time budget picks (:func:`choose`):
    a recurrent model comes back as its operating point (the host builds it as ever), the
    streaming U-Net as a :class:`~rtsep.unet.live.LiveUNet` for the callback (its own worker:
    the host runs it inline), with ``controls``' mode and gains and ``stats`` counting its misses."""
    if point is None or not is_budget(point):
        return point, None, None
    if model is not None or method != "net" or switchable:
        raise RtsepError("--latency with a time picks the separator itself: it cannot be combined with "
                         "--model, --method or --switchable")
    choice = choose(point, sample_rate, channels)
    c = choice.describe()
    what = (f"streaming U-Net {c['ladder_point']} (window/look-ahead/step frames)" if choice.is_unet
            else f"the {choice.operating_point} recurrent model")
    note = (f"--latency {choice.budget.text}: {what}, true delay {c['delay_samples']} samples = "
            f"{c['delay_ms']:.1f} ms (algorithmic {c['algorithmic_ms']:.1f} + compute allowance "
            f"{c['allowance_ms']:.1f})")
    if not choice.is_unet:
        return choice.operating_point, None, note
    mode = "karaoke" if controls is None or controls.mode == "bypass" else controls.mode
    sep = separator_for_latency(choice.budget, sample_rate, channels, mode=mode,
                                vocals_db=0.0 if controls is None else controls.vocals_db,
                                accompaniment_db=0.0 if controls is None else controls.accompaniment_db,
                                live=True, max_block=max(blocksize, 1024), choice=choice)
    sep.stats = stats
    return None, sep, f"{note}; its worker: {sep.rt_status}, {sep.threads} network thread(s)"


def _time_steps(choice: Choice, channels: int, seconds: float, result: dict) -> None:
    """:func:`measure_load`'s thread: the live worker's session, then timed steps."""
    import numpy as np

    from .unet.streaming import StreamingUNet

    try:
        stream = StreamingUNet(choice.point, choice.sample_rate, channels, threads=choice.threads)
        step = int(stream.step_samples)
        x = (0.1 * np.random.default_rng(0).standard_normal((step, channels))).astype(np.float32)
        for _ in range(int(math.ceil((choice.algorithmic_samples + step) / step)) + 1):
            stream.push(x)  # fill the window first: the calls after it are the steady state
        n_steps = max(3, int(math.ceil(seconds * choice.sample_rate / step)))
        times = []
        for _ in range(n_steps):
            t0 = time.perf_counter()
            stream.push(x)
            times.append(time.perf_counter() - t0)
        t = np.array(times)
        period = step / choice.sample_rate
        result.update({"method": f"measured now: {n_steps} steps of {step} samples after the window filled, "
                                 "as the live worker runs (normal priority)",
                       "step_ms": round(1000 * period, 2), "compute_ms_median": round(1000 * float(np.median(t)), 2),
                       "compute_ms_max": round(1000 * float(t.max()), 2),
                       "load": round(float(np.median(t)) / period, 3), "load_max": round(float(t.max()) / period, 3),
                       "threads": choice.threads})
    except BaseException as exc:  # raised again on the caller's thread
        result["error"] = exc
