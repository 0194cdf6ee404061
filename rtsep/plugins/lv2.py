"""LV2 plugins as rtsep plugins, hosted through lilv (see :mod:`rtsep.plugins.lv2_lilv`)."""

from __future__ import annotations

import numpy as np

from .base import Plugin
from .lv2_lilv import SUPPORTED_FEATURES, Instance, Lv2Error, PortInfo, describe

# Frames of silence run once at construction so the plugin writes its latency port.
_PRIME_FRAMES = 64


def _route(n_in: int, n_out: int, channels: int, uri: str):
    """How stream channels feed plugin instances and come back.

    Returns ``(instances, in_map, out_map)``: ``in_map`` lists ``(instance, port, channels)``
    (the port gets the mean of those stream channels), ``out_map`` lists ``(channel,
    [(instance, port), ...])`` (the channel gets the mean of those outputs).
    A mono plugin runs once per channel; a plugin with as many inputs as the stream has
    channels runs once; a mono-input plugin with several outputs (a mono-in stereo-out
    reverb) gets the channels' mean.
    """
    if n_in == 0 or n_out == 0:
        raise Lv2Error(f"LV2 plugin {uri!r} has {n_in} audio inputs and {n_out} outputs: "
                       "rtsep hosts effects (at least one of each)")
    if n_in == 1 and n_out == 1:
        return channels, [(c, 0, [c]) for c in range(channels)], [(c, [(c, 0)]) for c in range(channels)]
    if n_in == channels:
        in_map = [(0, j, [j]) for j in range(n_in)]
    elif n_in == 1:
        in_map = [(0, 0, list(range(channels)))]
    elif channels == 1:
        in_map = [(0, j, [0]) for j in range(n_in)]
    else:
        raise Lv2Error(f"LV2 plugin {uri!r} has {n_in} audio inputs; cannot feed it {channels} channels")
    if n_out == channels:
        out_map = [(c, [(0, c)]) for c in range(channels)]
    elif channels == 1:
        out_map = [(0, [(0, j) for j in range(n_out)])]
    elif n_out == 1 or channels % n_out == 0:
        out_map = [(c, [(0, c % n_out)]) for c in range(channels)]
    else:
        raise Lv2Error(f"LV2 plugin {uri!r} has {n_out} audio outputs; cannot map them onto {channels} channels")
    return 1, in_map, out_map


