"""rtsep: real-time singing-voice separation.

``Separator`` is the separation plugin; ``Chain``, ``Gain`` and ``DryWet`` build a chain
of processors (``chain.process(block)`` for streaming, ``chain(audio, sr)`` for a file).
"""

import importlib

__version__ = "0.1.0"
__all__ = ["Separator", "Chain", "Gain", "DryWet", "Plugin", "separator_for_latency", "choose_latency",
           "__version__"]

# Imported on first use: the recurrent separator pulls in Numba (~0.4 s), which the U-Net's file
# path and most commands never need.
_LAZY = {"Separator": ".plugins.separator", "Chain": ".plugins", "Gain": ".plugins", "DryWet": ".plugins",
         "Plugin": ".plugins", "separator_for_latency": ".latency_budget", "choose_latency": ".latency_budget"}


def __getattr__(name: str):
    if name in _LAZY:  # choose_latency is latency_budget.choose
        return getattr(importlib.import_module(_LAZY[name], __name__), "choose" if name == "choose_latency" else name)
    raise AttributeError(f"module 'rtsep' has no attribute {name!r}")
