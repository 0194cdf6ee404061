"""Where the shipped models live and which one each use gets by default."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelError

# The repository's top-level models/ (the package is installed in editable mode);
# RTSEP_MODELS_DIR points elsewhere.
MODELS_DIR = Path(os.environ.get("RTSEP_MODELS_DIR", Path(__file__).resolve().parents[2] / "models"))

# Best first: the trained release model, then the untrained wiring placeholder.
DEFAULT_CHAIN = ("release-low.onnx", "placeholder.onnx")


def default_model_path() -> Path:
    """The default model: the release model once it is trained, else the placeholder."""
    for name in DEFAULT_CHAIN:
        path = MODELS_DIR / name
        if path.is_file():
            return path
    raise ModelError(f"no model found in {MODELS_DIR}; pass --model PATH")


def resolve_model(model: str | os.PathLike | None) -> Path:
    """``None`` → the default; a bare name like ``mir1k-protocol`` → ``models/<name>.onnx``."""
    if model is None:
        return default_model_path()
    path = Path(model)
    if not path.exists() and not path.suffix and (MODELS_DIR / f"{model}.onnx").is_file():
        return MODELS_DIR / f"{model}.onnx"
    return path
