"""``rtsep plugins [--json]``: the plugins a chain can use.

Installed LV2 plugins (through lilv: URI, name, ports with ranges), VST3 bundles in the
standard folders (path and name; not loaded, since loading runs the plugin's code), the
pedalboard effects and rtsep's own processors.
"""

from __future__ import annotations

import json

from ..plugins import lv2_lilv, pedal

OWN = [
    {"name": "gain", "format": "rtsep", "params": [{"name": "db", "default": 0.0, "min": -120.0, "max": 60.0}]},
    {"name": "separator", "format": "rtsep",
     "params": [{"name": "mode", "default": "karaoke", "choices": ["karaoke", "vocals", "mix"]},
                {"name": "latency", "default": "low", "choices": ["low", "quality"]},
                {"name": "model", "default": None},
                {"name": "vocals_db", "default": 0.0, "min": -120.0, "max": 24.0},
                {"name": "accompaniment_db", "default": 0.0, "min": -120.0, "max": 24.0}]},
    {"name": "drywet", "format": "rtsep",
     "params": [{"name": "plugin", "default": None}, {"name": "wet", "default": 1.0, "min": 0.0, "max": 1.0},
                {"name": "fade_ms", "default": 10.0, "min": 0.0, "max": 1000.0}]},
]


def add_parser(sub):
    p = sub.add_parser("plugins", help="list the LV2 and VST3 plugins and built-in effects a chain can use")
    p.add_argument("--json", action="store_true", help="print one JSON object: {lv2, vst3, builtin}")
    return p


def listing() -> dict:
    lv2 = [p.as_dict() for p in lv2_lilv.installed()] if lv2_lilv.available() else []
    try:
        builtins = pedal.describe_builtins()
    except pedal.PedalboardError:
        builtins = []
    notes = ([] if lv2_lilv.available() else ["lilv not found: apt install liblilv-0-0"]) + \
        ([] if builtins else ["pedalboard not found: pip install pedalboard"])
    return {"lv2": lv2, "vst3": pedal.installed_vst3(), "builtin": OWN + builtins, **({"notes": notes} if notes else {})}


def _range(p: dict) -> str:
    if p.get("choices"):
        return "|".join(p["choices"])
    lo, hi = p.get("min"), p.get("max")
    return f"[{lo:g}, {hi:g}]" if lo is not None and hi is not None else ""


def run(args) -> int:
    data = listing()
    if args.json:
        print(json.dumps(data))
        return 0
    print(f"LV2 ({len(data['lv2'])}), use as lv2(\"URI\", symbol=value, ...):")
    for p in data["lv2"]:
        controls = [q for q in p["ports"] if q["type"] == "control" and q["direction"] == "input"]
        audio = [q for q in p["ports"] if q["type"] == "audio"]
        n_in = sum(q["direction"] == "input" for q in audio)
        print(f"  {p['uri']}  {p['name']}  ({n_in} in / {len(audio) - n_in} out"
              f"{', reports latency' if p['latency_port'] else ''})")
        for q in controls:
            default = "" if q["default"] is None else f" = {q['default']:g}"
            print(f"      {q['symbol']}{default} {_range(q)}  {q['name']}")
    print(f"VST3 ({len(data['vst3'])}), use as vst3(\"PATH\", param=value, ...):")
    for p in data["vst3"]:
        print(f"  {p['path']}  {p['name']}")
    print("built-in (rtsep's own and pedalboard's effects):")
    for b in data["builtin"]:
        params = ", ".join(f"{q['name']}={q['default']!r}" + (f" {_range(q)}" if _range(q) else "")
                           for q in b["params"])
        print(f"  {b['name']}({params})")
    for note in data.get("notes", []):
        print(f"note: {note}")
    return 0
