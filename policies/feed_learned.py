"""The learned feeding policy: its observer, its action set and the FeedPolicy wrapper.

The same `FeedObserver` and `decode_action` serve the training env
(`cell_controller.sim.envs.feed_env.FeedEnv`) and the deployed `LearnedFeedPolicy`, so the
policy sees in the cell exactly the features it was trained on. Features come only from the
`FeedObservation` stream the policy node builds from the feeder's OPC UA status and from the
policy's own commands (robot_busy and machine_busy are not used: the policy was trained when the
node still sent them as False).

The network is read out of the SB3 zip once and run in numpy (a few microseconds per decision,
no torch at act time). Units: mm, mm/s, s of cell time.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cell_controller.core.types import FeedAction, FeedObservation
from cell_controller.policies.feed_loop import STAMP_TOLERANCE_S

#: conveyor speeds the policy chooses from, mm/s (the feeder's limits are 0..400 mm/s)
FEED_SPEEDS_MM_S = (0.0, 125.0, 250.0, 400.0)
#: action a: speed FEED_SPEEDS_MM_S[a // 2], release a blank when a is odd
N_ACTIONS = 2 * len(FEED_SPEEDS_MM_S)
#: the policy decides once per second of cell time and holds the speed in between
DECISION_PERIOD_S = 1.0
#: clip for the time features, s
TIME_CLIP_S = 60.0
MAX_SPEED_MM_S = 400.0
MAX_ON_BELT = 5
FEATURE_NAMES = ("buffer_fill", "part_at_fixture", "belt_speed", "commanded_speed", "time_since_release",
                 "time_since_fixture_change", "blanks_on_belt", "lead_blank_position", "jam_suspected")
N_FEATURES = len(FEATURE_NAMES)
SHIPPED = Path(__file__).resolve().parent / "shipped" / "feed_ppo.zip"


def decode_action(action: int) -> FeedAction:
    """The feeder command of discrete action `action` (0..N_ACTIONS-1)."""
    a = int(action)
    if not 0 <= a < N_ACTIONS:
        raise ValueError(f"action must be in 0..{N_ACTIONS - 1}, got {action!r}")
    return FeedAction(FEED_SPEEDS_MM_S[a // 2], bool(a % 2))


class FeedObserver:
    """Turns the stream of FeedObservations (one per control tick) into the policy's features.

    Tracks the blanks on the belt from the observed releases (time_since_last_feed_s drops)
    and the belt's actual speed; the phase of the robot's cycle from the time since the fixture
    last filled or emptied. All features lie in [0, 1].
    """

    def __init__(self, conveyor_length_mm: float = 1200.0, blank_pitch_mm: float = 250.0):
        self.length_mm, self.pitch_mm = conveyor_length_mm, blank_pitch_mm
        self.reset()

    def reset(self) -> None:
        self.belt_mm: list[float] = []
        self.last: FeedObservation | None = None
        self.fixture_changed_s = 0.0
        self.commanded_mm_s = 0.0

    def update(self, obs: FeedObservation, dt_s: float, commanded_speed_mm_s: float) -> None:
        """Take one tick's observation; `dt_s` of cell time since the previous one."""
        last = self.last
        self.commanded_mm_s = commanded_speed_mm_s
        if last is not None and obs.part_at_fixture == last.part_at_fixture:
            self.fixture_changed_s += dt_s
        else:
            self.fixture_changed_s = 0.0
        move = obs.conveyor_speed_mm_s * dt_s
        ahead = math.inf
        for i, x in enumerate(self.belt_mm):
            x = min(x + move, self.length_mm, ahead)
            self.belt_mm[i] = x
            ahead = x - self.pitch_mm
        arrived = last is not None and obs.buffer_count > last.buffer_count
        if self.belt_mm and (arrived or (self.belt_mm[0] >= self.length_mm and obs.buffer_count < obs.buffer_capacity)):
            self.belt_mm.pop(0)  # the lead blank entered the buffer (or would have: the estimate drifted)
        if last is not None and obs.time_since_last_feed_s < last.time_since_last_feed_s:
            self.belt_mm.append(min(obs.time_since_last_feed_s * obs.conveyor_speed_mm_s, self.pitch_mm))
        del self.belt_mm[MAX_ON_BELT:]
        self.last = obs

    def features(self) -> np.ndarray:
        o = self.last
        if o is None:
            raise RuntimeError("FeedObserver.features() before any update()")
        cap = max(o.buffer_capacity, 1)
        on_belt = len(self.belt_mm)
        return np.array([
            min(o.buffer_count / cap, 1.0),
            float(o.part_at_fixture),
            min(o.conveyor_speed_mm_s / MAX_SPEED_MM_S, 1.0),
            min(self.commanded_mm_s / MAX_SPEED_MM_S, 1.0),
            min(o.time_since_last_feed_s, TIME_CLIP_S) / TIME_CLIP_S,
            min(self.fixture_changed_s, TIME_CLIP_S) / TIME_CLIP_S,
            on_belt / MAX_ON_BELT,
            self.belt_mm[0] / self.length_mm if on_belt else 0.0,
            float(self.commanded_mm_s > 0.0 and on_belt > 0 and o.conveyor_speed_mm_s == 0.0),
        ], dtype=np.float32)


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


class LearnedFeedPolicy:
    """A FeedPolicy running a trained actor: decides every DECISION_PERIOD_S, holds the speed between.

    A release is commanded only on decision ticks; the conveyor speed is held until the next one.
    `act` is `observe` then, when a decision is due, `decide` on the actor's choice; the training env
    calls the two itself, the agent choosing in between.
    """

    name = "learned_feed"

    def __init__(self, actor, decision_period_s: float = DECISION_PERIOD_S,
                 conveyor_length_mm: float = 1200.0, blank_pitch_mm: float = 250.0):
        self.actor = actor
        self.decision_period_s = decision_period_s
        self.observer = FeedObserver(conveyor_length_mm, blank_pitch_mm)
        self.reset()

    @classmethod
    def load(cls, path: str | Path = SHIPPED, **kwargs) -> LearnedFeedPolicy:
        """Load an SB3 PPO zip (default: the shipped policy)."""
        from stable_baselines3 import PPO

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"feeding policy file not found: {path}")
        return cls(MlpActor.from_sb3(PPO.load(path, device="cpu")), **kwargs)

    def reset(self) -> None:
        self.observer.reset()
        self.speed_mm_s = 0.0
        self._since_decision_s = math.inf

    def observe(self, observation: FeedObservation, dt_s: float) -> bool:
        """Take a status `dt_s` (s of cell time) after the previous one; True when a decision is due."""
        self.observer.update(observation, dt_s, self.speed_mm_s)
        self._since_decision_s += dt_s
        return self._since_decision_s >= self.decision_period_s - STAMP_TOLERANCE_S

    def decide(self, action: int) -> FeedAction:
        """The command of discrete `action`, chosen now; its speed is held until the next decision."""
        self._since_decision_s = 0.0
        command = decode_action(action)
        self.speed_mm_s = command.conveyor_speed_mm_s
        return command

    def hold(self) -> FeedAction:
        """The command between decisions: the held speed, no release."""
        return FeedAction(self.speed_mm_s, False)

    def act(self, observation: FeedObservation, dt_s: float) -> FeedAction:
        if not self.observe(observation, dt_s):
            return self.hold()
        return self.decide(self.actor(self.observer.features()))
