"""The what-if dashboard, the Bokeh way: ``bokeh serve dashboards/whatif``.

Optional arguments after ``--args``: a model file (default: models/nested_systems.mdl)
and ``--store PATH`` for saved scenarios. ``nestedsystems serve`` runs the same app.
"""

import sys

from bokeh.plotting import curdoc

from nestedsystems.dashboard.server import parse_app_arguments
from nestedsystems.dashboard.whatif import build_document

model_path, store = parse_app_arguments(sys.argv[1:])
build_document(curdoc(), model_path=model_path, store=store)
