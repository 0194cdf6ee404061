"""A small ctypes binding over lilv, the reference LV2 host library (Debian's liblilv-0-0).

Why ctypes over the shared library rather than a Python package: lilv's own Python bindings
(Debian's python3-lilv) are themselves a ctypes wrapper, installed only for the system
Python (``/usr/lib/python3/dist-packages``) and not on PyPI, so the project's interpreter
(a virtual environment, pyenv...) cannot import them. ctypes is in the standard library,
needs no compiler, and calls into C release the GIL (except ``run``: see :meth:`Instance.run`).
Only what rtsep uses is bound: discovery (world, plugins, ports, ranges, latency port),
instantiation with the URID map feature, and the instance's descriptor functions
(``connect_port``, ``activate``, ``run``, ``deactivate``), which lilv defines as inline
functions in its header and which are therefore called through the ``LV2_Descriptor`` here.

:func:`world` loads every installed bundle once (``LV2_PATH`` or the standard folders);
:func:`describe` gives a plugin's ports as plain :class:`PortInfo` records.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import re
import threading
from dataclasses import dataclass

from ..errors import RtsepError

LV2_CORE = "http://lv2plug.in/ns/lv2core#"
LV2_ATOM = "http://lv2plug.in/ns/ext/atom#"
URID_MAP = "http://lv2plug.in/ns/ext/urid#map"
URID_UNMAP = "http://lv2plug.in/ns/ext/urid#unmap"
# Features a plugin may require that need no data from the host: our audio buffers are
# never shared between input and output (inPlaceBroken) and runs happen on one thread.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")
_TRIVIAL_FEATURES = {LV2_CORE + "isLive", LV2_CORE + "inPlaceBroken", LV2_CORE + "hardRTCapable"}
SUPPORTED_FEATURES = _TRIVIAL_FEATURES | {URID_MAP, URID_UNMAP}


class Lv2Error(RtsepError):
    """lilv is missing, or an LV2 plugin is unknown, unusable or misconfigured."""


# --- the C interface -------------------------------------------------------------------
_p = ctypes.c_void_p
_HANDLE_FN = ctypes.CFUNCTYPE(None, _p)


class _Descriptor(ctypes.Structure):
    _fields_ = [("URI", ctypes.c_char_p),
                ("instantiate", _p),
                ("connect_port", ctypes.CFUNCTYPE(None, _p, ctypes.c_uint32, _p)),
                ("activate", _HANDLE_FN),
                ("run", ctypes.CFUNCTYPE(None, _p, ctypes.c_uint32)),
                ("deactivate", _HANDLE_FN),
                ("cleanup", _HANDLE_FN),
                ("extension_data", _p)]


class _Instance(ctypes.Structure):  # struct LilvInstanceImpl
    _fields_ = [("lv2_descriptor", ctypes.POINTER(_Descriptor)), ("lv2_handle", _p), ("pimpl", _p)]


class _Feature(ctypes.Structure):
    _fields_ = [("URI", ctypes.c_char_p), ("data", _p)]


_MAP_FN = ctypes.CFUNCTYPE(ctypes.c_uint32, _p, ctypes.c_char_p)
_UNMAP_FN = ctypes.CFUNCTYPE(ctypes.c_char_p, _p, ctypes.c_uint32)


class _UridMap(ctypes.Structure):
    _fields_ = [("handle", _p), ("map", _MAP_FN)]


class _UridUnmap(ctypes.Structure):
    _fields_ = [("handle", _p), ("unmap", _UNMAP_FN)]


_SIGNATURES = {
    "lilv_world_new": (_p, []),
    "lilv_world_load_all": (None, [_p]),
    "lilv_world_get_all_plugins": (_p, [_p]),
    "lilv_new_uri": (_p, [_p, ctypes.c_char_p]),
    "lilv_node_free": (None, [_p]),
    "lilv_node_as_string": (ctypes.c_char_p, [_p]),
    "lilv_node_as_uri": (ctypes.c_char_p, [_p]),
    "lilv_nodes_begin": (_p, [_p]),
    "lilv_nodes_next": (_p, [_p, _p]),
    "lilv_nodes_is_end": (ctypes.c_bool, [_p, _p]),
    "lilv_nodes_get": (_p, [_p, _p]),
    "lilv_nodes_free": (None, [_p]),
    "lilv_plugins_begin": (_p, [_p]),
    "lilv_plugins_next": (_p, [_p, _p]),
    "lilv_plugins_is_end": (ctypes.c_bool, [_p, _p]),
    "lilv_plugins_get": (_p, [_p, _p]),
    "lilv_plugins_get_by_uri": (_p, [_p, _p]),
    "lilv_plugin_get_uri": (_p, [_p]),
    "lilv_plugin_get_name": (_p, [_p]),
    "lilv_plugin_get_num_ports": (ctypes.c_uint32, [_p]),
    "lilv_plugin_get_port_by_index": (_p, [_p, ctypes.c_uint32]),
    "lilv_plugin_get_port_ranges_float": (None, [_p, _p, _p, _p]),
    "lilv_plugin_has_latency": (ctypes.c_bool, [_p]),
    "lilv_plugin_get_latency_port_index": (ctypes.c_uint32, [_p]),
    "lilv_plugin_get_required_features": (_p, [_p]),
    "lilv_plugin_instantiate": (ctypes.POINTER(_Instance), [_p, ctypes.c_double, _p]),
    "lilv_instance_free": (None, [ctypes.POINTER(_Instance)]),
    "lilv_port_get_symbol": (_p, [_p, _p]),
    "lilv_port_get_name": (_p, [_p, _p]),
    "lilv_port_is_a": (ctypes.c_bool, [_p, _p, _p]),
    "lilv_port_has_property": (ctypes.c_bool, [_p, _p, _p]),
}

_lock = threading.Lock()
_lib = None
_world = None


def _library():
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("lilv-0") or "liblilv-0.so.0"
        try:
            lib = ctypes.CDLL(name)
            for fn, (restype, argtypes) in _SIGNATURES.items():
                f = getattr(lib, fn)
                f.restype, f.argtypes = restype, argtypes
        except (OSError, AttributeError) as exc:
            raise Lv2Error(f"LV2 hosting needs lilv (apt install liblilv-0-0): {exc}") from None
        _lib = lib
    return _lib


def available() -> bool:
    """Whether liblilv can be loaded."""
    try:
        _library()
        return True
    except Lv2Error:
        return False


def _str(node) -> str:
    s = _library().lilv_node_as_string(node) if node else None
    return s.decode("utf-8", "replace") if s else ""


def _owned_str(node) -> str:
    """The string of a node the caller owns, freed afterwards."""
    try:
        return _str(node)
    finally:
        if node:
            _library().lilv_node_free(node)


class _World:
    """The loaded lilv world and the URI nodes rtsep asks about (kept for the process)."""

    def __init__(self):
        lib = _library()
        self.lib = lib
        self.ptr = lib.lilv_world_new()
        lib.lilv_world_load_all(self.ptr)
        self.plugins = lib.lilv_world_get_all_plugins(self.ptr)
        self._nodes: dict[str, int] = {}

    def node(self, uri: str):
        if uri not in self._nodes:
            self._nodes[uri] = self.lib.lilv_new_uri(self.ptr, uri.encode())
        return self._nodes[uri]

    def plugin(self, uri: str):
        """The ``const LilvPlugin*`` for ``uri``, or ``None``."""
        if not _URI.match(uri):  # lilv would print its own complaint on stderr
            return None
        node = self.lib.lilv_new_uri(self.ptr, uri.encode())
        if not node:
            return None
        try:
            return self.lib.lilv_plugins_get_by_uri(self.plugins, node) or None
        finally:
            self.lib.lilv_node_free(node)

    def uris(self) -> list[str]:
        lib, out = self.lib, []
        it = lib.lilv_plugins_begin(self.plugins)
        while not lib.lilv_plugins_is_end(self.plugins, it):
            out.append(_str(lib.lilv_plugin_get_uri(lib.lilv_plugins_get(self.plugins, it))))
            it = lib.lilv_plugins_next(self.plugins, it)
        return sorted(out)


def world() -> _World:
    """The process-wide lilv world, loaded on first use."""
    global _world
    with _lock:
        if _world is None:
            _world = _World()
        return _world


@dataclass(frozen=True)
class PortInfo:
    """One port of an LV2 plugin. ``kind``: ``audio``, ``control``, ``cv``, ``atom`` or
    ``other``; ``direction``: ``input`` or ``output``. Ranges are in the port's units (bounds
    given as a fraction of the rate, lv2:sampleRate, are scaled by ``sample_rate``: the spec
    says bounds, and plugins state defaults in Hz); ``None`` where the plugin states none."""

    index: int
    symbol: str
    name: str
    kind: str
    direction: str
    default: float | None
    minimum: float | None
    maximum: float | None
    optional: bool
    integer: bool
    toggled: bool

    def as_dict(self) -> dict:
        return {"index": self.index, "symbol": self.symbol, "name": self.name, "type": self.kind,
                "direction": self.direction, "default": self.default, "min": self.minimum, "max": self.maximum,
                **({"integer": True} if self.integer else {}), **({"toggled": True} if self.toggled else {})}


@dataclass(frozen=True)
class PluginInfo:
    uri: str
    name: str
    ports: tuple[PortInfo, ...]
    latency_port: int | None  # index of the control output that reports the latency
    required_features: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"uri": self.uri, "name": self.name, "format": "lv2",
                "latency_port": None if self.latency_port is None else self.ports[self.latency_port].symbol,
                "ports": [p.as_dict() for p in self.ports]}


def _num(x: float, scale: float = 1.0) -> float | None:
    # 7 significant digits: the float32 the plugin stated (0.1, not 0.10000000149).
    return None if math.isnan(x) else float(f"{x:.7g}") * scale


def describe(uri: str, sample_rate: float = 48000.0) -> PluginInfo:
    """Ports, latency port and required features of the installed plugin ``uri``."""
    w = world()
    lib = w.lib
    plugin = w.plugin(uri)
    if plugin is None:
        raise Lv2Error(f"no installed LV2 plugin {uri!r} (see `rtsep plugins`)")
    n = lib.lilv_plugin_get_num_ports(plugin)
    mins, maxs, defs = ((ctypes.c_float * n)() for _ in range(3))
    lib.lilv_plugin_get_port_ranges_float(plugin, mins, maxs, defs)
    kinds = [("audio", LV2_CORE + "AudioPort"), ("control", LV2_CORE + "ControlPort"),
             ("cv", LV2_CORE + "CVPort"), ("atom", LV2_ATOM + "AtomPort")]
    ports = []
    for i in range(n):
        port = lib.lilv_plugin_get_port_by_index(plugin, i)
        is_a = lambda uri_: lib.lilv_port_is_a(plugin, port, w.node(uri_))  # noqa: E731
        has = lambda prop: lib.lilv_port_has_property(plugin, port, w.node(LV2_CORE + prop))  # noqa: E731
        kind = next((k for k, u in kinds if is_a(u)), "other")
        scale = sample_rate if has("sampleRate") else 1.0
        ports.append(PortInfo(
            index=i, symbol=_str(lib.lilv_port_get_symbol(plugin, port)),
            name=_owned_str(lib.lilv_port_get_name(plugin, port)), kind=kind,
            direction="output" if is_a(LV2_CORE + "OutputPort") else "input",
            default=_num(defs[i]), minimum=_num(mins[i], scale), maximum=_num(maxs[i], scale),
            optional=has("connectionOptional"), integer=has("integer"), toggled=has("toggled")))
    latency_port = lib.lilv_plugin_get_latency_port_index(plugin) if lib.lilv_plugin_has_latency(plugin) else None
    feats = lib.lilv_plugin_get_required_features(plugin)
    required = []
    if feats:
        it = lib.lilv_nodes_begin(feats)
        while not lib.lilv_nodes_is_end(feats, it):
            required.append(_str(lib.lilv_nodes_get(feats, it)))
            it = lib.lilv_nodes_next(feats, it)
        lib.lilv_nodes_free(feats)
    return PluginInfo(uri=uri, name=_owned_str(lib.lilv_plugin_get_name(plugin)), ports=tuple(ports),
                      latency_port=latency_port, required_features=tuple(required))


def installed() -> list[PluginInfo]:
    """Every installed LV2 plugin, sorted by URI."""
    return [describe(uri) for uri in world().uris()]


class UridMap:
    """The host's URID map and unmap features (plain dictionaries; plugins map URIs while
    being instantiated, not while running)."""

    def __init__(self):
        self._ids: dict[bytes, int] = {}
        self._uris: list[bytes] = [b""]
        self._map_fn = _MAP_FN(self._map)
        self._unmap_fn = _UNMAP_FN(self._unmap)
        self._map_struct = _UridMap(None, self._map_fn)
        self._unmap_struct = _UridUnmap(None, self._unmap_fn)
        self._features = (_Feature * 2)(
            _Feature(URID_MAP.encode(), ctypes.cast(ctypes.pointer(self._map_struct), _p)),
            _Feature(URID_UNMAP.encode(), ctypes.cast(ctypes.pointer(self._unmap_struct), _p)))
        # NULL-terminated ``const LV2_Feature* const*``.
        self.features = (ctypes.POINTER(_Feature) * 3)(ctypes.pointer(self._features[0]),
                                                       ctypes.pointer(self._features[1]), None)

    def _map(self, _handle, uri: bytes) -> int:
        if uri not in self._ids:
            self._ids[uri] = len(self._uris)
            self._uris.append(uri)
        return self._ids[uri]

    def _unmap(self, _handle, urid: int):
        return self._uris[urid] if 0 < urid < len(self._uris) else None


_urid_map: UridMap | None = None


class Instance:
    """An instantiated plugin: the descriptor's functions, bound once (fetching a function
    pointer from a ctypes structure builds a new object, so that is not done per block)."""

    def __init__(self, uri: str, sample_rate: float):
        global _urid_map
        w = world()
        plugin = w.plugin(uri)
        if plugin is None:
            raise Lv2Error(f"no installed LV2 plugin {uri!r} (see `rtsep plugins`)")
        if _urid_map is None:
            _urid_map = UridMap()
        self._features = _urid_map  # keep the callbacks alive as long as the instance
        ptr = w.lib.lilv_plugin_instantiate(plugin, float(sample_rate), ctypes.cast(_urid_map.features, _p))
        if not ptr:
            raise Lv2Error(f"LV2 plugin {uri!r} failed to instantiate at {sample_rate:g} Hz")
        self._lib, self._ptr = w.lib, ptr
        desc = ptr.contents.lv2_descriptor.contents
        self.handle = ptr.contents.lv2_handle
        self._connect = desc.connect_port
        # run() keeps the interpreter lock: a ctypes.PYFUNCTYPE call does not release it
        self._run = ctypes.cast(desc.run, ctypes.PYFUNCTYPE(None, _p, ctypes.c_uint32))
        self._activate = desc.activate
        self._deactivate = desc.deactivate
        self.active = False

    def run(self, n_frames: int) -> None:
        """One ``run`` of ``n_frames`` on the connected buffers, keeping the interpreter lock.

        Plugins run in the audio callback (a voice chain) or offline (``rtsep process``). In
        the callback a release would hand the lock to a waiting thread (the GUI's), and the
        callback would wait to take it back, as long as that thread's C call (see
        :mod:`rtsep.dsp.jit`); a block's run is far shorter than such a wait."""
        self._run(self.handle, n_frames)

    def connect(self, index: int, address: int | None) -> None:
        self._connect(self.handle, index, address)

    def activate(self) -> None:
        if not self.active and self._activate:
            self._activate(self.handle)
        self.active = True

    def deactivate(self) -> None:
        if self.active and self._deactivate:
            self._deactivate(self.handle)
        self.active = False

    def free(self) -> None:
        if self._ptr:
            self.deactivate()
            self._lib.lilv_instance_free(self._ptr)
            self._ptr = None

    def __del__(self):
        try:
            self.free()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass
