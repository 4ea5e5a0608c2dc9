"""Sweeps: many welding-policy trainings (seeds, hyperparameters, reward weights), one run directory.

A sweep file (YAML) names the trials as a grid; every combination of the ``grid`` values is one trial,
an SB3 training by ``train.train`` with its checkpoints, logs and monitor files in
``<out>/trials/trial_<i>/``. Each trial's final model is then evaluated, deterministically, on the
*validation* joints (``evaluate.validation_seeds``: training seeds, never the held-out evaluation
seeds), and the best trial (lowest imperfection rate, then least arc energy per good weld) is chosen
on those alone and copied to ``<out>/best.zip``; ``<out>/sweep.json`` lists every trial::

    kind: ppo                  # the section of the hyperparameter file
    hyperparams: weld.yml      # optional: relative to the sweep file (default policies/hyperparams/weld.yml)
    steps: 300000              # env steps per trial
    time_limit_s: 1200         # optional wall-clock budget per trial, s
    validation_joints: 100     # validation joints per trial (seeds 500, 501, ...)
    grid:                      # every combination is a trial
      seed: [1, 2]
      learning_rate: [lin_3.0e-4, lin_1.0e-4]   # any constructor argument of the algorithm
      reward.w_energy: [0.3, 0.4]               # any field of WeldReward

``run_sweep(sweep, out, ray_address=None)`` runs the trials one after another in this process;
with ``ray_address`` (``ray_cluster.LOCAL`` for a Ray instance of its own) each trial is a Ray Tune
trial on one CPU, Tune's own state in ``<out>/tune``. Both give the same trials, figures and choice.
Everything is checked before anything is trained or written: a bad file, key or value raises
``SweepError`` naming it, an existing non-empty ``out`` is refused, and an unreachable Ray address
fails before ``out`` is created.
"""
from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cell_controller.sim.envs.weld_env import WeldReward

from .evaluate import EVAL_SEED_BASE, VALIDATION_SEED_BASE, evaluate, validation_seeds
from .train import ALGORITHMS, DEFAULT_HYPERPARAMS, _OWN_KEYS, _algorithms, _policy_kwargs, _schedules, \
    load_hyperparams, make_env, train

__all__ = ["Sweep", "SweepError", "load_sweep", "trial_hyperparams", "run_trial", "run_sweep", "best_trial"]

MAX_VALIDATION_JOINTS = EVAL_SEED_BASE - VALIDATION_SEED_BASE
_SWEEP_KEYS = {"kind", "hyperparams", "steps", "time_limit_s", "validation_joints", "grid"}
_REWARD_FIELDS = {f.name for f in dataclasses.fields(WeldReward)} - {"level_scores"}


class SweepError(ValueError):
    """A sweep file that cannot run; the message names the file, the key and the value."""


@dataclass(frozen=True)
class Sweep:
    """A checked sweep (see the module docstring)."""

    path: Path
    kind: str
    hyperparams_file: Path
    steps: int
    time_limit_s: float | None
    validation_joints: int
    grid: dict[str, list[Any]]

    def trials(self) -> list[dict[str, Any]]:
        """Every combination of the grid's values, in the file's key order (the last key varies fastest)."""
        keys = list(self.grid)
        return [dict(zip(keys, values)) for values in itertools.product(*(self.grid[k] for k in keys))]


def _tunable_keys(kind: str) -> set[str]:
    algo = _algorithms()[kind]
    constructor = set(inspect.signature(algo.__init__).parameters) - {"self", "policy", "env", "seed", "device",
                                                                      "verbose", "_init_setup_model"}
    return constructor | {"seed", "n_envs"} | {f"reward.{name}" for name in _REWARD_FIELDS}


