"""``rtsep melody``: the sung melody of songs, from their separated vocals, as CSV files."""

from __future__ import annotations

import sys
import time

from ..errors import RtsepError
from ..filemode import expand_inputs, prepare_outdir
from ..io.audiofile import read_audio


def add_parser(sub):
    p = sub.add_parser("melody", help="write the sung melody of songs as time_s,f0_hz CSV files",
                       description="Separate each song's vocals and track their pitch over the whole song "
                                   "(librosa pYIN at the file's rate, tuned for separated vocals; see "
                                   "rtsep/pitch/song.py). Writes OUTDIR/<name>.csv with the header time_s,f0_hz, "
                                   "one frame per hop, 0 Hz = unvoiced.")
    p.add_argument("inputs", nargs="+", metavar="SONG", help="audio files or folders of audio files")
    p.add_argument("-o", "--outdir", default="melody", help="output folder (default: ./melody)")
    p.add_argument("--separator", choices=("auto", "unet", "net", "none"), default="auto",
                   help="vocals from: auto = the U-Net when installed, else the mask network (default); "
                        "none = the inputs are vocal stems already")
    p.add_argument("--hop-ms", type=float, default=10.0,
                   help="frame step in ms (default 10; rounded to whole samples, the CSV's times are exact)")
    p.add_argument("--force", action="store_true", help="overwrite existing CSV files")
    return p


def _unet_available() -> bool:
    try:
        from ..unet import unet_model_path
    except ImportError:
        return False
    return unet_model_path().is_file()


def separated_vocals(audio, sample_rate: int, separator: str):
    """``frames x channels`` vocals of ``audio`` by the chosen separator (``auto``: U-Net when present)."""
    if separator == "none":
        return audio
    if separator == "unet" or (separator == "auto" and _unet_available()):
        try:
            from ..unet import UNetSeparator
        except ImportError:
            raise RtsepError("the U-Net separator (rtsep.unet) is not installed; use --separator net") from None
        return UNetSeparator(sample_rate, audio.shape[1]).separate(audio)[0]
    from ..filemode import separate_array
    return separate_array(audio, sample_rate).vocals


def run(args) -> int:
    from ..pitch import song_melody, write_melody_csv

    if not (0.5 <= args.hop_ms <= 64):
        raise RtsepError(f"--hop-ms must be between 0.5 and 64, got {args.hop_ms}")
    paths = expand_inputs(args.inputs)
    names = [p.stem for p in paths]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise RtsepError(f"two inputs are named {dup!r}: their outputs would collide in one folder")
    outdir = prepare_outdir(args.outdir)
    failed = 0
    for path in paths:
        out = outdir / f"{path.stem}.csv"
        if out.exists() and not args.force:
            print(f"skipped {path}: {out} exists (use --force to overwrite)")
            continue
        t0 = time.perf_counter()
        try:
            audio, sr = read_audio(path)
            vocals = separated_vocals(audio, sr, args.separator)
            melody = song_melody(vocals, sr, hop_s=args.hop_ms / 1000)
            write_melody_csv(out, melody)
        except RtsepError as exc:
            print(f"rtsep: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        dt = time.perf_counter() - t0
        dur = len(audio) / sr
        print(f"{path} -> {out} ({len(melody)} frames, {100 * melody.voiced_share():.0f} % voiced; "
              f"{dur:.1f} s in {dt:.1f} s, {dur / max(dt, 1e-9):.1f}x real time)")
    if failed:
        print(f"rtsep: {failed} of {len(paths)} input(s) failed", file=sys.stderr)
        return 1
    return 0
