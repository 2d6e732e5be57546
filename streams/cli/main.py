"""`signals` command line: one module per subcommand under streams/cli/commands/."""

from __future__ import annotations

import argparse
import importlib
import sys

from aiokafka.errors import KafkaConnectionError

from sinks.client import UnsupportedVersion
from streams.errors import CliError
from streams.settings import debug_enabled

COMMANDS = (
    "streams.cli.commands.analyze",
    "streams.cli.commands.worker",
    "streams.cli.commands.produce",
    "streams.cli.commands.schema",
    "streams.cli.commands.evaluate",
    "streams.cli.commands.calibrate",
    "streams.cli.commands.migrate",
    "streams.cli.commands.load",
    "streams.cli.commands.sample",
    "streams.cli.commands.export",
    "streams.cli.commands.stats",
    "streams.cli.commands.alerts",
    "streams.cli.commands.demo",
    "streams.cli.commands.replay",
    "streams.cli.commands.serve",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signals", description="Triage LLM agent trajectories with signals.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, UnsupportedVersion) as error:
        print(f"signals {args.command}: {error}", file=sys.stderr)
        return 2
    except KafkaConnectionError as error:
        unreachable = CliError("a reachable Kafka broker", f"{error} (from --kafka or SIGNALS_KAFKA)",
                               "start one with `bash infra/kafka/start.sh`, or point --kafka / SIGNALS_KAFKA at yours")
        print(f"signals {args.command}: {unreachable}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # a bug or an outage: say what, not a bare traceback
        if debug_enabled():
            raise
        print(f"signals {args.command}: unexpected {type(error).__name__}: {error}\n"
              "  (set SIGNALS_DEBUG=1 for the traceback; please report it if it looks like a bug)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
