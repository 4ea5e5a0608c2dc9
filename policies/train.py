"""Train the welding agent on ``cell_controller/Weld-v0`` with Stable-Baselines3.

``train(kind, hyperparams_file, steps, seed, out_dir, resume)``:

* hyperparameters from a zoo-style YAML (``policies/hyperparams/weld.yml``, section ``kind``);
* a progress bar (tqdm + rich), TensorBoard event files and ``progress.csv`` in ``out_dir/logs``
  and per-episode monitor files (``out_dir/monitor``);
* checkpoints every ``checkpoint_every`` steps (``out_dir/checkpoints``; with the replay buffer for
  off-policy algorithms); ``resume=True`` continues from the newest checkpoint (its step count,
  optimiser state and, off-policy, its replay buffer) up to ``steps`` in all;
* ``seed`` seeds the model and the envs (env i gets seed + i; on resume seed + checkpoint steps + i);
* ``time_limit_s`` stops the run at a wall-clock budget (the model so far is saved);
* the final model ``out_dir/<kind>_final.zip`` and ``out_dir/run.json`` (steps, wall time, seed,
  hyperparameters, env id); ``plot_learning_curve`` draws the PNG.

    python -m cell_controller.policies.train ppo --steps 600000 --seed 1 --out runs/weld_ppo
"""
from __future__ import annotations

import argparse
import json
import re
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from cell_controller.core.config import ConfigError
from cell_controller.sim.envs import WELD_ENV_ID  # importing it registers cell_controller/Weld-v0
from cell_controller.sim.envs.weld_env import ENV_VERSION
from cell_controller.sim.reality_gap import RANDOM, RealityGap, UnknownGapError, gap, read_parameters

__all__ = ["ALGORITHMS", "DEFAULT_HYPERPARAMS", "load_hyperparams", "make_env", "train", "latest_checkpoint",
           "read_monitor", "plot_learning_curve", "main"]

DEFAULT_HYPERPARAMS = Path(__file__).resolve().parent / "hyperparams" / "weld.yml"
#: keys of a hyperparameter section that are ours (or the zoo's), not the algorithm constructor's
_OWN_KEYS = {"env_id", "n_timesteps", "n_envs", "vec_env", "env_kwargs", "checkpoint_every", "policy", "torch_threads"}
_ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "elu": "ELU", "leaky_relu": "LeakyReLU"}


def _algorithms() -> dict[str, Any]:
    from stable_baselines3 import A2C, PPO, SAC, TD3

    return {"ppo": PPO, "a2c": A2C, "sac": SAC, "td3": TD3}


ALGORITHMS = ("ppo", "a2c", "sac", "td3")


