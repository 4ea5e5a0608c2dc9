"""A trained Stable-Baselines3 model behind the ``WeldPolicy`` interface.

The observation features and the action → setpoint mapping are ``WeldControlInterface``
(``cell_controller.sim.envs.weld_spaces``), the very code ``WeldEnv`` trains with: same
normalisation, same tracker replay to the torch, same limits, same ``WeldShield`` rate
limits, so the node's own shield has nothing left to change.  The network acts
deterministically (the mean action).

The shipped model is ``policies/shipped/weld_ppo.zip`` (model card ``weld_ppo.md``),
installed with the package data ``policies/shipped/*``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cell_controller.core.config import CellConfig
from cell_controller.core.types import WeldObservation, WeldParameters
from cell_controller.sim.envs.weld_spaces import ACTION_DIM, OBS_DIM, WeldControlInterface

__all__ = ["SHIPPED_MODEL", "MAX_MODEL_BYTES", "LearnedWeldPolicy", "load_model"]

SHIPPED_MODEL = Path(__file__).resolve().parent / "shipped" / "weld_ppo.zip"
MAX_MODEL_BYTES = 2 * 1024 * 1024


def load_model(path: str | Path):
    """Load an SB3 model zip (PPO, A2C, SAC or TD3, tried in that order) on the CPU, checking its spaces."""
    from stable_baselines3 import A2C, PPO, SAC, TD3

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model at {path}")
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise ValueError(f"{path} is {path.stat().st_size} bytes, more than the {MAX_MODEL_BYTES} allowed")
    errors = []
    for algo in (PPO, A2C, SAC, TD3):
        try:
            model = algo.load(str(path), device="cpu")
            break
        except Exception as error:  # noqa: BLE001 - wrong algorithm class: try the next one
            errors.append(f"{algo.__name__}: {error}")
    else:
        raise ValueError(f"{path} is not a PPO/A2C/SAC/TD3 model: {'; '.join(errors)}")
    if model.observation_space.shape != (OBS_DIM,) or model.action_space.shape != (ACTION_DIM,):
        raise ValueError(f"{path}: spaces {model.observation_space.shape} → {model.action_space.shape} do not "
                         f"match the welding agent's ({OBS_DIM},) → ({ACTION_DIM},)")
    return model


class LearnedWeldPolicy:
    """WeldPolicy running a trained model (see the module docstring)."""

    name = "learned_weld"

    def __init__(self, config: CellConfig, model_path: str | Path = SHIPPED_MODEL):
        self.model_path = Path(model_path)
        self.model = load_model(self.model_path)
        self.io = WeldControlInterface(config)

    def reset(self) -> None:
        self.io.reset()

    def act(self, observation: WeldObservation, dt_s: float) -> WeldParameters:
        features = self.io.observe(observation, dt_s)
        action, _ = self.model.predict(features, deterministic=True)
        return self.io.act(np.asarray(action, dtype=np.float64), dt_s)
