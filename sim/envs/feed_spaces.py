"""Observation and action mapping of the feeding agent, shared by ``FeedEnv`` and the deployed policy.

Pure numpy (no gymnasium): the training env (`cell_controller.sim.envs.feed_env.FeedEnv`) and the
deployed `LearnedFeedPolicy` (`cell_controller.policies.feed_learned`, which subclasses
`FeedControlInterface` and adds the actor) run exactly this code, so the policy sees in the cell
exactly the features it was trained on. It lives in sim, next to the env, so that sim never imports
the policies (as ``weld_spaces`` does for welding).

Features come only from the `FeedObservation` stream the policy node builds from the feeder's OPC UA
status and from the policy's own commands (robot_busy and machine_busy are not used: the policy was
trained when the node still sent them as False).

Observation (``FEATURE_NAMES``, float32, all in [0, 1]): `FeedObserver.features()`.
Action: discrete, 0..``N_ACTIONS``-1: conveyor speed ``FEED_SPEEDS_MM_S[a // 2]``, release a blank
when ``a`` is odd (`decode_action`); one decision per ``DECISION_PERIOD_S``, the speed held in between
(`FeedControlInterface`). Units: mm, mm/s, s of cell time.
"""
from __future__ import annotations

import math

import numpy as np

from cell_controller.core.feed_loop import STAMP_TOLERANCE_S
from cell_controller.core.types import FeedAction, FeedObservation

__all__ = [
    "FEED_SPEEDS_MM_S",
    "N_ACTIONS",
    "DECISION_PERIOD_S",
    "TIME_CLIP_S",
    "MAX_SPEED_MM_S",
    "MAX_ON_BELT",
    "FEATURE_NAMES",
    "N_FEATURES",
    "decode_action",
    "FeedObserver",
    "FeedControlInterface",
]

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


class FeedControlInterface:
    """The deployed feeding policy without its actor: decides every `decision_period_s`, holds the speed
    between.

    A release is commanded only on decision ticks; the conveyor speed is held until the next one.
    `observe` takes every status and says when a decision is due; `decide` turns the chosen action into
    the command; `hold` is the command between decisions. The training env calls these itself, the
    agent choosing in between; `LearnedFeedPolicy.act` is `observe` then, when due, `decide` on the
    actor's choice.
    """

    def __init__(self, decision_period_s: float = DECISION_PERIOD_S,
                 conveyor_length_mm: float = 1200.0, blank_pitch_mm: float = 250.0):
        self.decision_period_s = decision_period_s
        self.observer = FeedObserver(conveyor_length_mm, blank_pitch_mm)
        self.reset()

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
