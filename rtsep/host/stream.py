"""The live host: sources → engine → mixer → output device, with taps for a GUI.

``LiveHost`` is the Python API the CLI (``rtsep live``) and the GUI drive::

    from rtsep.host.stream import LiveHost
    host = LiveHost(source="song.flac", mic=True, voice_chain='lv2("...gverb", roomsize=20)')
    host.start()
    host.mode = "vocals"; host.vocals_db = -3.0      # live, ramped
    host.taps.levels.latest(); host.stats.summary()  # lock-free reads (see taps.py)
    host.stop()

The parts, each in its own module:

* **sources**: the input device, or a song file (:mod:`.source`), plus the singer's
  microphone (:mod:`.mic`) on a duplex stream;
* **engines**: a song separated *ahead* of the playhead by a background producer, the
  callback only mixing its stems (:mod:`.ahead`, :mod:`.mixer`), or the streaming
  separator chain, inline or on a worker (:mod:`.chain_engine`, :mod:`.handoff`);
* **output**: engine output + processed voice, published to the taps (:mod:`.taps`)
  and counted (:mod:`.stats`); pitch and score on their own thread (:mod:`.karaoke`).

Real-time discipline (see ``docs/live.md``): everything the callback touches is
preallocated in ``__init__``; it uses ``out=`` NumPy operations, Numba kernels and plugins'
``process(block, out=buf)`` (which allocates nothing). It never logs, never raises (errors are parked for
the control thread), never takes a lock. While streaming, the cyclic GC is frozen and the
interpreter's thread switch interval is short (:mod:`.realtime`).
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import DeviceError, RtsepError, one_line
from ..plugins.base import Plugin
from ..plugins.stems import HOST_MODES as MODES
from ..plugins.stems import StemControlled, StemControls
from . import audio, report
from .realtime import (NOT_STARTED, RT_PRIORITY_CALLBACK, StreamingInterpreter, make_realtime)
from .queue import open_source
from .source import FileSource
from .stats import StreamStats
from .taps import Taps

STOP_TIMEOUT_S = 2.0
RECURRENT_MODELS = ("low", "quality")


class LiveHost(StemControlled):
    """Streams input (a device, or a ``source`` file) through an engine to an output device.

    Args:
        processor: a :class:`~rtsep.plugins.Plugin` to run (chain engine); ``None`` builds
            a separator from ``model``/``mode``/gains, or separates a ``source`` ahead. A
            processor with ``controls`` (a separator) follows the host's mode and gains.
        input_device, output_device: index, name substring, or ``None`` (default).
        source: a file path or :class:`FileSource`; it replaces the input device (the
            stream is output-only unless ``mic`` or ``keep_input``).
        samplerate: stream rate; ``None``: the output device's default. A rate the
            device refuses falls back to its default (noted in ``notes``).
        blocksize: frames per callback (fixed; PortAudio adapts to the host's buffer).
        channels: channels processed (mono input is copied to every channel, extra output
            channels stay silent).
        mode: "karaoke", "vocals", "mix" or "bypass" (dry, latency-compensated); with
            ``vocals_db``, ``accompaniment_db``: ``controls``, the separators' controls
            (:mod:`rtsep.plugins.stems`) plus bypass, settable while streaming (ramped).
        engine: "auto" (a ``source`` is separated ahead of the playhead unless ``model``,
            ``operating_point``, ``switchable``, ``processor`` or a classic ``method`` asks
            for the streaming chain), "ahead" or "chain".
        method: "net" (the network separator) or a live classic method ("repet", "center").
        switchable: chain engine: run both default models side by side (see docs/live.md).
        operating_point: default-model choice of the chain engine, "low" or "quality", or a
            time budget ("0.3s": :mod:`rtsep.latency_budget`; the streaming U-Net runs inline,
            its network on its own worker thread).
        worker: chain engine on a worker thread (one block of hand-off; dry fallback).
        precision: chain engine: the recurrent model's dense layers per frame, "int8"
            (default) or "float32" (see :class:`~rtsep.plugins.separator.Separator`).
        mic, mic_channel, mic_db, voice_chain: mix the input device's channel
            ``mic_channel`` into the output through ``voice_chain`` (a spec string or a
            :class:`~rtsep.plugins.Chain`); needs a ``source``.
        pitch_guide: with a song separated ahead, compute its melody and (with ``mic``) score
            the singer (``karaoke``); ``None``: only with ``mic``.
        keep_input: with a ``source``, still open a duplex stream (input read and ignored).
        realtime: SCHED_FIFO for the callback (and worker) if the host API did not and the OS allows.
        fade: dry-fallback crossfade (and look-ahead) in samples, worker only.
        ahead_seconds: how far ahead the producer may separate (its ring's length).
        stems: ``(sample_rate, channels) -> object with .stream(blocks)`` yielding aligned
            ``(vocals, accompaniment)`` blocks: the separator of the ahead engine (default:
            :func:`rtsep.host.ahead.default_stems`, the U-Net or the recurrent quality model).
    """

    def __init__(self, processor: Plugin | None = None, *, input_device=None, output_device=None,
                 source=None, samplerate: int | None = None, blocksize: int = 256, channels: int = 2,
                 mode: str = "karaoke", vocals_db: float = 0.0, accompaniment_db: float = 0.0,
                 model=None, operating_point: str | None = None, worker: bool = True, fade: int = 32,
                 taps_seconds: float = 4.0, latency: str | float = "low", realtime: bool = True,
                 keep_input: bool = False, method: str = "net", switchable: bool = False,
                 engine: str = "auto", mic: bool = False, mic_channel: int = 0, mic_db: float = 0.0,
                 voice_chain=None, pitch_guide: bool | None = None, ahead_seconds: float = 30.0, stems=None,
                 precision: str = "int8"):
        try:
            self.controls = StemControls(mode, vocals_db, accompaniment_db, modes=MODES)
        except ValueError:
            raise RtsepError(f"mode must be one of {', '.join(MODES)}; got {mode!r}") from None
        if blocksize < 1 or blocksize > 8192:
            raise RtsepError(f"blocksize must be 1..8192 frames, got {blocksize}")
        if engine not in ("auto", "ahead", "chain"):
            raise RtsepError(f"engine must be auto, ahead or chain; got {engine!r}")
        if mic and source is None:
            raise RtsepError("--mic needs --source SONG (without a song the input already is the microphone)")
        if mic_channel < 0:
            raise RtsepError(f"--mic-channel must be >= 0, got {mic_channel}")
        self.blocksize = int(blocksize)
        self.channels = int(channels)
        self._latency_arg = latency
        self.realtime = bool(realtime)
        self.rt_status = {"callback": NOT_STARTED, "worker": "-"}
        self._rt_pending = False

        # --- devices, rate, channels ---------------------------------------------------
        fmt = audio.negotiate(output_device, input_device, duplex=source is None or keep_input or mic,
                              channels=self.channels, samplerate=samplerate,
                              min_in_channels=mic_channel + 1 if mic else 1)
        self.notes: list[str] = fmt.notes
        self.output_device, self.input_device = fmt.output_device, fmt.input_device
        self.in_channels, self.out_channels = fmt.in_channels, fmt.out_channels
        self.sample_rate = rate = fmt.sample_rate

        # --- sources --------------------------------------------------------------------
        self.source: FileSource | None = None
        if source is not None:
            self.source = open_source(source, rate, self.channels)  # a file, or a queue of songs

        # --- microphone -------------------------------------------------------------------
        self.mic = None
        self.voice_chain = None
        if mic:
            from .mic import MicInput, load_voice_chain

            self.voice_chain = load_voice_chain(voice_chain, rate, self.channels, max(self.blocksize, 1024))
            self.mic = MicInput(mic_channel, self.channels, self.blocksize, rate, mic_db, self.voice_chain)

        # --- engine -----------------------------------------------------------------------
        self.stats = StreamStats(rate, self.blocksize)
        self.method = method
        self.karaoke = None
        self.ahead = None  # the AheadProducer when the song is separated ahead
        recurrent = model is not None and str(model) != "unet"
        if str(model) == "unet" and self.source is None:
            raise RtsepError("the unet model separates song files ahead of playback: give --source SONG")
        if engine == "auto":
            engine = "ahead" if (self.source is not None and processor is None and method == "net"
                                 and not switchable and not recurrent and operating_point is None) else "chain"
        self.engine = None
        if engine == "ahead":
            if self.source is None:
                raise RtsepError("engine 'ahead' needs a source file")
            self.engine = self._build_ahead(bool(mic if pitch_guide is None else pitch_guide), ahead_seconds, stems)
        if self.engine is None:
            if str(model) == "unet":
                model = None
            from .chain_engine import ChainEngine, build_processor  # Numba's engine: not for a song ahead

            if processor is None:
                point = operating_point or ("quality" if self.source is not None and not self.notes_too_slow
                                            else "low")
                # a time budget (--latency 0.3s): a recurrent point, or the streaming U-Net, which
                # has its own worker (the callback only mixes its stems: run it inline)
                from ..latency_budget import live_separator

                point, sep, note = live_separator(point, rate, self.channels, self.blocksize, stats=self.stats,
                                                  controls=self.controls, model=model, method=method,
                                                  switchable=switchable)
                if note:
                    self.notes.append(note)
                if sep is not None:
                    processor, worker = sep, False
                else:
                    processor, sep = build_processor(rate, self.channels, self.blocksize, mode=mode,
                                                     vocals_db=vocals_db, accompaniment_db=accompaniment_db,
                                                     model=model, operating_point=point, method=method,
                                                     switchable=switchable, precision=precision)
            else:
                sep = None
            self.engine = ChainEngine(processor, sep, rate, self.blocksize, self.channels, self.stats,
                                      mode=mode, worker=worker, fade=fade, realtime=realtime)
            self._configure(self.controls)
        self._ahead = self.engine.name == "ahead"
        self.controls.subscribe(self._configure)  # both engines: configure(mode, vocals_db, accompaniment_db)

        # --- preallocated real-time state -----------------------------------------------
        B, C = self.blocksize, self.channels
        self._x = np.zeros((B, C), dtype=np.float32)
        self._y = np.zeros((B, C), dtype=np.float32)
        self.taps = Taps(rate, C, seconds=taps_seconds)
        self._stream = None
        self._running = False
        self.interpreter = StreamingInterpreter()
        self.jack_ports = {"in": [], "out": []}  # this stream's JACK ports, once open
        self.abandoned = False  # a stream PortAudio could not close (audio server gone)
        self._error: BaseException | None = None  # parked by the callback
        self._pos = 0
        self._period = B / rate
        self.device_latency = (0.0, 0.0)
        self._warm_up()

    notes_too_slow = False

    def _build_ahead(self, with_karaoke: bool, ahead_seconds: float, stems):
        """The producer and the ahead engine, started and measured; ``None`` (and a note) if
        this machine separates the song too slowly to stay ahead."""
        from .ahead import MIN_SPEED_X, AheadEngine, AheadProducer, default_stems

        src = self.source
        if hasattr(src, "build_ahead"):  # a queue of songs, key and tempo (rtsep.host.queue)
            return src.build_ahead(self, with_karaoke, ahead_seconds, stems)
        producer = AheadProducer(src.audio, self.sample_rate, stems or default_stems, ring_seconds=ahead_seconds,
                                 loop=lambda: bool(src.loop))
        if with_karaoke:
            from .karaoke import Karaoke, pitch_available

            if pitch_available():
                self.karaoke = Karaoke(self.sample_rate, src.frames, blocksize=self.blocksize)
                producer.on_vocals = self.karaoke.push_vocals
            else:
                self.notes.append("pitch guide and score unavailable in this build (rtsep.pitch missing)")
        c = self.controls
        eng = AheadEngine(producer, self.blocksize, self.channels, self.stats, mode=c.mode,
                          vocals_db=c.vocals_db, accompaniment_db=c.accompaniment_db)
        speed = eng.start(src.position)
        if not producer.finished and speed < MIN_SPEED_X:
            producer.stop()
            self.notes.append(f"this machine separates the song at {speed:.1f}x real time, too slow to stay "
                              f"ahead of playback: streaming the low-latency model instead")
            self.notes_too_slow = True
            self.karaoke = None
            return None
        self.ahead = eng
        return eng

    # --- controls ------------------------------------------------------------------------
    def _configure(self, c: StemControls) -> None:
        self.engine.configure(c.mode, c.vocals_db, c.accompaniment_db)

    @property
    def separator(self):
        """The streaming separator (chain engine), or ``None``."""
        return self.engine.separator

    @property
    def plugin(self):
        return self.engine.plugin

    @property
    def worker(self) -> bool:
        return getattr(self.engine, "worker", None) is not None

    @property
    def operating_point(self) -> str | None:
        """"low" or "quality" (the chain engine's default model); settable mid-stream when
        the host was built ``switchable``. ``None`` for a song separated ahead."""
        sep = self.separator
        return getattr(sep, "point", None) or getattr(sep, "budget", None) or (None if sep is None else
                                               ("quality" if sep.card.lookahead_frames else "low"))

    @operating_point.setter
    def operating_point(self, value: str) -> None:
        if not hasattr(self.separator, "point"):
            raise RtsepError("this stream was not started switchable (rtsep live --switchable)")
        self.separator.point = value

    @property
    def vad_latest(self) -> float:
        return float(self.engine.vad_latest)

    @property
    def running(self) -> bool:
        return self._running

    @property
    def error(self) -> BaseException | None:
        return self._error or self.engine.error

    @property
    def song_position_s(self) -> float:
        """Song time of the next frame the callback plays (0 without a source)."""
        return self.source.position / self.sample_rate if self.source is not None else 0.0

    @property
    def song_duration_s(self) -> float | None:
        return self.source.duration_s if self.source is not None else None

    # --- latency ------------------------------------------------------------------------------
    @property
    def algorithmic_latency(self) -> int:
        return int(self.engine.algorithmic_latency)

    @property
    def handoff_latency(self) -> int:
        """Frames the worker hand-off adds (one block plus the fallback look-ahead)."""
        return int(self.engine.handoff_latency)

    def latency(self) -> dict:
        """Latency breakdown in samples and ms (device figures as PortAudio reports them)."""
        return report.latency(self)

    def summary(self, skip: int = 8) -> dict:
        """Stats plus what this stream adds (engine, ahead, microphone, score): the ``--json``."""
        return report.summary(self, skip)

    # --- start / stop ------------------------------------------------------------------------
    def _warm_up(self) -> None:
        """Compile Numba kernels and touch every buffer before real time starts."""
        self.engine.warm_up(self._x)
        if self.mic is not None:
            self.mic.warm_up()
        self.taps.publish(0, self._x, self._y, 0.0, self._x[:, :1], self._x)
        self.taps = Taps(self.sample_rate, self.channels, seconds=self.taps.input.capacity / self.sample_rate)

    def open(self) -> None:
        """Open the stream without starting it (on JACK its ports exist from here on, so
        they can be wired before the first sample flows). :meth:`start` calls it."""
        if self._stream is not None:
            return
        duplex = self.input_device is not None
        self._stream, self.device_latency, self.jack_ports = audio.open_stream(
            self.output_device, self.input_device, self.sample_rate, self.blocksize,
            (self.in_channels, self.out_channels), self._callback_duplex if duplex else self._callback_out,
            self._latency_arg)

    def start(self) -> None:
        if self._running:
            return
        self.open()
        self.stats.reset()
        self._rt_pending = self.realtime
        self._pos = 0
        self._error = None
        if self._ahead:
            self.engine.start(self.source.position)
        else:
            self.engine.start()
        if self.mic is not None:
            self.mic.reset()
        if self.karaoke is not None:
            self.karaoke.start(self.source.position, self._singer_delay_samples())
        self.interpreter.enter()
        self._running = True
        try:
            audio.start_stream(self._stream)  # bounded: JACK's start waits on the server
        except DeviceError:
            self.stop()
            raise

    def _singer_delay_samples(self) -> int:
        """How much later than the song's playhead the microphone's samples are sung: the
        song leaves through the output device and the voice comes back through the input."""
        d_in, d_out = (int(round(v * self.sample_rate)) for v in self.device_latency)
        return self.mic.latency_samples + d_in + d_out if self.mic is not None else 0

    def stop(self) -> None:
        """Stop and close the stream, stop the engine, restore GC and switch interval.
        Safe to call twice, and after the audio server vanished (PortAudio's stop can then
        block forever: it is given ``STOP_TIMEOUT_S``, then abandoned, see ``abandoned``)."""
        stream, self._stream = self._stream, None
        if stream is not None and not audio.close_stream(stream, STOP_TIMEOUT_S):
            self.abandoned = True
        self.engine.stop()
        if self.karaoke is not None:
            self.karaoke.stop()
        self.interpreter.leave()
        self._running = False

    def close(self) -> None:
        """Stop, and end the background producer (a stopped host may otherwise resume)."""
        self.stop()
        if self.ahead is not None:
            self.ahead.close()
        if self.karaoke is not None:
            self.karaoke.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

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
                if self.error is not None:
                    raise RtsepError(f"processing failed: {one_line(self.error)}")
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

    def _callback_duplex(self, indata, outdata, frames, time_info, status) -> None:
        t0 = time.perf_counter()
        if self._rt_pending:  # once: the host's audio thread may not be real-time (JACK -r)
            self._rt_pending = False
            self.rt_status["callback"] = make_realtime(RT_PRIORITY_CALLBACK)
        try:
            flags = status._flags
            if flags and self.stats.callbacks:  # an xrun flagged before our 1st block is not ours
                self.stats.flags(flags)
            x = self._x[:frames]
            self._read_input(indata, x)
            pos = self._pos
            if self._ahead:
                y = self.engine.process(x, frames, pos)
                vocals = self.engine.vocals[:frames]
            else:
                y = self.engine.process(x, frames)
                vocals = None
            mic = self.mic
            mono = None
            if mic is not None and indata is not None:
                voice = mic.process(indata, frames)
                out = self._y[:frames]
                np.add(y, voice, out=out)
                y = out
                mono = mic.mono[:frames]
                if self.karaoke is not None:
                    self.karaoke.mic_ring.write(mono, lossy=True)
            if self.out_channels == self.channels:
                np.copyto(outdata, y)
            else:
                np.copyto(outdata, y[:, :self.out_channels])
            self.taps.publish(pos, x, y, self.engine.vad_latest, mono, vocals)
            self._pos = pos + frames
            elapsed = time.perf_counter() - t0
            if not self._ahead and not self.worker and elapsed > self._period:
                self.stats.deadline_misses += 1
            self.stats.record(elapsed, frames)
        except BaseException as exc:  # never let an exception escape into PortAudio
            outdata.fill(0.0)
            if self._error is None:
                self._error = exc

    def _callback_out(self, outdata, frames, time_info, status) -> None:
        self._callback_duplex(None, outdata, frames, time_info, status)
