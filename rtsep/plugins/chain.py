"""A list of plugins that is itself a plugin (pedalboard's ``Pedalboard``)."""

from __future__ import annotations

from collections.abc import Iterable, MutableSequence

import numpy as np

from .base import Plugin


class Chain(Plugin, MutableSequence):
    """Runs its plugins in order; latency is the sum of theirs.

    List-like: ``append``, ``insert``, ``remove``, ``index``, indexing and ``len`` work.
    """

    def __init__(self, plugins: Iterable[Plugin] = ()):
        self._plugins: list[Plugin] = list(plugins)

    # MutableSequence
    def __getitem__(self, i):
        return self._plugins[i]

    def __setitem__(self, i, plugin):
        self._plugins[i] = plugin

    def __delitem__(self, i):
        del self._plugins[i]

    def __len__(self):
        return len(self._plugins)

    def insert(self, i, plugin):
        self._plugins.insert(i, plugin)

    def __repr__(self):
        return f"Chain({self._plugins!r})"

    # Plugin
    @property
    def latency_samples(self) -> int:
        return sum(int(p.latency_samples) for p in self._plugins)

    @property
    def max_block(self) -> int:
        return min((p.max_block for p in self._plugins), default=8192)

    @property
    def sample_rate(self):
        rates = {getattr(p, "sample_rate", None) for p in self._plugins} - {None}
        return rates.pop() if len(rates) == 1 else None

    def _process(self, block: np.ndarray) -> np.ndarray:
        for p in self._plugins:
            block = p._process(block)  # views from member to member: no copies
        return block

    def reset(self) -> None:
        for p in self._plugins:
            p.reset()
