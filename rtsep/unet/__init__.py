"""The pretrained Spleeter 2-stem U-Net (Deezer, MIT licence) as an offline file separator.

``UNetSeparator(sample_rate, channels).stream(blocks)`` yields aligned (vocals, accompaniment)
blocks segment by segment; see :mod:`rtsep.unet.separator`.
"""

from .separator import UNET_FILE, UNetSeparator, unet_model_path

__all__ = ["UNetSeparator", "UNET_FILE", "unet_model_path"]
