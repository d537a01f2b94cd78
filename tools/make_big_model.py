"""Write ``models/benchmark/regional_services_300.mdl``: a 300+-variable Vensim model.

A state's mental-health system: four regional services (demand, waiting list,
treatment, workforce, quality and reputation, finance, outcomes) share a state
budget, a graduate-training pipeline and the political pressure that long waits
create. The regions repeat one structure, the way practitioners copy a sector
and rename it, but each has its own size, parameters, graphical-function
steepness and choice of delay and smoothing functions (SMOOTH, SMOOTHI, SMOOTH3,
SMOOTH3I, DELAY1, DELAY1I, DELAY3, DELAY3I, DELAY N, TREND), so a benchmark
exercises the loader's lowerings, not one pattern 300 times.

The model keeps to what all three engines of the benchmark run alike: pysimlin
0.8 refuses FORECAST and DELAY N or SMOOTH N of any order but 3, and its DELAY
FIXED is not Vensim's pipeline, so the forecast is written out with TREND and
every DELAY N is of order 3. Initial values of SMOOTHI and SMOOTH3I are written
as 1.0, not 1: PySD 3.14 keeps an integer initial value in an integer array and
truncates the smooth's input to an integer on the first step.

Each region starts close to its own equilibrium (the generator works the
help-seeking fraction, intake share, funding and the like out of the region's
size), so its behaviour comes from the need shock, the budget cycle and the
crisis grant rather than from an arbitrary start.

Run ``python tools/make_big_model.py [output.mdl]``; the .mdl is committed, so the
benchmarks and tests never depend on this script.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).resolve().parents[1] / "models" / "benchmark" / "regional_services_300.mdl"

# Lookups of the services60 model, as (x, y) points at an average slope; each
# region bends them by its own sensitivity around the point (1, 1).
SHAPES = {
    "reputation on help seeking": ((0, 0.3), (0.5, 0.6), (1, 1), (1.5, 1.26), (2, 1.36)),
    "wait on dropout": ((0, 0.5), (0.5, 0.7), (1, 1), (1.5, 1.5), (2, 2.2), (3, 3.2), (4, 3.5)),
    "workload on treatment duration": ((0, 1.3), (0.5, 1.1), (1, 1), (1.5, 0.85), (2, 0.72), (3, 0.6)),
    "quality on success": (
        (0, 0.2),
        (0.25, 0.35),
        (0.5, 0.55),
        (0.75, 0.8),
        (1, 1),
        (1.25, 1.1),
        (1.5, 1.15),
    ),
    "burnout on productivity": (
        (0, 1.05),
        (0.5, 1.05),
        (1, 1),
        (1.5, 0.9),
        (2, 0.75),
        (2.5, 0.62),
        (3, 0.55),
    ),
    "burnout on attrition": ((0, 0.8), (0.5, 0.85), (1, 1), (1.5, 1.6), (2, 2.5), (2.5, 3.2), (3, 3.5)),
    "budget on hiring": ((0, 0), (1, 0.2), (2, 0.5), (3, 0.8), (4, 1), (12, 1)),
    "workload on quality": ((0, 1.1), (0.5, 1.08), (1, 1), (1.5, 0.82), (2, 0.62), (2.5, 0.5), (3, 0.45)),
    "wait on reputation": ((0, 1.2), (0.5, 1.1), (1, 1), (2, 0.7), (3, 0.5), (4, 0.4)),
}


@dataclass(frozen=True)
class Region:
    name: str
    population: float
    prevalence: float
    clients: float  # in treatment at the start
    treatment_months: float
    caseload: float  # clients per clinician, the target
    acceptable_wait: float  # months
    dropout: float  # fraction of the waiting list a month
    success: float
    relapse: float
    cost_per_clinician: float
    shock_size: float
    shock_time: float
    grant_time: float
    sensitivity: float  # how steep this region's graphical functions are
    # Which Vensim function each delay or smoothing uses here
    perceived_wait: str  # "SMOOTH", "SMOOTH3", "SMOOTHI", "SMOOTH3I"
    relapses: str  # "DELAY1", "DELAY1I", "DELAY3", "DELAY N 3"
    hiring: str  # "DELAY1", "DELAY3", "DELAY3I", "DELAY N 3"


REGIONS = (
    Region(
        "Metro",
        910000,
        0.019,
        5200,
        5,
        24,
        1.0,
        0.06,
        0.72,
        0.14,
        10200,
        0.25,
        24,
        40,
        1.0,
        "SMOOTH",
        "DELAY3",
        "DELAY3",
    ),
    Region(
        "North Coast",
        230000,
        0.023,
        1400,
        6,
        22,
        1.5,
        0.05,
        0.70,
        0.16,
        9400,
        0.15,
        30,
        36,
        1.2,
        "SMOOTH3",
        "DELAY N 3",
        "DELAY1",
    ),
    Region(
        "Inland",
        150000,
        0.026,
        900,
        7,
        20,
        1.75,
        0.04,
        0.66,
        0.18,
        9100,
        0.3,
        18,
        48,
        0.8,
        "SMOOTHI",
        "DELAY1",
        "DELAY3I",
    ),
    Region(
        "Highlands",
        62000,
        0.024,
        330,
        8,
        18,
        2.5,
        0.035,
        0.64,
        0.2,
        9800,
        0.2,
        36,
        30,
        1.4,
        "SMOOTH3I",
        "DELAY1I",
        "DELAY N 3",
    ),
)

HOURS_PER_CLINICIAN = 120.0
RECRUITMENT_COST = 6000.0
RECRUITMENT_DELAY = {"Metro": 3, "North Coast": 4, "Inland": 5, "Highlands": 6}
TRAINING_SHARE = 0.3  # of the state's attrition replaced by its own graduates


def number(x: float) -> str:
    """A number as a modeler would type it: four significant digits, no exponent."""
    text = np.format_float_positional(float(x), precision=4, unique=True, fractional=False, trim="-")
    return text


def bend(points: tuple[tuple[float, float], ...], s: float) -> tuple[tuple[float, float], ...]:
    return tuple((x, round(max(0.0, 1 + s * (y - 1)), 3)) for x, y in points)


class Writer:
    """Collects Vensim equation blocks; long right-hand sides wrap as Vensim saves them."""

    def __init__(self) -> None:
        self.blocks: list[str] = []

    def group(self, name: str, doc: str) -> None:
        self.blocks.append(
            f"********************************************************\n\t.{name}\n"
            f"********************************************************~\n\t\t{doc}\n\t|"
        )

    def eq(self, name: str, rhs: str, units: str = "", doc: str = "") -> None:
        self.blocks.append(f"{name}=\n\t{wrap(rhs)}\n\t~\t{units}\n\t~\t{doc}\n\t|")

    def stock(self, name: str, flows: str, initial: str, units: str = "", doc: str = "") -> None:
        self.blocks.append(
            f"{name}= INTEG (\n\t{wrap(flows)},\n\t\t{initial})\n\t~\t{units}\n\t~\t{doc}\n\t|"
        )

    def lookup(self, name: str, points: tuple[tuple[float, float], ...], doc: str = "") -> None:
        xs, ys = zip(*points, strict=True)
        box = f"[({number(min(xs))},{number(min(0, *ys))})-({number(max(xs))},{number(max(ys))})]"
        pts = ",".join(f"({number(x)},{number(y)})" for x, y in points)
        self.blocks.append(f"{name}(\n\t{box},{pts})\n\t~\tDmnl\n\t~\t{doc}\n\t|")

    def text(self) -> str:
        return "{UTF-8}\n" + "\n\n".join(self.blocks) + "\n\n" + CONTROL + SKETCH


def wrap(rhs: str, width: int = 90) -> str:
    """Break after a comma or an operator outside quoted names, with Vensim's backslash."""
    lines, line, quoted = [], "", False
    for i, ch in enumerate(rhs):
        line += ch
        if ch == '"':
            quoted = not quoted
        nxt = rhs[i + 1] if i + 1 < len(rhs) else ""
        if not quoted and len(line) > width and ch in ",+-*/" and nxt == " ":
            lines.append(line)
            line = ""
    lines.append(line)
    return "\\\n\t\t".join(lines)


