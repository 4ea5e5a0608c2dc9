"""Benchmark: full twin weld steps per second against panda-gym PandaReach-v3 env steps, same run.

A *twin weld step* is one `TwinCell.step(dt)` of the cell twin (sim/devices/models.py)
while the robot runs 'weld_seam' in its weld phase: `WeldProcess.step` (arc, thin-plate
thermal FD model, melt pool, bead, sensor samples), the programmed seam point at the
torch position, `CellWorld.solve_ik_rad` and setting the robot's joints, plus the
feeder and machine steps (idle here).  The step that ends the seam also grades the
weld (`WeldProcess.result`).  When a seam is done the program is restarted on the same
clamped part; the approach moves are not timed.

The peer is panda-gym's PandaReach-v3 (`gymnasium.make`, PyBullet DIRECT): `env.step`
with uniform random actions drawn beforehand; resets on episode end are not timed
(which favours the peer).  Both run in this process, one repetition of each in turn;
the table gives medians over the repetitions (design/performance.md).  Also measured,
to show where the twin's time goes: `WeldProcess.step` alone and `solve_ik_rad` alone.

    .venv/bin/python bench/bench_twin.py            # 7 repetitions, 1000 steps each
    .venv/bin/python bench/bench_twin.py --quick    # well under 60 s

Needs `pip install panda-gym` (3.0.7 works with gymnasium 1.x); without it the peer
rows say so and the script still exits 0.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from cell_controller.core.config import load_cell
from cell_controller.sim.devices.models import TwinCell
from cell_controller.sim.physics.joint import generate_joint
from cell_controller.sim.physics.weld import NOMINAL_PROCEDURE, WeldProcess
from cell_controller.sim.twin.world import CellWorld

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "cell.yaml"
DT_S = 0.02  # the twin's physics step (twin_server.PHYSICS_DT_S)
PART = "bench-1"
TARGET_RATIO = 5.0


@contextlib.contextmanager
def quiet_stdout():
    """Silence fd 1 (PyBullet's C code prints its connection arguments there)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


# ---------------------------------------------------------------------------------------- twin
class TwinWeld:
    """A TwinCell with one part clamped in the fixture and the robot in its weld phase."""

    def __init__(self, config_path: Path = CONFIG) -> None:
        config = load_cell(config_path)
        with quiet_stdout():
            self.world = CellWorld(seed=config.seed)
        self.cell = TwinCell(config, self.world)
        feeder = self.cell.feeder
        self._expect(feeder.release_blank())
        self._run_until(lambda: bool(feeder.buffer), 0.1)
        self._expect(feeder.feed_part(PART))
        self._run_until(lambda: feeder.fixture_part == PART, 0.1)
        self._expect(feeder.clamp())
        self._run_until(lambda: feeder.clamped, 0.1)
        self.seams = 0
        self._start_seam()

    @staticmethod
    def _expect(status: str) -> None:
        if status != "Accepted":
            raise RuntimeError(f"twin refused a bench command: {status}")

    def _run_until(self, cond, dt_s: float, max_steps: int = 100_000) -> None:
        for _ in range(max_steps):
            if cond():
                return
            self.cell.step(dt_s)
        raise RuntimeError("twin did not reach the bench's start state")

    def _start_seam(self) -> None:
        robot = self.cell.robot
        if robot.state == "running":
            robot.stop_program()
        self._expect(robot.start_program("weld_seam", PART))
        self._run_until(lambda: robot.phase == "weld", DT_S)

    def timed_steps(self, n: int, latencies: list[float] | None = None) -> float:
        """Run ``n`` weld-phase steps; return the seconds they took (restarts not counted)."""
        robot, step = self.cell.robot, self.cell.step
        total = 0.0
        clock = time.perf_counter
        for _ in range(n):
            if robot.phase != "weld":
                self.seams += 1
                self._start_seam()
            t = clock()
            step(DT_S)
            dt = clock() - t
            total += dt
            if latencies is not None:
                latencies.append(dt)
        return total

    def close(self) -> None:
        self.world.close()


def weld_process_rate(n: int, seed: int) -> float:
    """`WeldProcess.step` alone (nominal procedure, dt 20 ms), steps/s over up to ``n`` steps."""
    P = NOMINAL_PROCEDURE
    p = WeldProcess(generate_joint(seed), seed)
    t = time.perf_counter()
    k = 0
    while k < n and not p.done:
        p.step(DT_S, P.voltage_V, P.wire_feed_m_min, P.travel_speed_mm_s, P.torch_offset_mm, P.gas_flow_l_min)
        k += 1
    return k / (time.perf_counter() - t)


def ik_rate(world: CellWorld, n: int) -> float:
    """`solve_ik_rad` alone along the programmed seam (seeded from the current joints), calls/s."""
    orientation = world.torch_orientation_xyzw()
    saved = world.joint_positions_rad()
    points = [world.seam_point_mm(s) for s in np.linspace(0.0, world.seam_length_mm, n)]
    world.set_joint_positions_rad(world.solve_ik_rad(points[0], orientation))
    t = time.perf_counter()
    for p in points:
        world.set_joint_positions_rad(world.solve_ik_rad(p, orientation))
    rate = n / (time.perf_counter() - t)
    world.set_joint_positions_rad(saved)
    return rate


# ---------------------------------------------------------------------------------------- peer
class PandaReach:
    """panda-gym PandaReach-v3 with random actions."""

    def __init__(self, seed: int = 0) -> None:
        import gymnasium as gym
        import panda_gym  # noqa: F401  (registers the Panda envs)

        self.version = f"panda-gym {panda_gym.__version__}, gymnasium {gym.__version__}"
        with quiet_stdout():
            self.env = gym.make("PandaReach-v3")
            self.env.reset(seed=seed)
        self.env.action_space.seed(seed)
        self._rng = np.random.default_rng(seed)
        low, high = self.env.action_space.low, self.env.action_space.high
        self._actions = self._rng.uniform(low, high, size=(4096, low.shape[0])).astype(np.float32)
        self._i = 0

    def timed_steps(self, n: int) -> float:
        env, actions = self.env, self._actions
        total = 0.0
        clock = time.perf_counter
        for _ in range(n):
            a = actions[self._i % actions.shape[0]]
            self._i += 1
            t = clock()
            _, _, terminated, truncated, _ = env.step(a)
            total += clock() - t
            if terminated or truncated:
                env.reset()
        return total

    def close(self) -> None:
        self.env.close()


# ---------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="repetitions of each peer, alternating (default 7)")
    ap.add_argument("--steps", type=int, default=1000, help="twin weld steps per repetition (default 1000)")
    ap.add_argument("--peer-steps", type=int, default=1000, help="PandaReach steps per repetition (default 1000)")
    ap.add_argument("--quick", action="store_true", help="5 repetitions of 400 steps each (< 60 s)")
    args = ap.parse_args(argv)
    if args.quick:
        args.reps, args.steps, args.peer_steps = 5, 400, 400
    if args.reps < 1 or args.steps < 1 or args.peer_steps < 1:
        ap.error("--reps, --steps and --peer-steps must be >= 1")
    import numba

    numba.set_num_threads(1)

    t_setup = time.perf_counter()
    twin = TwinWeld()
    twin.timed_steps(20)  # load the numba caches, warm the correction table
    try:
        peer: PandaReach | None = PandaReach()
        peer.timed_steps(20)
        peer_note = peer.version
    except ImportError as error:  # panda-gym not installed
        peer, peer_note = None, f"peer unavailable ({error}); pip install panda-gym"
    setup_s = time.perf_counter() - t_setup

    twin_rate, peer_rate, ratio, lat = [], [], [], []
    for _ in range(args.reps):
        tr = args.steps / twin.timed_steps(args.steps, lat)
        twin_rate.append(tr)
        if peer is not None:
            pr = args.peer_steps / peer.timed_steps(args.peer_steps)
            peer_rate.append(pr)
            ratio.append(tr / pr)
    # components, after the alternating runs (same process, same machine state)
    wp_rate = statistics.median(weld_process_rate(args.steps, r) for r in range(min(args.reps, 3)))
    ik = statistics.median(ik_rate(twin.world, min(args.steps, 500)) for _ in range(min(args.reps, 3)))
    twin.close()
    if peer is not None:
        peer.close()
    lat_us = np.array(lat) * 1e6

    print(f"machine: nproc {len(os.sched_getaffinity(0))}, {platform.machine()}, python {platform.python_version()}, "
          f"numba {numba.__version__} (1 thread), pybullet DIRECT; {peer_note}; {args.reps} reps alternating, "
          f"{args.steps} twin / {args.peer_steps} peer steps each; setup {setup_s:.1f} s")
    print()
    print("| what | median | unit |")
    print("|---|---:|---|")
    tw = statistics.median(twin_rate)
    print(f"| twin weld step (TwinCell.step, dt {DT_S * 1e3:.0f} ms: weld process + seam point + IK + joints) "
          f"| {tw:.0f} | steps/s |")
    print(f"| twin weld step latency p50 / p99 (n={lat_us.size}) | {np.percentile(lat_us, 50):.0f} / "
          f"{np.percentile(lat_us, 99):.0f} | us |")
    if peer is not None:
        pr = statistics.median(peer_rate)
        r = statistics.median(ratio)
        verdict = "met" if r >= TARGET_RATIO else "NOT met"
        print(f"| peer: PandaReach-v3 env.step, random actions | {pr:.0f} | steps/s |")
        print(f"| twin / peer (median of per-rep ratios) | {r:.1f} (target >= {TARGET_RATIO:.0f}x: {verdict}) | x |")
    else:
        print("| peer: PandaReach-v3 env.step | n/a | steps/s |")
    print(f"| component: WeldProcess.step alone | {wp_rate:.0f} | steps/s |")
    print(f"| component: CellWorld.solve_ik_rad + set joints along the seam | {ik:.0f} | calls/s |")
    print(f"| seams welded during the timed steps | {twin.seams} | seams |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
