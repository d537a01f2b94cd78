"""Build a model in Python, its equations written as in Vensim, and save it as a .mdl.

For a modeler who would rather write a model than draw it: a two-sector model of a
program's caseload and its staff's burnout is declared with `ns.ModelBuilder`
(stocks, flows, constants with slider ranges, lookups, SMOOTH and DELAY3, named
loops, one group per sector) and built. It starts in equilibrium; a six-month
referral surge from month 12 tips it: burnout slows the work, and the caseload
settles well above where it was long after the surge is over. The model is saved
to a .mdl that opens in Vensim with one view per sector, loaded back and run
again: the two runs agree to the last digit. A second build edits one equation (a
surge that never ends). The .mdl goes to a temporary folder, or to the path given
as the first argument.

Run:  python examples/modeler_build_in_python.py [caseload.mdl]
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

import nestedsystems as ns

MONTHS = (0, 6, 12, 18, 24, 36, 60)


def caseload_model() -> ns.Model:
    b = ns.ModelBuilder("Caseload and burnout", time_units="Month", final_time=60, time_step=0.25)

    # Clients: referrals fill the caseload, completed treatment empties it.
    clients = {"group": "Clients"}
    b.stock("Caseload", 120, inflows=["Referrals"], outflows=["Completions"], units="clients", **clients)
    b.flow(
        "Referrals",
        "Normal referrals * (1 + Referral surge * PULSE(12, 6))",
        units="clients/Month",
        **clients,
    )
    b.flow("Completions", "Caseload / Time to complete", units="clients/Month", **clients)
    b.auxiliary(
        "Time to complete",
        "Normal time to complete * Effect of burnout on throughput(Burnout)",
        units="Month",
        doc="Burnt-out staff take longer to bring a client's treatment to an end.",
        **clients,
    )
    b.constant("Normal referrals", 20, units="clients/Month", range=(0, 40, 1), **clients)
    b.constant(
        "Referral surge",
        0.5,
        units="Dmnl",
        range=(0, 1, 0.05),
        doc="Lever: extra referrals, as a share of normal, for six months from month 12.",
        **clients,
    )
    b.constant("Normal time to complete", 6, units="Month", **clients)
    b.lookup(
        "Effect of burnout on throughput", [(0, 1), (0.2, 1), (0.6, 1.5), (1, 2)], units="Dmnl", **clients
    )

    # Staff: workload breeds burnout, burnout drives staff away.
    staff = {"group": "Staff"}
    b.stock("Staff", 12, inflows=["Hiring"], outflows=["Quits"], units="people", **staff)
    b.flow(
        "Hiring",
        "DELAY3(Quits, Time to hire) + (Budgeted staff - Staff) / Time to hire",
        units="people/Month",
        doc="Leavers are replaced after a recruiting delay; vacancies are filled over the same time.",
        **staff,
    )
    b.flow("Quits", "Staff * Normal quit rate * (1 + 4 * Burnout)", units="people/Month", **staff)
    b.stock("Burnout", 0.2, inflows=["Burnout change"], units="Dmnl", **staff)
    b.flow("Burnout change", "(Indicated burnout - Burnout) / Burnout time", units="1/Month", **staff)
    b.auxiliary("Workload", "Caseload / (Staff * Caseload per staff)", units="Dmnl", **staff)
    b.auxiliary(
        "Perceived workload", "SMOOTH(Workload, 2)", units="Dmnl", doc="Workload as staff feel it.", **staff
    )
    b.auxiliary(
        "Indicated burnout", "Effect of workload on burnout(Perceived workload)", units="Dmnl", **staff
    )
    b.lookup(
        "Effect of workload on burnout",
        [(0, 0), (1, 0.2), (1.5, 0.6), (2, 0.9), (3, 1)],
        units="Dmnl",
        **staff,
    )
    b.constant("Budgeted staff", 12, units="people", range=(5, 20, 1), doc="Lever: funded posts.", **staff)
    b.constant("Caseload per staff", 10, units="clients/people", **staff)
    b.constant("Normal quit rate", 0.02, units="1/Month", **staff)
    b.constant("Time to hire", 4, units="Month", **staff)
    b.constant("Burnout time", 3, units="Month", **staff)

    b.loop("B1", "Work gets done", ["Caseload", "Completions"], "More clients, more completions.")
    chain = ["Workload", "Perceived workload", "Indicated burnout", "Burnout change", "Burnout"]
    b.loop(
        "R1",
        "Burnout slows the work",
        ["Caseload", *chain, "Time to complete", "Completions"],
        "A full caseload burns staff out, and burnt-out staff complete treatment more slowly.",
    )
    b.loop("R2", "Burnout drives staff away", ["Staff", *chain, "Quits"], "Fewer staff, more work each.")
    return b.build()


def report(run: ns.Run, title: str) -> None:
    print(title)
    for month in MONTHS:
        i = int(np.searchsorted(run.times, month))
        print(
            f"  month {month:2d}: caseload {run['Caseload'][i]:6.1f} clients, staff {run['Staff'][i]:5.2f}, "
            f"burnout {run['Burnout'][i]:.3f}"
        )


def main(path: Path) -> None:
    model = caseload_model()
    run = ns.simulate(model)
    report(run, "A six-month referral surge:")

    saved = ns.save(model, path)
    reloaded = ns.load(saved)
    again = ns.simulate(reloaded)
    agree = again.names == run.names and np.array_equal(again.values, run.values)
    print(f"saved to {saved.name} with views {sorted({v.group for v in reloaded.variables if v.group})}")
    print(f"reloaded: {len(reloaded.variables)} variables, loops {[loop.id for loop in reloaded.loops]}")
    print(f"runs agree: {agree} (largest difference {np.max(np.abs(again.values - run.values))})")
    for loop in ns.find_loops(model).named().loops:
        print(f"  {loop.id} {loop.name}: {loop.polarity.value}")

    endless = ns.ModelBuilder.from_model(model).equation(
        "Referrals", "Normal referrals * (1 + Referral surge)"
    )
    report(ns.simulate(endless.build()), "A surge that never ends:")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder) / "caseload.mdl")
