"""The live duplex engine: input (device or file) → plugin chain → output device.

``LiveHost`` is the Python API the CLI (``rtsep live``) and the GUI drive::

    from rtsep.host.stream import LiveHost
    host = LiveHost(input_device="USB", output_device="USB", blocksize=128, mode="karaoke")
    host.start()
    host.mode = "vocals"; host.vocals_db = -3.0      # live, crossfaded
    host.taps.vad.latest(); host.stats.summary()     # lock-free reads (see taps.py)
    host.stop()

Real-time discipline (see ``docs/live.md``):

* Everything the callback touches is preallocated in ``__init__``; it uses ``out=``
  NumPy operations, Numba kernels and plugins that return views of their own buffers. It
  never logs, never raises (errors are parked for the control thread), never takes a lock.
* While streaming, the cyclic GC is frozen and disabled, and the interpreter's thread
  switch interval is shortened so that another Python thread (GUI, worker) holding the GIL
  delays the callback by at most ~0.25 ms.
* ``worker=True`` (default): the chain runs on a worker thread; blocks travel through
  two lock-free SPSC slot rings (one block of extra latency). The callback wakes the
  worker by writing one byte to a non-blocking pipe. If the worker's block is not ready
  when the callback needs it, the callback plays the latency-matched dry input for that
  block instead, crossfaded over ``fade`` samples (a look-ahead of ``fade`` samples makes
  the fade-out possible), and counts a deadline miss. Never silence, never mistimed audio.
* ``worker=False``: the chain runs inside the callback (no extra latency); a block that
  takes longer than its period is counted as a deadline miss, but cannot be replaced.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time

import numpy as np
from numba import njit

from ..dsp.delay import DelayLine
from ..errors import DeviceError, RtsepError
from ..plugins.base import Plugin
from ..plugins.drywet import DryWet
from ..plugins.separator import MODES as SEPARATOR_MODES
from . import audio
from .ring import SlotRing
from .source import FileSource
from .stats import StreamStats
from .taps import Taps

MODES = SEPARATOR_MODES + ("bypass",)
SWITCH_INTERVAL_S = 0.00025
STOP_TIMEOUT_S = 2.0


@njit(nogil=True, cache=True)
def _fallback_mix(wet, ok, dry, n, fade, carry_w, carry_d, st, out):
    """Blend the worker's ``wet`` block with the aligned ``dry`` block, ``fade`` samples late.

    The output is the sequence ``carry (fade) + this block (n)``'s first ``n`` samples;
    ``st = [gain, carry_ok, used_dry]``. Where wet is missing the gain is 0; it ramps
    down *before* a missing segment (the look-ahead) and up after it, ``1/fade`` per
    sample, so a fallback is a crossfade between two time-aligned signals.
    """
    g = st[0]
    ok_a = st[1] > 0.5
    step = 1.0 / fade
    used_dry = 0.0
    ch = out.shape[1]
    for i in range(n):
        if i < fade:
            avail = ok_a
            gmax = (fade - 1 - i) * step if (ok_a and not ok) else 1.0
        else:
            avail = ok
            gmax = 1.0
        if not avail:
            g = 0.0
        else:
            g = min(g + step, gmax)
        if g < 1.0:
            used_dry = 1.0
        if i < fade:
            for c in range(ch):
                d = carry_d[i, c]
                out[i, c] = d + g * (carry_w[i, c] - d)
        else:
            for c in range(ch):
                d = dry[i - fade, c]
                out[i, c] = d + g * (wet[i - fade, c] - d)
    for i in range(fade):
        for c in range(ch):
            carry_w[i, c] = wet[n - fade + i, c]
            carry_d[i, c] = dry[n - fade + i, c]
    st[0] = g
    st[1] = 1.0 if ok else 0.0
    st[2] = used_dry


RT_PRIORITY_CALLBACK = 60
RT_PRIORITY_WORKER = 50


def _make_realtime(priority: int) -> str:
    """Give the calling thread SCHED_FIFO ``priority`` unless it already is real-time
    (a real-time JACK server or ALSA gives its audio thread that itself). Returns what
    happened, for the summary; never raises."""
    try:
        policy = os.sched_getscheduler(0)
        if policy in (os.SCHED_FIFO, os.SCHED_RR):
            return f"already real-time (priority {os.sched_getparam(0).sched_priority})"
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return f"SCHED_FIFO {priority}"
    except (AttributeError, OSError) as exc:
        return f"normal priority ({type(exc).__name__})"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class LiveHost:
    """Streams input (a device, or ``source`` file) through a chain to an output device.

    Args:
        processor: a :class:`~rtsep.plugins.Plugin` to run; ``None`` builds a
            :class:`~rtsep.Separator` from ``model``/``mode``/gains.
        input_device, output_device: index, name substring, or ``None`` (default).
        source: a file path or :class:`FileSource`; it replaces the input device (the
            stream is then output-only).
        samplerate: stream rate; ``None``: the output device's default. A rate the
            device refuses falls back to its default (noted in ``notes``).
        blocksize: frames per callback (fixed; PortAudio adapts to the host's buffer).
        channels: channels the chain runs on; a device with fewer channels is adapted
            (mono input is copied to every channel, extra output channels stay silent).
        mode: "karaoke", "vocals", "mix" or "bypass" (latency-compensated dry).
        method: "net" (the network separator) or a live classic method of
            :mod:`rtsep.methods` ("repet", "center").
        switchable: run both default models side by side, aligned to the quality one's
            latency, so that ``operating_point`` can be switched mid-stream without a click
            or a timing change (meant for ``source`` files, whose dry signal nobody hears).
        operating_point: default-model choice, "low" or "quality" (``None``: "quality"
            with a ``source`` file, "low" for live input).
        worker: run the chain on a worker thread (see module doc).
        keep_input: with a ``source``, still open a duplex stream (the device input is
            read and ignored), e.g. to benchmark the duplex path with a real signal.
        realtime: give the audio callback thread (and the worker) SCHED_FIFO if the
            host API did not and the OS allows it.
        fade: fallback crossfade (and look-ahead) in samples, worker mode only.
    """

    def __init__(self, processor: Plugin | None = None, *, input_device=None, output_device=None,
                 source=None, samplerate: int | None = None, blocksize: int = 256, channels: int = 2,
                 mode: str = "karaoke", vocals_db: float = 0.0, accompaniment_db: float = 0.0,
                 model=None, operating_point: str | None = None, worker: bool = True, fade: int = 32, taps_seconds: float = 4.0,
                 latency: str | float = "low", realtime: bool = True, keep_input: bool = False,
                 method: str = "net", switchable: bool = False):
        if mode not in MODES:
            raise RtsepError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        if blocksize < 1 or blocksize > 8192:
            raise RtsepError(f"blocksize must be 1..8192 frames, got {blocksize}")
        sd = audio.sd()
        self.notes: list[str] = []
        self.blocksize = int(blocksize)
        self.channels = int(channels)
        self.worker = bool(worker)
        self._latency_arg = latency
        self.realtime = bool(realtime)
        self.rt_status = {"callback": "not started", "worker": "-"}
        self._rt_pending = False

        # --- devices, rate, channels -------------------------------------------------
        self.source: FileSource | None = None
        self.output_device = audio.resolve_device(output_device, "output")
        duplex = source is None or keep_input
        self.input_device = audio.resolve_device(input_device, "input") if duplex else None
        out_info = audio.device_info(self.output_device)
        in_info = audio.device_info(self.input_device) if self.input_device is not None else None
        self.out_channels = min(self.channels, out_info["max_output_channels"])
        self.in_channels = min(self.channels, in_info["max_input_channels"]) if in_info else 0
        if self.out_channels < 1:
            raise DeviceError(f"output device {out_info['name']!r} has no output channels")
        if in_info is not None and self.in_channels < 1:
            raise DeviceError(f"input device {in_info['name']!r} has no input channels")
        if self.in_channels and self.in_channels not in (1, self.channels):
            self.notes.append(f"input has {self.in_channels} channels; using them, the rest silent")
        if self.out_channels < self.channels:
            self.notes.append(f"output device has {self.out_channels} channel(s); playing the first")
        default_rate = int(out_info["default_samplerate"])
        rate = int(samplerate or default_rate)
        if not self._check_rate(rate):
            if rate != default_rate and self._check_rate(default_rate):
                self.notes.append(f"the device does not run at {rate} Hz: streaming at {default_rate} Hz "
                                  f"(a source file is resampled)")
                rate = default_rate
            else:
                raise DeviceError(f"the audio device does not support {rate} Hz with "
                                  f"{self.in_channels or self.out_channels} channel(s): {self._rate_error}")
        self.sample_rate = rate

        # --- source ------------------------------------------------------------------
        if source is not None:
            self.source = source if isinstance(source, FileSource) else FileSource(source, rate, self.channels)

        # --- chain ---------------------------------------------------------------------
        self.separator = None
        self.method = method
        if processor is None and method != "net":
            from ..methods import make_plugin

            if mode == "mix":
                raise RtsepError(f"method {method!r} has modes karaoke, vocals and bypass, not mix")
            processor = make_plugin(method, rate, self.channels, mode="karaoke" if mode == "bypass" else mode,
                                    max_block=max(self.blocksize, 1024))
        if processor is None:
            from ..plugins.separator import Separator

            # A singer hears live input: "low"; a file-fed karaoke has no dry path to hear.
            point = operating_point or ("quality" if self.source is not None else "low")
            kw = dict(sample_rate=rate, channels=self.channels, mode="karaoke" if mode == "bypass" else mode,
                      vocals_db=vocals_db, accompaniment_db=accompaniment_db, max_block=max(self.blocksize, 1024),
                      live=True)
            if switchable and model is None:
                from ..plugins.switch import OperatingPointSwitch

                # Both models run, aligned: ``operating_point`` can then change mid-stream.
                self.separator = OperatingPointSwitch(Separator(None, latency="low", **kw),
                                                      Separator(None, latency="quality", **kw), point=point)
            else:
                self.separator = Separator(model, latency=point, **kw)
            processor = self.separator
        self.plugin = processor
        self.drywet = DryWet(processor, self.channels, rate, wet=0.0 if mode == "bypass" else 1.0,
                             max_block=max(self.blocksize, 1024))
        self.proc: Plugin = self.drywet
        self._mode = mode
        self._vocals_db = float(vocals_db)
        self._accompaniment_db = float(accompaniment_db)

        # --- preallocated real-time state ---------------------------------------------------
        B, C = self.blocksize, self.channels
        self.fade = max(1, min(int(fade), B)) if self.worker else 0
        self._x = np.zeros((B, C), dtype=np.float32)
        self._y = np.zeros((B, C), dtype=np.float32)
        self._zeros = np.zeros((B, C), dtype=np.float32)
        self.stats = StreamStats(rate, B)
        self.taps = Taps(rate, C, seconds=taps_seconds)
        L = int(self.proc.latency_samples)
        self.algorithmic_latency = L
        if self.worker:
            self._in_ring = SlotRing(16, B, C)
            self._out_ring = SlotRing(16, B, C)
            self._dry = DelayLine(L + B, C, B)
            self._carry_w = np.zeros((self.fade, C), dtype=np.float32)
            self._carry_d = np.zeros((self.fade, C), dtype=np.float32)
            self._mixst = np.zeros(3, dtype=np.float64)
        self._stream = None
        self._thread = None
        self._rfd = self._wfd = -1
        self._running = False
        self._stopping = False
        self.jack_ports = {"in": [], "out": []}  # this stream's JACK ports, once open
        self.abandoned = False  # a stream PortAudio could not close (audio server gone)
        self._error: BaseException | None = None  # parked by the callback or worker
        self._pos = 0
        self._seq = 0
        self._period = B / rate
        self._gc_was_enabled = True
        self._switch = sys.getswitchinterval()
        self.device_latency = (0.0, 0.0)
        self._warm_up()

    # --- controls ------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {value!r}")
        if value == "bypass":
            self.drywet.wet = 0.0
        else:
            if self.separator is not None:
                self.separator.mode = value
            elif hasattr(self.plugin, "mode") and value in ("karaoke", "vocals"):
                self.plugin.mode = value  # a classic method's plugin
            self.drywet.wet = 1.0
        self._mode = value

    @property
    def vocals_db(self) -> float:
        return self._vocals_db

    @vocals_db.setter
    def vocals_db(self, value: float) -> None:
        self._vocals_db = float(value)
        if self.separator is not None:
            self.separator.vocals_db = value

    @property
    def accompaniment_db(self) -> float:
        return self._accompaniment_db

    @accompaniment_db.setter
    def accompaniment_db(self, value: float) -> None:
        self._accompaniment_db = float(value)
        if self.separator is not None:
            self.separator.accompaniment_db = value

    @property
    def operating_point(self) -> str | None:
        """"low" or "quality" (the default model in use); settable mid-stream when the host
        was built ``switchable``."""
        sep = self.separator
        return getattr(sep, "point", None) or (None if sep is None else
                                               ("quality" if sep.card.lookahead_frames else "low"))

    @operating_point.setter
    def operating_point(self, value: str) -> None:
        if not hasattr(self.separator, "point"):
            raise RtsepError("this stream was not started switchable (rtsep live --switchable)")
        self.separator.point = value

    @property
    def vad_latest(self) -> float:
        return float(getattr(self.plugin, "vad_latest", 0.0))

    @property
    def running(self) -> bool:
        return self._running

    @property
    def error(self) -> BaseException | None:
        return self._error

    # --- latency ------------------------------------------------------------------------------
    @property
    def handoff_latency(self) -> int:
        """Frames the worker hand-off adds (one block plus the fallback look-ahead)."""
        return self.blocksize + self.fade if self.worker else 0

    def latency(self) -> dict:
        """Latency breakdown in samples and ms (device figures as PortAudio reports them)."""
        sr = self.sample_rate
        d_in = int(round(self.device_latency[0] * sr))
        d_out = int(round(self.device_latency[1] * sr))
        total = self.algorithmic_latency + self.handoff_latency + d_in + d_out
        ms = lambda n: round(1000.0 * n / sr, 3)  # noqa: E731
        return {"algorithmic_samples": self.algorithmic_latency, "handoff_samples": self.handoff_latency,
                "device_input_samples": d_in, "device_output_samples": d_out,
                "total_samples": total, "total_ms": ms(total),
                "algorithmic_ms": ms(self.algorithmic_latency), "handoff_ms": ms(self.handoff_latency),
                "device_ms": ms(d_in + d_out), "operating_point": self.operating_point}

    # --- start / stop ------------------------------------------------------------------------
    def _check_rate(self, rate: int) -> bool:
        sd = audio.sd()
        try:
            sd.check_output_settings(device=self.output_device, channels=self.out_channels,
                                     dtype="float32", samplerate=rate)
            if self.input_device is not None:
                sd.check_input_settings(device=self.input_device, channels=self.in_channels,
                                        dtype="float32", samplerate=rate)
            return True
        except Exception as exc:
            self._rate_error = _one_line(exc)
            return False

    def _warm_up(self) -> None:
        """Compile Numba kernels and touch every buffer before real time starts."""
        blk = self._x
        for _ in range(4):
            self.proc.process(blk)
        self.proc.reset()
        if self.worker:
            st = np.zeros(3)
            _fallback_mix(self._zeros, True, self._zeros, self.blocksize, self.fade,
                          self._carry_w.copy(), self._carry_d.copy(), st, self._y)
        self.taps.publish(0, self._x, self._y, 0.0)
        self.taps = Taps(self.sample_rate, self.channels, seconds=self.taps.input.capacity / self.sample_rate)

    def open(self) -> None:
        """Open the stream without starting it (on JACK its ports exist from here on, so
        they can be wired before the first sample flows). :meth:`start` calls it."""
        if self._stream is not None:
            return
        sd = audio.sd()
        before = self._portaudio_jack_ports()
        try:
            if self.input_device is None:
                self._stream = sd.OutputStream(
                    device=self.output_device, samplerate=self.sample_rate, blocksize=self.blocksize,
                    channels=self.out_channels, dtype="float32", callback=self._callback_out,
                    latency=self._latency_arg)
                self.device_latency = (0.0, float(self._stream.latency))
            else:
                self._stream = sd.Stream(
                    device=(self.input_device, self.output_device), samplerate=self.sample_rate,
                    blocksize=self.blocksize, channels=(self.in_channels, self.out_channels),
                    dtype="float32", callback=self._callback_duplex, latency=self._latency_arg)
                self.device_latency = tuple(float(v) for v in self._stream.latency)
        except Exception as exc:
            self._stream = None
            raise DeviceError(f"cannot open the audio stream: {_one_line(exc)}") from None
        if before is not None:
            new = [p for p in self._portaudio_jack_ports() or [] if p not in before]
            self.jack_ports = {"in": [p for p in new if ":in_" in p], "out": [p for p in new if ":out_" in p]}

    def _portaudio_jack_ports(self) -> list[str] | None:
        """Names of PortAudio's JACK ports, if the output device is on JACK (else None)."""
        if "JACK" not in audio.device_info(self.output_device)["hostapi"]:
            return None
        try:
            from .jack import client, portaudio_port_names

            cl = client("rtsep-ports")
            try:
                return portaudio_port_names(cl)
            finally:
                cl.close()
        except Exception:
            return None

    def start(self) -> None:
        if self._running:
            return
        self.open()
        self.stats.reset()
        self._rt_pending = self.realtime
        self._pos = 0
        self._seq = 0
        self._error = None
        self.proc.reset()
        if self.worker:
            self._rfd, self._wfd = os.pipe()
            os.set_blocking(self._wfd, False)
            self._in_ring = SlotRing(16, self.blocksize, self.channels)
            self._out_ring = SlotRing(16, self.blocksize, self.channels)
            self._mixst[:] = 0.0
            self._carry_w[:] = 0.0
            self._carry_d[:] = 0.0
            self._dry.reset()
            self._stopping = False
            self._thread = threading.Thread(target=self._worker_loop, name="rtsep-worker", daemon=True)
            self._thread.start()
        self._gc_was_enabled = gc.isenabled()
        gc.collect()
        gc.freeze()
        gc.disable()
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self._running = True
        try:
            self._stream.start()
        except Exception as exc:
            self.stop()
            raise DeviceError(f"cannot start the audio stream: {_one_line(exc)}") from None

    def stop(self) -> None:
        """Stop and close the stream, join the worker, restore GC and switch interval.
        Safe to call twice, and after the audio server vanished (PortAudio's stop can then
        block forever: it is given ``STOP_TIMEOUT_S``, then abandoned, see ``abandoned``)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            def close():
                for op in (stream.abort, stream.close):
                    try:
                        op()
                    except Exception:
                        pass
            t = threading.Thread(target=close, name="rtsep-stream-close", daemon=True)
            t.start()
            t.join(STOP_TIMEOUT_S)
            if t.is_alive():
                self.abandoned = True
                audio.abandon_portaudio()
        self._stop_worker()
        if self._running:
            sys.setswitchinterval(self._switch)
            gc.unfreeze()
            if self._gc_was_enabled:
                gc.enable()
        self._running = False

    def _stop_worker(self) -> None:
        if self._thread is not None:
            self._stopping = True
            try:
                os.write(self._wfd, b"\x00")
            except OSError:
                pass
            self._thread.join(timeout=2.0)
            self._thread = None
        for fd in (self._rfd, self._wfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._rfd = self._wfd = -1

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def run(self, duration: float | None = None, *, stop_at_source_end: bool = True,
            watchdog_s: float = 2.0, poll_s: float = 0.05, on_tick=None) -> str:
        """Start (if needed) and stream until ``duration`` s, the end of the source (plus
        the latency tail), Ctrl-C, or a failure; then stop. Returns why it stopped:
        "duration", "source-ended" or "interrupted". Failures raise one-line errors."""
        if not self._running:
            self.start()
        t0 = time.monotonic()
        last_cb, last_change = -1, t0
        reason = "duration"
        tail = self.algorithmic_latency + self.handoff_latency + 2 * self.blocksize
        try:
            while True:
                time.sleep(poll_s)
                now = time.monotonic()
                if self._error is not None:
                    raise RtsepError(f"processing failed: {_one_line(self._error)}")
                cb = self.stats.callbacks
                if cb != last_cb:
                    last_cb, last_change = cb, now
                elif now - last_change > watchdog_s:
                    stream = self._stream
                    active = bool(stream is not None and stream.active)
                    raise DeviceError("the audio stream stopped: no audio callbacks for "
                                      f"{watchdog_s:.0f} s (device unplugged or audio server stopped?)"
                                      + ("" if active else " - stream inactive"))
                if on_tick is not None:
                    on_tick(self)
                if duration is not None and now - t0 >= duration:
                    reason = "duration"
                    break
                src = self.source
                if stop_at_source_end and src is not None and src.ended and \
                        self._pos - src.frames >= tail:
                    reason = "source-ended"
                    break
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            self.stop()
        return reason

    # --- real time ----------------------------------------------------------------------------
    def _worker_loop(self) -> None:
        if self.realtime:
            self.rt_status["worker"] = _make_realtime(RT_PRIORITY_WORKER)
        rfd = self._rfd
        inq, outq, proc, stats = self._in_ring, self._out_ring, self.proc, self.stats
        while True:
            try:
                os.read(rfd, 4096)
            except OSError:
                return
            if self._stopping:
                return
            while True:
                seq = inq.peek_seq()
                if seq < 0:
                    break
                t0 = time.perf_counter()
                try:
                    y = proc.process(inq.peek())
                except BaseException as exc:  # park it; the callback falls back to dry
                    self._error = exc
                    return
                stats.record_worker(time.perf_counter() - t0)
                inq.pop()
                outq.push(y, seq)

    def _read_input(self, indata, x) -> None:
        src = self.source
        if src is not None:
            got = src.read_into(x)
            if got < x.shape[0]:
                self.stats.source_underruns += x.shape[0] - got
        elif self.in_channels == self.channels:
            np.copyto(x, indata)
        elif self.in_channels == 1:
            np.copyto(x, indata[:, :1])
        else:
            x[:, :self.in_channels] = indata
            x[:, self.in_channels:] = 0.0

    def _process(self, x, n):
        """Input block ``x`` (n frames) → output block (a view of a host buffer)."""
        if not self.worker:
            y = self.proc.process(x)
            return y
        st = self.stats
        if n != self.blocksize:  # cannot happen with a fixed blocksize; stay safe
            st.deadline_misses += 1
            return self._zeros[:n]
        seq = self._seq
        self._seq = seq + 1
        if not self._in_ring.push(x, seq):
            st.handoff_overruns += 1
        try:
            os.write(self._wfd, b"\x01")
        except OSError:  # pipe full: the worker is far behind and already awake
            pass
        want = seq - 1
        outq = self._out_ring
        s = outq.peek_seq()
        while 0 <= s < want:  # late blocks already replaced by dry: discard
            outq.pop()
            s = outq.peek_seq()
        ok = s == want and want >= 0
        wet = outq.peek() if ok else self._zeros
        dry = self._dry.process(x)
        y = self._y
        mixst = self._mixst
        _fallback_mix(wet, ok, dry, n, self.fade, self._carry_w, self._carry_d, mixst, y)
        if ok:
            outq.pop()
        elif want >= 0:
            st.deadline_misses += 1
        if mixst[2] > 0.0 and seq > 1:
            st.fallback_blocks += 1
        return y

    def _finish(self, x, y, outdata, n, t0) -> None:
        if self.out_channels == self.channels:
            np.copyto(outdata, y)
        else:
            np.copyto(outdata, y[:, :self.out_channels])
        pos = self._pos
        self.taps.publish(pos, x, y, self.vad_latest)
        self._pos = pos + n
        elapsed = time.perf_counter() - t0
        if not self.worker and elapsed > self._period:
            self.stats.deadline_misses += 1
        self.stats.record(elapsed, n)

    def _callback_duplex(self, indata, outdata, frames, time_info, status) -> None:
        t0 = time.perf_counter()
        if self._rt_pending:  # once: the host's audio thread may not be real-time (JACK -r)
            self._rt_pending = False
            self.rt_status["callback"] = _make_realtime(RT_PRIORITY_CALLBACK)
        try:
            flags = status._flags
            if flags and self.stats.callbacks:  # an xrun flagged before our 1st block is not ours
                self.stats.flags(flags)
            x = self._x[:frames]
            self._read_input(indata, x)
            y = self._process(x, frames)
            self._finish(x, y, outdata, frames, t0)
        except BaseException as exc:  # never let an exception escape into PortAudio
            outdata.fill(0.0)
            if self._error is None:
                self._error = exc

    def _callback_out(self, outdata, frames, time_info, status) -> None:
        self._callback_duplex(None, outdata, frames, time_info, status)
