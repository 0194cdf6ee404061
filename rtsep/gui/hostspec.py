"""How the live window (re)builds its host, e.g. when the user picks another device."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class HostSpec:
    """What :class:`~rtsep.gui.window.LiveWindow` needs to (re)build a ``LiveHost`` (e.g. on a device change)."""

    input_device: object = None
    output_device: object = None
    source: object = None
    samplerate: int | None = None
    blocksize: int = 256
    channels: int = 2
    mode: str = "karaoke"
    vocals_db: float = 0.0
    accompaniment_db: float = 0.0
    model: object = None
    worker: bool = True
    loop: bool = False
    extra: dict = field(default_factory=dict)

    def build(self):
        from ..host.stream import LiveHost

        host = LiveHost(input_device=self.input_device, output_device=self.output_device, source=self.source,
                        samplerate=self.samplerate, blocksize=self.blocksize, channels=self.channels,
                        mode=self.mode, vocals_db=self.vocals_db, accompaniment_db=self.accompaniment_db,
                        model=self.model, worker=self.worker, **self.extra)
        if host.source is not None:
            host.source.loop = bool(self.loop)
        return host
