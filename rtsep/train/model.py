"""Torch side of the rtsep mask network: the engine's exact STFT/ISTFT and the causal GRU."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from ..dsp.windows import design_windows


class EngineStft(nn.Module):
    """Torch copy of :class:`rtsep.dsp.stft.StreamingStft` for whole signals.

    ``analysis(x)``: ``x`` ``(B, N)`` with ``N`` a multiple of ``hop`` -> ``(B, N // hop, bins)``
    complex; frame ``k`` covers ``x[(k+1)*hop - n_fft : (k+1)*hop]`` (zeros before time 0).
    ``synthesis(spec)``: overlap-adds the last ``synthesis_len`` samples of each windowed
    inverse frame and returns ``(B, N)`` *aligned with the input* (the engine's output is this
    delayed by ``synthesis_len - 1``). The last ``synthesis_len - hop`` samples are incomplete.
    """

    def __init__(self, n_fft: int = 1024, hop: int = 96, synthesis_len: int = 192):
        super().__init__()
        w = design_windows(n_fft, hop, synthesis_len)
        self.n_fft, self.hop, self.m = n_fft, hop, synthesis_len
        self.register_buffer("ana", torch.tensor(w.analysis, dtype=torch.float32), persistent=False)
        self.register_buffer("syn", torch.tensor(w.synthesis[n_fft - synthesis_len:], dtype=torch.float32),
                             persistent=False)

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        xp = F.pad(x, (self.n_fft - self.hop, 0))
        frames = xp.unfold(-1, self.n_fft, self.hop)  # (B, K, n_fft)
        return torch.fft.rfft(frames * self.ana, dim=-1)

    def synthesis(self, spec: torch.Tensor) -> torch.Tensor:
        b, k, _ = spec.shape
        y = torch.fft.irfft(spec, n=self.n_fft, dim=-1)[..., self.n_fft - self.m:] * self.syn  # (B, K, m)
        out_len = (k - 1) * self.hop + self.m
        ola = F.fold(y.transpose(1, 2), output_size=(1, out_len), kernel_size=(1, self.m),
                     stride=(1, self.hop)).reshape(b, out_len)
        # ola index j <-> input time j - (m - hop)
        return ola[:, self.m - self.hop:]


class MaskNet(nn.Module):
    """Causal mask network on the ONNX contract's ``spec`` input.

    features = (log(|X|^2 + eps) - mean) / std  (per-bin constants baked in)
    -> Linear(bins, enc) + ReLU -> GRU(enc, hidden, layers) -> [gru, enc] -> Linear -> sigmoid mask
                                                           -> Linear -> sigmoid vad
    """

    def __init__(self, n_bins: int = 513, enc: int = 256, hidden: int = 256, layers: int = 2,
                 dropout: float = 0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)  # on the encoder output; training only (identity in eval/ONNX)
        self.n_bins, self.enc_dim, self.hidden, self.layers = n_bins, enc, hidden, layers
        self.register_buffer("feat_mean", torch.zeros(n_bins))
        self.register_buffer("feat_std", torch.ones(n_bins))
        self.enc = nn.Linear(n_bins, enc)
        self.gru = nn.GRU(enc, hidden, num_layers=layers, batch_first=True)
        self.mask_out = nn.Linear(hidden + enc, n_bins)
        self.vad_out = nn.Linear(hidden, 1)

    def features(self, spec: torch.Tensor) -> torch.Tensor:
        p = spec[..., 0] * spec[..., 0] + spec[..., 1] * spec[..., 1]
        return (torch.log(p + 1e-10) - self.feat_mean) / self.feat_std

    def forward(self, spec: torch.Tensor, state_0: torch.Tensor):
        e = self.drop(torch.relu(self.enc(self.features(spec))))
        h, state = self.gru(e, state_0)
        mask = torch.sigmoid(self.mask_out(torch.cat([h, e], dim=-1)))
        vad = torch.sigmoid(self.vad_out(h)).squeeze(-1)
        return mask, vad, state

    def zero_state(self, batch: int) -> torch.Tensor:
        return torch.zeros(self.layers, batch, self.hidden)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def spec_to_ri(spec: torch.Tensor) -> torch.Tensor:
    """complex ``(B, T, F)`` -> ``(B, T, F, 2)`` float (the ONNX ``spec`` layout)."""
    return torch.view_as_real(spec).to(torch.float32)


def set_feature_stats(net: MaskNet, specs: list[torch.Tensor]) -> None:
    with torch.no_grad():
        feats = []
        for s in specs:
            p = s.real ** 2 + s.imag ** 2
            feats.append(torch.log(p + 1e-10).reshape(-1, s.shape[-1]))
        f = torch.cat(feats)
        net.feat_mean.copy_(f.mean(0))
        net.feat_std.copy_(f.std(0).clamp_min(1e-3))


def np_windows(n_fft, hop, m):
    return design_windows(n_fft, hop, m)
