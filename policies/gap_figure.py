"""The model card's figure: each welding policy's imperfection rate on every reality-gap set, before and
after calibration.

"Before" are the shipped policies (tuned and trained on the nominal twin); "after" is the learned policy
fine-tuned on a calibrated twin (`cellctl calibrate` from a recorded cell, then `cellctl train weld --params
FILE --init MODEL`). Every policy welds the same held-out joints on each set's plant; the bars carry their
95 % (Wilson) intervals, and the table below the figure is printed as markdown.

    python -m cell_controller.policies.gap_figure --tuned runs/weld_far_tuned/ppo_final.zip \
        --tuned-name "learned, fine-tuned on the calibrated far twin" --out policies/shipped/weld_reality_gap.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cell_controller.sim.reality_gap import GAPS

from .evaluate import PolicyFigures, eval_seeds, evaluate_on_ray

#: the shipped policies of the figure (evaluate.default_policies names; learned_weld: the shipped model)
BEFORE = ("fixed_recipe", "pid_weld", "learned_weld")


def figures(joints: int, tuned: Path, ray_address: str, ray_cpus: int | None) -> dict[str, dict[str, PolicyFigures]]:
    """set -> policy label -> its figures on that set's plant (the same held-out joints on each)."""
    seeds = eval_seeds(joints)
    table: dict[str, dict[str, PolicyFigures]] = {}
    for name, plant in GAPS.items():
        shipped = evaluate_on_ray(list(BEFORE), seeds, None, address=ray_address, num_cpus=ray_cpus, plant=plant)
        (fine_tuned,) = evaluate_on_ray(["learned_weld"], seeds, str(tuned), address=ray_address, num_cpus=ray_cpus,
                                        plant=plant)
        table[name] = {**{f.name: f for f in shipped}, "fine_tuned": fine_tuned}
        print(f"{name}: " + ", ".join(f"{k} {v.imperfection_rate:.1%}" for k, v in table[name].items()), flush=True)
    return table


def draw(table: dict[str, dict[str, PolicyFigures]], labels: dict[str, str], png: Path) -> Path:
    """Grouped bars: one group per set, one bar per policy, with the 95 % intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets, policies = list(table), list(labels)
    width = 0.8 / len(policies)
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, policy in enumerate(policies):
        rates = np.array([100 * table[s][policy].imperfection_rate for s in sets])
        ci = np.array([[100 * table[s][policy].rate_ci[0], 100 * table[s][policy].rate_ci[1]] for s in sets])
        x = np.arange(len(sets)) + (i - (len(policies) - 1) / 2) * width
        errors = np.clip([rates - ci[:, 0], ci[:, 1] - rates], 0.0, None)  # a rate at 0 or 100 %: rounding
        ax.bar(x, rates, width, yerr=errors, capsize=2, label=labels[policy])
    ax.set_xticks(np.arange(len(sets)), [f"{s}" for s in sets])
    ax.set_xlabel("the plant the held-out joints are welded on (reality-gap set)")
    ax.set_ylabel("welds worse than ISO 5817 C, %")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return png


def markdown(table: dict[str, dict[str, PolicyFigures]], labels: dict[str, str]) -> str:
    rows = ["| plant | " + " | ".join(labels.values()) + " |", "|---|" + "---|" * len(labels)]
    for name, by_policy in table.items():
        cells = [f"{100 * f.imperfection_rate:.1f} % [{100 * f.rate_ci[0]:.1f}, {100 * f.rate_ci[1]:.1f}]"
                 for f in (by_policy[p] for p in labels)]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tuned", required=True, type=Path, help="the fine-tuned model zip")
    ap.add_argument("--tuned-name", default="learned, fine-tuned on the calibrated twin")
    ap.add_argument("--joints", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("weld_reality_gap.png"))
    ap.add_argument("--ray", default="local", metavar="ADDRESS", help="the Ray cluster (default: a local instance)")
    ap.add_argument("--ray-cpus", type=int, default=None)
    args = ap.parse_args(argv)
    if not args.tuned.is_file():
        ap.error(f"--tuned: {args.tuned}: no such model file")
    table = figures(args.joints, args.tuned, args.ray, args.ray_cpus)
    labels = {"fixed_recipe": "fixed recipe", "pid_weld": "PID", "learned_weld": "learned (nominal twin)",
              "fine_tuned": args.tuned_name}
    print(markdown(table, labels) + "\n", flush=True)
    print(f"figure: {draw(table, labels, args.out)}")


if __name__ == "__main__":
    main()
