"""Numba kernels between the stream's STFT and the model's STFT grid.

The separator runs the STFT at the *stream* rate with a frame ``scale = stream_rate /
model_rate`` times longer than the model's, so stream bin ``k`` sits at the same frequency
as model bin ``k``. The model therefore sees its own band unchanged, and the bins above it
(present only when the stream rate is higher) are handled here without resampling.
"""

from __future__ import annotations

from numba import njit

_NJIT = dict(nogil=True, cache=True)


@njit(**_NJIT)
def downmix_for_model(spec, n_frames, model_in, gain):
    """Mono model input from a multichannel stream spectrum.

    Args:
        spec: ``(frames, channels, stream_bins)`` complex128 (or complex64).
        model_in: ``(frames, model_bins, 2)`` float32 output (real, imag); model bins the
            stream lacks (stream rate below the model's) are zero.
        gain: ``1 / (scale * channels)``: undoes the longer window's larger sums and averages.
    """
    channels = spec.shape[1]
    n_common = min(spec.shape[2], model_in.shape[1])
    for t in range(n_frames):
        for k in range(n_common):
            re = 0.0
            im = 0.0
            for c in range(channels):
                re += spec[t, c, k].real
                im += spec[t, c, k].imag
            model_in[t, k, 0] = re * gain
            model_in[t, k, 1] = im * gain
        for k in range(n_common, model_in.shape[1]):
            model_in[t, k, 0] = 0.0
            model_in[t, k, 1] = 0.0


@njit(**_NJIT)
def apply_mask(spec, n_frames, mask, out, edge_bins, vocal_share):
    """``out = mask * spec`` for every channel; bins above the model band get the mean
    mask of the model's top ``edge_bins`` bins (0 puts them all in the accompaniment).

    Args:
        spec, out: ``(frames, channels, stream_bins)`` complex128 (or complex64).
        mask: ``(frames, model_bins)`` float32 vocal mask.
        vocal_share: ``(frames,)`` output: share of each frame's energy the mask gives the
            vocals, ``sum |mask * X|^2 / sum |X|^2`` (0 for a silent frame).
    """
    channels = spec.shape[1]
    n_stream = spec.shape[2]
    n_model = mask.shape[1]
    n_common = min(n_stream, n_model)
    for t in range(n_frames):
        hf = 0.0
        if edge_bins > 0:
            for k in range(n_model - edge_bins, n_model):
                hf += mask[t, k]
            hf /= edge_bins
        num = 0.0
        den = 0.0
        for c in range(channels):
            for k in range(n_common):
                m = mask[t, k]
                out[t, c, k] = spec[t, c, k] * m
                p = spec[t, c, k].real ** 2 + spec[t, c, k].imag ** 2
                num += m * m * p
                den += p
            for k in range(n_common, n_stream):
                out[t, c, k] = spec[t, c, k] * hf
                p = spec[t, c, k].real ** 2 + spec[t, c, k].imag ** 2
                num += hf * hf * p
                den += p
        vocal_share[t] = num / den if den > 1e-20 else 0.0


@njit(**_NJIT)
def delay_frames(spec, frame_end, n_frames, hist, hist_end, counters, lookahead, out, out_end):
    """Delay spectrum frames by ``lookahead`` frames through the history ring ``hist``.

    A model with look-ahead emits, at step ``t``, the mask of frame ``t - lookahead``: this
    pairs each new mask with that older frame. Writes the frames that have a mask now to
    ``out``/``out_end`` and returns their count ``m``; they belong to the last ``m`` masks.
    ``counters[0]`` counts frames pushed since reset.
    """
    size = hist.shape[0]
    g = counters[0]
    m = 0
    for k in range(n_frames):
        slot = (g + k) % size
        hist[slot] = spec[k]
        hist_end[slot] = frame_end[k]
        old = g + k - lookahead
        if old >= 0:
            out[m] = hist[old % size]
            out_end[m] = hist_end[old % size]
            m += 1
    counters[0] = g + n_frames
    return m
