"""Numba kernels for stereo (mid/side) mask models on a two-channel stream spectrum.

A stereo model (``MaskModel.stereo``) sees the mid ``M = (L + R) / 2`` and the side
``S = (L - R) / 2`` and returns a real mask for each; the vocal is
``L = mask * M + side_mask * S`` and ``R = mask * M - side_mask * S``. With ``L = R`` the side
is zero and both channels get the same vocal. Conventions as in :mod:`rtsep.dsp.masking`
(stream bins above the model band get the mean mask of the model's top ``edge_bins``).
"""

from __future__ import annotations

from numba import njit

_NJIT = dict(nogil=True, cache=True)


@njit(**_NJIT)
def mid_side_for_model(spec, n_frames, mid_in, side_in, gain):
    """Model inputs from a two-channel stream spectrum.

    Args:
        spec: ``(frames, 2, stream_bins)`` complex128 or complex64 (L, R).
        mid_in, side_in: ``(frames, model_bins, 2)`` float32 outputs (real, imag); model bins
            the stream lacks are zero.
        gain: ``1 / (2 * scale)``: halves the sum and difference and undoes the longer window.
    """
    n_common = min(spec.shape[2], mid_in.shape[1])
    for t in range(n_frames):
        for k in range(n_common):
            left = spec[t, 0, k]
            right = spec[t, 1, k]
            mid_in[t, k, 0] = (left.real + right.real) * gain
            mid_in[t, k, 1] = (left.imag + right.imag) * gain
            side_in[t, k, 0] = (left.real - right.real) * gain
            side_in[t, k, 1] = (left.imag - right.imag) * gain
        for k in range(n_common, mid_in.shape[1]):
            mid_in[t, k, 0] = 0.0
            mid_in[t, k, 1] = 0.0
            side_in[t, k, 0] = 0.0
            side_in[t, k, 1] = 0.0


@njit(**_NJIT)
def apply_mid_side_mask(spec, n_frames, mask, side_mask, out, edge_bins, vocal_share):
    """``out`` = the vocal spectrum of a stereo model's masks.

    Args:
        spec, out: ``(frames, 2, stream_bins)`` complex128 or complex64 (L, R).
        mask, side_mask: ``(frames, model_bins)`` float32 masks of the mid and the side.
        vocal_share: ``(frames,)`` output: share of each frame's energy given to the vocals,
            ``sum |vocal|^2 / sum |X|^2`` over both channels (0 for a silent frame).
    """
    n_stream = spec.shape[2]
    n_model = mask.shape[1]
    n_common = min(n_stream, n_model)
    for t in range(n_frames):
        hf_m = 0.0
        hf_s = 0.0
        if edge_bins > 0:
            for k in range(n_model - edge_bins, n_model):
                hf_m += mask[t, k]
                hf_s += side_mask[t, k]
            hf_m /= edge_bins
            hf_s /= edge_bins
        num = 0.0
        den = 0.0
        for k in range(n_stream):
            if k < n_common:
                gm = mask[t, k]
                gs = side_mask[t, k]
            else:
                gm = hf_m
                gs = hf_s
            left = spec[t, 0, k]
            right = spec[t, 1, k]
            vm = 0.5 * gm * (left + right)
            vs = 0.5 * gs * (left - right)
            vl = vm + vs
            vr = vm - vs
            out[t, 0, k] = vl
            out[t, 1, k] = vr
            num += vl.real ** 2 + vl.imag ** 2 + vr.real ** 2 + vr.imag ** 2
            den += left.real ** 2 + left.imag ** 2 + right.real ** 2 + right.imag ** 2
        vocal_share[t] = num / den if den > 1e-20 else 0.0
