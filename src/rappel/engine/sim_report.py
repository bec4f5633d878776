"""`rappel simulate`: ask the what-if simulator a question, print the answer."""

from __future__ import annotations

import argparse
import json
import sys

from rappel.domain.errors import ValidationFailed
from rappel.engine.pacing import DialingMode
from rappel.engine.scenarios import NAMES
from rappel.engine.sim_pacers import PACINGS
from rappel.engine.simulation import DayFigures, SimulationParams, SimulationReport, run_simulation
from rappel.telephony.sim import Distribution, DistributionKind

_ROWS: tuple[tuple[str, str, str], ...] = (
    ("talk min / agent-hour", "talk_min_per_agent_hour", "{:.1f}"),
    ("agent occupancy", "occupancy", "{:.1%}"),
    ("abandon rate (day)", "abandon_pct", "{:.2f} %"),
    ("abandon rate (worst hour)", "worst_hour_abandon_pct", "{:.2f} %"),
    ("calls / hour", "calls_per_hour", "{:.0f}"),
    ("live answers", "answered", "{}"),
    ("abandoned", "abandoned", "{}"),
    ("customers reached", "customers_reached", "{}"),
    ("customers handled", "customers_handled", "{}"),
    ("list cleared after", "cleared_after_h", "{:.2f} h"),
    ("list cleared (projected)", "projected_clear_h", "{:.1f} h"),
    ("increasePredictiveRatio", "increase_predictive_ratio_pct", "{:.0f} %"),
)


def format_report(report: SimulationReport) -> str:
    """A plain-text table: the run, the PROGRESSIVE baseline and the bound."""
    p = report.params
    lines = [
        f"{p.agents} agents, {p.customers} customers, {p.hours:g} h, seed {p.seed}; "
        f"answer {p.answer_rate:.0%}, busy {p.busy_rate:.0%}, machine {p.machine_rate:.0%}, "
        f"no answer {p.no_answer_rate:.0%}; ring {p.ring.mean:g} s, talk {p.talk.mean:g} s, "
        f"wrap {p.wrap.mean:g} s; abandonRate {p.abandon_rate_pct:g} %; "
        f"pacing {p.pacing}, scenario {p.scenario}",
        "",
        f"{'':28}{report.run.mode:>14}{report.baseline.mode + ' (baseline)':>26}",
    ]
    for label, name, fmt in _ROWS:
        lines.append(
            f"{label:28}{_cell(report.run, name, fmt):>14}{_cell(report.baseline, name, fmt):>26}"
        )
    lines += [
        "",
        f"clairvoyant bound: {report.bound_talk_min_per_agent_hour:.1f} talk min / agent-hour; "
        f"{report.run.mode} reaches {report.ratio_to_bound:.1%} of it, "
        f"PROGRESSIVE {report.baseline_ratio_to_bound:.1%}",
    ]
    return "\n".join(lines)


def _cell(figures: DayFigures, name: str, fmt: str) -> str:
    value = getattr(figures, name)
    return "-" if value is None else fmt.format(value)


def simulate_main(argv: list[str]) -> int:
    """Entry point of `rappel simulate`; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        params = SimulationParams(
            agents=args.agents,
            customers=args.customers,
            answer_rate=args.answer_rate,
            busy_rate=args.busy_rate,
            machine_rate=args.machine_rate,
            failed_rate=args.failed_rate,
            ring=Distribution(args.ring_s, DistributionKind.LOGNORMAL),
            talk=Distribution(args.talk_s, DistributionKind(args.talk_dist)),
            wrap=Distribution(args.wrap_s, DistributionKind(args.wrap_dist)),
            mode=DialingMode(args.mode),
            abandon_rate_pct=args.abandon_rate,
            retry_count=args.retry_count,
            retry_delay_s=args.retry_delay_s,
            hours=args.hours,
            seed=args.seed,
            pacing=args.pacing,
            scenario=args.scenario,
            start_hour=args.start_hour,
            amd_false_positive_pct=args.amd_false_positive,
        )
    except ValidationFailed as exc:
        print(f"rappel simulate: {exc.field}: {exc.message}", file=sys.stderr)  # noqa: T201
        return 2
    report = run_simulation(params)
    text = json.dumps(report.to_dict(), indent=2) if args.json else format_report(report)
    print(text)  # noqa: T201
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rappel simulate",
        description="Play a campaign day on the virtual clock: how fast do these agents "
        "get through this list, and at what abandon rate?",
    )
    add = parser.add_argument
    add("--agents", type=int, default=12)
    add("--customers", type=int, default=5000, help="size of the list")
    add("--answer-rate", type=float, default=0.25, help="share of dials a person answers")
    add("--busy-rate", type=float, default=0.10)
    add("--machine-rate", type=float, default=0.05)
    add("--failed-rate", type=float, default=0.0)
    add("--ring-s", type=float, default=15.0, help="mean ring time (log-normal)")
    add("--talk-s", type=float, default=180.0, help="mean talk time")
    add("--wrap-s", type=float, default=30.0, help="mean wrap-up time")
    kinds = [k.value for k in DistributionKind]
    add("--talk-dist", choices=kinds, default=DistributionKind.EXPONENTIAL.value)
    add("--wrap-dist", choices=kinds, default=DistributionKind.LOGNORMAL.value)
    add("--mode", choices=[m.value for m in DialingMode], default=DialingMode.PREDICTIVE.value)
    add("--abandon-rate", type=float, default=1.0, help="abandonRate target in percent")
    add("--retry-count", type=int, default=3)
    add("--retry-delay-s", type=float, default=1800.0)
    add("--hours", type=float, default=10.0, help="length of the day")
    add("--seed", type=int, default=1)
    add("--pacing", choices=PACINGS, default=PACINGS[0],
        help="rappel (the --mode) or one of VICIdial's adaptive methods")  # fmt: skip
    add("--scenario", choices=NAMES, default=NAMES[0], help="kind of day")
    add("--start-hour", type=float, default=10.0, help="hour of day the day starts")
    add("--amd-false-positive", type=float, default=0.0,
        help="live answers taken for machines, in percent (counted as abandons)")  # fmt: skip
    add("--json", action="store_true", help="print the report as JSON")
    return parser
