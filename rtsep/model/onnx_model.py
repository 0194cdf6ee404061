"""Loads a mask-network ONNX file and runs it frame by frame with explicit recurrent state.

The model-file contract (every rtsep model follows it; ``rtsep.train`` exports it):

Inputs
    ``spec``      float32 ``(batch, time, bins, 2)``: real and imaginary part of the mono
                  mixture STFT at the model's ``sample_rate``; ``bins = n_fft // 2 + 1``;
                  unnormalised ``rfft`` of a frame multiplied by
                  ``rtsep.dsp.windows.design_windows(n_fft, hop, synthesis_len).analysis``.
    ``state_K``   float32, any shape whose axis 1 is the batch (e.g. a GRU's
                  ``(layers, batch, hidden)``), K = 0, 1, ...: recurrent state in.
Outputs
    ``mask``      float32 ``(batch, time, bins)``: real vocal mask in [0, 1]; the vocal
                  spectrum is ``mask * spec`` and the accompaniment is the rest.
    ``vad``       float32 ``(batch, time)``: vocal-activity probability of each frame.
    ``state_K_out`` the recurrent state after the last frame, same shape as ``state_K``.
Metadata (``metadata_props``, all strings)
    ``rtsep.format`` = "1", ``name``, ``description``, ``sample_rate``, ``n_fft``, ``hop``,
    ``synthesis_len``, ``lookahead_frames`` (frames of look-ahead: the mask output at step t
    belongs to frame t - lookahead_frames), ``vad_threshold``, ``placeholder`` ("true" for
    an untrained wiring model), and optionally ``license``, ``params``, ``training`` (JSON),
    ``input_channels`` ("1" when absent), ``features`` (words) and ``activity_threshold``
    (the threshold of the engine's vocal activity chosen on validation clips,
    rtsep.train.calibrate; 0.5 when absent).
Stereo models (``input_channels`` = "2", mid/side layout): ``spec`` is the mid
    ``(L + R) / 2``, as for mono models, and a second input ``side`` the side ``(L - R) / 2``,
    same layout; a second output ``side_mask`` ``(batch, time, bins)`` masks the side: vocal
    ``L = mask * mid + side_mask * side``, ``R = mask * mid - side_mask * side``. Fed a zero
    ``side`` (mono input), ``mask`` alone is a mono separation, so mono callers work unchanged.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError, one_line

REQUIRED_META = ("sample_rate", "n_fft", "hop", "synthesis_len")
# int8 dense layers (live host) against float32 on the load-time check's random spectra
# (100 dB of range, harsher than music): the mean mask or activity difference accepted (the
# shipped models give 0.002-0.012; single values differ by up to 0.1, and by up to 0.5 for an
# untrained net whose outputs sit on the sigmoid's slope). A real fault (a wrong cut, a
# broken quantization) moves the mean far more.
INT8_TOLERANCE = (1.0, 0.02)


@dataclass(frozen=True)
class ModelCard:
    """What the separator needs to know about a model, read from its metadata."""

    path: str
    name: str
    description: str
    sample_rate: int
    n_fft: int
    hop: int
    synthesis_len: int
    lookahead_frames: int
    vad_threshold: float
    placeholder: bool
    extra: dict = field(default_factory=dict)
    input_channels: int = 1
    activity_threshold: float | None = None

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def latency_samples(self) -> int:
        """Algorithmic latency at the model's own sample rate."""
        return self.synthesis_len - 1 + self.lookahead_frames * self.hop

    @property
    def latency_ms(self) -> float:
        return 1000.0 * self.latency_samples / self.sample_rate


