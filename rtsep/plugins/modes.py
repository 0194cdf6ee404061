"""Output modes of a separator, importable without the engine (Numba) behind it.

``MODES``: what every separator outputs; ``HOST_MODES`` adds the live host's latency-matched
dry ``bypass``. Defined with the controls that validate them, :mod:`rtsep.plugins.stems`.
"""

from .stems import HOST_MODES, MODES

__all__ = ["MODES", "HOST_MODES"]
