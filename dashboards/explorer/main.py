"""The explorer, the Bokeh way: ``bokeh serve dashboards/explorer --args MODEL``.

Any model gets a slider per constant, a variable picker, method and TIME STEP.
``--store PATH`` after ``--args`` says where saved scenarios go.
"""

import sys

from bokeh.plotting import curdoc

from nestedsystems.dashboard.explorer import build_document
from nestedsystems.dashboard.server import parse_app_arguments

model_path, store = parse_app_arguments(sys.argv[1:])
build_document(curdoc(), model_path=model_path, store=store)
