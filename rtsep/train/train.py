"""Training loop: ``python -m rtsep.train --config low --split protocol --out models/x.onnx``."""

from __future__ import annotations

import argparse
import copy
import csv
import math
import os
import random
import time
from pathlib import Path

import numpy as np

from .separate import evaluate, separate_batch, shift_lookahead  # noqa: F401  (public here too)

CONFIGS = {
    # STFT: 1024/96/192 at 16 kHz -> 191 samples (11.94 ms) algorithmic latency
    "low": dict(n_fft=1024, hop=96, synthesis_len=192, enc=256, hidden=256, layers=2),
    # file mode (issue 7): 64 ms sqrt-Hann STFT + 3 frames (48 ms) look-ahead -> 1791 samples (112 ms)
    "quality": dict(n_fft=1024, hop=256, synthesis_len=1024, enc=256, hidden=256, layers=2, lookahead=3),
    # tiny net for smoke tests
    "tiny": dict(n_fft=1024, hop=96, synthesis_len=192, enc=16, hidden=16, layers=2),
}

PROTOCOL_VAL_SONGS = ("abjones_1", "amy_14")  # held-out songs of the 175 protocol training clips
RELEASE_VAL_SINGERS = ("bobon", "tammy")  # held-out singers of the release model

LICENSE = ("Weights: trained on MIR-1K (Hsu & Jang 2010, research use); released with rtsep. "
           "Training data is not redistributed.")


def make_split(data, split: str):
    names = list(data.names)
    if split == "protocol":
        train_all = list(data.splits["train"])
        val = [n for n in train_all if "_".join(n.split("_")[:2]) in PROTOCOL_VAL_SONGS]
        train = [n for n in train_all if n not in set(val)]
    elif split == "release":
        val = [n for n in names if n.split("_")[0] in RELEASE_VAL_SINGERS]
        train = [n for n in names if n not in set(val)]
    else:
        raise ValueError(f"unknown split {split!r}")
    return train, val


def neg_sdr(est, ref, eps_rel=1e-3):
    """Negative SDR (dB) per example; eps relative to the batch item's reference+estimate power."""
    import torch

    num = (ref ** 2).sum(-1)
    den = ((ref - est) ** 2).sum(-1)
    eps = eps_rel * num.mean() + 1e-8
    return -10 * torch.log10((num + eps) / (den + eps))


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m rtsep.train", description=__doc__)
    p.add_argument("--config", default="low", choices=sorted(CONFIGS))
    p.add_argument("--split", default="protocol", choices=["protocol", "release"])
    p.add_argument("--out", required=True, help="ONNX file to write")
    p.add_argument("--minutes", type=float, default=45.0, help="training wall-time budget")
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: time budget only)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seconds", type=float, default=3.0, help="crop length")
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=1, help="torch threads (per process)")
    p.add_argument("--device", default="cpu",
                   help="torch device of each process (cuda: every process runs its steps on the GPU; the "
                        "mixtures are still made on the CPU, one process per core)")
    p.add_argument("--procs", type=int, default=1,
                   help="data-parallel training processes (one per core: each mixes and runs --batch "
                        "crops, gradients are averaged, so the effective batch is procs x batch)")
    p.add_argument("--data", default=None, help="data dir (default ../shared/data from the repo root)")
    p.add_argument("--cache", default=None, help="decoded-audio cache dir (default ~/.cache/rtsep)")
    p.add_argument("--extra-accompaniment", default=None, help="dir of extra instrumental audio")
    p.add_argument("--workdir", default=None, help="checkpoints + log (default runs/<out stem>)")
    p.add_argument("--resume", action="store_true", help="continue from workdir/last.pt")
    p.add_argument("--val-every", type=float, default=3.0, help="validate every N minutes")
    p.add_argument("--extra-prob", type=float, default=0.3,
                   help="share of accompaniments taken from --extra-accompaniment")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout on the encoder output")
    p.add_argument("--same-clip", type=float, default=0.15,
                   help="share of mixtures that pair a vocal with its own accompaniment")
    p.add_argument("--hidden", type=int, default=0, help="GRU width (0: the config's)")
    p.add_argument("--vad-weight", type=float, default=0.5)
    p.add_argument("--ema", type=float, default=0.0,
                   help="also keep an exponential moving average of the weights with this decay (e.g. 0.999); "
                        "validation scores both and the better one becomes the checkpoint (0: off)")
    p.add_argument("--no-augment", action="store_true", help="no pitch/formant/EQ augmentation")
    p.add_argument("--stereo", action="store_true",
                   help="mid/side model trained on stereo mixtures: produced voices (rtsep.train.augment) in "
                        "stereo accompaniment (the --extra-accompaniment music in stereo)")
    p.add_argument("--mono-prob", type=float, default=0.3, help="--stereo: share of mono-as-stereo mixtures")
    p.add_argument("--produce-prob", type=float, default=0.8,
                   help="--stereo: share of stereo voices through a random production chain")
    p.add_argument("--stereo-music-prob", type=float, default=0.6,
                   help="--stereo: share of stereo mixtures whose accompaniment is stereo music")
    p.add_argument("--init-from", default=None,
                   help="start from the weights of this mono ONNX model (same config; a --stereo net gets "
                        "zero weights on its stereo cues, so it starts as the mono model)")
    p.add_argument("--state", default=None,
                   help="one resumable file for the whole run (weights, best weights, optimiser, random "
                        "states, history), replaced at every save; instead of workdir/last.pt and best.pt")
    p.add_argument("--distill", default=None, metavar="MODEL",
                   help="a trained mono look-ahead model whose vocals are a second target (rtsep.train.distill)")
    p.add_argument("--distill-weight", type=float, default=0.5, help="weight of the --distill term")
    p.add_argument("--name", default=None)
    p.add_argument("--export-only", action="store_true", help="export the best weights (workdir/best.pt or "
                   "--state) and exit")
    return p.parse_args(argv)


