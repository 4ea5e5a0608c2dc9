"""Benchmark: thin-plate FTCS kernel (numba, 1 thread, vs the numpy reference) and WeldProcess.step.

Prints a markdown table.  Medians over ``--reps`` repetitions, alternating the
peers in the same process (design/performance.md).  Example::

    .venv/bin/python bench/bench_thermal.py --reps 7
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import numba
import numpy as np

from cell_controller.sim.physics.thermal import ftcs_advance_numba, ftcs_advance_numpy
from cell_controller.sim.physics.joint import generate_joint
from cell_controller.sim.physics.weld import NOMINAL_PROCEDURE, WeldProcess


def time_kernel(fn, T, buf, gx, gy, calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        fn(T, buf, gx, gy, 1.0, 0.2, 1e-4, 20.0, 0.006)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nx", type=int, default=161, help="cells along the seam (default: the twin's window)")
    ap.add_argument("--ny", type=int, default=121, help="cells across the seam")
    ap.add_argument("--substeps", type=int, default=3, help="sub-steps per kernel call")
    ap.add_argument("--calls", type=int, default=200, help="kernel calls per repetition (numba)")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--steps", type=int, default=1000, help="WeldProcess.step calls per repetition")
    args = ap.parse_args()
    numba.set_num_threads(1)

    rng = np.random.default_rng(0)
    T = 20.0 + 100.0 * rng.random((args.nx, args.ny))
    buf = np.empty_like(T)
    gx = rng.random((args.substeps, args.nx))
    gy = rng.random((args.substeps, args.ny))
    ftcs_advance_numba(T, buf, gx, gy, 1.0, 0.2, 1e-4, 20.0, 0.006)  # compile / load cache
    cells = args.nx * args.ny * args.substeps
    np_calls = max(1, args.calls // 8)
    nb_rate, np_rate = [], []
    for _ in range(args.reps):
        nb_rate.append(cells * args.calls / time_kernel(ftcs_advance_numba, T, buf, gx, gy, args.calls))
        np_rate.append(cells * np_calls / time_kernel(ftcs_advance_numpy, T, buf, gx, gy, np_calls))
    nb, nu = statistics.median(nb_rate), statistics.median(np_rate)

    joint = generate_joint(0)
    P = NOMINAL_PROCEDURE
    p = WeldProcess(joint, 0)
    p.step(0.02, P.voltage_V, P.wire_feed_m_min, P.travel_speed_mm_s, 0.0)  # compile / load caches
    lat = []
    step_rate = []
    for r in range(args.reps):
        p = WeldProcess(joint, r)
        t0 = time.perf_counter()
        for _ in range(min(args.steps, 1400)):
            t = time.perf_counter()
            p.step(0.02, P.voltage_V, P.wire_feed_m_min, P.travel_speed_mm_s, 0.0)
            lat.append(time.perf_counter() - t)
            if p.done:
                break
        step_rate.append(len(p.trace["x_mm"]) / (time.perf_counter() - t0))
    lat_us = np.array(lat) * 1e6

    print(f"machine: {platform.processor() or platform.machine()}, numba {numba.__version__} "
          f"({numba.get_num_threads()} thread), numpy {np.__version__}; grid {args.nx}x{args.ny}, "
          f"{args.substeps} sub-steps/call, {args.reps} reps")
    print()
    print("| what | median | unit |")
    print("|---|---|---|")
    print(f"| FTCS kernel, numba (1 thread) | {nb / 1e9:.3f} | Gcell/s |")
    print(f"| FTCS kernel, numpy reference | {nu / 1e9:.3f} | Gcell/s |")
    print(f"| numba / numpy | {nb / nu:.1f} | x |")
    print(f"| WeldProcess.step (dt 20 ms sim) | {statistics.median(step_rate):.0f} | steps/s |")
    print(f"| WeldProcess.step latency p50 / p99 (n={lat_us.size}) | {np.percentile(lat_us, 50):.0f} / "
          f"{np.percentile(lat_us, 99):.0f} | us |")


if __name__ == "__main__":
    main()
