"""rtsep: real-time singing-voice separation.

``Separator`` is the separation plugin; ``Chain``, ``Gain`` and ``DryWet`` build a chain
of processors (``chain.process(block)`` for streaming, ``chain(audio, sr)`` for a file).
"""

from .plugins import Chain, DryWet, Gain, Plugin
from .plugins.separator import Separator

__version__ = "0.1.0"
__all__ = ["Separator", "Chain", "Gain", "DryWet", "Plugin", "__version__"]