def load_sweep(path: str | Path) -> Sweep:
    """The sweep file at ``path``, checked (every trial's hyperparameters built); SweepError otherwise."""
    path = Path(path).resolve()  # Ray Tune runs each trial in a directory of its own
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SweepError(f"{path}: cannot read the sweep file: {error}") from None
    if not isinstance(data, dict):
        raise SweepError(f"{path}: a sweep file is a mapping with the keys {', '.join(sorted(_SWEEP_KEYS))}")
    unknown = set(data) - _SWEEP_KEYS
    if unknown:
        raise SweepError(f"{path}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_SWEEP_KEYS))})")
    kind = data.get("kind", "ppo")
    if kind not in ALGORITHMS:
        raise SweepError(f"{path}: kind: {kind!r} is not an algorithm (known: {', '.join(ALGORITHMS)})")
    hp_file = path.parent / data["hyperparams"] if "hyperparams" in data else DEFAULT_HYPERPARAMS
    try:
        load_hyperparams(hp_file, kind)
    except (OSError, KeyError, yaml.YAMLError) as error:
        raise SweepError(f"{path}: hyperparams: {error}") from None

    def positive(key: str, default: Any, kind_of: type) -> Any:
        value = data.get(key, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0 \
                or (kind_of is int and value != int(value)):
            raise SweepError(f"{path}: {key}: must be a positive {kind_of.__name__}, got {value!r}")
        return kind_of(value)

    steps = positive("steps", None, int)
    if steps is None:
        raise SweepError(f"{path}: steps: missing (env steps per trial)")
    grid = data.get("grid")
    if not isinstance(grid, dict) or not grid:
        raise SweepError(f"{path}: grid: a mapping of hyperparameter -> list of values, got {grid!r}")
    tunable = _tunable_keys(kind)
    for key, values in grid.items():
        if key not in tunable:
            raise SweepError(f"{path}: grid: unknown hyperparameter {key!r} of {kind} (known: seed, n_envs, "
                             f"reward.<{'|'.join(sorted(_REWARD_FIELDS))}> and the {kind} constructor's "
                             f"arguments, e.g. learning_rate, n_steps, gamma)")
        if not isinstance(values, list) or not values:
            raise SweepError(f"{path}: grid: {key}: a non-empty list of values, got {values!r}")
    sweep = Sweep(path, kind, hp_file, steps, positive("time_limit_s", None, float),
                  positive("validation_joints", 100, int), {k: list(v) for k, v in grid.items()})
    if sweep.validation_joints > MAX_VALIDATION_JOINTS:
        raise SweepError(f"{path}: validation_joints: at most {MAX_VALIDATION_JOINTS}, got {sweep.validation_joints}")
    for trial in sweep.trials():
        try:
            _build(sweep, trial)
        except (TypeError, ValueError, KeyError, AssertionError) as error:
            raise SweepError(f"{path}: grid: the trial {trial} cannot run: {error}") from None
    return sweep


def _build(sweep: Sweep, trial: dict[str, Any]) -> None:
    """Build the trial's env and model as ``train`` would, and throw them away: every value a trial cannot
    use fails here, before any trial trains."""
    hp, seed = trial_hyperparams(sweep, trial)
    kwargs = _schedules({k: v for k, v in hp.items() if k not in _OWN_KEYS})
    kwargs["policy_kwargs"] = _policy_kwargs(kwargs.get("policy_kwargs"))
    env = make_env(hp, seed)
    try:
        _algorithms()[sweep.kind](hp.get("policy", "MlpPolicy"), env, seed=seed, device="cpu", **kwargs)
    finally:
        env.close()


def trial_hyperparams(sweep: Sweep, trial: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """(the hyperparameter section with the trial's values, the trial's seed)."""
    hp = load_hyperparams(sweep.hyperparams_file, sweep.kind)
    env_kwargs = dict(hp.get("env_kwargs") or {})
    reward = dict(env_kwargs.get("reward") or {})
    seed = 0
    for key, value in trial.items():
        if key == "seed":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"seed must be an integer, got {value!r}")
            seed = value
        elif key.startswith("reward."):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{key} must be a number, got {value!r}")
            reward[key.split(".", 1)[1]] = float(value)
        else:
            hp[key] = value
    WeldReward(**reward)
    hp["env_kwargs"] = {**env_kwargs, "reward": reward}
    return hp, seed


def run_trial(sweep: Sweep, index: int, out: Path) -> dict[str, Any]:
    """Train trial ``index`` into ``out/trials/trial_<index>`` and evaluate it on the validation joints;
    the trial's entry of sweep.json."""
    from cell_controller.policies.learned import LearnedWeldPolicy
    from cell_controller.sim.envs.weld_spaces import default_cell_config

    trial = sweep.trials()[index]
    hp, seed = trial_hyperparams(sweep, trial)
    trial_dir = out / "trials" / f"trial_{index:03d}"
    trial_dir.mkdir(parents=True, exist_ok=True)
    hp_file = trial_dir / "hyperparams.yml"
    hp_file.write_text(yaml.safe_dump({sweep.kind: hp}, sort_keys=False))
    model = train(sweep.kind, hp_file, sweep.steps, seed, trial_dir, progress_bar=False,
                  time_limit_s=sweep.time_limit_s)
    config = default_cell_config()
    (figures,) = evaluate({f"trial_{index:03d}": LearnedWeldPolicy(config, model)},
                          validation_seeds(sweep.validation_joints), config)
    entry = {"name": f"trial_{index:03d}", "params": trial, "model": str(model.relative_to(out)),
             "validation": {"joints": sweep.validation_joints, "defective": sum(r.defective for r in figures.results),
                            "imperfection_rate": figures.imperfection_rate,
                            "energy_per_good_kJ": figures.energy_per_good_kJ},
             "run": json.loads((trial_dir / "run.json").read_text())}
    (trial_dir / "trial.json").write_text(json.dumps(entry, indent=2, default=str))
    return entry


def best_trial(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The trial with the lowest validation imperfection rate, then the least arc energy per good weld."""
    def key(entry: dict[str, Any]) -> tuple[float, float, str]:
        v = entry["validation"]
        energy = v["energy_per_good_kJ"]
        return (v["imperfection_rate"], energy if math.isfinite(energy) else math.inf, entry["name"])
    return min(entries, key=key)


def run_sweep(sweep: Sweep, out: str | Path, ray_address: str | None = None,
              ray_cpus: int | None = None) -> dict[str, Any]:
    """Every trial of ``sweep`` (serially, or as Ray Tune trials at ``ray_address``); writes
    ``out/sweep.json`` and ``out/best.zip`` and returns sweep.json's content."""
    out = Path(out).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SweepError(f"{out}: the run directory exists and is not empty (a sweep writes a new one)")
    n = len(sweep.trials())
    if ray_address is not None:
        from .ray_cluster import connect, tune_trials

        connect(ray_address, ray_cpus)  # an unreachable cluster fails here, before `out` exists
        out.mkdir(parents=True, exist_ok=True)
        entries = tune_trials(lambda index: run_trial(sweep, index, out), n, out / "tune")
    else:
        out.mkdir(parents=True, exist_ok=True)
        entries = [run_trial(sweep, index, out) for index in range(n)]
    entries.sort(key=lambda e: e["name"])
    best = best_trial(entries)
    shutil.copyfile(out / best["model"], out / "best.zip")
    summary = {"sweep": str(sweep.path), "kind": sweep.kind, "steps": sweep.steps, "ray": ray_address,
               "selected_on": f"{sweep.validation_joints} validation joints (seeds from 500; never evaluation seeds)",
               "best": best["name"], "trials": entries}
    (out / "sweep.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary
