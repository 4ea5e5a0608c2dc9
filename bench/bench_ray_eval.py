"""Benchmark: the held-out evaluation fanned out as Ray tasks on 1 and 2 workers, against the serial run.

``cellctl evaluate weld --ray`` with a local Ray instance of 1 and then 2 CPUs (one task per CPU at a
time), and the serial in-process evaluation (the peer), all on the same joints and policies in this
one run; the tables must be equal. Prints markdown (bench/run.py's contract), with the steps per
second per worker that a cluster's worker can be expected to give.

    .venv/bin/python bench/bench_ray_eval.py --joints 40
"""
from __future__ import annotations

import argparse
import os
import time

from cell_controller.policies.evaluate import default_policies, eval_seeds, evaluate, evaluate_on_ray, to_markdown
from cell_controller.sim.envs.weld_spaces import default_cell_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--joints", type=int, default=40)
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray
    import torch

    torch.set_num_threads(1)
    config = default_cell_config()
    policies = default_policies(config)
    seeds = eval_seeds(args.joints)
    t = time.perf_counter()
    serial = evaluate(policies, seeds, config)
    wall = {"serial, this process": time.perf_counter() - t}
    tables = {}
    for cpus in (1, 2):
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
        evaluate_on_ray(list(policies), seeds[:2])  # warm-up: workers start, numba's cache loads
        t = time.perf_counter()
        tables[cpus] = evaluate_on_ray(list(policies), seeds)
        wall[f"Ray, {cpus} worker{'s' if cpus > 1 else ''}"] = time.perf_counter() - t
        ray.shutdown()
    steps = sum(round(r.weld_time_s / 0.1) for f in serial for r in f.results)  # control steps of 0.1 s
    same = all(to_markdown(tables[c]) == to_markdown(serial) for c in tables)
    print(f"machine: nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; {len(policies)} policies "
          f"({', '.join(policies)}) x {args.joints} held-out joints; tables equal to the serial run's: {same}")
    print()
    print("| evaluation | wall, s | vs 1 Ray worker | joints / s | control steps / s per worker |")
    print("|---|---:|---:|---:|---:|")
    one = wall["Ray, 1 worker"]
    for label, seconds in wall.items():
        workers = 2 if "2 workers" in label else 1
        joints = len(policies) * args.joints
        print(f"| {label} | {seconds:.1f} | {one / seconds:.2f} | {joints / seconds:.1f} | "
              f"{steps / seconds / workers:.0f} |")


if __name__ == "__main__":
    main()
