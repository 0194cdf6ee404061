"""The chain syntax shared by the command line and Python: calls of known names.

    lv2("http://plugin.org.uk/swh-plugins/gverb", roomsize=20), reverb(room_size=0.3), gain(-3)

A spec is a comma-separated list of calls ``name(value, ..., key=value, ...)`` (a bare
``name`` is a call without arguments). Values are literals: numbers (with a sign),
strings, ``True``/``False``/``None``; the only nested call allowed is the plugin that
``drywet(...)`` wraps. The text is parsed with :mod:`ast` and walked, never evaluated:
anything else (attribute access, subscripts, operators, names as values, ``**kwargs``)
is refused. :func:`parse_chain` builds every plugin, so unknown names, LV2 URIs, ports,
parameters, wrong types and values out of range all end in one :class:`ChainSpecError`
line before any audio runs.

Names: ``lv2(uri, **ports)``, ``vst3(path, **params)``, the pedalboard effects of
:data:`rtsep.plugins.pedal.BUILTINS` (``reverb``, ``compressor``, ``delay``, ``eq``...),
and rtsep's processors ``gain(db)``, ``separator(mode=..., latency=..., model=...,
vocals_db=..., accompaniment_db=..., precision=...)`` (``latency``: ``"low"``, ``"quality"`` or a
budget such as ``"0.3s"``, :mod:`rtsep.latency_budget`) and ``drywet(plugin, wet=...)``.
"""

from __future__ import annotations

import ast
import inspect
import math
from dataclasses import dataclass
from typing import Callable

from ..errors import RtsepError, one_line
from . import pedal
from .base import Plugin
from .chain import Chain

MAX_SPEC_CHARS = 4096
_CONSTANTS = (int, float, str, bool, type(None))


class ChainSpecError(RtsepError):
    """A chain spec that cannot be parsed or built; the message is one line."""


@dataclass(frozen=True)
class Call:
    """One parsed element: ``name(*args, **kwargs)``; ``args`` may hold a nested
    :class:`Call` (``drywet``'s plugin). ``text`` is the element's source, for messages."""

    name: str
    args: tuple
    kwargs: dict
    text: str


@dataclass(frozen=True)
class Context:
    sample_rate: int
    channels: int
    max_block: int
    live: bool


def _refuse(node: ast.AST, what: str) -> ChainSpecError:
    return ChainSpecError(f"chain spec: {what} at column {getattr(node, 'col_offset', 0) + 1} is not allowed "
                          "(write name(value, key=value, ...) with literal numbers, strings and booleans)")


def _literal(node: ast.AST, spec: str, nested_ok: bool):
    if isinstance(node, ast.Constant) and isinstance(node.value, _CONSTANTS):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if nested_ok and isinstance(node, (ast.Call, ast.Name)):
        return _call(node, spec)
    kind = {ast.Attribute: "attribute access", ast.Subscript: "a subscript", ast.Call: "a call as a value",
            ast.Name: f"the name {getattr(node, 'id', '')!r} as a value", ast.BinOp: "an operator",
            ast.Lambda: "a lambda"}.get(type(node))
    raise _refuse(node, kind or f"a {type(node).__name__.lower()} expression")


def _call(node: ast.AST, spec: str) -> Call:
    text = (ast.get_source_segment(spec, node) or "").strip()
    if isinstance(node, ast.Name):
        return Call(node.id, (), {}, text)
    if not isinstance(node, ast.Call):
        raise _refuse(node, "something other than a call")
    if not isinstance(node.func, ast.Name):
        raise _refuse(node.func, "a call of something other than a plain name")
    name = node.func.id
    args = []
    for i, a in enumerate(node.args):
        if isinstance(a, ast.Starred):
            raise _refuse(a, "*args")
        args.append(_literal(a, spec, nested_ok=(name == "drywet" and i == 0)))
    kwargs = {}
    for k in node.keywords:
        if k.arg is None:
            raise _refuse(k.value, "**kwargs")
        kwargs[k.arg] = _literal(k.value, spec, nested_ok=False)
    return Call(name, tuple(args), kwargs, text)


