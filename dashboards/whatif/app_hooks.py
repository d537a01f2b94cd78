"""Server hooks of ``bokeh serve dashboards/whatif``: TCP_NODELAY on the websockets,
the model prepared once before the first visitor (a broken model still gets a
page that says why), and what lives as long as the server kept out of the garbage
collector's full passes."""

import contextlib
import sys

from nestedsystems.dashboard.cache import find_model, prepared_model
from nestedsystems.dashboard.server import enable_nodelay, freeze_long_lived, parse_app_arguments
from nestedsystems.errors import NestedSystemsError


def on_server_loaded(server_context):
    enable_nodelay()
    model_path, _ = parse_app_arguments(sys.argv[1:])
    # A broken model is reported in each session's page, not here.
    with contextlib.suppress(NestedSystemsError):
        prepared_model(model_path or find_model())
    freeze_long_lived()
