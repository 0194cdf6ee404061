"""The ramped stem mix kernel: ``out = g_v * vocals + g_a * accompaniment + g_d * dry``.

The gains move linearly from ``g_from`` to ``g_to`` as the ramp position ``st[0]`` goes from
0 to 1 in steps of ``step`` per sample. Used through :class:`rtsep.plugins.stems.StemRamp`.
"""

from __future__ import annotations

from .jit import callback_kernel


@callback_kernel
def mix_stems(v, a, d, n, g_from, g_to, st, step, out):
    """``out[:n] = g . (v, a, d)``; ``st = [w]``, the ramp's position 0..1 from g_from to g_to."""
    w = st[0]
    ch = out.shape[1]
    for i in range(n):
        if w < 1.0:
            w = min(1.0, w + step)
        gv = g_from[0] + w * (g_to[0] - g_from[0])
        ga = g_from[1] + w * (g_to[1] - g_from[1])
        gd = g_from[2] + w * (g_to[2] - g_from[2])
        for c in range(ch):
            out[i, c] = gv * v[i, c] + ga * a[i, c] + gd * d[i, c]
    st[0] = w


@callback_kernel
def retarget(g_from, g_to, target, st):
    """Start a new ramp from the gains reached so far toward ``target``."""
    w = st[0]
    for k in range(3):
        g_from[k] = g_from[k] + w * (g_to[k] - g_from[k])
        g_to[k] = target[k]
    st[0] = 0.0