def lr_at(frac, step, base, warmup=100):
    w = min(1.0, (step + 1) / warmup)
    return base * w * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def main(argv=None):
    args = parse_args(argv)
    argv = list(argv) if argv is not None else os.sys.argv[1:]
    if args.procs > 1 and not args.export_only:
        import tempfile

        import torch.multiprocessing as mp

        from .data import load_extra_accompaniment, load_mir1k

        # decode the caches once here, not racing in every worker
        workers = os.cpu_count() or 1
        load_mir1k(args.data, args.cache, workers=workers)
        if args.extra_accompaniment:
            load_extra_accompaniment(args.extra_accompaniment, args.cache, workers=workers)
            if args.stereo:
                load_extra_accompaniment(args.extra_accompaniment, args.cache, stereo=True, workers=workers)
        with tempfile.TemporaryDirectory(prefix="rtsep-dist-") as d:
            mp.spawn(_train, args=(args.procs, argv, str(Path(d) / "init")), nprocs=args.procs, join=True)
        return
    _train(0, 1, argv, None)


class _Sync:
    """Collectives of data-parallel training (gloo over CPU); no-ops for one process."""

    def __init__(self, rank: int, world: int, init_file: str | None):
        import torch

        self.rank, self.world = rank, world
        self.dist = None
        if world > 1:
            import torch.distributed as dist

            dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
            self.dist = dist
        self._torch = torch

    def broadcast_module(self, module) -> None:
        """Every rank starts from rank 0's weights and feature statistics."""
        if self.dist:
            for t in module.state_dict().values():
                host = t.cpu()  # gloo collectives run on CPU tensors (the net may be on a GPU)
                self.dist.broadcast(host, 0)
                t.copy_(host)

    def flags(self, *values: float) -> list[float]:
        """Rank 0's decisions (stop, validate, clock) for everyone."""
        if not self.dist:
            return list(values)
        t = self._torch.tensor(values, dtype=self._torch.float64)
        self.dist.broadcast(t, 0)
        return t.tolist()

    def average_gradients(self, params) -> None:
        if not self.dist:
            return
        grads = [p.grad for p in params if p.grad is not None]
        flat = self._torch.cat([g.reshape(-1) for g in grads]).cpu()
        self.dist.all_reduce(flat)
        flat = flat.to(grads[0].device) / self.world
        i = 0
        for g in grads:
            g.copy_(flat[i:i + g.numel()].view_as(g))
            i += g.numel()

    def gather(self, obj) -> list:
        if not self.dist:
            return [obj]
        out = [None] * self.world
        self.dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        """After the last step, on every rank (the stop is rank 0's decision, broadcast)."""
        if self.dist:
            # nobody tears the pairs down while a peer still talks on them: gloo aborted a process
            # (SIGABRT) at the end of a 2-process run once in a CI run
            self.dist.barrier()
            self.dist.destroy_process_group()