class Lv2Plugin(Plugin):
    """An installed LV2 plugin on a ``(frames, channels)`` float32 stream.

    Args:
        uri: the plugin's URI (``rtsep plugins`` lists them).
        sample_rate: stream rate in Hz (the plugin is instantiated at it).
        channels: stream channel count; a mono plugin is instantiated once per channel.
        max_block: largest block in frames.
        **controls: control input values by port symbol; the others keep the plugin's
            defaults. Values are range-checked against the plugin's description.

    Every port is connected once, here, to preallocated arrays: audio ports to
    ``(max_block,)`` float32 buffers, control ports to cells of one float32 array per
    instance. A block is then copies into the input buffers, one ``run`` per instance (a
    ctypes call that keeps the interpreter lock: :meth:`Instance.run`) and copies out: no
    allocation, no lock.
    ``latency_samples`` is the value of the plugin's latency port (lv2:reportsLatency),
    measured at construction on a throwaway instance and re-read after every block.
    """

    def __init__(self, uri: str, sample_rate: int, channels: int, max_block: int = 8192, **controls):
        if channels < 1 or max_block < 1:
            raise Lv2Error(f"LV2 plugin needs channels >= 1 and max_block >= 1, got {channels}, {max_block}")
        self.uri = uri
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.max_block = int(max_block)
        self.info = describe(uri, self.sample_rate)
        missing = [f for f in self.info.required_features if f not in SUPPORTED_FEATURES]
        if missing:
            raise Lv2Error(f"LV2 plugin {uri!r} requires host features rtsep does not provide: {', '.join(missing)}")
        ports = self.info.ports
        for p in ports:
            if p.kind in ("atom", "other") and not p.optional:
                raise Lv2Error(f"LV2 plugin {uri!r}: port {p.symbol!r} is of a type rtsep does not host ({p.kind})")
        self._by_symbol = {p.symbol: p for p in ports}
        audio_in = [p for p in ports if p.kind == "audio" and p.direction == "input"]
        audio_out = [p for p in ports if p.kind == "audio" and p.direction == "output"]
        n_inst, self._in_map, self._out_map = _route(len(audio_in), len(audio_out), self.channels, uri)

        # Preallocated memory every port points into, for the plugin's whole life.
        self._ctrl = np.zeros((n_inst, len(ports)), np.float32)
        self._audio_in = np.zeros((n_inst, len(audio_in), self.max_block), np.float32)
        self._audio_out = np.zeros((n_inst, len(audio_out), self.max_block), np.float32)
        n_cv = sum(p.kind == "cv" for p in ports)
        self._cv = np.zeros((n_inst, n_cv, self.max_block), np.float32)  # CV inputs stay at zero
        self._out = np.zeros((self.max_block, self.channels), np.float32)
        for p in ports:
            if p.kind == "control" and p.direction == "input":
                self._ctrl[:, p.index] = _default(p)
        for name, value in controls.items():  # refused before anything is instantiated
            self.set(name, value)
        self._wiring = [self._addresses(i) for i in range(n_inst)]
        self._instances = [Instance(uri, self.sample_rate) for _ in range(n_inst)]
        for inst, wiring in zip(self._instances, self._wiring):
            for index, addr in wiring:
                inst.connect(index, addr)
        # Views bound once: the per-block loop only slices them.
        self._in_views = [(self._audio_in[i, j], chans, np.float32(1.0 / len(chans))) for i, j, chans in self._in_map]
        self._out_views = [(c, [self._audio_out[i, j] for i, j in srcs], np.float32(1.0 / len(srcs)))
                           for c, srcs in self._out_map]
        for inst in self._instances:
            inst.activate()
        self._prime()

    def _addresses(self, i: int) -> list[tuple[int, int | None]]:
        """``(port index, address)`` of every port of instance ``i``."""
        a_in = a_out = cv = 0
        out = []
        for p in self.info.ports:
            if p.kind == "control":
                addr = self._ctrl[i, p.index:].ctypes.data
            elif p.kind == "audio" and p.direction == "input":
                addr, a_in = self._audio_in[i, a_in].ctypes.data, a_in + 1
            elif p.kind == "audio":
                addr, a_out = self._audio_out[i, a_out].ctypes.data, a_out + 1
            elif p.kind == "cv":
                addr, cv = self._cv[i, cv].ctypes.data, cv + 1
            else:
                addr = None  # optional atom/event port: left unconnected
            out.append((p.index, addr))
        return out

    # --- controls ------------------------------------------------------------------------
    @property
    def ports(self) -> tuple[PortInfo, ...]:
        return self.info.ports

    @property
    def controls(self) -> dict[str, float]:
        """Current control input values by symbol."""
        return {p.symbol: float(self._ctrl[0, p.index]) for p in self.ports
                if p.kind == "control" and p.direction == "input"}

    @property
    def ranges(self) -> dict[str, tuple[float | None, float | None]]:
        """``(min, max)`` of every control input by symbol."""
        return {p.symbol: (p.minimum, p.maximum) for p in self.ports if p.kind == "control" and p.direction == "input"}

    def get(self, symbol: str) -> float:
        """A control port's value (inputs and outputs, e.g. ``latency``)."""
        return float(self._ctrl[0, self._port(symbol).index])

    def set(self, symbol: str, value) -> None:
        """Set a control input by symbol; refuses unknown ports, wrong types and values out of
        the plugin's range. A float store, safe to call while the stream runs."""
        p = self._port(symbol)
        if p.kind != "control" or p.direction != "input":
            raise Lv2Error(f"LV2 plugin {self.uri!r}: port {symbol!r} is a {p.kind} {p.direction}, not a control input")
        self._ctrl[:, p.index] = check_value(p, value, self.uri)

    def _port(self, symbol: str) -> PortInfo:
        try:
            return self._by_symbol[symbol]
        except KeyError:
            names = ", ".join(p.symbol for p in self.ports if p.kind == "control" and p.direction == "input")
            raise Lv2Error(f"LV2 plugin {self.uri!r} has no port {symbol!r} (control inputs: {names})") from None

    # --- plugin --------------------------------------------------------------------------
    @property
    def latency_samples(self) -> int:
        idx = self.info.latency_port
        return 0 if idx is None else max(0, int(round(float(self._ctrl[0, idx]))))

    def _prime(self) -> None:
        """Read the reported latency off a throwaway instance run once on silence with the
        same controls (running the real ones would change their state: a host that has
        not run a plugin yet must get the same output as one that never primed it)."""
        idx = self.info.latency_port
        if idx is None:
            return
        n = min(_PRIME_FRAMES, self.max_block)
        ctrl = self._ctrl[0].copy()
        bufs = np.zeros((len(self.info.ports), n), np.float32)
        probe = Instance(self.uri, self.sample_rate)
        try:
            for p in self.info.ports:
                probe.connect(p.index, ctrl[p.index:].ctypes.data if p.kind == "control"
                              else bufs[p.index].ctypes.data if p.kind in ("audio", "cv") else None)
            probe.activate()
            probe.run(n)
        finally:
            probe.free()
        self._ctrl[:, idx] = ctrl[idx]

    def reset(self) -> None:
        """A fresh instance per channel, wired to the same buffers. (LV2's own reset,
        deactivate + activate, leaves some state to the plugin: gverb keeps its smoothed
        room size.) Instantiating allocates: call it between streams, not while one runs."""
        for i, wiring in enumerate(self._wiring):
            fresh = Instance(self.uri, self.sample_rate)
            for index, addr in wiring:
                fresh.connect(index, addr)
            fresh.activate()
            self._instances[i].free()
            self._instances[i] = fresh

    def _process(self, block: np.ndarray) -> np.ndarray:
        """``(frames, channels)`` float32 in, a view of the preallocated output out."""
        n = len(block)
        if block.ndim != 2 or block.shape[1] != self.channels or n > self.max_block:
            raise ValueError(f"expected a (frames <= {self.max_block}, {self.channels}) block, got {block.shape}")
        for buf, chans, scale in self._in_views:  # each input port: one channel, or the mean of several
            dst = buf[:n]
            np.copyto(dst, block[:, chans[0]])
            if len(chans) > 1:
                for c in chans[1:]:
                    np.add(dst, block[:, c], out=dst)
                np.multiply(dst, scale, out=dst)
        for inst in self._instances:
            inst.run(n)
        out = self._out[:n]
        for c, srcs, scale in self._out_views:  # each channel: one output port, or the mean of several
            dst = out[:, c]
            np.copyto(dst, srcs[0][:n])
            if len(srcs) > 1:
                for s in srcs[1:]:
                    np.add(dst, s[:n], out=dst)
                np.multiply(dst, scale, out=dst)
        return out

    def close(self) -> None:
        """Free the plugin instances now (otherwise when the object is collected)."""
        for inst in self._instances:
            inst.free()

    def __repr__(self):
        return f"Lv2Plugin({self.uri!r}, {', '.join(f'{k}={v:g}' for k, v in self.controls.items())})"


