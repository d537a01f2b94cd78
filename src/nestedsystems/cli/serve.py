"""``nestedsystems serve``: the dashboards on a local Bokeh server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "serve the what-if dashboard (or the explorer for any model) in the browser"

DESCRIPTION = """\
Start a Bokeh server with a dashboard and print its address. With no MODEL the
what-if dashboard opens on models/nested_systems.mdl; any other model opens in the
explorer (sliders for every constant). --app classroom shows a model's feedback
loops to a class at a projector: the first teaching model unless MODEL says
otherwise. Saved scenarios go to a SQLite file in your data folder unless --store
says where. The server listens on localhost only unless
--address says otherwise; stop it with Ctrl-C.

examples:
  nestedsystems serve
  nestedsystems serve teacup.mdl --port 5010
  nestedsystems serve models/nested_systems.mdl --app explorer --store team.sqlite
  nestedsystems serve --app classroom
  nestedsystems serve --address 0.0.0.0 --allow-websocket-origin board.example.org
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..dashboard.server import APPS

    parser = subparsers.add_parser(
        "serve", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", metavar="MODEL", nargs="?", help="model file (default: the flagship model)")
    parser.add_argument(
        "--app",
        metavar="APP",
        help=f"which dashboard: {', '.join(sorted(APPS))} (default: whatif for the flagship, "
        "explorer otherwise)",
    )
    parser.add_argument("--port", type=int, default=5006, help="port to listen on (0: any free port)")
    parser.add_argument("--address", default="localhost", help="interface to bind (default: localhost)")
    parser.add_argument(
        "--allow-websocket-origin",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="also accept pages served from this origin (repeatable; for proxies)",
    )
    parser.add_argument("--store", metavar="PATH", help="SQLite file for saved scenarios")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="server processes sharing the port, for many visitors at once (0: one per core)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from ..dashboard.server import make_server, serve_forever

    server = make_server(
        Path(args.model) if args.model else None,
        app=args.app,
        port=args.port,
        address=args.address,
        allow_websocket_origin=args.allow_websocket_origin,
        store=args.store,
        processes=args.processes,
    )
    serve_forever(server, announce=lambda url: print(f"nestedsystems: serving {url}", flush=True))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(handle(argparse.Namespace()))