def _train(rank: int, world: int, argv: list[str], init_file: str | None):
    args = parse_args(argv)
    import torch

    from .data import load_extra_accompaniment, load_mir1k, Mixer
    from .export import export_onnx
    from .model import EngineStft, MaskNet, StereoMaskNet, set_feature_stats

    sync = _Sync(rank, world, init_file)
    lead = rank == 0  # validates, logs, checkpoints and exports
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    cfg = dict(CONFIGS[args.config])
    if args.hidden:
        cfg["hidden"] = args.hidden
    lookahead = cfg.get("lookahead", 0)
    out = Path(args.out)
    workdir = Path(args.workdir or Path("runs") / out.stem)
    workdir.mkdir(parents=True, exist_ok=True)
    data = load_mir1k(args.data, args.cache)
    train_names, val_names = make_split(data, args.split)
    extra = load_extra_accompaniment(args.extra_accompaniment, args.cache) if args.extra_accompaniment else None
    # each process draws its own mixtures (rank 0 keeps the single-process stream)
    mixer = Mixer(data, train_names, args.seconds, args.seed + 7919 * rank, extra=extra, extra_prob=args.extra_prob,
                  same_clip_prob=args.same_clip, augment=not args.no_augment)
    if args.stereo:
        from .stereo import StereoMixer

        extra_stereo = (load_extra_accompaniment(args.extra_accompaniment, args.cache, stereo=True)
                        if args.extra_accompaniment else None)
        mixer = StereoMixer(mixer, extra_stereo, mono_prob=args.mono_prob, produce_prob=args.produce_prob,
                            stereo_music_prob=args.stereo_music_prob)
    dev = torch.device(args.device)
    stft = EngineStft(cfg["n_fft"], cfg["hop"], cfg["synthesis_len"]).to(dev)
    net = (StereoMaskNet if args.stereo else MaskNet)(cfg["n_fft"] // 2 + 1, cfg["enc"], cfg["hidden"], cfg["layers"],
                                                      dropout=args.dropout).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-5)
    ema = None
    if args.ema:
        ema = copy.deepcopy(net)  # averaged weights: smoother, usually generalise better
        ema.requires_grad_(False)
    bce = torch.nn.BCELoss()
    state = dict(step=0, elapsed=0.0, best=-1e9, history=[], audio_seconds=0.0, cpu_seconds=0.0, sessions=0)
    log_path = workdir / "log.csv"
    # --state: one file holds the run (best weights inside); otherwise last.pt and best.pt
    last = Path(args.state) if args.state else workdir / "last.pt"
    best = None if args.state else workdir / "best.pt"
    best_weights = None  # --state: the best validation's weights (None: the trained net's)

    resumed = args.resume and last.is_file()
    if resumed:
        ck = torch.load(last, weights_only=False, map_location="cpu")  # random states stay CPU tensors
        net.load_state_dict(ck["net"])
        best_weights = ck.get("best_net")
        st = ck["state"]
        if args.state and best_weights is None and st.get("best_step") == st["step"] \
                and st.get("best_weights", "net") == "net":
            best_weights = copy.deepcopy(ck["net"])  # saved at its best validation: the net is the best
        if ema is not None:
            ema.load_state_dict(ck.get("ema", ck["net"]))
        opt.load_state_dict(ck["opt"])
        state = dict(dict(audio_seconds=0.0, cpu_seconds=0.0, sessions=0), **ck["state"])
        # checkpoints from before --procs hold one process's states as mixer_rng / torch_rng
        rngs = ck.get("rngs") or [dict(mixer=ck["mixer_rng"], torch=ck["torch_rng"])]
        if len(rngs) != world and not args.export_only:  # exporting runs one process, whatever trained
            raise SystemExit(f"error: {last} was trained with --procs {len(rngs)}; resume with the same")
        mixer.rng.bit_generator.state = rngs[rank]["mixer"]
        torch.set_rng_state(rngs[rank]["torch"])
        if lead:
            print(f"resumed from {last} at step {state['step']} ({state['elapsed'] / 60:.1f} min)")
    fresh = not resumed and not args.export_only
    if args.init_from and (fresh or "parent" not in state):
        from .warmstart import describe_parent, init_from_onnx

        # a resumed run keeps its own weights (the parent file may have been replaced since)
        state["parent"] = init_from_onnx(net, args.init_from, cfg) if fresh else describe_parent(args.init_from)
    if fresh and args.init_from:
        sync.broadcast_module(net)
        if ema is not None:
            ema.load_state_dict(net.state_dict())
    elif fresh:
        specs = []
        for _ in range(8):
            v, a, _ = mixer.batch(args.batch)
            mix = v + a
            specs.append(stft.analysis(torch.from_numpy(mix.mean(1) if mix.ndim == 3 else mix).to(dev)))  # mono or mid
        set_feature_stats(net, specs)
        sync.broadcast_module(net)
        if ema is not None:
            ema.load_state_dict(net.state_dict())
    state["sessions"] = state.get("sessions", 0) + (not args.export_only)
    if lead and (fresh or not log_path.is_file()):
        with open(log_path, "w", newline="") as f:
            csv.writer(f).writerow(["step", "minutes", "lr", "train_loss", "train_sdr_v", "train_sdr_a",
                                    "train_bce", "val_nsdr_v", "val_nsdr_a", "val_vad_acc", "weights"])

    name = args.name or out.stem
    # the command that trains this model: a later --resume or --export-only run records the same one
    train_argv = [a for a in argv if a not in ("--resume", "--export-only")]
    training_meta = dict(command="python -m rtsep.train " + " ".join(train_argv),
                         config=args.config, split=args.split, train_clips=len(train_names),
                         val_clips=len(val_names), batch=args.batch, crop_seconds=args.seconds, lr=args.lr,
                         seed=args.seed, loss="-SDR(vocal)-SDR(accomp) through the engine ISTFT + "
                         f"{args.vad_weight}*BCE(vad)" + (f" + {args.distill_weight}*-SDR(vocal, teacher's vocal "
                                                          f"from {args.distill})" if args.distill else ""), extra_accompaniment=bool(extra is not None),
                         extra_prob=args.extra_prob if extra is not None else 0.0, dropout=args.dropout,
                         same_clip_prob=args.same_clip, ema_decay=args.ema, procs=args.procs,
                         device=(torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type),
                         augment=("vocal resampling +-4 semitones, accomp. +-3, random 2-band EQ"
                                  if not args.no_augment else "none"), **cfg)
    if args.stereo:
        training_meta.update(stereo=dict(
            layout="mid-side", mono_prob=args.mono_prob, produce_prob=args.produce_prob,
            stereo_music_prob=args.stereo_music_prob,
            production="pedalboard: EQ, compression, saturation, doubles (detuned, delayed, panned), harmonies "
                       "(pitch-shifted, lower), delays, stereo reverb (rooms, plates, pre-delay); lead near the centre"))
    if state.get("parent"):
        training_meta["init_from"] = state["parent"]

    def save(path, rngs, weights=None):
        """``rngs``: every process's random state (from ``sync.gather``); ``weights``: the state
        dict exported from this checkpoint (default: the trained net)."""
        tmp = Path(str(path) + ".tmp")
        extra_keys = dict(ema=ema.state_dict()) if ema is not None else {}
        opt_state = opt.state_dict()
        if args.state:
            # a file kept in the repository: the best weights only when they are not the net's,
            # Adam's moments in bfloat16 (load_state_dict casts them back to float32)
            net_is_best = state.get("best_step") == state["step"] and state.get("best_weights", "net") == "net"
            extra_keys["best_net"] = None if net_is_best else best_weights
            opt_state = dict(opt_state, state={i: {k: (v.to(torch.bfloat16) if k.startswith("exp_avg") else v)
                                                   for k, v in st.items()} for i, st in opt_state["state"].items()})
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(dict(net=net.state_dict() if weights is None else weights, opt=opt_state, state=state,
                        cfg=cfg, args=vars(args), rngs=rngs, **extra_keys), tmp)
        tmp.replace(path)

    def do_export():
        ck = torch.load(best if best is not None and best.is_file() else last, weights_only=False,
                        map_location="cpu")
        net.to("cpu")  # the ONNX export traces on the CPU
        net.load_state_dict(ck.get("best_net") or ck["net"])
        st = ck["state"]
        thr = st.get("vad_threshold", 0.5)
        # totals over every session of the run (a resumed run accumulates them)
        meta = dict(training_meta, steps=st["step"], minutes=round(st["elapsed"] / 60, 1),
                    audio_hours=round(st.get("audio_seconds", 0.0) / 3600, 2),
                    cpu_hours=round(st.get("cpu_seconds", 0.0) / 3600, 2), sessions=st.get("sessions", 1),
                    best_step=st.get("best_step"), val_nsdr_vocal_db=st.get("best"), history=st["history"][-1:])
        latency_ms = (cfg["synthesis_len"] - 1 + lookahead * cfg["hop"]) / 16
        desc = (f"Causal GRU mask network ({cfg['layers']}x{cfg['hidden']}), {cfg['n_fft']}/{cfg['hop']}/"
                f"{cfg['synthesis_len']} STFT at 16 kHz"
                f"{f', {lookahead} frames look-ahead' if lookahead else ''}, {latency_ms:.2f} ms latency; "
                f"trained on MIR-1K ({args.split} split)")
        out.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(net, str(out), name=name, description=desc, n_fft=cfg["n_fft"], hop=cfg["hop"],
                    synthesis_len=cfg["synthesis_len"], vad_threshold=thr, license=LICENSE, training=meta,
                    lookahead_frames=lookahead)
        print(f"wrote {out} (step {ck['state']['step']}, val vocal NSDR {ck['state'].get('best'):.2f} dB)")

    if args.export_only:
        do_export()
        return

    from tqdm import tqdm

    budget = args.minutes * 60
    t0 = time.time() - state["elapsed"]
    last_val = state["elapsed"]
    last_ckpt = time.time()
    run = dict(loss=0.0, sv=0.0, sa=0.0, bce=0.0, n=0)
    cpu_last = time.process_time()
    trim = stft.m - stft.hop
    teacher = None
    if args.distill:
        from .distill import Teacher

        teacher = Teacher(args.distill, dev)
    pbar = tqdm(total=int(budget), initial=int(state["elapsed"]), unit="s", desc=f"train {name}",
                mininterval=5.0, disable=not lead)
    net.train()
    while True:
        elapsed = time.time() - t0
        done = elapsed >= budget or (args.steps and state["step"] >= args.steps)
        validate = done or elapsed - last_val >= args.val_every * 60
        checkpoint = time.time() - last_ckpt > 120
        # rank 0's clock decides for every process
        done, validate, checkpoint, elapsed = sync.flags(done, validate, checkpoint, elapsed)
        if validate or checkpoint:
            with torch.no_grad():
                checksum = float(sum(p.double().sum() for p in net.parameters()))
            rngs = sync.gather(dict(mixer=mixer.rng.bit_generator.state, torch=torch.get_rng_state(),
                                    checksum=checksum))
            if any(abs(r["checksum"] - checksum) > 1e-6 * (1 + abs(checksum)) for r in rngs):
                raise RuntimeError("data-parallel processes hold different weights")
            state["elapsed"] = elapsed
            if validate:
                last_val = elapsed
        if validate and lead:
            thresholds = tuple(np.round(np.arange(0.2, 0.81, 0.05), 2))
            vn, an, accs = evaluate(net, stft, data, val_names, thresholds, lookahead)
            pick = "net"
            if ema is not None and state["step"] > 0:
                ema_scores = evaluate(ema, stft, data, val_names, thresholds, lookahead)
                if ema_scores[0] > vn:
                    vn, an, accs = ema_scores
                    pick = "ema"
            thr = max(accs, key=lambda t: (accs[t], -abs(t - 0.5)))
            row = dict(step=state["step"], minutes=round(elapsed / 60, 2), lr=opt.param_groups[0]["lr"],
                       train_loss=run["loss"] / max(run["n"], 1), train_sdr_v=run["sv"] / max(run["n"], 1),
                       train_sdr_a=run["sa"] / max(run["n"], 1), train_bce=run["bce"] / max(run["n"], 1),
                       val_nsdr_v=vn, val_nsdr_a=an, val_vad_acc=accs[thr], weights=pick)
            state["history"].append(row)
            with open(log_path, "a", newline="") as f:
                csv.writer(f).writerow([f"{v:.5g}" if isinstance(v, float) else v for v in row.values()])
            run = dict(loss=0.0, sv=0.0, sa=0.0, bce=0.0, n=0)
            pbar.write(f"step {state['step']} {elapsed / 60:.1f} min: train loss {row['train_loss']:.3f} "
                       f"val vocal NSDR {vn:.2f} dB accomp NSDR {an:.2f} dB vad acc {accs[thr]:.3f}@{thr}"
                       + (f" ({pick} weights)" if ema is not None else ""))
            if vn > state["best"]:
                state["best"] = vn
                state["best_step"] = state["step"]
                state["vad_threshold"] = float(thr)
                state["best_weights"] = pick
                chosen = ema.state_dict() if pick == "ema" else None
                if args.state:
                    best_weights = copy.deepcopy(chosen or net.state_dict())
                else:
                    save(best, rngs, chosen)
        if validate or checkpoint:
            if lead:
                save(last, rngs)
            last_ckpt = time.time()
        if done:
            break
        frac = elapsed / budget if not args.steps else state["step"] / args.steps
        lr = lr_at(frac, state["step"], args.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        v, a, lab = mixer.batch(args.batch)  # (batch, [2,] samples)
        v, a = torch.from_numpy(v).to(dev), torch.from_numpy(a).to(dev)
        # ym == mix up to float error; accompaniment = mixture - vocal estimate
        yv, ym, vad, n_frames = separate_batch(net, stft, v + a, lookahead)
        ya = ym - yv
        sl = slice(0, yv.shape[-1] - trim - lookahead * stft.hop)
        b = args.batch  # SDR of each example over all its channels

        def flat(x):
            return x[..., sl].reshape(b, -1)

        sdr_v = neg_sdr(flat(yv), flat(v))
        sdr_a = neg_sdr(flat(ya), flat(a))
        l_kd = torch.zeros((), device=dev)
        if teacher is not None:
            tv = teacher.vocals(v + a)
            ks = slice(0, min(sl.stop, tv.shape[-1] - teacher.tail))
            l_kd = neg_sdr(yv[..., ks].reshape(b, -1), tv[..., ks].reshape(b, -1)).mean()
        centres = torch.arange(n_frames) * stft.hop + stft.hop - stft.m // 2
        target = torch.from_numpy(lab)[:, centres].float().to(dev)
        keep = n_frames - lookahead
        l_bce = bce(vad[:, :keep].clamp(1e-6, 1 - 1e-6), target[:, :keep])
        loss = sdr_v.mean() + sdr_a.mean() + args.vad_weight * l_bce + args.distill_weight * l_kd
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sync.average_gradients(net.parameters())  # identical updates on every process
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        if ema is not None:
            # short-memory average early on, so the first validations see trained weights
            d = min(args.ema, (1 + state["step"]) / (10 + state["step"]))
            with torch.no_grad():
                e_p, n_p = list(ema.parameters()), list(net.parameters())
                torch._foreach_mul_(e_p, d)
                torch._foreach_add_(e_p, n_p, alpha=1 - d)
        state["step"] += 1
        state["audio_seconds"] += world * args.batch * args.seconds
        cpu_now = time.process_time()
        state["cpu_seconds"] += (cpu_now - cpu_last) * world  # rank 0's CPU time, times the processes
        cpu_last = cpu_now
        # the logged training figures are rank 0's share of the batch
        run["loss"] += float(loss.detach())
        run["sv"] += -float(sdr_v.detach().mean())
        run["sa"] += -float(sdr_a.detach().mean())
        run["bce"] += float(l_bce.detach())
        run["n"] += 1
        now = time.time()
        pbar.update(int(now - t0) - pbar.n)
        pbar.set_postfix(step=state["step"], sdr_v=f"{-float(sdr_v.detach().mean()):.2f}", refresh=False)
    pbar.close()
    sync.close()
    if lead:
        do_export()
