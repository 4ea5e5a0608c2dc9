"""Benchmark: the batched weld env and PPO training fps, against independent Weld-v0 envs and Pendulum-v1.

Prints markdown (bench/run.py's contract). Everything runs in this one process run, one measurement
at a time (the machine is shared):

* env steps/s with random actions, training setting (thickness_quantum_mm 0.1): the batched env
  (``WeldBatchEnv``, one process-kernel call per step) at N = 1, 8, 32, 128 against N independent
  ``Weld-v0`` envs in SB3's DummyVecEnv, and Pendulum-v1 (one env); medians over ``--reps``;
* PPO fps (env steps per wall second, rollouts *and* updates) with the weld hyperparameters
  (policies/hyperparams/weld.yml, 2048 steps per update: n_steps = 2048 / N) on the batched env
  (N = 8, 32), on DummyVecEnv x 1 and x 2 (the pipeline before the batched env, but with the new process
  kernel, which made each env faster too) and on Pendulum-v1.

    .venv/bin/python bench/bench_envs.py --quick     # about 2 min on 2 cores
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from cell_controller.policies.train import _OWN_KEYS, DEFAULT_HYPERPARAMS, _policy_kwargs, _schedules, load_hyperparams
from cell_controller.sim.envs import WELD_ENV_ID

TRAINING = {"thickness_quantum_mm": 0.1}
BATCH_SIZES = (1, 8, 32, 128)
STEPS_PER_UPDATE = 2048


def vec_env(kind: str, n: int, env_id: str = WELD_ENV_ID):
    """An SB3 VecEnv of n envs: ``batched`` (one WeldBatchEnv) or ``dummy`` (DummyVecEnv of gym.make)."""
    from stable_baselines3.common.env_util import make_vec_env

    if kind == "batched":
        from cell_controller.policies.batched import BatchedVecEnv

        env = BatchedVecEnv(n, **TRAINING)
        env.seed(0)
        return env
    kwargs = {"render_mode": None, **TRAINING} if env_id == WELD_ENV_ID else {}
    return make_vec_env(env_id, n_envs=n, seed=0, env_kwargs=kwargs)


def env_rate(env, steps: int) -> float:
    """Env steps per second (all envs' steps) of an SB3 VecEnv under random actions, after a warm-up."""
    rng = np.random.default_rng(0)
    low, high = env.action_space.low, env.action_space.high
    env.reset()
    for _ in range(20):  # warm-up (numba, correction cache)
        env.step(rng.uniform(low, high, (env.num_envs, *low.shape)).astype(np.float32))
    rounds = max(5, steps // env.num_envs)
    t = time.perf_counter()
    for _ in range(rounds):
        env.step(rng.uniform(low, high, (env.num_envs, *low.shape)).astype(np.float32))
    rate = rounds * env.num_envs / (time.perf_counter() - t)
    env.close()
    return rate


def ppo_fps(env, steps: int) -> float:
    """PPO with the weld.yml settings on ``env``, n_steps = STEPS_PER_UPDATE / N; fps after the first update."""
    from stable_baselines3 import PPO

    hp = load_hyperparams(DEFAULT_HYPERPARAMS, "ppo")
    kwargs = _schedules({k: v for k, v in hp.items() if k not in _OWN_KEYS})
    kwargs.update(n_steps=max(1, STEPS_PER_UPDATE // env.num_envs), policy_kwargs=_policy_kwargs(hp.get("policy_kwargs")))
    model = PPO(hp.get("policy", "MlpPolicy"), env, seed=0, device="cpu", verbose=0, **kwargs)
    model.learn(total_timesteps=STEPS_PER_UPDATE)  # warm-up: numba, the correction cache, torch
    t = time.perf_counter()
    model.learn(total_timesteps=steps, reset_num_timesteps=False)
    fps = steps / (time.perf_counter() - t)
    env.close()
    return fps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (about 2 min on 2 cores)")
    ap.add_argument("--reps", type=int, default=None)
    args = ap.parse_args()
    import numba
    import torch

    torch.set_num_threads(1)
    reps = args.reps or (2 if args.quick else 3)
    env_steps = 1500 if args.quick else 4000
    ppo_steps = STEPS_PER_UPDATE * (3 if args.quick else 8)
    t0 = time.perf_counter()
    load = os.getloadavg()[0]

    rates: dict[str, list[float]] = {}
    for _ in range(reps):  # alternate the peers
        for n in BATCH_SIZES:
            rates.setdefault(f"batched {n}", []).append(env_rate(vec_env("batched", n), env_steps))
            rates.setdefault(f"dummy {n}", []).append(env_rate(vec_env("dummy", n), env_steps))
        rates.setdefault("pendulum", []).append(env_rate(vec_env("dummy", 1, "Pendulum-v1"), env_steps * 5))
    med = {k: statistics.median(v) for k, v in rates.items()}

    print(f"machine: nproc {os.cpu_count()}, torch threads 1, numba threads {numba.get_num_threads()}, load average {load:.1f} at start "
          f"(shared machine: ratios only); env steps/s: median of {reps} runs of {env_steps} random-action steps "
          f"(all envs'), training setting (thickness_quantum_mm 0.1); PPO: {ppo_steps} steps after one warm-up "
          f"update, weld.yml settings, {STEPS_PER_UPDATE} steps per update")
    print()
    print("| N envs | batched env steps/s | N x Weld-v0 in DummyVecEnv | batched / DummyVecEnv | batched / Pendulum-v1 |")
    print("|---:|---:|---:|---:|---:|")
    for n in BATCH_SIZES:
        b, d = med[f"batched {n}"], med[f"dummy {n}"]
        print(f"| {n} | {b:.0f} | {d:.0f} | {b / d:.2f} | {b / med['pendulum']:.2f} |")
    print(f"| Pendulum-v1, 1 env | {med['pendulum']:.0f} | | | 1.00 |")
    print()
    runs = {
        "PPO, Pendulum-v1, DummyVecEnv x1": lambda: vec_env("dummy", 1, "Pendulum-v1"),
        "PPO, Weld-v0, DummyVecEnv x1": lambda: vec_env("dummy", 1),
        "PPO, Weld-v0, DummyVecEnv x2 (the pipeline before, on the new kernel)": lambda: vec_env("dummy", 2),
        "PPO, batched Weld-v0, N 8": lambda: vec_env("batched", 8),
        "PPO, batched Weld-v0, N 32": lambda: vec_env("batched", 32),
    }
    fps = {label: ppo_fps(make(), ppo_steps) for label, make in runs.items()}
    before = fps["PPO, Weld-v0, DummyVecEnv x2 (the pipeline before, on the new kernel)"]
    pendulum = fps["PPO, Pendulum-v1, DummyVecEnv x1"]
    print("| PPO training | fps (env steps / wall s) | vs Weld-v0 DummyVecEnv x2 | vs PPO on Pendulum-v1 |")
    print("|---|---:|---:|---:|")
    for label, value in fps.items():
        print(f"| {label} | {value:.0f} | {value / before:.2f} | {value / pendulum:.2f} |")
    print()
    print(f"wall {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