def _session(path: str | bytes, threads: int):
    """An ONNX Runtime CPU session for a model file (or serialised model)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # A multi-threaded session here runs beside live audio (the U-Net ahead of the playhead):
    # its pool threads must sleep between operators, not spin (spinning burned 2.5x the
    # network's CPU in the streaming U-Net). File mode's pipelined U-Net uses one thread each.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0" if threads > 1 else "1")
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def open_session(path: str, threads: int):
    """An ONNX Runtime session for ``path``; a one-line :class:`ModelError` if it cannot load."""
    if not Path(path).is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        return _session(path, threads)
    except Exception as exc:  # onnxruntime raises several types for a bad file
        raise ModelError(f"cannot load model {path}: {one_line(exc)}") from None


class MaskModel:
    """An ONNX mask network with its recurrent state.

    ``run(spec)`` takes ``(time, bins, 2)`` float32 and returns views ``mask`` ``(time, bins)``
    and ``vad`` ``(time,)``; the state is carried to the next call. With ``time == 1`` the
    call reuses bound buffers (no numpy allocation on the audio path).
    """

    def __init__(self, path: str | os.PathLike, threads: int = 1):
        path = str(path)
        self._sess = open_session(path, threads)
        self.card = self._read_card(path)
        self._check_io()
        self._init_buffers()
        self._core = self._enc_sess = self._core_sess = None
        self._live = None  # (core, bound one-frame session on features) after enable_live
        self.live_precision = None

    def _read_card(self, path: str) -> ModelCard:
        meta = dict(self._sess.get_modelmeta().custom_metadata_map)
        if meta.get("rtsep.kind") == "unet":
            raise ModelError(f"model {path} is the offline U-Net: it separates files (separate, demo, "
                             "--source), not a live stream")
        missing = [k for k in REQUIRED_META if k not in meta]
        if missing:
            raise ModelError(f"model {path} lacks metadata {', '.join(missing)}: not an rtsep model")
        known = set(REQUIRED_META) | {"name", "description", "lookahead_frames", "vad_threshold", "placeholder",
                                      "input_channels", "activity_threshold"}
        try:
            return ModelCard(
                path=path,
                name=meta.get("name", Path(path).stem),
                description=meta.get("description", ""),
                sample_rate=int(meta["sample_rate"]),
                n_fft=int(meta["n_fft"]),
                hop=int(meta["hop"]),
                synthesis_len=int(meta["synthesis_len"]),
                lookahead_frames=int(meta.get("lookahead_frames", 0)),
                vad_threshold=float(meta.get("vad_threshold", 0.5)),
                placeholder=meta.get("placeholder", "false").lower() == "true",
                extra={k: v for k, v in meta.items() if k not in known},
                input_channels=int(meta.get("input_channels", 1)),
                activity_threshold=(float(meta["activity_threshold"]) if "activity_threshold" in meta else None),
            )
        except ValueError as exc:
            raise ModelError(f"model {path} has malformed metadata: {exc}") from None

    def _check_io(self) -> None:
        ins = {i.name: i for i in self._sess.get_inputs()}
        outs = {o.name: o for o in self._sess.get_outputs()}
        if "spec" not in ins or "mask" not in outs or "vad" not in outs:
            raise ModelError(f"model {self.card.path} must have input 'spec' and outputs 'mask', 'vad'")
        if self.card.input_channels not in (1, 2):
            raise ModelError(f"model {self.card.path}: input_channels must be 1 or 2, got {self.card.input_channels}")
        if self.stereo and ("side" not in ins or "side_mask" not in outs):
            raise ModelError(f"model {self.card.path}: a 2-channel model needs input 'side' and output 'side_mask'")
        self._state_names = sorted((n for n in ins if n.startswith("state_")), key=lambda n: int(n[6:]))
        for n in self._state_names:
            if n + "_out" not in outs:
                raise ModelError(f"model {self.card.path}: state input {n} has no output {n}_out")
        self._state_shapes = []
        for n in self._state_names:
            shape = ins[n].shape
            dims = [1 if (i == 1 or not isinstance(d, int)) else d for i, d in enumerate(shape)]
            self._state_shapes.append(tuple(dims))

    def _init_buffers(self) -> None:
        import onnxruntime as ort

        f = self.card.n_bins
        self._states = [np.zeros(s, dtype=np.float32) for s in self._state_shapes]
        self._states_next = [np.zeros(s, dtype=np.float32) for s in self._state_shapes]
        self._spec1 = np.zeros((1, 1, f, 2), dtype=np.float32)
        self._mask1 = np.zeros((1, 1, f), dtype=np.float32)
        self._vad1 = np.zeros((1, 1), dtype=np.float32)
        self._side1 = np.zeros((1, 1, f, 2), dtype=np.float32)
        self._side_mask1 = np.zeros((1, 1, f), dtype=np.float32)
        # one-frame results: the same view objects every call (nothing allocated per frame)
        self._mask1_out, self._side_mask1_out, self._vad1_out = self._mask1[0], self._side_mask1[0], self._vad1[0]
        b = self._sess.io_binding()
        b.bind_cpu_input("spec", self._spec1)
        if self.stereo:
            b.bind_cpu_input("side", self._side1)
        self._bind_outputs(b)
        self._binding = b
        self._run_opts = ort.RunOptions()

    def _bind_outputs(self, b) -> None:
        """Bind the one-frame outputs and the recurrent state of an io binding ``b`` to this
        model's buffers (the whole graph's and the live network's share them)."""
        if self.stereo:
            b.bind_output("side_mask", "cpu", 0, np.float32, list(self._side_mask1.shape), self._side_mask1.ctypes.data)
        for name, s_in, s_out in zip(self._state_names, self._states, self._states_next):
            b.bind_cpu_input(name, s_in)
            b.bind_output(name + "_out", "cpu", 0, np.float32, list(s_out.shape), s_out.ctypes.data)
        b.bind_output("mask", "cpu", 0, np.float32, list(self._mask1.shape), self._mask1.ctypes.data)
        b.bind_output("vad", "cpu", 0, np.float32, list(self._vad1.shape), self._vad1.ctypes.data)

    @property
    def n_bins(self) -> int:
        return self.card.n_bins

    @property
    def stereo(self) -> bool:
        """True for a mid/side model (``run_stereo``); ``run`` feeds it a zero side."""
        return self.card.input_channels == 2

    def reset(self) -> None:
        for s in self._states:
            s[:] = 0.0

    def _cut_core(self):
        """This model's graph after its features (rtsep.model.front_end.cut_core), or ``None``."""
        from .front_end import cut_core

        card = self.card
        return cut_core(card.path, card.n_bins, self.stereo, card.extra.get("features", ""))

    # --- file mode: features outside the graph ------------------------------------
    def enable_core(self, threads: int = 1):
        """Prepare :meth:`encode` and :meth:`run_encoded` (file mode): the network after its
        features, cut in two sessions (rtsep.model.front_end), checked against the whole
        graph on random spectra. Returns the :class:`~rtsep.model.front_end.NetworkCore` (its
        ``mean``, ``std``, ``n_features`` and ``n_encoded``) or ``None``: keep using :meth:`run`."""
        try:
            core = self._cut_core()
            if core is None:
                return None
            enc, rest = _session(core.encoder_bytes, threads), _session(core.model_bytes, threads)
        except Exception:  # a graph we cannot cut keeps the whole graph
            return None
        self._core = core
        self._enc_sess, self._enc_in = enc, enc.get_inputs()[0].name
        self._core_sess = rest
        self._core_in = next(i.name for i in rest.get_inputs() if not i.name.startswith("state_"))

        def run_cut(feats):
            encoded = np.zeros((len(feats), core.n_encoded), np.float32)
            self.encode(feats, encoded)
            return self.run_encoded(encoded)

        if not self._cut_matches(core, run_cut, (1e-4, 1e-4)):
            self._core = self._enc_sess = self._core_sess = None
        self.reset()
        return self._core

    def _cut_matches(self, core, run_cut, tolerance: tuple[float, float], frames: int = 24) -> bool:
        """Whole graph and ``run_cut`` (``(frames, n_features)`` features -> the outputs)
        agree on a random two-channel spectrum spanning 100 dB, from zero state: masks and
        activity within ``tolerance`` = (largest, mean) absolute difference."""
        from ..dsp.features import mid_side_features, mono_features

        rng = np.random.default_rng(0)
        f = self.card.n_bins
        mag = 10.0 ** rng.uniform(-4, 1, (frames, 2, f))
        spec = (mag * np.exp(2j * np.pi * rng.random((frames, 2, f)))).astype(np.complex64)
        feats = np.zeros((frames, core.n_features), np.float32)

        def ri(z):  # (frames, bins) complex -> the graph's (frames, bins, 2) real, imag
            return np.ascontiguousarray(np.stack([z.real, z.imag], -1), dtype=np.float32)

        mid = ri((spec[:, 0] + spec[:, 1]) * np.float32(0.5))  # the channel mean
        self.reset()
        if self.stereo:
            whole = self.run_stereo(mid, ri((spec[:, 0] - spec[:, 1]) * np.float32(0.5)))
            mid_side_features(spec, frames, 0.5, core.mean, core.std, feats)
        else:
            whole = self.run(mid)
            mono_features(spec, frames, 0.5, core.mean, core.std, feats)
        whole = [np.array(a) for a in whole]
        self.reset()
        cut = run_cut(feats)
        return all(a.shape == b.shape and float(np.max(np.abs(a - b))) <= tolerance[0]
                   and float(np.mean(np.abs(a - b))) <= tolerance[1] for a, b in zip(whole, cut))

    def encode(self, feats: np.ndarray, out: np.ndarray) -> None:
        """The encoder (after :meth:`enable_core`): ``(time, n_features)`` features ->
        ``out[:time]`` ``(time, n_encoded)``. No state: any thread, any order."""
        out[:len(feats)] = self._enc_sess.run(None, {self._enc_in: feats[None]})[0][0]

    def run_encoded(self, encoded: np.ndarray) -> tuple:
        """The rest of the network on ``(time, n_encoded)`` encoder outputs: ``mask``,
        (``side_mask`` for a stereo model,) ``vad``, as :meth:`run` / :meth:`run_stereo`; the
        recurrent state is the same as theirs."""
        res = self._run_stateful(self._core_sess, {self._core_in: encoded[None]})
        if self.stereo:
            return res["mask"][0], res["side_mask"][0], res["vad"][0]
        return res["mask"][0], res["vad"][0]

    # --- live host: features outside the graph, one frame per call, int8 dense layers -----
    def enable_live(self, int8: bool = True, threads: int = 1):
        """Prepare :meth:`run_features` (the live host's one-frame calls): the network after
        its features in one session, with bound buffers, its dense layers in int8 if ``int8``
        (rtsep.model.int8). Checked on random spectra against the whole graph run frame by
        frame (float: within 1e-4; int8: masks within ``INT8_TOLERANCE``). Returns the
        :class:`~rtsep.model.front_end.NetworkCore` or ``None``: keep using :meth:`run` /
        :meth:`run_stereo`. Sets ``live_precision`` ("int8 dense layers" or "float32")."""
        try:
            core = self._cut_core()
            if core is None:
                return None
            graph = core.network_bytes
            if int8:
                from .int8 import int8_dense

                graph = int8_dense(graph)
            sess = _session(graph, threads)
        except Exception:  # a graph we cannot cut or quantize keeps the whole graph
            return None
        self._feat1 = np.zeros((1, 1, core.n_features), dtype=np.float32)
        b = sess.io_binding()
        b.bind_cpu_input(core.features_input, self._feat1)
        self._bind_outputs(b)
        self._live = (core, sess, b)
        ok = self._cut_matches(core, self._run_live_batch, INT8_TOLERANCE if int8 else (1e-4, 1e-4))
        self.reset()  # the check ran frames through the state
        if not ok:
            self._live = None
            return None
        self.live_precision = "int8 dense layers" if int8 else "float32"
        return core

    def run_features(self, feats: np.ndarray) -> tuple:
        """One frame of features ``(1, n_features)`` (after :meth:`enable_live`) -> ``mask``,
        (``side_mask`` for a stereo model,) ``vad``: views of bound buffers, as :meth:`run`
        / :meth:`run_stereo` give for one frame; the same recurrent state as theirs."""
        self._feat1[0] = feats
        self._live[1].run_with_iobinding(self._live[2], self._run_opts)
        for s, s_next in zip(self._states, self._states_next):
            s[:] = s_next
        if self.stereo:
            return self._mask1_out, self._side_mask1_out, self._vad1_out
        return self._mask1_out, self._vad1_out

    def _run_live_batch(self, feats: np.ndarray) -> list:
        """:meth:`run_features` frame by frame over ``(time, n_features)``; stacked copies."""
        outs = [[np.array(a) for a in self.run_features(feats[t:t + 1])] for t in range(len(feats))]
        return [np.concatenate(parts) for parts in zip(*outs)]

    def run(self, spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run ``(time, bins, 2)`` frames; returns ``mask (time, bins)``, ``vad (time,)``."""
        t = spec.shape[0]
        if t == 1:
            self._spec1[0] = spec
            if self.stereo:
                self._side1.fill(0.0)
            self._run1()
            return self._mask1_out, self._vad1_out
        res = self._run_batch(spec, np.zeros_like(spec) if self.stereo else None)
        return res["mask"][0], res["vad"][0]

    def run_stereo(self, spec: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stereo model: mid ``spec`` and ``side`` ``(time, bins, 2)`` -> ``mask``,
        ``side_mask`` ``(time, bins)`` and ``vad`` ``(time,)`` (views; bound buffers for one frame)."""
        if spec.shape[0] == 1:
            self._spec1[0] = spec
            self._side1[0] = side
            self._run1()
            return self._mask1_out, self._side_mask1_out, self._vad1_out
        res = self._run_batch(spec, side)
        return res["mask"][0], res["side_mask"][0], res["vad"][0]

    def _run1(self) -> None:
        """One frame through the bound buffers; the state moves on."""
        self._sess.run_with_iobinding(self._binding, self._run_opts)
        for s, s_next in zip(self._states, self._states_next):
            s[:] = s_next

    def _run_batch(self, spec: np.ndarray, side: np.ndarray | None) -> dict:
        feeds = {"spec": spec[None]}
        if side is not None:
            feeds["side"] = side[None]
        return self._run_stateful(self._sess, feeds)

    def _run_stateful(self, sess, feeds: dict) -> dict:
        """``sess`` on ``feeds`` plus the recurrent state, which moves on; outputs by name."""
        feeds.update(zip(self._state_names, self._states))
        res = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
        for name, s in zip(self._state_names, self._states):
            s[:] = res[name + "_out"]
        return res

    def describe(self) -> dict:
        c = self.card
        return {"name": c.name, "path": c.path, "description": c.description, "sample_rate": c.sample_rate,
                "n_fft": c.n_fft, "hop": c.hop, "synthesis_len": c.synthesis_len,
                "lookahead_frames": c.lookahead_frames, "placeholder": c.placeholder,
                "input_channels": c.input_channels, "activity_threshold": c.activity_threshold,
                **{k: (json.loads(v) if k == "training" and v.startswith("{") else v) for k, v in c.extra.items()}}