def r(region: Region, noun: str) -> str:
    return f"{region.name} {noun}"


def q(text: str) -> str:
    return f'"{text}"'


def smooth(kind: str, x: str, t: str, init: str) -> str:
    if kind.endswith("I"):
        return f"{kind}({x}, {t}, {init})"
    return f"{kind}({x}, {t})"


def delay(kind: str, x: str, t: str, init: str) -> str:
    if kind.startswith("DELAY N"):
        return f"DELAY N({x}, {t}, {init}, {kind.split()[-1]})"
    if kind.endswith("I"):
        return f"{kind}({x}, {t}, {init})"
    return f"{kind}({x}, {t})"


def region(w: Writer, g: Region) -> dict[str, float]:
    """One regional service; returns the equilibrium figures the state sector needs."""
    n = g.name
    intake = g.clients / g.treatment_months
    clinicians = g.clients / g.caseload
    waiting = intake * g.acceptable_wait
    dropouts = waiting * g.dropout
    relapses = intake * (g.success * g.relapse + (1 - g.success) * 0.4)
    new_referrals = intake + dropouts - relapses
    help_seeking = new_referrals / (g.population * g.prevalence - g.clients - waiting)
    hours_per_intake = 5.5
    intake_share = intake * hours_per_intake / (clinicians * HOURS_PER_CLINICIAN)
    attrition = clinicians * 0.012
    salaries = clinicians * g.cost_per_clinician
    spending = salaries + attrition * (1 - TRAINING_SHARE) * RECRUITMENT_COST
    s = g.sensitivity
    wait = q(f"Avg. wait time (months) - {n}")
    caseload = q(f"Caseload (clients per clinician) - {n}")

    w.group(f"{n} demand", f"Need in {n} and the referrals it turns into.")
    w.eq(r(g, "population"), number(g.population), "Person [0,?]", f"Residents of {n} (census estimate).")
    w.eq(r(g, "prevalence of need"), number(g.prevalence), "Dmnl [0,0.1]")
    w.eq(r(g, "need shock size"), number(g.shock_size), "Dmnl [0,1]", "Relative rise of need in a downturn.")
    w.eq(r(g, "need shock time"), number(g.shock_time), "Month [0,120]")
    w.eq(r(g, "demographic drift"), number(0.0005 * s), "1/Month", "Ageing and migration, per month.")
    w.eq(
        r(g, "people in need"),
        f"{r(g, 'population')} * {r(g, 'prevalence of need')} * (1 + STEP({r(g, 'need shock size')}, "
        f"{r(g, 'need shock time')})) * (1 + RAMP({r(g, 'demographic drift')}, 0, 120))",
        "Person",
    )
    w.eq(
        r(g, "normal help seeking fraction"),
        number(help_seeking),
        "1/Month [0,0.5]",
        "Share of people in need, not yet in contact, who seek help each month.",
    )
    w.lookup(
        r(g, "effect of reputation on help seeking lookup"),
        bend(SHAPES["reputation on help seeking"], s),
        "A poor reputation keeps people away; a good one draws them in.",
    )
    w.eq(
        r(g, "people in need not in contact"),
        f"MAX(0, {r(g, 'people in need')} - {r(g, 'clients in service')} - {r(g, 'waiting list')})",
        "Person",
    )
    w.eq(
        r(g, "new referrals"),
        f"{r(g, 'people in need not in contact')} * {r(g, 'normal help seeking fraction')} * "
        f"{r(g, 'effect of reputation on help seeking lookup')}({r(g, 'service reputation')})",
        "Person/Month",
    )
    w.eq(r(g, "total referrals"), f"{r(g, 'new referrals')} + {r(g, 'relapses')}", "Person/Month")
    w.eq(r(g, "trend averaging time"), number(6 + 2 * s), "Month [1,24]")
    w.eq(
        r(g, "referral trend"),
        f"TREND({r(g, 'total referrals')}, {r(g, 'trend averaging time')}, 0)",
        "1/Month",
        "Fractional growth of referrals, as managers read it in the monthly reports.",
    )

    w.group(f"{n} access", f"The waiting list in {n}: intake and dropout.")
    w.stock(
        r(g, "waiting list"),
        f"{r(g, 'total referrals')} - {r(g, 'intake')} - {r(g, 'dropouts')}",
        r(g, "initial waiting list"),
        "Person",
    )
    w.eq(r(g, "initial waiting list"), number(waiting), "Person [0,?]")
    w.eq(
        r(g, "intake capacity"),
        f"{r(g, 'clinician hours available')} * {r(g, 'fraction of time on intake')} / "
        f"{r(g, 'hours per intake')}",
        "Person/Month",
    )
    w.eq(
        r(g, "intake"),
        f"MIN({r(g, 'waiting list')} / 0.5, {r(g, 'intake capacity')})",
        "Person/Month",
        "Even with a free slot an assessment takes two weeks to arrange.",
    )
    w.eq(r(g, "fraction of time on intake"), number(intake_share), "Dmnl [0,0.5]")
    w.eq(r(g, "hours per intake"), number(hours_per_intake), "Hour/Person [1,20]")
    w.eq(
        wait,
        f"XIDZ({r(g, 'waiting list')}, {r(g, 'intake')}, 24)",
        "Month",
        "Little's law estimate; 24 months is reported when nobody is taken in.",
    )
    w.eq(r(g, "wait perception delay"), number(2 + s), "Month [0.5,12]")
    w.eq(
        r(g, "perceived wait time"),
        smooth(g.perceived_wait, wait, r(g, "wait perception delay"), r(g, "acceptable wait time")),
        "Month",
        "What referrers and families believe the wait is.",
    )
    w.eq(r(g, "acceptable wait time"), number(g.acceptable_wait), "Month [0.25,6]")
    w.eq(r(g, "relative wait"), f"{r(g, 'perceived wait time')} / {r(g, 'acceptable wait time')}", "Dmnl")
    w.lookup(r(g, "effect of wait on dropout lookup"), bend(SHAPES["wait on dropout"], s))
    w.eq(r(g, "normal dropout fraction"), number(g.dropout), "1/Month [0,0.5]")
    w.eq(
        r(g, "dropouts"),
        f"{r(g, 'waiting list')} * {r(g, 'normal dropout fraction')} * "
        f"{r(g, 'effect of wait on dropout lookup')}({r(g, 'relative wait')})",
        "Person/Month",
    )

    w.group(f"{n} treatment", f"Clients in treatment in {n}, discharges and relapse.")
    w.stock(
        r(g, "clients in service"),
        f"{r(g, 'intake')} - {r(g, 'successful discharges')} - {r(g, 'unsuccessful discharges')}",
        r(g, "initial clients in service"),
        "Person",
    )
    w.eq(r(g, "initial clients in service"), number(g.clients), "Person [0,?]")
    w.eq(r(g, "normal treatment duration"), number(g.treatment_months), "Month [1,24]")
    w.lookup(
        r(g, "effect of workload on treatment duration lookup"),
        bend(SHAPES["workload on treatment duration"], s),
        "Overloaded clinicians discharge early.",
    )
    w.eq(
        r(g, "treatment duration"),
        f"{r(g, 'normal treatment duration')} * "
        f"{r(g, 'effect of workload on treatment duration lookup')}({r(g, 'workload ratio')})",
        "Month",
    )
    w.eq(r(g, "discharges"), f"{r(g, 'clients in service')} / {r(g, 'treatment duration')}", "Person/Month")
    w.eq(r(g, "base success rate"), number(g.success), "Dmnl [0,1]")
    w.lookup(r(g, "effect of quality on success lookup"), bend(SHAPES["quality on success"], s))
    w.eq(
        r(g, "treatment success rate"),
        f"MIN(1, {r(g, 'base success rate')} * {r(g, 'effect of quality on success lookup')}"
        f"({r(g, 'quality of care')}))",
        "Dmnl",
    )
    w.eq(
        r(g, "successful discharges"),
        f"{r(g, 'discharges')} * {r(g, 'treatment success rate')}",
        "Person/Month",
    )
    w.eq(
        r(g, "unsuccessful discharges"),
        f"{r(g, 'discharges')} - {r(g, 'successful discharges')}",
        "Person/Month",
    )
    w.eq(r(g, "relapse fraction"), number(g.relapse), "Dmnl [0,1]")
    w.eq(r(g, "return fraction after unsuccessful discharge"), "0.4", "Dmnl [0,1]")
    w.eq(r(g, "relapse delay"), number(6 + 3 * s), "Month [1,36]")
    returning = (
        f"{r(g, 'successful discharges')} * {r(g, 'relapse fraction')} + {r(g, 'unsuccessful discharges')}"
        f" * {r(g, 'return fraction after unsuccessful discharge')}"
    )
    w.eq(
        r(g, "relapses"),
        delay(g.relapses, returning, r(g, "relapse delay"), number(relapses)),
        "Person/Month",
        "People who come back to the waiting list months after leaving treatment.",
    )
    w.stock(
        r(g, "cumulative recoveries"),
        f"{r(g, 'successful discharges')} * (1 - {r(g, 'relapse fraction')})",
        "0",
        "Person",
    )

    w.group(f"{n} workforce", f"Clinicians in {n}: recruitment, graduates, burnout and attrition.")
    w.stock(
        r(g, "clinicians"),
        f"{r(g, 'hiring')} + {r(g, 'graduate placements')} - {r(g, 'attrition')}",
        r(g, "initial clinicians"),
        "Person",
    )
    w.eq(r(g, "initial clinicians"), number(clinicians), "Person [0,?]")
    w.eq(r(g, "hours per clinician"), number(HOURS_PER_CLINICIAN), "Hour/(Month*Person)")
    w.eq(
        r(g, "clinician hours available"),
        f"{r(g, 'clinicians')} * {r(g, 'hours per clinician')} * "
        f"{r(g, 'effect of burnout on productivity lookup')}({r(g, 'burnout index')})",
        "Hour/Month",
    )
    w.eq(r(g, "target caseload"), number(g.caseload), "Person/Person [5,60]")
    w.eq(caseload, f"ZIDZ({r(g, 'clients in service')}, {r(g, 'clinicians')})", "Person/Person")
    w.eq(r(g, "workload ratio"), f"{caseload} / {r(g, 'target caseload')}", "Dmnl")
    w.eq(r(g, "burnout onset time"), number(3 + s), "Month [0.5,12]")
    w.eq(
        r(g, "burnout index"),
        f"SMOOTH3I({r(g, 'workload ratio')}, {r(g, 'burnout onset time')}, 1.0)",
        "Dmnl",
        "Sustained overload, not a bad week, wears people down.",
    )
    w.lookup(r(g, "effect of burnout on productivity lookup"), bend(SHAPES["burnout on productivity"], s))
    w.lookup(r(g, "effect of burnout on attrition lookup"), bend(SHAPES["burnout on attrition"], s))
    w.eq(r(g, "normal attrition fraction"), "0.012", "1/Month [0,0.1]")
    w.eq(
        r(g, "attrition"),
        f"{r(g, 'clinicians')} * {r(g, 'normal attrition fraction')} * "
        f"{r(g, 'effect of burnout on attrition lookup')}({r(g, 'burnout index')})",
        "Person/Month",
    )
    w.eq(r(g, "planning horizon"), number(6 + 6 * s), "Month [0,36]")
    w.eq(
        r(g, "expected clients"),
        f"{r(g, 'clients in service')} * MAX(0.5, 1 + {r(g, 'referral trend')} * {r(g, 'planning horizon')})",
        "Person",
    )
    w.eq(r(g, "desired clinicians"), f"{r(g, 'expected clients')} / {r(g, 'target caseload')}", "Person")
    w.eq(r(g, "hiring adjustment time"), number(4 + 2 * s), "Month [1,24]")
    w.eq(r(g, "budget months of cover"), f"ZIDZ({r(g, 'budget')}, {r(g, 'salary costs')})", "Month")
    w.lookup(
        r(g, "effect of budget on hiring lookup"),
        SHAPES["budget on hiring"],
        "Managers freeze posts when reserves fall below four months of payroll.",
    )
    w.eq(
        r(g, "replacement need"),
        f"MAX(0, {r(g, 'attrition')} - {r(g, 'graduate placements')})",
        "Person/Month",
    )
    w.eq(
        r(g, "vacancies opened"),
        f"MAX(0, {r(g, 'replacement need')} + ({r(g, 'desired clinicians')} - {r(g, 'clinicians')} + "
        f"{r(g, 'replacement need')} * {r(g, 'recruitment delay')} - {r(g, 'clinicians in recruitment')}) / "
        f"{r(g, 'hiring adjustment time')}) * {r(g, 'effect of budget on hiring lookup')}"
        f"({r(g, 'budget months of cover')})",
        "Person/Month",
    )
    w.eq(r(g, "recruitment delay"), number(RECRUITMENT_DELAY[n]), "Month [1,12]")
    w.eq(
        r(g, "hiring"),
        delay(
            g.hiring,
            r(g, "vacancies opened"),
            r(g, "recruitment delay"),
            number(attrition * (1 - TRAINING_SHARE)),
        ),
        "Person/Month",
    )
    w.stock(
        r(g, "clinicians in recruitment"),
        f"{r(g, 'vacancies opened')} - {r(g, 'hiring')}",
        number(attrition * (1 - TRAINING_SHARE) * RECRUITMENT_DELAY[n]),
        "Person",
        "Posts advertised and not yet filled, kept so that managers do not open a post twice.",
    )
    w.eq(
        r(g, "graduate share"),
        f"XIDZ({r(g, 'clinicians in recruitment')}, Clinicians in recruitment statewide, "
        f"{r(g, 'historical funding share')})",
        "Dmnl",
        "Graduates go where posts are open.",
    )
    w.eq(r(g, "graduate placements"), f"Graduates * {r(g, 'graduate share')}", "Person/Month")

    w.group(
        f"{n} quality", f"Quality of care in {n} falls with workload; reputation follows quality and waits."
    )
    w.lookup(r(g, "effect of workload on quality lookup"), bend(SHAPES["workload on quality"], s))
    w.eq(
        r(g, "quality of care"),
        f"{r(g, 'effect of workload on quality lookup')}({r(g, 'workload ratio')})",
        "Dmnl",
    )
    w.lookup(r(g, "effect of wait on reputation lookup"), bend(SHAPES["wait on reputation"], s))
    w.eq(
        r(g, "indicated reputation"),
        f"{r(g, 'quality of care')} * {r(g, 'effect of wait on reputation lookup')}({r(g, 'relative wait')})",
        "Dmnl",
    )
    w.eq(r(g, "reputation delay"), number(6 + 3 * s), "Month [1,36]")
    w.eq(
        r(g, "service reputation"),
        f"SMOOTHI({r(g, 'indicated reputation')}, {r(g, 'reputation delay')}, 1.0)",
        "Dmnl",
    )

    w.group(
        f"{n} finance",
        f"Reserves of the {n} service: its allocation and grants in, salaries and recruitment out.",
    )
    w.stock(r(g, "budget"), f"{r(g, 'funding')} - {r(g, 'spending')}", r(g, "initial budget"), "$")
    w.eq(r(g, "initial budget"), number(round(5 * salaries, -3)), "$ [0,?]")
    w.eq(
        r(g, "historical funding share"), "{share}", "Dmnl [0,1]", "Share of the state allocation last year."
    )
    w.eq(
        r(g, "funding share"),
        f"Weight of need in allocation * {r(g, 'need share')} + (1 - Weight of need in allocation) * "
        f"{r(g, 'historical funding share')}",
        "Dmnl",
    )
    w.eq(r(g, "need share"), f"ZIDZ({r(g, 'people in need')}, People in need statewide)", "Dmnl")
    w.eq(r(g, "crisis grant"), number(round(0.8 * salaries, -3)), "$/Month")
    w.eq(r(g, "crisis grant start"), number(g.grant_time), "Month")
    w.eq(
        r(g, "funding"),
        f"State funding * {r(g, 'funding share')} + {r(g, 'crisis grant')} * "
        f"PULSE({r(g, 'crisis grant start')}, 3)",
        "$/Month",
    )
    w.eq(r(g, "cost per clinician"), number(g.cost_per_clinician), "$/(Month*Person)")
    w.eq(
        r(g, "salary costs"),
        f"{r(g, 'clinicians')} * {r(g, 'cost per clinician')}",
        "$/Month",
        "Reserves are judged against the payroll: recruitment costs come and go.",
    )
    w.eq(
        r(g, "spending"), f"{r(g, 'salary costs')} + {r(g, 'vacancies opened')} * Recruitment cost", "$/Month"
    )

    w.group(f"{n} outcomes", f"Indicators the {n} board reads.")
    w.eq(r(g, "service coverage"), f"XIDZ({r(g, 'clients in service')}, {r(g, 'people in need')}, 1)", "Dmnl")
    w.eq(
        r(g, "crisis presentations"),
        f"({r(g, 'people in need not in contact')} + {r(g, 'waiting list')}) * 0.01 * "
        f"IF THEN ELSE({r(g, 'relative wait')} > 1, 1.8, 1)",
        "Person/Month",
    )
    w.eq(
        r(g, "crisis admissions"),
        f"DELAY1({r(g, 'crisis presentations')} * 0.12, 0.5)",
        "Person/Month",
        "A share of crises ends in a hospital bed within a fortnight.",
    )
    w.stock(r(g, "cumulative crisis admissions"), r(g, "crisis admissions"), "0", "Person")
    w.eq(
        q(f"Share seen within target (%) - {n}"),
        f"100 * MIN(1, XIDZ({r(g, 'acceptable wait time')}, {wait}, 1))",
        "Dmnl",
    )
    return {"spending": spending, "attrition": attrition, "wait": g.acceptable_wait}