def _default(p: PortInfo) -> float:
    if p.default is not None:
        v = p.default
    elif p.minimum is not None:
        v = max(p.minimum, 0.0) if p.maximum is None or p.maximum >= 0 else p.minimum
    else:
        v = 0.0
    if p.minimum is not None:
        v = max(v, p.minimum)
    if p.maximum is not None:
        v = min(v, p.maximum)
    return v


def check_value(p: PortInfo, value, uri: str) -> float:
    """``value`` as the float a control port ``p`` stores, or a one-line :class:`Lv2Error`."""
    where = f"LV2 plugin {uri!r}, port {p.symbol!r}"
    if isinstance(value, bool):
        if not p.toggled:
            raise Lv2Error(f"{where}: expects a number, got {value!r}")
        return 1.0 if value else 0.0
    if not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
        raise Lv2Error(f"{where}: expects a finite number, got {value!r}")
    v = float(value)
    if p.integer and v != round(v):
        raise Lv2Error(f"{where}: expects an integer, got {value!r}")
    lo, hi = p.minimum, p.maximum
    tol = 1e-6 * max(1.0, abs(lo or 0.0), abs(hi or 0.0))  # ranges are stored as float32
    if (lo is not None and v < lo - tol) or (hi is not None and v > hi + tol):
        raise Lv2Error(f"{where}: {value!r} is out of range [{lo:g}, {hi:g}]" if lo is not None and hi is not None
                       else f"{where}: {value!r} is out of range")
    return v
