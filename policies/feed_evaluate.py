"""Evaluate feeding policies on held-out seeded episodes of the flow model; markdown tables.

Every policy runs the same episodes (`FlowModel` seeds from `EVAL_SEED_BASE`; training draws
its seeds below 2**31, the fixed-rate sweep uses `TUNE_SEED_BASE`) through the FeedPolicy
interface as the policy node runs them, on the feeder's statuses through its `FeedLoop` (`run_feed_policy`).

Figures per policy: throughput (parts per hour) and jams per episode, mean with a 95 %
t-interval; robot starved and blank-blocked time; the throughput ratio to a reference policy
with a 95 % interval of the paired per-episode differences; the bottleneck bound.

    python -m cell_controller.policies.feed_evaluate --episodes 200 --scenario shop --out eval.md
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cell_controller.core.policy import FeedPolicy
from cell_controller.core.types import FeedAction, FeedObservation
from cell_controller.core.baselines import FixedRateFeedPolicy
from cell_controller.sim.physics.flow import SCENARIOS, FlowModel, FlowParams, run_feed_policy

EVAL_SEED_BASE = 2**32
TUNE_SEED_BASE = 2**33

__all__ = ["EVAL_SEED_BASE", "TUNE_SEED_BASE", "FeedFigures", "eval_seeds", "evaluate_feed", "mean_ci",
           "bottleneck_bound_pph", "fixed_rate_sweep", "tuned_fixed_rate", "BufferRuleFeedPolicy", "to_markdown"]


def eval_seeds(n: int, start: int = EVAL_SEED_BASE) -> list[int]:
    """The first `n` held-out episode seeds."""
    return list(range(start, start + n))


def mean_ci(x, z_level: float = 0.95) -> tuple[float, float, float]:
    """Mean and its two-sided t-interval (normal for n > 30)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    m = float(x.mean())
    if n < 2:
        return m, m, m
    from scipy import stats

    h = float(stats.t.ppf(0.5 + z_level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return m, m - h, m + h


def bottleneck_bound_pph(params: FlowParams, seeds: list[int]) -> float:
    """Mean over the episodes of the serial cycle's bound, 3600 / (episode robot cycle + handling
    + latencies): no feeding policy finishes more parts per hour on average."""
    bounds = []
    for s in seeds:
        m = FlowModel(params, s)
        bounds.append(3600.0 / (m.robot_cycle_s + params.handling_s + 6 * params.command_latency_s))
    return float(np.mean(bounds))


class BufferRuleFeedPolicy:
    """A hand-written reference rule: keep the buffer topped up, stop the belt when it is full.

    Releases a blank when fewer than `target` blanks are in the buffer and none was released
    in the last `min_gap_s`; runs the belt at `speed_mm_s` unless the buffer is full.
    """

    name = "buffer_rule"

    def __init__(self, target: int = 2, min_gap_s: float = 8.0, speed_mm_s: float = 250.0):
        self.target, self.min_gap_s, self.speed_mm_s = target, min_gap_s, speed_mm_s

    def reset(self) -> None:
        """Stateless."""

    def act(self, observation: FeedObservation, dt_s: float) -> FeedAction:
        full = observation.buffer_count >= observation.buffer_capacity
        release = observation.buffer_count < self.target and observation.time_since_last_feed_s >= self.min_gap_s
        return FeedAction(0.0 if full else self.speed_mm_s, release)


@dataclass(frozen=True)
class FeedFigures:
    name: str
    episodes: int
    pph: tuple[float, float, float]
    jams: tuple[float, float, float]
    starved_s: float
    blocked_s: float
    ratio: tuple[float, float, float] | None  # to the reference, mean and 95 % CI (paired)
    per_episode_pph: np.ndarray


def evaluate_feed(policies: dict[str, FeedPolicy], seeds: list[int], params: FlowParams,
                  duration_s: float = 3600.0, reference: str | None = None) -> list[FeedFigures]:
    """Run every policy on every seed; figures per policy (ratio to `reference` when named)."""
    runs = {name: [run_feed_policy(p, params, s, duration_s) for s in seeds] for name, p in policies.items()}
    ref = np.array([r["parts_per_hour"] for r in runs[reference]]) if reference else None
    out = []
    for name, rs in runs.items():
        pph = np.array([r["parts_per_hour"] for r in rs])
        ratio = None
        if ref is not None:
            d = mean_ci(pph - ref)
            base = float(ref.mean())
            ratio = (1 + d[0] / base, 1 + d[1] / base, 1 + d[2] / base)
        out.append(FeedFigures(name, len(rs), mean_ci(pph), mean_ci([r["jams"] for r in rs]),
                               float(np.mean([r["starved_s"] for r in rs])),
                               float(np.mean([r["blocked_s"] for r in rs])), ratio, pph))
    return out


def fixed_rate_sweep(params: FlowParams, intervals_s, n_seeds: int = 30, duration_s: float = 3600.0,
                     speed_mm_s: float = 250.0) -> list[tuple[float, float, float]]:
    """(interval, mean parts/h, mean jams) of FixedRateFeedPolicy on tuning seeds (not evaluation seeds)."""
    seeds = eval_seeds(n_seeds, TUNE_SEED_BASE)
    rows = []
    for interval in intervals_s:
        rs = [run_feed_policy(FixedRateFeedPolicy(interval, speed_mm_s), params, s, duration_s) for s in seeds]
        rows.append((float(interval), float(np.mean([r["parts_per_hour"] for r in rs])),
                     float(np.mean([r["jams"] for r in rs]))))
    return rows


def tuned_fixed_rate(params: FlowParams, speed_mm_s: float = 250.0) -> FixedRateFeedPolicy:
    """Fixed-rate feeding tuned to the nominal cycle: one blank per `params.nominal_cycle_s`."""
    return FixedRateFeedPolicy(params.nominal_cycle_s, speed_mm_s)


def _fmt(t: tuple[float, float, float], digits: int = 1) -> str:
    return f"{t[0]:.{digits}f} [{t[1]:.{digits}f}, {t[2]:.{digits}f}]"


def to_markdown(figures: list[FeedFigures], bound_pph: float | None = None, reference: str | None = None) -> str:
    lines = ["| policy | parts/h (95 % CI) | jams/episode (95 % CI) | starved s/ep | blocked s/ep | "
             f"throughput vs {reference or 'reference'} (95 % CI) |",
             "|---|---|---|---|---|---|"]
    for f in figures:
        ratio = f"{100 * f.ratio[0]:.1f} % [{100 * f.ratio[1]:.1f}, {100 * f.ratio[2]:.1f}]" if f.ratio else "-"
        lines.append(f"| {f.name} | {_fmt(f.pph)} | {_fmt(f.jams, 2)} | {f.starved_s:.0f} | {f.blocked_s:.0f} | {ratio} |")
    if bound_pph is not None:
        lines.append(f"| bottleneck bound | {bound_pph:.1f} | - | - | - | - |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from cell_controller.policies.feed_learned import SHIPPED, LearnedFeedPolicy

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--hours", type=float, default=1.0, help="cell time per episode, h")
    ap.add_argument("--scenario", action="append", choices=sorted(SCENARIOS), help="repeatable (default: nominal, shop)")
    ap.add_argument("--policy", default=str(SHIPPED))
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    seeds = eval_seeds(args.episodes)
    text = []
    for sc in args.scenario or ["nominal", "shop"]:
        params = SCENARIOS[sc]
        t0 = time.monotonic()
        policies = {f"fixed_rate (nominal {params.nominal_cycle_s:.1f} s)": tuned_fixed_rate(params),
                    "learned_feed": LearnedFeedPolicy.load(args.policy),
                    "buffer_rule (hand-written)": BufferRuleFeedPolicy()}
        ref = next(iter(policies))
        figs = evaluate_feed(policies, seeds, params, args.hours * 3600.0, reference=ref)
        bound = bottleneck_bound_pph(params, seeds)
        text.append(f"### scenario `{sc}`: {args.episodes} episodes x {args.hours:g} h "
                    f"({time.monotonic() - t0:.0f} s wall)\n\n{to_markdown(figs, bound, 'fixed_rate')}\n")
        print(text[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(text))


if __name__ == "__main__":
    main()
