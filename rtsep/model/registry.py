"""Where the shipped models live and which one each use gets by default."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ..errors import ModelError


def shipped_models_dir() -> Path:
    """The folder of the package ``rtsep.models``: ``site-packages/rtsep/models`` in a wheel
    install, the repository's top-level ``models/`` in an editable one (pyproject.toml maps it)."""
    try:
        # pip installs unzipped, so this is a real folder (ONNX Runtime needs file paths)
        return Path(str(resources.files("rtsep.models")))
    except ModuleNotFoundError:
        # a source tree on sys.path without an install, or an editable install made before the
        # mapping existed: models/ sits beside the package
        return Path(__file__).resolve().parents[2] / "models"


# The shipped models; RTSEP_MODELS_DIR (when set and not empty) points elsewhere.
MODELS_DIR = Path(os.environ.get("RTSEP_MODELS_DIR") or shipped_models_dir())

# Two operating points, chosen by use. "low": <= 12 ms, for live input (a singer hears
# it); "quality": long window and look-ahead, for files and file-fed karaoke (nobody hears
# the dry signal). Best first; the untrained placeholder only until a trained model exists.
DEFAULTS = {
    "low": ("release-low.onnx", "placeholder.onnx"),
    "quality": ("release-quality.onnx", "release-low.onnx", "placeholder.onnx"),
}
LATENCIES = tuple(DEFAULTS)
# The offline U-Net (rtsep/unet): ``--model unet``, and the default for file sources when
# neither --model nor --latency is given. Bare names that are not files map to these.
UNET_NAME = "unet"
ALIASES = {UNET_NAME: "unet-2stems.onnx"}


def default_model_path(latency: str = "low") -> Path:
    """The default model of an operating point (``"low"`` or ``"quality"``)."""
    if latency not in DEFAULTS:
        raise ModelError(f"latency must be one of {', '.join(LATENCIES)}, got {latency!r}")
    for name in DEFAULTS[latency]:
        path = MODELS_DIR / name
        if path.is_file():
            return path
    raise ModelError(f"no model found in {MODELS_DIR}; pass --model PATH")


def resolve_model(model: str | os.PathLike | None, latency: str = "low") -> Path:
    """``None`` → the default of ``latency``; a bare name like ``mir1k-protocol`` →
    ``models/<name>.onnx``."""
    if model is None:
        return default_model_path(latency)
    path = Path(model)
    if not path.exists() and str(model) in ALIASES:
        return MODELS_DIR / ALIASES[str(model)]
    if not path.exists() and not path.suffix and (MODELS_DIR / f"{model}.onnx").is_file():
        return MODELS_DIR / f"{model}.onnx"
    return path


def wants_unet(model: str | os.PathLike | None, latency: str | None) -> bool:
    """Whether a file source gets the offline U-Net: ``model`` is ``"unet"`` or a U-Net file, or
    neither a model nor an operating point (``latency``) was chosen."""
    if model is None:
        return latency is None
    if str(model) == UNET_NAME:
        return True
    from ..unet.model import is_unet_file

    return is_unet_file(resolve_model(model))
