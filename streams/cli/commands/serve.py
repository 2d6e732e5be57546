"""`signals serve`: the review pages (queue, trajectories, labels) at http://127.0.0.1:8088/.

The same pages are on a worker's web port (SIGNALS_WEB_PORT); use this command when no worker runs,
or beside one (it then queries through the worker). docs/review.md shows the pages, the keys and
how to put them behind a token and TLS.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from streams.cli.commands.flags import add_connection_args, add_settings_flags, describe, settings_from_args


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="the review pages in the browser (queue, trajectory, labels)",
                                   description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    parser.add_argument("--host", dest="web_host", default=None,
                        help=f"interface to listen on ({describe('web_host')}; 0.0.0.0: every interface)")
    parser.add_argument("--port", dest="review_port", type=int, default=None,
                        help=f"port ({describe('review_port')}; 0: any free port)")
    add_settings_flags(parser, ("reviewer", "web_token_file"))
    add_connection_args(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    from streams.review.server import serve

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

        def started(url: str) -> None:
            guarded = " (token required)" if settings.web_token else ""
            print(f"signals serve: review pages at {url}/{guarded}; Ctrl-C stops", flush=True)

        await serve(settings.clickhouse_dsn, settings.clickhouse_database, host=settings.web_host,
                    port=settings.review_port, token=settings.web_token, reviewer=settings.reviewer,
                    started=started, stop=stop)

    try:
        asyncio.run(main())
    except OSError as error:
        print(f"signals serve: cannot listen on {settings.web_host}:{settings.review_port}: {error}; "
              "choose another --port", file=sys.stderr)
        return 3
    return 0
