"""``nestedsystems loops``: list a model's feedback loops, and which of them dominate."""

from __future__ import annotations

import argparse
import json
from typing import Any

HELP = "list a model's feedback loops; with --dominance, which loops drive it and when"

DESCRIPTION = """\
Find the feedback loops of MODEL: their ids (the author's R1, B2... where the model
names them), polarity and variables. With --dominance the model is simulated (Euler
at TIME STEP) and each loop's share of the change is computed by the Loops That
Matter method, with the periods in which one set of loops dominates and a
plain-language account of them. Stretches in which the stocks barely move (no
stock would cover 5% of its size over the whole run at that pace) are reported as
quiet, not as any loop's doing. When the model names its loops (as the flagship
does, R1 ... B5), --dominance compares the author's loops among themselves: in a
big model thousands of loops share the change and short balancing loops lead,
which is rarely the story a reader wants; --all-loops scores every loop found.

examples:
  nestedsystems loops models/nested_systems.mdl
  nestedsystems loops models/nested_systems.mdl --scenario models/scenarios/drift.toml --dominance
  nestedsystems loops models/nested_systems.mdl --dominance --all-loops
  nestedsystems loops sir.mdl --format dot > sir.dot
  nestedsystems loops sir.mdl --dominance --format json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "loops", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", metavar="MODEL", help="model file (.mdl, .xmile, .stmx)")
    parser.add_argument("--scenario", metavar="FILE", help="apply a scenario file before analysing")
    parser.add_argument("--format", choices=("table", "json", "dot"), default="table", help="output format")
    parser.add_argument(
        "--dominance", action="store_true", help="simulate and score the loops (Loops That Matter)"
    )
    parser.add_argument(
        "--named",
        action="store_true",
        help="only the loops the model's author named (the default with --dominance when there are any)",
    )
    parser.add_argument(
        "--all-loops",
        action="store_true",
        help="with --dominance, score every loop found, named or not",
    )
    parser.add_argument(
        "--top", type=int, default=40, metavar="N", help="rows of the table (default 40; 0 for all)"
    )
    parser.add_argument(
        "--max-loops", type=int, default=2000, metavar="N", help="stop after N loops (default 2000)"
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=None,
        metavar="N",
        help="longest loop searched, in causal-graph nodes",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from .. import load
    from ..dominance import loop_scores
    from ..errors import ParameterError
    from ..loops import find_loops
    from ..narrative import describe_periods, narrated_periods

    model = load(args.model)
    if args.scenario:
        from ..scenarios import apply_scenario, load_scenario

        model = apply_scenario(model, load_scenario(args.scenario))
    loops = find_loops(model, max_loops=args.max_loops, max_length=args.max_length)
    if args.named and args.all_loops:
        raise ParameterError("--named and --all-loops contradict each other: choose one")
    named = loops.named()
    if args.named or (args.dominance and not args.all_loops and len(named)):
        loops = named
    scores = loop_scores(model, loops=loops) if args.dominance else None
    periods = narrated_periods(scores) if scores is not None else []
    story = describe_periods(periods, scores) if scores is not None else []
    if args.format == "json":
        print(json.dumps(_as_json(loops, scores, story), indent=2, ensure_ascii=False))
    elif args.format == "dot":
        print(_as_dot(loops, scores))
    else:
        print(_as_table(loops, scores, story, args.top, quiet=any(p.quiet for p in periods)))
    return 0


def _as_json(loops: Any, scores: Any, story: list[str]) -> dict[str, Any]:
    from ..pace import QUIET_PACE

    shares = scores.mean_share() if scores is not None else {}
    result: dict[str, Any] = {
        "loops": [
            {
                "id": loop.id,
                "name": loop.name,
                "polarity": loop.polarity.value,
                "named": loop.named,
                "variables": list(loop.variables),
                "by_variable": list(loop.by_variable),
                "partition": loop.partition,
                "description": loop.description,
                **({"mean_share": round(shares[loop.id], 6)} if scores is not None else {}),
            }
            for loop in loops
        ],
        "partitions": [list(stocks) for stocks in loops.partitions],
        "complete": loops.complete,
        "notes": list(loops.notes),
    }
    if scores is not None:
        result["quiet_pace"] = QUIET_PACE
        result["dominant_periods"] = [
            {
                "partition": p.partition,
                "loops": list(p.loops),
                "polarity": p.polarity.value,
                "start": p.start,
                "end": p.end,
                "share": round(p.share, 6),
                "quiet": p.quiet,
            }
            for p in scores.dominant_periods(quiet=QUIET_PACE)
        ]
        result["narrative"] = story
    return result


def _as_table(loops: Any, scores: Any, story: list[str], top: int = 0, *, quiet: bool = False) -> str:
    from ..pace import QUIET_PACE

    shares = scores.mean_share() if scores is not None else {}
    header = ["id", "polarity", "part.", *(["share"] if scores is not None else []), "loop"]
    rows = []
    ordered = [loop for loop, _ in scores.ranking()] if scores is not None else list(loops)
    hidden = len(ordered) - top if 0 < top < len(ordered) else 0
    for loop in ordered[: len(ordered) - hidden]:
        title = f"{loop.name}: " if loop.named else ""
        chain = " → ".join((*loop.variables, loop.variables[0]))
        share = [f"{shares[loop.id]:.2f}"] if scores is not None else []
        rows.append([loop.id, loop.polarity.letter, str(loop.partition), *share, title + chain])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in [header, *rows]
    ]
    named = sum(loop.named for loop in loops)
    if hidden:
        lines.append(f"... and {hidden} more (--top 0 lists them all)")
    lines.extend(_by_variable(loops))
    lines.append("")
    lines.append(f"{len(loops)} loops ({named} named) in {len(loops.partitions)} cycle partitions")
    lines.extend(f"note: {note}" for note in loops.notes)
    if scores is not None:
        lines.append("")
        among = " among the named loops (--all-loops: every loop)" if named == len(loops) else ""
        lines.append(f"share: mean |relative loop score|{among} while its partition changes")
        if quiet:  # the story tells a quiet period: say what quiet means
            lines.append(
                f"quiet: where no stock would move by {QUIET_PACE:.0%} of its size over the whole run "
                "at that step's pace, no loop is said to drive the change"
            )
        lines.extend(story)
    return "\n".join(lines)


def _by_variable(loops: Any) -> list[str]:
    """In a subscripted model, the loops by variable, each with its loops by element."""
    if not any("[" in name for loop in loops for name in loop.variables):
        return []
    lines = ["", "by variable:"]
    for chain, members in loops.by_variable().items():
        ids = ", ".join(loop.id for loop in members)
        lines.append(f"  {' → '.join((*chain, chain[0]))}: {ids}")
    return lines


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a DOT string is a JSON string


def _as_dot(loops: Any, scores: Any) -> str:
    """The modeler's variables on some loop, linked as the loops link them."""
    graph = loops.graph
    edges: dict[tuple[str, str], str] = {}
    names: dict[str, str] = {}
    for loop in loops:
        groups = []
        for link in loop.links:
            groups.append(graph.nodes[link.source]["group"])
        for link in loop.links:
            source, target = graph.nodes[link.source]["group"], graph.nodes[link.target]["group"]
            if source != target:
                edges.setdefault((source, target), link.polarity.value)
        for group, name in zip(
            groups, (graph.nodes[g]["name"] if g in graph else g for g in groups), strict=True
        ):
            names[group] = name
    lines = ["digraph loops {", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
    stocks = {g for g in names if g in graph and graph.nodes[g]["state"]}
    for group, name in sorted(names.items()):
        shape = ", shape=box, style=solid" if group in stocks else ""
        lines.append(f"  {_quote(group)} [label={_quote(name)}{shape}];")
    for (source, target), sign in sorted(edges.items()):
        lines.append(f"  {_quote(source)} -> {_quote(target)} [label={_quote(sign)}];")
    for loop in loops:
        lines.append(f"  // {loop.id} ({loop.polarity.value}): {' -> '.join(loop.variables)}")
    lines.append("}")
    return "\n".join(lines)
