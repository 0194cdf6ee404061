"""Output modes of a separator, importable without the engine (Numba) behind it.

``MODES``: what :class:`rtsep.plugins.separator.Separator` outputs; ``HOST_MODES`` adds the live
host's latency-matched dry ``bypass``.
"""

MODES = ("karaoke", "vocals", "mix")
HOST_MODES = MODES + ("bypass",)
