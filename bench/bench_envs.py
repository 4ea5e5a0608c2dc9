"""Benchmark: WeldEnv step rate and PPO training fps on WeldEnv vs PPO on Pendulum-v1 (the peer).

Prints markdown (bench/run.py's contract).  Everything runs in this one process run,
alternating nothing heavier than one PPO run at a time (the machine is shared):

* env steps/s with random actions: WeldEnv (training setting, thickness_quantum_mm 0.1, and
  as generated) and Pendulum-v1, medians over ``--reps``;
* PPO fps (env steps per wall second, rollouts *and* updates) with the weld hyperparameters
  (policies/hyperparams/weld.yml) on WeldEnv with DummyVecEnv 1 env, DummyVecEnv 2 envs and
  SubprocVecEnv 2 envs, and on Pendulum-v1 (DummyVecEnv 1 env, same PPO settings).

    .venv/bin/python bench/bench_envs.py --quick     # < 2 min on 2 cores
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import gymnasium as gym

import cell_controller.sim.envs  # noqa: F401 - registers cell_controller/Weld-v0
from cell_controller.policies.train import DEFAULT_HYPERPARAMS, _policy_kwargs, load_hyperparams

WELD = "cell_controller/Weld-v0"


def env_rate(env_id: str, steps: int, **kwargs) -> float:
    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(50):  # warm-up (numba, caches)
        _, _, te, tr, _ = env.step(env.action_space.sample())
        if te or tr:
            env.reset()
    t = time.perf_counter()
    for _ in range(steps):
        _, _, te, tr, _ = env.step(env.action_space.sample())
        if te or tr:
            env.reset()
    rate = steps / (time.perf_counter() - t)
    env.close()
    return rate


def ppo_fps(env_id: str, n_envs: int, vec: str, steps: int, env_kwargs: dict | None = None) -> float:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    hp = load_hyperparams(DEFAULT_HYPERPARAMS, "ppo")
    cls = {"dummy": DummyVecEnv, "subproc": SubprocVecEnv}[vec]
    env = make_vec_env(env_id, n_envs=n_envs, seed=0, vec_env_cls=cls,
                       env_kwargs={"render_mode": None, **(env_kwargs or {})})
    n_steps = max(64, min(int(hp["n_steps"]), steps // n_envs))
    model = PPO("MlpPolicy", env, n_steps=n_steps, batch_size=min(int(hp["batch_size"]), n_steps * n_envs),
                n_epochs=int(hp["n_epochs"]), policy_kwargs=_policy_kwargs(hp.get("policy_kwargs")),
                seed=0, device="cpu", verbose=0)
    t = time.perf_counter()
    model.learn(total_timesteps=steps)
    fps = model.num_timesteps / (time.perf_counter() - t)
    env.close()
    return fps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (< 2 min on 2 cores)")
    ap.add_argument("--reps", type=int, default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    reps = args.reps or (2 if args.quick else 5)
    env_steps = 600 if args.quick else 3000
    ppo_steps = 2048 if args.quick else 8192
    t0 = time.perf_counter()

    rates: dict[str, list[float]] = {"weld_train": [], "weld_exact": [], "pendulum": []}
    for _ in range(reps):  # alternate the peers
        rates["weld_train"].append(env_rate(WELD, env_steps, thickness_quantum_mm=0.1))
        rates["weld_exact"].append(env_rate(WELD, env_steps))
        rates["pendulum"].append(env_rate("Pendulum-v1", env_steps * 5))
    med = {k: statistics.median(v) for k, v in rates.items()}

    print(f"machine: nproc {os.cpu_count()}, torch threads 1, load average {os.getloadavg()[0]:.1f} at start "
          f"(shared machine: ratios only); env steps/s: median of {reps} x {env_steps} random-action steps; "
          f"PPO: {ppo_steps} steps per configuration, weld.yml PPO settings")
    print()
    print("| env steps/s (random actions) | median | vs Pendulum-v1 |")
    print("|---|---:|---:|")
    for key, label in (("weld_train", "WeldEnv, thickness_quantum_mm 0.1 (training)"),
                       ("weld_exact", "WeldEnv, joints as generated (evaluation)"), ("pendulum", "Pendulum-v1")):
        print(f"| {label} | {med[key]:.0f} | {med[key] / med['pendulum']:.4f} |")
    print()
    kw = {"thickness_quantum_mm": 0.1}
    runs = [
        ("PPO, Pendulum-v1, DummyVecEnv x1", lambda: ppo_fps("Pendulum-v1", 1, "dummy", ppo_steps)),
        ("PPO, WeldEnv, DummyVecEnv x1", lambda: ppo_fps(WELD, 1, "dummy", ppo_steps, kw)),
        ("PPO, WeldEnv, DummyVecEnv x2", lambda: ppo_fps(WELD, 2, "dummy", ppo_steps, kw)),
        ("PPO, WeldEnv, SubprocVecEnv x2", lambda: ppo_fps(WELD, 2, "subproc", ppo_steps, kw)),
    ]
    fps = {}
    for label, fn in runs:
        fps[label] = fn()
    base = fps["PPO, WeldEnv, DummyVecEnv x1"]
    pend = fps["PPO, Pendulum-v1, DummyVecEnv x1"]
    print("| PPO training | fps (env steps / wall s) | vs WeldEnv DummyVecEnv x1 | vs PPO on Pendulum-v1 |")
    print("|---|---:|---:|---:|")
    for label, v in fps.items():
        print(f"| {label} | {v:.0f} | {v / base:.2f} | {v / pend:.2f} |")
    print()
    print(f"wall {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
