"""The learned feeding policy: the FeedPolicy wrapper around the trained actor, and the actor in numpy.

Its observer, action set and decision cadence are `cell_controller.sim.envs.feed_spaces`
(`FeedObserver`, `decode_action`, `FeedControlInterface`, which `LearnedFeedPolicy` extends by the
actor), the very code the training env (`cell_controller.sim.envs.feed_env.FeedEnv`) runs, so the
policy sees in the cell exactly the features it was trained on. Features come only from the
`FeedObservation` stream the policy node builds from the feeder's OPC UA status and from the
policy's own commands (robot_busy and machine_busy are not used: the policy was trained when the
node still sent them as False).

The network is read out of the SB3 zip once and run in numpy (a few microseconds per decision,
no torch at act time). Units: mm, mm/s, s of cell time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cell_controller.core.types import FeedAction, FeedObservation
from cell_controller.sim.envs.feed_spaces import (  # noqa: F401 - the mapping's names, as feed_learned's too
    DECISION_PERIOD_S,
    FEATURE_NAMES,
    FEED_SPEEDS_MM_S,
    MAX_ON_BELT,
    MAX_SPEED_MM_S,
    N_ACTIONS,
    N_FEATURES,
    TIME_CLIP_S,
    FeedControlInterface,
    FeedObserver,
    decode_action,
)

SHIPPED = Path(__file__).resolve().parent / "shipped" / "feed_ppo.zip"


class MlpActor:
    """The deterministic actor of an SB3 ActorCriticPolicy (MLP, discrete actions) in numpy."""

    def __init__(self, weights: list[tuple[np.ndarray, np.ndarray]], activation: str = "tanh"):
        self.weights = weights
        self.activation = {"tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0)}[activation]

    @classmethod
    def from_sb3(cls, model) -> MlpActor:
        import torch.nn as nn

        policy = model.policy
        layers = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)]
        acts = {type(m).__name__ for m in policy.mlp_extractor.policy_net if not isinstance(m, nn.Linear)}
        activation = "relu" if "ReLU" in acts else "tanh"
        weights = [(m.weight.detach().cpu().numpy().astype(np.float64), m.bias.detach().cpu().numpy().astype(np.float64))
                   for m in [*layers, policy.action_net]]
        return cls(weights, activation)

    def logits(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=np.float64)
        for w, b in self.weights[:-1]:
            h = self.activation(w @ h + b)
        w, b = self.weights[-1]
        return w @ h + b

    def __call__(self, x: np.ndarray) -> int:
        return int(np.argmax(self.logits(x)))


class LearnedFeedPolicy(FeedControlInterface):
    """A FeedPolicy running a trained actor: decides every DECISION_PERIOD_S, holds the speed between.

    A release is commanded only on decision ticks; the conveyor speed is held until the next one.
    `act` is `observe` then, when a decision is due, `decide` on the actor's choice
    (`FeedControlInterface`, which the training env drives itself, the agent choosing in between).
    """

    name = "learned_feed"

    def __init__(self, actor, decision_period_s: float = DECISION_PERIOD_S,
                 conveyor_length_mm: float = 1200.0, blank_pitch_mm: float = 250.0):
        self.actor = actor
        super().__init__(decision_period_s, conveyor_length_mm, blank_pitch_mm)

    @classmethod
    def load(cls, path: str | Path = SHIPPED, **kwargs) -> LearnedFeedPolicy:
        """Load an SB3 PPO zip (default: the shipped policy)."""
        from stable_baselines3 import PPO

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"feeding policy file not found: {path}")
        return cls(MlpActor.from_sb3(PPO.load(path, device="cpu")), **kwargs)

    def act(self, observation: FeedObservation, dt_s: float) -> FeedAction:
        if not self.observe(observation, dt_s):
            return self.hold()
        return self.decide(self.actor(self.observer.features()))
