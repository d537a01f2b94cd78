"""Draw the flagship model's reference behaviours (RM0-RM5) with Bokeh.

One figure per reference behaviour, each comparing the scenarios that show it. The
figures are saved as standalone HTML and PNG (through Debian's headless chromium and
chromedriver, HTML only without them) under docs-figures/ or the folder given as the
first argument; models/README.md shows the PNGs from models/figures/.

Run:  python examples/make_reference_figures.py models/figures
"""

import sys
from pathlib import Path

from bokeh.io import export_png, save
from bokeh.layouts import row
from bokeh.plotting import figure

import nestedsystems as ns

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "models" / "scenarios"
FIGURES = {
    "rm0_equilibrium": ["baseline"],
    "rm1_drift_and_tipping": ["baseline", "drift"],
    "rm2_worse_before_better": [
        "crisis_year",
        "sanctuary_adoption",
        "abandonment_month18",
        "adoption_while_overloaded",
    ],
    "rm3_funding_cut": ["baseline", "funding_cut_20", "funding_cut_20_with_reserves"],
    "rm4_restraint_ban": ["baseline", "restraint_ban_without_capability", "restraint_ban_with_capability"],
    "rm5_synergy": ["crisis_year", "combined_levers"],
}
OUTPUTS = ["Annual staff turnover", "Restraints per 1000 client days", "Organizational climate"]
COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"]


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else Path("docs-figures")
    out.mkdir(parents=True, exist_ok=True)
    model = ns.load(ROOT / "models" / "nested_systems.mdl")
    driver = _webdriver()
    for name, scenarios in FIGURES.items():
        runs = {
            s: ns.simulate(model, scenario=SCENARIOS / f"{s}.toml", return_columns=OUTPUTS) for s in scenarios
        }
        panels = []
        for output in OUTPUTS:
            fig = figure(title=output, width=380, height=300, x_axis_label="month")
            for colour, (scenario, run) in zip(COLOURS, runs.items(), strict=False):
                fig.line(run.times, run[output], legend_label=scenario, color=colour, line_width=2)
            fig.legend.label_text_font_size = "7pt"
            fig.legend.location = "top_left"
            fig.legend.background_fill_alpha = 0.6
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
