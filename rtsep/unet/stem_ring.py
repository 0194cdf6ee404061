"""The streaming U-Net's stem ring, as the audio thread reads it and the worker writes it.

Numba kernels into preallocated arrays: nothing here allocates, so
:class:`rtsep.unet.live.LiveUNet`'s ``process`` may call them from an audio callback (``gather``,
``fallback``: they keep the interpreter lock, :mod:`rtsep.dsp.jit`; the worker's ``write_ring``
releases it). Rings are ``capacity x channels`` float32 with a power-of-two capacity (positions
wrap with a mask).
"""

from __future__ import annotations

from numba import njit

from ..dsp.jit import callback_kernel

@callback_kernel
def gather(v_ring, a_ring, written, start, n, vb, ab, energy):
    """Stems of positions ``start .. start + n`` of the worker's stem stream into ``vb``/``ab``
    (zeros before 0: the pipeline filling); returns how many leading frames were ready (the rest are zeros: not yet
    written). ``energy = [vocals, accompaniment]`` of the ready frames (vocal activity)."""
    mask = v_ring.shape[0] - 1
    ch = vb.shape[1]
    ev = 0.0
    ea = 0.0
    ready = n
    for i in range(n):
        s = start + i
        if s < 0:
            for c in range(ch):
                vb[i, c] = 0.0
                ab[i, c] = 0.0
        elif s < written:
            j = s & mask
            for c in range(ch):
                v = v_ring[j, c]
                a = a_ring[j, c]
                vb[i, c] = v
                ab[i, c] = a
                ev += v * v
                ea += a * a
        else:
            ready = i
            for k in range(i, n):
                for c in range(ch):
                    vb[k, c] = 0.0
                    ab[k, c] = 0.0
            break
    energy[0] = ev
    energy[1] = ea
    return ready


@callback_kernel
def fallback(out, dry, ready, n, st, step):
    """Frames from ``ready`` on play ``dry``; before, ``out`` fades back in from ``dry`` at
    ``step`` per sample after a miss. ``st = [wet gain]``."""
    g = st[0]
    ch = out.shape[1]
    for i in range(n):
        if i < ready:
            if g < 1.0:
                g = min(1.0, g + step)
                for c in range(ch):
                    d = dry[i, c]
                    out[i, c] = d + g * (out[i, c] - d)
        else:
            g = 0.0
            for c in range(ch):
                out[i, c] = dry[i, c]
    st[0] = g


@njit(nogil=True, cache=True)
def write_ring(ring, pos, block, n):
    """``block[:n]`` into ``ring`` at stream positions ``pos .. pos + n``."""
    mask = ring.shape[0] - 1
    for i in range(n):
        for c in range(block.shape[1]):
            ring[(pos + i) & mask, c] = block[i, c]
