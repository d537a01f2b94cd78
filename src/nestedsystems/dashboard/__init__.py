"""Bokeh dashboards over the library: what-if for boards, an explorer for any model,
a classroom for feedback loops.

The apps are thin (architecture decision 9): each ``build_document(doc)`` lays out
data → figures → widgets → callbacks, and callbacks only call the library and reassign
``source.data``. The pieces they share live in one module each:

- `store`: named scenarios in SQLite;
- `levers`: sliders' bounds, words and validation from a model's constants;
- `cache`: load and compile a model once per server;
- `figures`: the charts (trajectories, small multiples, ghost baselines);
- `summary`: the plain-language comparison of a scenario with the baseline;
- `export`: CSV, PNG and a standalone HTML report;
- `scenario_panel`: the save / load / compare / delete widgets;
- `assumptions`: which assumptions are uncertain and by how much; `uncertainty`: their
  ensembles in the background, cached per scenario, and "how sure is this?" in words;
  `uncertainty_view`: the toggle, the bands on the charts and the loop-share table;
- `lesson`: a model's loops, scores and narrative for the classroom, computed once;
- `loop_diagram`: a causal loop diagram laid out for a screen;
- `whatif`, `explorer`, `classroom`: the apps;
- `server`: a Bokeh server started from Python, with TCP_NODELAY on its websockets.

Nothing here is imported by ``import nestedsystems``: the dashboards are an edge.
"""
