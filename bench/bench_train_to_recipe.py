"""Benchmark: wall time for PPO on the batched weld env to beat the fixed recipe on the validation joints.

Trains ``cellctl train weld --envs N`` (weld.yml's PPO settings, its 2048 steps per update shared by
the N batched envs) for ``--steps``, or evaluates a finished run (``--run DIR``); then every
checkpoint, deterministic, on the validation joints (seeds 500..; training seeds, never evaluation
seeds), against the fixed recipe on the same joints (the peer, in the same run). A checkpoint's wall
time is when its file was written, counted from the training's start (the monitor file's t_start).
Prints markdown (bench/run.py's contract) and writes the learning curve PNG.

    .venv/bin/python bench/bench_train_to_recipe.py --envs 32 --steps 800000 --out runs/weld_batched
"""
from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from cell_controller.core.baselines import FixedRecipeWeldPolicy
from cell_controller.policies.evaluate import PolicyFigures, evaluate, validation_seeds
from cell_controller.policies.learned import LearnedWeldPolicy
from cell_controller.policies.train import plot_learning_curve, train
from cell_controller.sim.envs.weld_spaces import default_cell_config
from cell_controller.sim.reality_gap import gap


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(steps, path) of every checkpoint of a run, fewest steps first."""
    found = [(int(m.group(1)), p) for p in (run / "checkpoints").glob("ppo_*_steps.zip")
             if (m := re.fullmatch(r"ppo_(\d+)_steps\.zip", p.name))]
    return sorted(found)


def training_start(run: Path) -> float:
    """The wall-clock start of a run's training (its monitor file's t_start, s since the epoch)."""
    header = next((run / "monitor").glob("*.monitor.csv")).open().readline()
    return float(json.loads(header[1:])["t_start"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=800_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reality-gap", default=None, help="train on this plant (a set, or random: domain randomisation)")
    ap.add_argument("--out", default="runs/bench_train_to_recipe")
    ap.add_argument("--run", default=None, help="evaluate this finished run instead of training one")
    ap.add_argument("--joints", type=int, default=100, help="validation joints per checkpoint")
    ap.add_argument("--every", type=int, default=1, help="evaluate every k-th checkpoint")
    ap.add_argument("--gaps", default="nominal", help="comma-separated reality-gap sets to validate on")
    ap.add_argument("--plot", default=None, help="learning curve PNG (default: <run>/learning_curve.png)")
    args = ap.parse_args()
    run = Path(args.run or args.out)
    if args.run is None:
        train("ppo", None, args.steps, args.seed, run, progress_bar=False, batched_envs=args.envs,
              reality_gap=args.reality_gap)
    config = default_cell_config()
    seeds = validation_seeds(args.joints)
    plants = {name: gap(name) for name in args.gaps.split(",")}
    t0 = time.perf_counter()
    recipe = {name: evaluate({"fixed_recipe": FixedRecipeWeldPolicy(config.procedure)}, seeds, config, plant=plant)[0]
              for name, plant in plants.items()}
    start = training_start(run)
    rows: list[tuple[int, float, dict[str, PolicyFigures]]] = []
    for steps, path in checkpoints(run)[args.every - 1::args.every]:
        policy = LearnedWeldPolicy(config, path)
        rows.append((steps, path.stat().st_mtime - start,
                     {name: evaluate({path.name: policy}, seeds, config, plant=plant)[0] for name, plant in plants.items()}))
    info = json.loads((run / "run.json").read_text())
    bad = {name: sum(r.defective for r in f.results) for name, f in recipe.items()}
    print(f"run {run}: {info['steps']} steps in {info['wall_s']:.0f} s ({info['steps'] / info['wall_s']:.0f} fps), "
          f"{info['hyperparams'].get('n_envs')} envs, vec_env {info['hyperparams'].get('vec_env')}, seed {info['seed']}, "
          f"plant {(info['hyperparams'].get('env_kwargs') or {}).get('reality_gap', 'nominal')}; {args.joints} validation "
          f"joints (seeds {seeds[0]}..{seeds[-1]}); fixed recipe worse than C: "
          + ", ".join(f"{name} {n}/{args.joints}" for name, n in bad.items())
          + "; kJ per good weld: " + ", ".join(f"{name} {f.energy_per_good_kJ:.1f}" for name, f in recipe.items()))
    print()
    print("| checkpoint, steps | wall time of training, s | "
          + " | ".join(f"{name}: worse than C (vs recipe), kJ per good weld" for name in plants) + " |")
    print("|---:|---:|" + "---:|" * len(plants))
    first_better = None
    for steps, wall_s, by_plant in rows:
        worse = {name: sum(r.defective for r in f.results) for name, f in by_plant.items()}
        if first_better is None and all(worse[name] < bad[name] for name in plants):
            first_better = (steps, wall_s)
        cells = [f"{worse[name]}/{args.joints} ({worse[name] / bad[name] if bad[name] else float('nan'):.2f}), "
                 f"{f.energy_per_good_kJ:.1f}" for name, f in by_plant.items()]
        print(f"| {steps} | {wall_s:.0f} | " + " | ".join(cells) + " |")
    print()
    if first_better:
        print(f"first checkpoint better than the fixed recipe on every plant listed: {first_better[0]} steps, "
              f"{first_better[1]:.0f} s ({first_better[1] / 60:.1f} min) of training")
    else:
        print("no checkpoint beat the fixed recipe")
    first = next(iter(plants))
    png = plot_learning_curve(run, args.plot or run / "learning_curve.png",
                              title=f"PPO on the batched Weld-v0 ({info['hyperparams'].get('n_envs')} envs)",
                              reference={f"fixed recipe (validation joints, {first})": bad[first] / args.joints},
                              marks={"first better than the recipe": first_better[0]} if first_better else None)
    print(f"learning curve: {png}; evaluation {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
