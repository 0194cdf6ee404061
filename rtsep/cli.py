"""The ``rtsep`` command line: one sub-command per module in ``rtsep/commands``.

Every error a user can cause ends in one line on stderr and a non-zero exit status;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import RtsepError, one_line

# Each module exposes ``add_parser(subparsers)`` and ``run(args) -> int``.
COMMANDS = ("separate", "info", "demo", "devices", "live", "latency", "gui", "plugins", "process", "melody")


class _VersionAction(argparse.Action):
    """``--version``: rtsep's and its decoding/inference libraries' versions (looked up only
    when asked, from the installed packages' metadata: nothing imported)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version

        from . import __version__

        libs = []
        for name in ("onnxruntime", "av", "soundfile", "numpy"):
            try:
                libs.append(f"{name} {version(name)}")
            except PackageNotFoundError:
                libs.append(f"{name} missing")
        print(f"rtsep {__version__} (Python {sys.version.split()[0]}; {', '.join(libs)})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtsep", description="Real-time singing-voice separation.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action=_VersionAction, help="print the version and its main libraries' and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"rtsep.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"rtsep.commands.{name}":
                continue  # command not built yet
            raise
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    failed = True
    try:
        status = int(args._run(args) or 0)
        failed = False
        return status
    except RtsepError as exc:
        if args.debug:
            raise
        print(f"rtsep: error: {exc}{_audio_note()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rtsep: interrupted{_audio_note()}", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: still one line, never a traceback
        if args.debug:
            raise
        msg = one_line(exc) if str(exc).strip() else ""
        print(f"rtsep: error: {type(exc).__name__}: {msg} (run with --debug for details){_audio_note()}",
              file=sys.stderr)
        return 1
    finally:
        _release_audio(say=not failed)


def _audio_note() -> str:
    """Appended to the one error line when PortAudio did not answer (the audio server is gone)."""
    audio = sys.modules.get("rtsep.host.audio")
    return "; the audio server did not answer when the stream was closed" if audio and audio.stuck() else ""


def _release_audio(say: bool) -> None:
    """Close PortAudio with a bounded wait before the interpreter exits (sounddevice's own exit
    handler has no time limit, and aborts the process when the JACK server it was on has gone),
    so ``rtsep live`` / ``rtsep gui`` always exit. ``say``: one line if the server did not answer."""
    audio = sys.modules.get("rtsep.host.audio")
    if audio is None:
        return
    audio.shutdown()
    if say and audio.stuck():
        print("rtsep: warning: the audio server did not answer when the stream was closed; "
              "exiting without it", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
