"""The ``rtsep`` command line: one sub-command per module in ``rtsep/commands``.

Every error a user can cause ends in one line on stderr and a non-zero exit status;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import RtsepError

# Each module exposes ``add_parser(subparsers)`` and ``run(args) -> int``.
COMMANDS = ("separate", "info", "demo", "devices", "live", "latency", "gui", "plugins", "process", "melody")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtsep", description="Real-time singing-voice separation.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
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
    try:
        return int(args._run(args) or 0)
    except RtsepError as exc:
        if args.debug:
            raise
        print(f"rtsep: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rtsep: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: still one line, never a traceback
        if args.debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"rtsep: error: {type(exc).__name__}: {msg} (run with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
