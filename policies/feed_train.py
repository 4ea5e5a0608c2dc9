"""Train the feeding agent on `cell_controller/Feed-v0` with SB3 and zoo-style YAML hyperparameters.

    python -m cell_controller.policies.feed_train --steps 300000 --seed 0 --out runs/feed

Features: hyperparameters from policies/hyperparams/feed.yml (section per algorithm), a
progress line (steps, fps, ETA), CSV logs (TensorBoard too when it is installed), periodic
checkpoints, resume from a checkpoint zip, seeded runs. The welding agent has its own trainer
(policies/train.py); this one is separate because it was written before that one existed.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

HYPERPARAMS = Path(__file__).resolve().parent / "hyperparams" / "feed.yml"
_CTOR_SKIP = {"env_id", "n_timesteps", "n_envs", "vec_env", "env_kwargs", "checkpoint_every", "policy"}
_ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU"}


def load_hyperparams(algo: str = "ppo", path: str | Path = HYPERPARAMS) -> dict:
    """The `algo` section of a zoo-style YAML file."""
    with open(path) as f:
        data = yaml.safe_load(f)
    if algo not in data:
        raise KeyError(f"no {algo!r} section in {path} (has {sorted(data)})")
    return dict(data[algo])


def _progress_callback(total: int, every_s: float = 10.0):
    from stable_baselines3.common.callbacks import BaseCallback

    class Progress(BaseCallback):
        """Prints steps done, fps and ETA every `every_s` wall seconds (no tqdm needed)."""

        def _on_training_start(self) -> None:
            self.t0, self.last, self.n0 = time.monotonic(), 0.0, self.num_timesteps

        def _on_step(self) -> bool:
            now = time.monotonic()
            if now - self.last >= every_s:
                self.last = now
                done = self.num_timesteps - self.n0
                fps = done / max(now - self.t0, 1e-9)
                eta = (total - done) / max(fps, 1e-9)
                print(f"[feed_train] {self.num_timesteps} steps ({100 * done / total:.0f} %) "
                      f"{fps:.0f} steps/s, ETA {eta:.0f} s", flush=True)
            return True

    return Progress()


def new_model(env, hp: dict, seed: int = 0, verbose: int = 0):
    """An untrained PPO agent on `env` with the constructor settings of the `ppo` section `hp` (its
    policy_kwargs' activation named as in the YAML)."""
    import torch
    from stable_baselines3 import PPO

    kwargs = {k: v for k, v in hp.items() if k not in _CTOR_SKIP}
    pk = dict(kwargs.pop("policy_kwargs", {}) or {})
    if isinstance(pk.get("activation_fn"), str):
        pk["activation_fn"] = getattr(torch.nn, _ACTIVATIONS[pk["activation_fn"]])
    return PPO(hp.get("policy", "MlpPolicy"), env, seed=seed, device="cpu", verbose=verbose, policy_kwargs=pk, **kwargs)


def train_feed(total_timesteps: int | None = None, seed: int = 0, out_dir: str | Path = "runs/feed",
               algo: str = "ppo", hyperparams: str | Path = HYPERPARAMS, resume: str | Path | None = None,
               progress: bool = True, verbose: int = 0) -> Path:
    """Train (or resume) a feeding agent; returns the path of the final model zip.

    out_dir gets: checkpoints/ (every `checkpoint_every` steps), progress.csv (SB3 logger),
    final.zip and run.json (hyperparameters, steps, seed, wall time, env version).
    """
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from cell_controller.sim.envs import feed_env  # registers the env id

    if algo != "ppo":
        raise ValueError(f"only 'ppo' is configured for feeding, got {algo!r}")
    hp = load_hyperparams(algo, hyperparams)
    steps = int(total_timesteps or hp["n_timesteps"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    vec_cls = SubprocVecEnv if hp.get("vec_env", "dummy") == "subproc" else DummyVecEnv
    env_id = hp.get("env_id", feed_env.ENV_ID)
    env = make_vec_env(feed_env.FeedEnv if env_id == feed_env.ENV_ID else env_id, n_envs=int(hp.get("n_envs", 1)), seed=seed,
                       env_kwargs=hp.get("env_kwargs", {}), vec_env_cls=vec_cls)
    if resume:
        model = PPO.load(resume, env=env, device="cpu")
        reset = False
    else:
        model = new_model(env, hp, seed, verbose)
        reset = True
    formats = ["csv"]
    try:
        import tensorboard  # noqa: F401
        formats.append("tensorboard")
    except ImportError:
        pass
    model.set_logger(configure(str(out), formats))
    callbacks = [CheckpointCallback(max(int(hp.get("checkpoint_every", 50_000)) // env.num_envs, 1),
                                    str(out / "checkpoints"), name_prefix=f"feed_{algo}")]
    if progress:
        callbacks.append(_progress_callback(steps))
    t0 = time.monotonic()
    model.learn(steps, callback=CallbackList(callbacks), reset_num_timesteps=reset)
    wall_s = time.monotonic() - t0
    final = out / "final.zip"
    model.save(final)
    (out / "run.json").write_text(json.dumps({
        "algo": algo, "steps": steps, "total_timesteps": int(model.num_timesteps), "seed": seed,
        "wall_s": round(wall_s, 1), "env_id": feed_env.ENV_ID, "env_version": feed_env.ENV_VERSION,
        "resumed_from": str(resume) if resume else None, "hyperparams": hp}, indent=2, default=str))
    env.close()
    return final


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None, help="total timesteps (default: the YAML's n_timesteps)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/feed")
    ap.add_argument("--hyperparams", default=str(HYPERPARAMS))
    ap.add_argument("--resume", default=None, help="a checkpoint zip to continue from")
    args = ap.parse_args(argv)
    print(train_feed(args.steps, args.seed, args.out, hyperparams=args.hyperparams, resume=args.resume))


if __name__ == "__main__":
    main()
