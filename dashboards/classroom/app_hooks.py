"""Server hooks of ``bokeh serve dashboards/classroom``: TCP_NODELAY on the websockets,
and the model's loops found and scored once before the first visitor (a broken model
still gets a page that says why)."""

import contextlib
import sys

from nestedsystems.dashboard.lesson import default_model, lesson_for
from nestedsystems.dashboard.server import enable_nodelay, parse_app_arguments
from nestedsystems.errors import NestedSystemsError


def on_server_loaded(server_context):
    enable_nodelay()
    model_path, _ = parse_app_arguments(sys.argv[1:])
    # A broken model is reported in each session's page, not here.
    with contextlib.suppress(NestedSystemsError):
        lesson_for(model_path or default_model())