def load_hyperparams(path: str | Path, kind: str) -> dict[str, Any]:
    """The ``kind`` section of a zoo-style YAML file; raises KeyError naming the known sections."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    if kind not in data:
        raise KeyError(f"{path}: no section {kind!r} (known: {', '.join(sorted(data))})")
    return dict(data[kind])


def _policy_kwargs(raw: dict[str, Any] | None) -> dict[str, Any]:
    import torch.nn as nn

    kw = dict(raw or {})
    act = kw.get("activation_fn")
    if isinstance(act, str):
        if act not in _ACTIVATIONS:
            raise ValueError(f"activation_fn {act!r} unknown (known: {', '.join(_ACTIVATIONS)})")
        kw["activation_fn"] = getattr(nn, _ACTIVATIONS[act])
    return kw


def _schedules(kwargs: dict[str, Any]) -> dict[str, Any]:
    """rl-zoo's ``lin_<value>`` for ``learning_rate`` and ``clip_range``: decays linearly from value to 0
    over the run (SB3 passes the remaining progress, 1 → 0)."""
    out = dict(kwargs)
    for key in ("learning_rate", "clip_range"):
        value = out.get(key)
        if isinstance(value, str):
            try:
                prefix, start = value.split("_", 1)
                if prefix != "lin":
                    raise ValueError
                start = float(start)
            except ValueError:
                raise ValueError(f"{key}: {value!r} is neither a number nor 'lin_<number>'") from None
            out[key] = lambda progress_remaining, start=start: progress_remaining * start
    return out


#: the ``vec_env`` choices of a hyperparameter section: SB3's DummyVecEnv and SubprocVecEnv over
#: independent envs, or ``batched``: every env's weld in one process-kernel call (``policies/batched.py``)
VEC_ENVS = ("dummy", "subproc", "batched")
_MONITOR_KEYWORDS = ("defective", "arc_energy_J")


def make_env(hp: dict[str, Any], seed: int, monitor_dir: str | Path | None = None):
    """The vectorised training env of a hyperparameter section (``n_envs``, ``vec_env``, ``env_kwargs``); env i
    is seeded with ``seed + i`` whichever ``vec_env``, so ``batched`` and ``dummy`` give the same episodes."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

    kind, env_id, n_envs = hp.get("vec_env", "dummy"), hp.get("env_id", WELD_ENV_ID), int(hp.get("n_envs", 1))
    if kind not in VEC_ENVS:
        raise ValueError(f"vec_env: {kind!r} is not one of {', '.join(VEC_ENVS)}")
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    env_kwargs = dict(hp.get("env_kwargs") or {})
    if kind == "batched":
        from .batched import BatchedVecEnv

        if env_id != WELD_ENV_ID:
            raise ValueError(f"vec_env: batched steps {WELD_ENV_ID} only, not {env_id}")
        env = BatchedVecEnv(n_envs, **env_kwargs)
        env.seed(seed)
        return VecMonitor(env, str(Path(monitor_dir) / "batched") if monitor_dir else None, _MONITOR_KEYWORDS)
    return make_vec_env(env_id, n_envs=n_envs, seed=seed, vec_env_cls={"dummy": DummyVecEnv, "subproc": SubprocVecEnv}[kind],
                        env_kwargs={"render_mode": None, **env_kwargs},
                        monitor_dir=str(monitor_dir) if monitor_dir else None,
                        monitor_kwargs={"info_keywords": _MONITOR_KEYWORDS})


def latest_checkpoint(out_dir: str | Path, kind: str) -> Path | None:
    """The checkpoint with the most steps in ``out_dir/checkpoints`` (``<kind>_<steps>_steps.zip``)."""
    best: tuple[int, Path] | None = None
    for p in (Path(out_dir) / "checkpoints").glob(f"{kind}_*_steps.zip"):
        m = re.fullmatch(rf"{re.escape(kind)}_(\d+)_steps\.zip", p.name)
        if m and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), p)
    return best[1] if best else None


