"""Benchmark: the cell's cycle time is the devices', whatever the twin's time scale; prints markdown.

Runs `cellctl shift` on the same joints (same cell seed, so the same seam variations and machine
cycles) at twin time scales 1, 5, 10 and 20 and compares the mean cycle time (cell time) of the
produced parts after the first (the first part's cycle runs from its feed, the others from the
previous part's release). The peer is time scale 1, where the twin runs in real time as a real
cell would: the ratio of every other scale's mean to it should be 1 within 2 %.

    python bench/bench_timescale.py                   # time scale 1 over 4 parts (3 cycles), others 6 parts
    python bench/bench_timescale.py --scales 1 5 20 --parts 4 --parts-at-1 4
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cell_controller.core.journal import Journal, Outcome
from cell_controller.testing import private_cell_file

CELLCTL = str(Path(sys.executable).with_name("cellctl"))
TOLERANCE = 0.02


def shift(time_scale: float, parts: int, seed: int, feed: str) -> tuple[list[float], float]:
    """The cycle times (cell s) of the produced parts after the first, and the command's wall time (s)."""
    env = {**os.environ, "ROS_DOMAIN_ID": str(150 + os.getpid() % 50), "CELL_BUS": "dds"}
    with tempfile.TemporaryDirectory(prefix="bench_timescale_") as folder:
        def edit(data: dict) -> None:
            data["twin"]["time_scale"] = time_scale
            data["cell"]["seed"] = seed
            data["policies"]["feed"] = feed
        config = private_cell_file(Path(folder), "bench", edit)
        start = time.perf_counter()
        run = subprocess.run([CELLCTL, "shift", "--parts", str(parts), "--config", str(config)], env=env,
                             capture_output=True, text=True, stdin=subprocess.DEVNULL,
                             timeout=120 + parts * 40 * 4 / time_scale)
        wall_s = time.perf_counter() - start
        if run.returncode != 0:
            raise RuntimeError(f"cellctl shift at time scale {time_scale:g} failed:\n{run.stderr[-1500:]}")
        with Journal(Path(folder) / "journal.sqlite", writer=False) as journal:
            records = journal.parts(journal.last_shift_id())
    produced = [r for r in records if r.outcome in (Outcome.GOOD, Outcome.DEFECTIVE)]
    return [r.cycle_time_s for r in produced], wall_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 5.0, 10.0, 20.0])
    parser.add_argument("--parts", type=int, default=6, help="parts per shift above time scale 1 (default 6)")
    parser.add_argument("--parts-at-1", type=int, default=5, help="parts at time scale 1 (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--feed", default="learned_feed",
                        help="feeding policy (default learned_feed: it keeps the buffer stocked without jams, so the "
                             "cycle is the robot's and the handling's, not the supply's)")
    args = parser.parse_args(argv)
    results, failures = {}, {}
    for scale in args.scales:
        parts = args.parts_at_1 if scale == 1.0 else args.parts
        try:
            results[scale] = (parts, *shift(scale, parts, args.seed, args.feed))
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            failures[scale] = str(error).splitlines()[0][:200]
    # the same parts everywhere: the second to the one before the last at the reference scale
    same = slice(1, min(args.parts_at_1, args.parts) - 1)
    reference = statistics.mean(results[min(results)][1][same])
    print(f"`cellctl shift` on the same joints (seed {args.seed}, feeding {args.feed}) at twin time scales "
          f"{', '.join(f'{s:g}' for s in args.scales)}; mean cycle time of the produced parts after the "
          f"first and before the last (the last's cycle is its press and release alone), cell time; "
          f"peer: time scale {min(results):g}")
    print()
    print("| time scale | parts | cycle of each part (s) | mean of parts 2.." f"{same.stop} | vs time scale 1 | within 2 % | wall time |")
    print("|---:|---:|---|---:|---:|:---:|---:|")
    for scale, (parts, cycles, wall_s) in results.items():
        mean = statistics.mean(cycles[same])
        ratio = mean / reference
        ok = "yes" if abs(ratio - 1.0) <= TOLERANCE else "no"
        each = ", ".join(f"{c:.1f}" for c in cycles)
        print(f"| {scale:g} | {parts} | {each} | {mean:.2f} s | {ratio:.3f}x | {ok} | {wall_s:.0f} s |")
    for scale, reason in failures.items():
        print(f"| {scale:g} | | failed: {reason} | | | no | |")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