def parse_spec(spec: str) -> list[Call]:
    """The syntax alone: a list of :class:`Call` (nothing is built or loaded)."""
    if not isinstance(spec, str):
        raise ChainSpecError(f"chain spec must be a string, got {type(spec).__name__}")
    if len(spec) > MAX_SPEC_CHARS:
        raise ChainSpecError(f"chain spec is {len(spec)} characters long (at most {MAX_SPEC_CHARS})")
    if not spec.strip():
        return []
    try:
        tree = ast.parse(spec.strip(), mode="eval")
    except SyntaxError as exc:
        raise ChainSpecError(f"chain spec: invalid syntax at column {exc.offset or 0}: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        raise ChainSpecError(f"chain spec cannot be parsed ({type(exc).__name__})") from None
    body = tree.body
    elements = body.elts if isinstance(body, ast.Tuple) else [body]
    if not elements:
        raise ChainSpecError("chain spec: no plugin in it")
    return [_call(e, spec.strip()) for e in elements]


# --- building ------------------------------------------------------------------------------
def _number(name: str, value, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ChainSpecError(f"{name} must be a finite number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ChainSpecError(f"{name} = {value!r} is out of range [{lo:g}, {hi:g}]")
    return float(value)


def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ChainSpecError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _lv2(ctx: Context, uri, **ports):
    from .lv2 import Lv2Plugin  # lilv is loaded only by chains that use LV2

    if not isinstance(uri, str):
        raise ChainSpecError(f"lv2: the first value must be the plugin's URI string, got {uri!r}")
    return Lv2Plugin(uri, ctx.sample_rate, ctx.channels, ctx.max_block, **ports)


def _vst3(ctx: Context, path, **params):
    if not isinstance(path, str):
        raise ChainSpecError(f"vst3: the first value must be the plugin's path, got {path!r}")
    return pedal.vst3(path, ctx.sample_rate, ctx.channels, ctx.max_block, **params)


def _gain(ctx: Context, db=0.0):
    from .gain import Gain

    return Gain(_number("gain: db", db, -120.0, 60.0), channels=ctx.channels, max_block=ctx.max_block)


def _separator(ctx: Context, mode="karaoke", latency="low", model=None, vocals_db=0.0, accompaniment_db=0.0,
               precision="int8"):
    from ..latency_budget import is_budget, separator_for_latency
    from .separator import MODES, Separator

    if model is not None and not isinstance(model, str):
        raise ChainSpecError(f"separator: model must be a file or model name, got {model!r}")
    named = isinstance(latency, str) and latency.strip().lower() in ("low", "quality")
    controls = dict(mode=_choice("separator: mode", mode, MODES),
                    vocals_db=_number("separator: vocals_db", vocals_db, -120.0, 24.0),
                    accompaniment_db=_number("separator: accompaniment_db", accompaniment_db, -120.0, 24.0),
                    precision=_choice("separator: precision", precision, ("int8", "float32")))
    try:
        if not named and is_budget(latency):  # a time: the best separator whose true delay fits
            if model is not None:
                raise ChainSpecError("separator: a latency budget picks the model itself; drop model=")
            return separator_for_latency(latency, ctx.sample_rate, ctx.channels, live=ctx.live,
                                         max_block=ctx.max_block, **controls)
    except ChainSpecError:
        raise
    except RtsepError as exc:  # bad text, or a budget nothing fits
        raise ChainSpecError(f"separator: {str(exc).replace('--latency', 'latency')}") from None
    return Separator(model=model, sample_rate=ctx.sample_rate, channels=ctx.channels,
                     latency=_choice("separator: latency", latency.strip().lower() if named else latency,
                                     ("low", "quality")),
                     max_block=ctx.max_block, live=ctx.live, **controls)


def _drywet(ctx: Context, plugin, wet=1.0, fade_ms=10.0):
    from .drywet import DryWet

    if not isinstance(plugin, Plugin):
        raise ChainSpecError(f"drywet: the first value must be a plugin call, e.g. drywet(reverb(), wet=0.3), "
                             f"got {plugin!r}")
    return DryWet(plugin, ctx.channels, ctx.sample_rate, wet=_number("drywet: wet", wet, 0.0, 1.0),
                  fade_ms=_number("drywet: fade_ms", fade_ms, 0.0, 1000.0), max_block=ctx.max_block)


def _builtin(name: str) -> Callable:
    return lambda ctx, *args, **params: pedal.builtin(name, ctx.sample_rate, ctx.channels, ctx.max_block,
                                                      *args, **params)


FACTORIES: dict[str, Callable[..., Plugin]] = {
    "lv2": _lv2, "vst3": _vst3, "gain": _gain, "separator": _separator, "drywet": _drywet,
    **{name: _builtin(name) for name in (*pedal.BUILTINS, *pedal.ALIASES, *pedal.NOT_STREAMABLE)},
}


def names() -> list[str]:
    """Every name a spec may call (less pedalboard's effects that cannot stream)."""
    return sorted(set(FACTORIES) - set(pedal.NOT_STREAMABLE))


def _build(call: Call, ctx: Context) -> Plugin:
    factory = FACTORIES.get(call.name)
    if factory is None:
        raise ChainSpecError(f"unknown plugin {call.name!r} (known: {', '.join(names())})")
    try:
        inspect.signature(factory).bind(ctx, *call.args, **call.kwargs)
    except TypeError as exc:  # "too many positional arguments", "unexpected keyword argument 'x'"
        raise ChainSpecError(f"{call.name}: {exc}") from None
    args = tuple(_build(a, ctx) if isinstance(a, Call) else a for a in call.args)
    return factory(ctx, *args, **call.kwargs)


def parse_chain(spec: str, sample_rate: int, channels: int, max_block: int = 8192, *,
                live: bool = False) -> Chain:
    """Build the :class:`Chain` that ``spec`` describes for a ``channels``-channel stream
    at ``sample_rate`` in blocks of at most ``max_block`` frames. ``live=True`` builds
    separators for the live host (one bound model call per frame, see :class:`Separator`).
    Every error is a one-line :class:`ChainSpecError` naming the element at fault."""
    try:
        ok = sample_rate == int(sample_rate) > 0 and channels == int(channels) > 0 and int(max_block) > 0
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ChainSpecError(f"a chain needs a positive whole sample rate, channel count and block size, "
                             f"got {sample_rate!r}, {channels!r}, {max_block!r}")
    ctx = Context(int(sample_rate), int(channels), int(max_block), bool(live))
    plugins: list[Plugin] = []
    for i, call in enumerate(parse_spec(spec), 1):
        try:
            plugins.append(_build(call, ctx))
        except ChainSpecError as exc:
            raise ChainSpecError(f"chain element {i} `{_short(call.text)}`: {exc}") from None
        except (RtsepError, ValueError) as exc:
            raise ChainSpecError(f"chain element {i} `{_short(call.text)}`: {one_line(exc)}") from None
    return Chain(plugins)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."