def state(w: Writer, regions: tuple[Region, ...], figures: list[dict[str, float]]) -> None:
    names = [g.name for g in regions]
    total = sum(f["spending"] for f in figures)
    graduates = TRAINING_SHARE * sum(f["attrition"] for f in figures)

    def each(noun: str, sep: str = " + ") -> str:
        return sep.join(f"{n} {noun}" for n in names)

    w.group("State", "The state's allocation, its graduate pipeline and the politics of waiting.")
    w.eq(
        "State base funding",
        number(round(total, -3)),
        "$/Month",
        "Allocation to the four regions at the start.",
    )
    w.eq("State funding growth", "0.002", "1/Month/Month")
    w.eq("Funding growth start", "12", "Month")
    w.eq("Funding growth end", "60", "Month")
    w.eq("Political response time", "6", "Month [1,24]")
    w.eq("People in need statewide", each("people in need"), "Person")
    w.eq("Clinicians statewide", each("clinicians"), "Person")
    w.eq("Clients in service statewide", each("clients in service"), "Person")
    w.eq("Clinicians in recruitment statewide", each("clinicians in recruitment"), "Person")
    w.eq("Waiting list statewide", each("waiting list"), "Person")
    w.eq("Referrals statewide", each("total referrals"), "Person/Month")
    w.eq(
        q("Avg. wait, state-wide (months)"),
        "XIDZ(Waiting list statewide, " + each("intake") + ", 24)",
        "Month",
    )
    w.eq("State relative wait", q("Avg. wait, state-wide (months)") + " / State wait target", "Dmnl")
    w.eq("State wait target", number(1.4), "Month")
    w.eq(
        "Political pressure",
        "SMOOTH(State relative wait, Political response time)",
        "Dmnl",
        "Ministers hear about waits from the press, months after families do.",
    )
    w.lookup(
        "Effect of political pressure on funding lookup",
        ((0, 0.9), (0.5, 0.95), (1, 1), (1.5, 1.08), (2, 1.18), (3, 1.3)),
        "Long waits in the news loosen the purse strings, up to a point.",
    )
    w.eq(
        "Funding requested",
        "State base funding * (1 + RAMP(State funding growth, Funding growth start, Funding growth end)) * "
        "Effect of political pressure on funding lookup(Political pressure)",
        "$/Month",
    )
    w.eq("Budget cycle", "12", "Month", "Funding decided in one budget arrives over the next year.")
    w.eq("State funding", "DELAY3I(Funding requested, Budget cycle, State base funding)", "$/Month")
    w.eq("Weight of need in allocation", "0.3", "Dmnl [0,1]")
    w.eq("Recruitment cost", number(RECRUITMENT_COST), "$/Person")
    w.eq("Training places", number(graduates), "Person/Month", "Places funded at the state's university.")
    w.eq("Training duration", "18", "Month")
    w.eq("Graduates", "DELAY N(Training places, Training duration, Training places, 3)", "Person/Month")
    w.eq(
        q("Forecast referrals (12 months ahead)"),
        "Referrals statewide * (1 + TREND(Referrals statewide, 6, 0) * 12)",
        "Person/Month",
        "What the planning unit tells the minister.",
    )
    w.stock("Cumulative state spending", each("spending"), "0", "$")


CONTROL = """********************************************************
	.Control
********************************************************~
		Simulation Control Parameters
	|

FINAL TIME  = 120
	~	Month
	~	The final time for the simulation.
	|

INITIAL TIME  = 0
	~	Month
	~	The initial time for the simulation.
	|

SAVEPER  = 1
	~	Month [0,?]
	~	The frequency with which output is stored.
	|

TIME STEP  = 0.25
	~	Month [0,?]
	~	The time step for the simulation.
	|

"""

SKETCH = """\\\\\\---/// Sketch information - do not modify anything except names
V300  Do not put anything below this section - it will be ignored
*View 1
$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|-1--1--1|-1--1--1|72,72,100,0
///---\\\\\\
:L<%^E!@
9:Current
"""


def build() -> str:
    w = Writer()
    figures = [region(w, g) for g in REGIONS]
    state(w, REGIONS, figures)
    text = w.text()
    total = sum(f["spending"] for f in figures)
    for f in figures:
        text = text.replace("{share}", number(f["spending"] / total), 1)
    return text


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else OUTPUT
    out.write_text(build(), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
