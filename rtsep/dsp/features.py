"""Numba kernels for the mask networks' input features, straight from the stream spectrum.

In file mode the separator computes the features here and runs only the rest of the network
in ONNX Runtime (:mod:`rtsep.model.front_end`): the feature part of the graph is a dozen
element-wise passes over ``(time, bins, 2)`` tensors, which cost ONNX Runtime more than the
recurrent layers; one fused pass per frame costs a fraction of it. The formulas are those of
the exported graphs (rtsep.train.model: ``MaskNet.features``, ``StereoMaskNet.stereo_features``),
in single precision like the graph:

- mono: ``(log(|X|^2 + 1e-10) - mean) / std`` per bin of the channel mean ``X``;
- mid/side: that of the mid ``M = (L + R) / 2``, then the side share
  ``|S|^2 / (|M|^2 + |S|^2 + 1e-10)`` and ``tanh(log((|L|^2 + 1e-10) / (|R|^2 + 1e-10)) / 4)``,
  with ``L = M + S`` and ``R = M - S`` recomputed from the mid and side as the graph does
  (equal to the graph to float rounding: tests/test_front_end.py).

Arrays: ``spec`` ``(frames, channels, stream_bins)`` complex64/complex128; ``mean``, ``std``
``(model_bins,)`` float32; ``out`` ``(frames, features)`` float32. Model bins the stream lacks
(stream rate below the model's) count as zero spectrum. ``gain`` as in :mod:`rtsep.dsp.masking`
(``1 / (scale * channels)``: undoes the longer frame and averages the channels).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_NJIT = dict(nogil=True, cache=True)
_EPS = np.float32(1e-10)
_QUARTER = np.float32(0.25)


@njit(**_NJIT)
def mono_features(spec, n_frames, gain, mean, std, out):
    """Features of a mono model (the first ``model_bins`` columns of ``out``; a mid/side
    model fed a mono stream keeps its two stereo cues at zero in the other columns)."""
    channels = spec.shape[1]
    n_model = mean.shape[0]
    n_common = min(spec.shape[2], n_model)
    g = np.float32(gain)
    for t in range(n_frames):
        for k in range(n_model):
            re = np.float32(0.0)
            im = np.float32(0.0)
            if k < n_common:
                for c in range(channels):
                    re += np.float32(spec[t, c, k].real)
                    im += np.float32(spec[t, c, k].imag)
                re *= g
                im *= g
            p = re * re + im * im
            out[t, k] = (np.log(p + _EPS) - mean[k]) / std[k]


@njit(**_NJIT)
def mid_side_features(spec, n_frames, gain, mean, std, out):
    """Features of a mid/side model from a two-channel (L, R) spectrum: ``out`` has
    ``3 * model_bins`` columns (mid log power, side share, level difference). The level
    difference uses ``tanh(log(q) / 4) = (sqrt(q) - 1) / (sqrt(q) + 1)``: square roots
    vectorise, ``log`` and ``tanh`` do not."""
    n_model = mean.shape[0]
    n_common = min(spec.shape[2], n_model)
    g = np.float32(gain)
    one = np.float32(1.0)
    for t in range(n_frames):
        pm_row = out[t, :n_model]  # |M|^2 first, its log (in place) after
        for k in range(n_common):
            lr = np.float32(spec[t, 0, k].real)
            li = np.float32(spec[t, 0, k].imag)
            rr = np.float32(spec[t, 1, k].real)
            ri = np.float32(spec[t, 1, k].imag)
            mr = (lr + rr) * g
            mi = (li + ri) * g
            sr = (lr - rr) * g
            si = (li - ri) * g
            pm = mr * mr + mi * mi
            ps = sr * sr + si * si
            ar = mr + sr
            ai = mi + si
            br = mr - sr
            bi = mi - si
            q = np.sqrt((ar * ar + ai * ai + _EPS) / (br * br + bi * bi + _EPS))
            pm_row[k] = pm
            out[t, n_model + k] = ps / (pm + ps + _EPS)
            out[t, 2 * n_model + k] = (q - one) / (q + one)
        for k in range(n_common, n_model):
            pm_row[k] = 0.0
            out[t, n_model + k] = 0.0
            out[t, 2 * n_model + k] = 0.0
        for k in range(n_model):
            pm_row[k] = (np.log(pm_row[k] + _EPS) - mean[k]) / std[k]
