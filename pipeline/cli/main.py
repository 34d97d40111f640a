"""The ``cxminer`` command line: parses arguments, calls flows or pipeline functions.

Exit codes: 0 success; 1 an operational error (one line on stderr: what, where, the
fix); 2 bad usage; 3 with ``--fail-on-quarantine`` when records were quarantined.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.cli.commands import EXIT_ERROR, EXIT_OK, EXIT_QUARANTINE, EXIT_USAGE
from pipeline.cli.parser import build_parser
from pipeline.config import load_config
from pipeline.errors import CxminerError
from pipeline.store import use_settings

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_QUARANTINE", "EXIT_USAGE", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        config = load_config(_config_path(args.config))
        use_settings(config.store)  # the readers commands call open their database with it
        return args.handler(args, config)
    except CxminerError as exc:
        print(f"cxminer: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("cxminer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`cxminer drift | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _config_path(given: str | None) -> Path | None:
    if given:
        return Path(given)
    default = Path("config.yaml")
    return default if default.exists() else None


if __name__ == "__main__":
    raise SystemExit(main())