def _callbacks(out_dir: Path, kind: str, every: int, n_envs: int, time_limit_s: float | None, off_policy: bool):
    from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback

    class WeldStats(BaseCallback):
        """Logs the rolling imperfection rate and arc energy of the last 100 finished joints; stops at the budget."""

        def __init__(self) -> None:
            super().__init__()
            self.defective: deque[float] = deque(maxlen=100)
            self.energy: deque[float] = deque(maxlen=100)
            self.t0 = time.perf_counter()

        def _on_step(self) -> bool:
            for info in self.locals.get("infos", ()):
                if "defective" in info:
                    self.defective.append(float(info["defective"]))
                    self.energy.append(float(info["arc_energy_J"]) / 1e3)
            if self.defective and self.n_calls % 500 == 0:
                self.logger.record("weld/imperfection_rate_100", float(np.mean(self.defective)))
                self.logger.record("weld/arc_energy_kJ_100", float(np.mean(self.energy)))
            return time_limit_s is None or time.perf_counter() - self.t0 < time_limit_s

    ckpt = CheckpointCallback(save_freq=max(every // n_envs, 1), save_path=str(out_dir / "checkpoints"),
                              name_prefix=kind, save_replay_buffer=off_policy, verbose=0)
    return CallbackList([ckpt, WeldStats()])


def train(kind: str, hyperparams_file: str | Path | None = None, steps: int | None = None, seed: int = 0,
          out_dir: str | Path = "runs/weld", resume: bool = False, *, progress_bar: bool = True,
          time_limit_s: float | None = None, verbose: int = 0, batched_envs: int | None = None,
          reality_gap: str | RealityGap | None = None, init_model: str | Path | None = None) -> Path:
    """Train (or resume) an agent; returns the path of the final model zip (see the module docstring).

    ``steps`` is the total number of env steps of the run (default: the section's ``n_timesteps``);
    on resume the steps already in the checkpoint count. ``batched_envs`` N: N envs in one batch
    (``vec_env: batched``), whatever the section says, with the section's steps per update
    (n_steps x n_envs) shared among them. ``reality_gap``: the env's plant (``WeldEnv``'s: a set of
    ``reality_gap.GAPS``, "random" for domain randomisation, or a ``RealityGap``: a parameter file's),
    whatever the section says. ``init_model``: a model zip of the same algorithm to start from (its
    weights and its own hyperparameters; a fine-tune), not a new model.
    """
    from stable_baselines3.common.logger import configure

    algos = _algorithms()
    if kind not in algos:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(algos)})")
    hp_file = Path(hyperparams_file) if hyperparams_file else DEFAULT_HYPERPARAMS
    hp = load_hyperparams(hp_file, kind)
    if batched_envs is not None:  # the same steps per update (n_steps x n_envs), shared by N batched envs
        per_update = int(hp.get("n_steps", 2048)) * int(hp.get("n_envs", 1))
        hp.update(n_envs=int(batched_envs), vec_env="batched", n_steps=max(1, per_update // int(batched_envs)))
    if reality_gap is not None:
        hp["env_kwargs"] = {**(hp.get("env_kwargs") or {}), "reality_gap": reality_gap}
    import torch

    torch.set_num_threads(int(hp.get("torch_threads", 1)))  # a small MLP: more threads only contend with the envs
    total = int(steps if steps is not None else hp.get("n_timesteps", 100_000))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_envs = int(hp.get("n_envs", 1))
    ckpt = latest_checkpoint(out, kind) if resume else None
    ckpt_steps = int(re.findall(r"(\d+)_steps", ckpt.name)[-1]) if ckpt else 0
    # on resume the envs are reseeded past the checkpoint, so the run does not replay the same joints
    env = make_env(hp, seed + ckpt_steps, out / "monitor")
    algo = algos[kind]
    off_policy = kind in ("sac", "td3")
    formats = ["csv"]
    try:
        import tensorboard  # noqa: F401

        formats.append("tensorboard")
    except ImportError:
        pass
    if verbose:
        formats.append("stdout")
    logger = configure(str(out / "logs"), formats)
    if ckpt is None and init_model is not None:
        model = algo.load(str(init_model), env=env, device="cpu", seed=seed)
        done_steps = 0
    elif ckpt is not None:
        model = algo.load(str(ckpt), env=env, device="cpu")
        buffer = ckpt.with_name(ckpt.name.replace("_steps.zip", "_steps.pkl").replace(f"{kind}_", f"{kind}_replay_buffer_"))
        if off_policy and buffer.exists():
            model.load_replay_buffer(str(buffer))
        done_steps = model.num_timesteps
    else:
        kwargs = _schedules({k: v for k, v in hp.items() if k not in _OWN_KEYS})
        kwargs["policy_kwargs"] = _policy_kwargs(kwargs.get("policy_kwargs"))
        model = algo(hp.get("policy", "MlpPolicy"), env, seed=seed, device="cpu", verbose=verbose, **kwargs)
        done_steps = 0
    model.set_logger(logger)
    callbacks = _callbacks(out, kind, int(hp.get("checkpoint_every", 50_000)), n_envs, time_limit_s, off_policy)
    t0 = time.perf_counter()
    remaining = max(0, total - done_steps)
    if remaining:
        model.learn(total_timesteps=remaining, callback=callbacks, progress_bar=progress_bar,
                    reset_num_timesteps=ckpt is None)
    wall = time.perf_counter() - t0
    final = out / f"{kind}_final.zip"
    model.save(str(final))
    env.close()
    info_path = out / "run.json"
    previous = json.loads(info_path.read_text()) if (resume and info_path.exists()) else {}
    run = {
        "kind": kind, "env_id": hp.get("env_id"), "env_version": ENV_VERSION, "seed": seed,
        "steps": int(model.num_timesteps), "wall_s": round(wall + float(previous.get("wall_s", 0.0)), 1),
        "resumed_from": str(ckpt) if ckpt else None, "initialised_from": str(init_model) if init_model else None,
        "hyperparams_file": str(hp_file), "hyperparams": hp,
        "stopped_by_time_limit": bool(time_limit_s is not None and model.num_timesteps < total),
    }
    info_path.write_text(json.dumps(run, indent=2, default=str))
    return final


def read_monitor(monitor_dir: str | Path) -> dict[str, np.ndarray]:
    """Episodes of all ``*.monitor.csv`` in ``monitor_dir``, in wall-time order: r, l, t, defective, arc_energy_J."""
    import csv

    rows: list[dict[str, str]] = []
    for f in sorted(Path(monitor_dir).glob("*.monitor.csv")):
        with f.open() as fh:
            fh.readline()  # the '#{"t_start": ...}' header
            rows.extend(csv.DictReader(fh))
    rows.sort(key=lambda r: float(r["t"]))

    def col(name: str) -> np.ndarray:
        return np.array([float(r[name] in ("True", "1", "1.0")) if name == "defective" else float(r[name])
                         for r in rows], dtype=float)

    return {k: col(k) for k in ("r", "l", "t", "defective", "arc_energy_J")}


def _rolling_mean(a: np.ndarray, k: int) -> np.ndarray:
    c = np.cumsum(np.insert(a, 0, 0.0))
    n = np.minimum(np.arange(1, a.size + 1), k)
    return (c[1:] - c[np.arange(a.size) + 1 - n]) / n


def plot_learning_curve(out_dir: str | Path, png: str | Path, title: str = "PPO on cell_controller/Weld-v0",
                        reference: dict[str, float] | None = None, marks: dict[str, int] | None = None) -> Path:
    """Episode return and rolling imperfection rate vs env steps, from ``out_dir/monitor/*.monitor.csv``.

    ``reference`` (name → imperfection rate) draws horizontal lines (e.g. the fixed recipe's);
    ``marks`` (label → env step) vertical ones (e.g. the checkpoint that ships).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ep = read_monitor(Path(out_dir) / "monitor")
    steps = np.cumsum(ep["l"])
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    a1.plot(steps, ep["r"], ".", ms=2, alpha=0.4, color="grey")
    a1.plot(steps, _rolling_mean(ep["r"], 50), color="C0", label="return, mean of last 50 joints")
    a1.set_ylabel("episode return")
    a1.legend(loc="lower right")
    a2.plot(steps, 100 * _rolling_mean(ep["defective"], 100), color="C3",
            label="welds worse than C (stochastic policy), last 100 joints")
    for i, (name, r) in enumerate((reference or {}).items()):
        a2.axhline(100 * r, ls="--", color=f"C{i + 4}", label=f"{name} (training seeds)")
    for i, (label, step) in enumerate((marks or {}).items()):
        for axis in (a1, a2):
            axis.axvline(step, ls=":", color=f"C{i + 2}", label=label if axis is a2 else None)
    a2.set_ylabel("imperfection rate, %")
    a2.set_xlabel("env steps (0.1 s of cell time each)")
    a2.legend(loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    png = Path(png)
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return png


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Train the welding agent (cell_controller/Weld-v0)")
    ap.add_argument("kind", nargs="?", default="ppo", choices=ALGORITHMS)
    ap.add_argument("--hyperparams", default=None, help=f"zoo-style YAML (default {DEFAULT_HYPERPARAMS})")
    ap.add_argument("--steps", type=int, default=None, help="total env steps (default: n_timesteps)")
    ap.add_argument("--seed", type=int, default=None, help="seed of the model and the envs (default 0)")
    ap.add_argument("--out", default="runs/weld")
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    ap.add_argument("--time-limit", type=float, default=None, help="wall-clock budget, s")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--plot", default=None, help="write the learning curve PNG here")
    ap.add_argument("--envs", type=int, default=None, metavar="N",
                    help="N envs whose welds step together in one batch (vec_env: batched; default: the section's "
                         "n_envs and vec_env)")
    ap.add_argument("--reality-gap", default=None, metavar="SET",
                    help="the plant the envs weld on: a reality-gap set (nominal, near, far, hot) or random (domain "
                         "randomisation over every field's range); default the section's (nominal)")
    ap.add_argument("--params", default=None, metavar="FILE",
                    help="the plant the envs weld on: a parameter file (cellctl calibrate writes one)")
    ap.add_argument("--init", default=None, metavar="MODEL",
                    help="start from this model zip (a fine-tune: its weights and hyperparameters)")
    ap.add_argument("--sweep", default=None, metavar="FILE",
                    help="run the sweep FILE (policies/sweep.py): every trial into --out, the best chosen on "
                         "validation joints (the sweep file sets kind, steps and seeds)")
    ap.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                    help="with --sweep: the trials as Ray Tune trials on the cluster at ADDRESS (host:port, "
                         "ray://host:port, auto), or without ADDRESS on a local Ray instance")
    ap.add_argument("--ray-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    args = ap.parse_args(argv)
    if args.sweep is not None:
        _sweep_main(ap, args)
        return
    if args.ray is not None:
        ap.error("--ray runs a sweep: give --sweep FILE")
    if args.envs is not None and args.envs < 1:
        ap.error(f"--envs must be >= 1, got {args.envs}")
    if args.reality_gap is not None and args.reality_gap != RANDOM:
        try:
            gap(args.reality_gap)
        except UnknownGapError as error:
            ap.error(f"--reality-gap: {error.args[0]}, or {RANDOM!r}")
    plant: str | RealityGap | None = args.reality_gap
    if args.params is not None:
        if args.reality_gap is not None:
            ap.error("--params and --reality-gap both name the plant: give one")
        try:
            plant = read_parameters(args.params)
        except ConfigError as error:
            ap.error(f"--params: {error}")
    if args.init is not None and not Path(args.init).is_file():
        ap.error(f"--init: {args.init}: no such model file")
    final = train(args.kind, args.hyperparams, args.steps, args.seed or 0, args.out, args.resume,
                  progress_bar=not args.no_progress, time_limit_s=args.time_limit, batched_envs=args.envs,
                  reality_gap=plant, init_model=args.init)
    print(f"model: {final}")
    if args.plot:
        print(f"learning curve: {plot_learning_curve(args.out, args.plot)}")


def _sweep_main(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--sweep FILE [--ray [ADDRESS]]``: exit 2 with the reason before anything is trained or written."""
    from .sweep import SweepError, load_sweep, run_sweep

    given = {"--steps": args.steps, "--seed": args.seed, "--hyperparams": args.hyperparams, "--envs": args.envs,
             "--time-limit": args.time_limit, "--plot": args.plot, "--resume": args.resume or None,
             "--reality-gap": args.reality_gap, "--params": args.params, "--init": args.init}
    conflicting = [flag for flag, value in given.items() if value is not None]
    if conflicting:
        ap.error(f"{conflicting[0]} does not go with --sweep (the sweep file sets its hyperparameters, steps, "
                 f"seeds and time limit: put it in the grid or the file)")
    errors: tuple[type[Exception], ...] = (SweepError,)
    if args.ray is not None:
        from .ray_cluster import RayConnectError

        errors += (RayConnectError,)
    try:
        summary = run_sweep(load_sweep(args.sweep), args.out, args.ray, args.ray_cpus)
    except errors as error:
        ap.exit(2, f"{ap.prog}: error: {error}\n")
    for trial in summary["trials"]:
        v = trial["validation"]
        print(f"{trial['name']} {trial['params']}: {v['defective']}/{v['joints']} worse than C, "
              f"{v['energy_per_good_kJ']:.1f} kJ per good weld")
    print(f"best: {summary['best']} -> {Path(args.out) / 'best.zip'}")


if __name__ == "__main__":
    main()
