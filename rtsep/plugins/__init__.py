"""Processors that a :class:`~rtsep.plugins.chain.Chain` runs block by block."""

import importlib

__all__ = ["Plugin", "Chain", "Gain", "DryWet", "parse_chain", "ChainSpecError"]

# Imported on first use, so that importing one plugin module (``rtsep.plugins.lv2``) does not
# pull in the others (DryWet's delay line needs Numba, ~0.4 s).
_LAZY = {"Plugin": ".base", "Chain": ".chain", "Gain": ".gain", "DryWet": ".drywet", "parse_chain": ".spec",
         "ChainSpecError": ".spec"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'rtsep.plugins' has no attribute {name!r}")
