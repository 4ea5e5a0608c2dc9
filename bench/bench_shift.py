"""Benchmark: a whole shift across processes (`cellctl shift`); prints markdown, exits 0.

Runs `cellctl shift --parts N` on a private copy of config/cell.yaml (journal and logs in a
temporary folder, free loopback ports, a namespace and ROS_DOMAIN_ID of its own), then reads
the production journal and reports wall time per part, the twin's real-time factor
(cell time / wall time over the parts' span, s/s) against the configured twin.time_scale
(below it by the reaction windows, in which the twin runs at real time while the controller
reacts: sim/devices/twin_server.py), and parts good / defective. Cycle times are in cell time
(the twin's clock).

    python bench/bench_shift.py              # 5 parts
    python bench/bench_shift.py --parts 10
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from cell_controller.core.journal import Journal
from cell_controller.testing import private_cell_file

CELLCTL = str(Path(sys.executable).with_name("cellctl"))
#: cellctl's own limit on a shift is the parts' cycle times; this guards against a hung run, s
TIMEOUT_PER_PART_S = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=5, help="parts in the shift (default 5)")
    args = parser.parse_args(argv)
    env = {**os.environ, "ROS_DOMAIN_ID": str(201 + os.getpid() % 30)}
    with tempfile.TemporaryDirectory(prefix="bench_shift_") as folder:
        config = private_cell_file(Path(folder), "bench")
        start = time.perf_counter()
        run = subprocess.run([CELLCTL, "shift", "--parts", str(args.parts), "--config", str(config)], env=env,
                             capture_output=True, text=True, stdin=subprocess.DEVNULL,
                             timeout=60 + TIMEOUT_PER_PART_S * args.parts)
        command_s = time.perf_counter() - start
        if run.returncode != 0:
            print(f"bench: cellctl shift failed (exit {run.returncode}):\n{run.stderr[-2000:]}", file=sys.stderr)
            return 1
        time_scale = yaml.safe_load(config.read_text())["twin"]["time_scale"]
        with Journal(Path(folder) / "journal.sqlite") as journal:
            shift_id = journal.last_shift_id()
            summary, parts = journal.summary(shift_id), journal.parts(shift_id)
    # cycle_time_s runs from one part's finish to the next (the first from its start), so
    # their sum is the cell time from the first start to the last finish.
    cell_s = sum(p.cycle_time_s for p in parts)
    wall_s = max(p.finished_at for p in parts) - min(p.started_at for p in parts)
    rtf = cell_s / wall_s
    print(f"`cellctl shift --parts {args.parts}`, twin.time_scale {time_scale:g}; shift {summary.status}, "
          f"{summary.parts} parts")
    print()
    print("| what | value | unit |")
    print("|---|---:|---|")
    print(f"| wall time per part, shift (reset to last record) | {summary.total_time_s / summary.parts:.2f} | s |")
    print(f"| wall time per part, whole command (start-up and stop included) | {command_s / summary.parts:.2f} | s |")
    print(f"| cycle time per part (cell time) | {summary.mean_cycle_time_s:.1f} | s |")
    print(f"| twin real-time factor (cell s / wall s, {cell_s:.0f} s over {wall_s:.1f} s) | {rtf:.2f} | x |")
    print(f"| real-time factor / configured time_scale | {rtf / time_scale:.2f} | x |")
    print(f"| parts good / defective | {summary.good} / {summary.defective} | parts |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
