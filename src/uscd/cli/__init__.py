"""`uscd` command line: a thin shell over library calls.

Each subcommand lives in its own module with ``register(subparsers)``; errors the user can fix
arrive as UscdError and leave as one line on stderr with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from uscd import __version__
from uscd.errors import UscdError

SUBCOMMANDS = ("generate", "models", "lame", "eval", "calibrate", "report", "analyze", "doctor", "serve")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not the whole usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="uscd", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"uscd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"uscd.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"uscd.cli.{name}":
                continue  # subcommand not shipped in this build
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UscdError as exc:
        print(f"uscd {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"uscd {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug, not bad input: say so in one line unless asked for details
        if os.environ.get("USCD_DEBUG"):
            raise
        print(
            f"uscd {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set USCD_DEBUG=1 for the traceback and please report it)",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    sys.exit(main())
