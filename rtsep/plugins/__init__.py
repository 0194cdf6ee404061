"""Processors that a :class:`~rtsep.plugins.chain.Chain` runs block by block."""

from .base import Plugin
from .chain import Chain
from .gain import Gain
from .drywet import DryWet
from .spec import ChainSpecError, parse_chain

__all__ = ["Plugin", "Chain", "Gain", "DryWet", "parse_chain", "ChainSpecError"]
