"""The classroom, the Bokeh way: ``bokeh serve dashboards/classroom [--args MODEL]``.

A model's causal loop diagram, which loop drives it over time, and the story in plain
words; without MODEL, the first teaching model.
"""

import sys

from bokeh.plotting import curdoc

from nestedsystems.dashboard.classroom import build_document
from nestedsystems.dashboard.server import parse_app_arguments

model_path, _ = parse_app_arguments(sys.argv[1:])
build_document(curdoc(), model_path=model_path)
