"""Draw the reference behaviours of the bundled models with Bokeh.

One figure per reference behaviour of the flagship model (RM0-RM5), each comparing the
scenarios that show it, and one per teaching model, comparing the runs its lesson
rests on. The figures are saved as standalone HTML and PNG (through Debian's headless
chromium and chromedriver, HTML only without them) under docs-figures/ or the folder
given as the first argument; models/README.md shows the PNGs from models/figures/.

Run:  python examples/make_reference_figures.py models/figures
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from bokeh.io import export_png, save
from bokeh.layouts import row
from bokeh.plotting import figure

import nestedsystems as ns

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"]


@dataclass(frozen=True)
class Behaviour:
    """A reference behaviour: runs of one model, compared on a few outputs.

    Each run is a label and either a scenario file's stem (models/scenarios) or
    constants to set.
    """

    model: str
    runs: dict[str, str | dict[str, float]]
    outputs: tuple[str, ...]


FLAGSHIP = "nested_systems.mdl"
FLAGSHIP_OUTPUTS = ("Annual staff turnover", "Restraints per 1000 client days", "Organizational climate")


def _scenarios(*names: str) -> dict[str, str | dict[str, float]]:
    return {name: name for name in names}


BEHAVIOURS = {
    "rm0_equilibrium": Behaviour(FLAGSHIP, _scenarios("baseline"), FLAGSHIP_OUTPUTS),
    "rm1_drift_and_tipping": Behaviour(FLAGSHIP, _scenarios("baseline", "drift"), FLAGSHIP_OUTPUTS),
    "rm2_worse_before_better": Behaviour(
        FLAGSHIP,
        _scenarios("crisis_year", "sanctuary_adoption", "abandonment_month18", "adoption_while_overloaded"),
        FLAGSHIP_OUTPUTS,
    ),
    "rm3_funding_cut": Behaviour(
        FLAGSHIP, _scenarios("baseline", "funding_cut_20", "funding_cut_20_with_reserves"), FLAGSHIP_OUTPUTS
    ),
    "rm4_restraint_ban": Behaviour(
        FLAGSHIP,
        _scenarios("baseline", "restraint_ban_without_capability", "restraint_ban_with_capability"),
        FLAGSHIP_OUTPUTS,
    ),
    "rm5_synergy": Behaviour(FLAGSHIP, _scenarios("crisis_year", "combined_levers"), FLAGSHIP_OUTPUTS),
    "teaching_two_stock_parallel_process": Behaviour(
        "teaching/two_stock_parallel_process.mdl",
        {
            "strain shock for 2 months": {"Shock size": 0.2, "Shock duration": 2},
            "strain shock for 6 months": {"Shock size": 0.2, "Shock duration": 6},
            "trapped, support for 6 months": {
                "Initial client distress": 0.79,
                "Support level": 0.4,
                "Support duration": 6,
            },
            "trapped, support for 12 months": {
                "Initial client distress": 0.79,
                "Support level": 0.4,
                "Support duration": 12,
            },
        },
        ("Client distress", "Staff strain"),
    ),
    "teaching_burnout_cycle": Behaviour(
        "teaching/burnout_cycle.mdl",
        {"no work limit": {}, "40-hour limit": {"Work limit policy": 1}},
        ("Hours worked", "Energy level", "Accomplishment"),
    ),
    "teaching_workforce_turnover_trap": Behaviour(
        "teaching/workforce_turnover_trap.mdl",
        {
            "20% demand surge for 3 months": {"Demand surge": 0.2, "Surge duration": 3},
            "20% demand surge for 12 months": {"Demand surge": 0.2, "Surge duration": 12},
            "hiring freeze for 6 months": {"Hiring freeze": 1, "Freeze duration": 6},
            "hiring freeze for 12 months": {"Hiring freeze": 1, "Freeze duration": 12},
        },
        ("Annual turnover", "Staff strain"),
    ),
    "teaching_fixes_that_fail": Behaviour(
        "teaching/fixes_that_fail.mdl",
        {
            "no change": {},
            "more restraint from month 12": {"Extra restraint": 0.4},
            "less restraint from month 12": {"Extra restraint": -0.1},
        },
        ("Agitation", "Mistrust"),
    ),
    "teaching_capability_trap": Behaviour(
        "teaching/capability_trap.mdl",
        {
            "no protection": {},
            "30% protected from month 12": {"Protected improvement share": 0.3},
            "30% protected for 3 months only": {"Protected improvement share": 0.3, "Protection duration": 3},
        },
        ("Waiting list", "Capability"),
    ),
}


def _run(model: ns.Model, how: str | dict[str, float], outputs: tuple[str, ...]) -> ns.Run:
    if isinstance(how, str):
        return ns.simulate(model, scenario=MODELS / "scenarios" / f"{how}.toml", return_columns=list(outputs))
    return ns.simulate(model, params=how, return_columns=list(outputs))


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else Path("docs-figures")
    out.mkdir(parents=True, exist_ok=True)
    driver = _webdriver()
    for name, behaviour in BEHAVIOURS.items():
        model = ns.load(MODELS / behaviour.model)
        runs = {label: _run(model, how, behaviour.outputs) for label, how in behaviour.runs.items()}
        panels = []
        for output in behaviour.outputs:
            fig = figure(title=output, width=380, height=380, x_axis_label=model.time_units.lower() or "time")
            for colour, (label, run) in zip(COLOURS, runs.items(), strict=False):
                fig.line(run.times, run[output], legend_label=label, color=colour, line_width=2)
            fig.legend.label_text_font_size = "8pt"
            fig.legend.spacing = 0
            fig.add_layout(fig.legend[0], "below")  # under the plot: never over a line
            fig.toolbar_location = None  # a picture for a README, not an interactive chart
            panels.append(fig)
        layout = row(*panels)
        save(layout, out / f"{name}.html", resources="cdn", title=name)
        if driver is not None:
            export_png(layout, filename=str(out / f"{name}.png"), webdriver=driver)
    if driver is not None:
        driver.quit()
    print(f"figures in {out}" + ("" if driver else " (HTML only: no chromium/chromedriver for PNG)"))


def _webdriver():  # type: ignore[no-untyped-def]
    """Debian's headless chromium for PNG export, or None where it is not installed."""
    try:
        from nestedsystems.dashboard.export import chromium_webdriver

        return chromium_webdriver()
    except Exception as error:  # no browser or driver: HTML only
        print(f"PNG export unavailable ({type(error).__name__}: {error})")
        return None


if __name__ == "__main__":
    main(sys.argv[1:])
