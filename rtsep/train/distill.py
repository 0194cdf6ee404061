"""A teacher for the live model: a trained look-ahead (quality) model's vocals as a second target.

``--distill MODEL --distill-weight W`` adds ``W * -SDR(student vocals, teacher vocals)`` to the
loss. The teacher (e.g. ``models/mir1k-protocol-quality.onnx``: 64 ms window, 48 ms of
look-ahead, 8.31 dB on the MIR-1K test clips against the live model's 6.53) runs frozen through
its own engine STFT on the same mixtures; a stereo mixture's channels go through it one by one.
The idea: a causal student cannot reach the true vocal at onsets it cannot foresee, and the
teacher's estimate is a target of the student's kind, learnt from the same protocol data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Teacher:
    """A frozen mono rtsep model (ONNX file) as a torch network through its engine STFT."""

    def __init__(self, path: str, device="cpu"):
        from ..model.onnx_model import MaskModel
        from .model import EngineStft, MaskNet
        from .warmstart import mono_config, mono_state_dict

        card = MaskModel(path).card
        if card.input_channels != 1:
            raise SystemExit(f"error: --distill {path}: the teacher must be a mono model")
        sd = mono_state_dict(path)
        c = mono_config(sd)
        self.net = MaskNet(card.n_bins, c["enc"], c["hidden"], c["layers"])
        self.net.load_state_dict(sd)
        self.net.eval().requires_grad_(False).to(device)
        self.stft = EngineStft(card.n_fft, card.hop, card.synthesis_len).to(device)
        self.lookahead = card.lookahead_frames
        self.path = path
        # the teacher's output is incomplete over its last synthesis tail and look-ahead
        self.tail = card.synthesis_len - card.hop + card.lookahead_frames * card.hop

    @torch.no_grad()
    def vocals(self, mix: torch.Tensor) -> torch.Tensor:
        """``mix`` ``(B, N)`` or ``(B, 2, N)`` -> the teacher's vocal estimate, same shape,
        aligned with ``mix`` (its last ``tail`` samples incomplete)."""
        from .separate import separate_batch

        n = mix.shape[-1]
        flat = mix.reshape(-1, n)
        pad = -n % self.stft.hop  # the engine STFT takes whole hops
        yv, _, _, _ = separate_batch(self.net, self.stft, F.pad(flat, (0, pad)), self.lookahead)
        return yv[:, :n].reshape(mix.shape)
