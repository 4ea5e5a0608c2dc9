"""Run every benchmark, one subprocess each, and write bench/results.md.

The contract: a bench script prints markdown to stdout (a line saying what ran, then
tables whose rows include its ratio against the peer measured in the same run) and
exits 0. This script adds a `## title` per bench, the command and its wall time, and a
header naming the date, the machine (nproc, CPU model) and the commit.

    python bench/run.py           # full runs (bench_bus streams for 60 s)
    python bench/run.py --quick   # a few minutes on a 2-core machine
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"


@dataclass(frozen=True)
class Bench:
    title: str
    script: str
    args: tuple[str, ...] = ()
    #: extra arguments for --quick (a bench that is already quick has none)
    quick_args: tuple[str, ...] = ()

    def argv(self, quick: bool) -> list[str]:
        return [sys.executable, str(HERE / self.script), *self.args, *(self.quick_args if quick else ())]


BENCHES = (
    Bench("Weld thermal kernel: numba vs numpy", "bench_thermal.py"),
    Bench("Bus: DdsNode vs raw cyclonedds-python, two processes", "bench_bus.py", quick_args=("--quick",)),
    Bench("Twin weld step vs panda-gym PandaReach-v3", "bench_twin.py", quick_args=("--quick",)),
    Bench("Batched weld env and PPO training fps vs independent Weld-v0 envs and Pendulum-v1", "bench_envs.py",
          quick_args=("--quick",)),
    Bench("PPO on the batched weld env: wall time to beat the fixed recipe on validation joints",
          "bench_train_to_recipe.py", quick_args=("--steps", "200000", "--joints", "50")),
    Bench("Held-out evaluation as Ray tasks on 1 and 2 workers vs the serial run", "bench_ray_eval.py",
          quick_args=("--joints", "20")),
    Bench("Calibrating the twin from recorded shifts of each reality-gap set vs the uncalibrated twin",
          "bench_calibrate.py", quick_args=("--parts", "4", "--sets", "far")),
    Bench("Whole shift across processes: twin speed vs time_scale", "bench_shift.py"),
    Bench("Cycle time at time scales 1, 5, 10, 20: the devices' timing, not the supervisor's", "bench_timescale.py",
          quick_args=("--scales", "1", "5", "20", "--parts-at-1", "5", "--parts", "5")),
    Bench("Device swap at runtime (twin, shadow, real) vs restarting the bridge", "bench_swap.py",
          quick_args=("--swaps", "15")),
    Bench("A flood of 1,000 OPC UA sessions: the cell's reads vs the unflooded server", "bench_flood.py",
          quick_args=("--reads", "200")),
    Bench("Welding loop over a shift: sense-to-actuate vs raw echo, loop vs in-process quality", "bench_loop.py",
          quick_args=("--parts", "10")),
    Bench("Operator page: topic-to-screen latency with 3 browsers, HMI CPU, vs a bare relay", "bench_hmi.py",
          quick_args=("--duration", "10")),
)


def cpu_model() -> str:
    """The first `model name` of /proc/cpuinfo, else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def commit() -> str:
    """The checkout's short commit hash, '+' when the tree has changes; '?' outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD")
    return (head + ("+" if git("status", "--porcelain") else "")) if head else "?"


def table_row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def run(bench: Bench, quick: bool) -> tuple[str, bool]:
    """The bench's markdown section and whether it succeeded."""
    argv = bench.argv(quick)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed_s = time.perf_counter() - start
    shown = " ".join(["python", str(Path(argv[1]).relative_to(HERE.parent)), *argv[2:]])
    lines = [f"## {bench.title}", "", f"`{shown}`: {elapsed_s:.0f} s wall, exit {done.returncode}", ""]
    if done.returncode == 0:
        lines.append(done.stdout.strip())
    else:
        lines += ["FAILED; the end of its output:", "", "```", (done.stdout + done.stderr)[-3000:].strip(), "```"]
    return "\n".join(lines) + "\n", done.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the benches' quick variants (a few minutes)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"where to write (default {RESULTS})")
    args = parser.parse_args(argv)
    header = [
        "# Benchmark results",
        "",
        "Written by `python bench/run.py" + (" --quick" if args.quick else "") + "`; each ratio is against a peer "
        "measured in the same run (design/performance.md).",
        "",
        "| date | machine | python | commit |",
        "|---|---|---|---|",
        table_row(time.strftime("%Y-%m-%d %H:%M %Z"), f"nproc {len(os.sched_getaffinity(0))}, {cpu_model()}",
                  platform.python_version(), commit()),
        "",
    ]
    sections, ok = [], True
    for bench in BENCHES:
        print(f"bench: {bench.script} ...", file=sys.stderr, flush=True)
        section, passed = run(bench, args.quick)
        sections.append(section)
        ok &= passed
    args.output.write_text("\n".join(header) + "\n" + "\n".join(sections))
    print(f"bench: wrote {args.output}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
