"""The network applied through the engine's STFT on whole signals: training forward pass and validation."""

from __future__ import annotations

import numpy as np


def shift_lookahead(m, vad, lookahead):
    """Pair the output at step t with frame t - lookahead; the last ``lookahead`` frames get
    the last mask (they are excluded from losses and scores)."""
    if not lookahead:
        return m, vad
    import torch

    m = torch.cat([m[:, lookahead:], m[:, -1:].expand(-1, lookahead, -1)], dim=1)
    vad = torch.cat([vad[:, lookahead:], vad[:, -1:].expand(-1, lookahead)], dim=1)
    return m, vad


def separate_batch(net, stft, mix, lookahead=0):
    """Vocal estimate through the engine's STFT and ISTFT.

    ``mix``: ``(B, N)`` mono or ``(B, 2, N)`` stereo (L, R; needs a ``StereoMaskNet``, fed mid
    and side). Returns the vocal estimate and the resynthesised mixture (each the shape of
    ``mix``, aligned with it), ``vad`` ``(B, frames)`` and the frame count. A stereo net on
    mono input sees a zero side."""
    import torch

    from .model import StereoMaskNet, spec_to_ri

    b = mix.shape[0]
    X = stft.analysis(mix.reshape(-1, mix.shape[-1]))  # (B * channels, frames, bins)
    state = net.zero_state(b)
    if mix.dim() == 2:
        ri = spec_to_ri(X)
        if isinstance(net, StereoMaskNet):
            m, _, vad, _ = net(ri, torch.zeros_like(ri), state)
        else:
            m, vad, _ = net(ri, state)
        m, vad = shift_lookahead(m, vad, lookahead)
        Y = X * m
    else:
        X2 = X.reshape(b, 2, *X.shape[1:])
        mid, side = (X2[:, 0] + X2[:, 1]) / 2, (X2[:, 0] - X2[:, 1]) / 2
        m, ms, vad, _ = net(spec_to_ri(mid), spec_to_ri(side), state)
        ms, _ = shift_lookahead(ms, vad, lookahead)
        m, vad = shift_lookahead(m, vad, lookahead)
        vm, vs = mid * m, side * ms
        Y = torch.stack([vm + vs, vm - vs], 1).reshape(X.shape)
    yv = stft.synthesis(Y).reshape(*mix.shape[:-1], -1)
    ym = stft.synthesis(X).reshape(*mix.shape[:-1], -1)
    return yv, ym, vad, X.shape[1]


def evaluate(net, stft, data, names, vad_thresholds=(0.5,), lookahead=0):
    """Validation on the protocol's 0 dB full-clip mixtures: length-weighted vocal NSDR, accomp
    NSDR (plain SNR-style SDR), and VAD accuracy per threshold."""
    import torch

    net.eval()
    dev = net.feat_mean.device
    tot_len, acc_v, acc_a = 0, 0.0, 0.0
    vads, labs = [], []
    hop = stft.hop
    with torch.no_grad():
        for n in names:
            v, a = data.clip(n)
            a = a * np.sqrt(np.mean(v.astype(np.float64) ** 2) / (np.mean(a.astype(np.float64) ** 2) + 1e-12))
            L = len(v) - len(v) % hop
            v, a = v[:L].astype(np.float32), a[:L].astype(np.float32)
            mix = v + a
            yv, _, vad, n_frames = separate_batch(net, stft, torch.from_numpy(mix)[None].to(dev), lookahead)
            yv = yv[0].cpu().numpy()
            valid = L - (stft.m - hop) - lookahead * hop
            yv, vv, aa, mm = yv[:valid], v[:valid], a[:valid], mix[:valid]
            ya = mm - yv

            def sdr(est, ref):
                return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / (np.sum((ref - est).astype(np.float64) ** 2) + 1e-12))

            acc_v += valid * (sdr(yv, vv) - sdr(mm, vv))
            acc_a += valid * (sdr(ya, aa) - sdr(mm, aa))
            tot_len += valid
            lab = data.clip_vad(n)
            centres = np.arange(n_frames) * hop + hop - stft.m // 2
            keep = n_frames - lookahead
            vads.append(vad[0].cpu().numpy()[:keep])
            labs.append(lab[np.clip(centres, 0, len(lab) - 1)][:keep])
    net.train()
    vads, labs = np.concatenate(vads), np.concatenate(labs)
    accs = {float(t): float(np.mean((vads > t) == (labs > 0))) for t in vad_thresholds}
    return acc_v / tot_len, acc_a / tot_len, accs
