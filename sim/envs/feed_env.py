"""`cell_controller/Feed-v0`: conveyor speed and blank releases against the cell's material flow.

Registered by `cell_controller.sim.envs`:

    import gymnasium as gym
    import cell_controller.sim.envs  # noqa: F401  (registers the ids)
    env = gym.make("cell_controller/Feed-v0", scenario="shop")

The flow model is `cell_controller.sim.physics.flow.FlowModel` (the twin's semantics, see its
docstring for the differences). One env step is one decision, `DECISION_PERIOD_S` = 1 s of cell
time, simulated in 0.1 s ticks as the policy node runs (cell time per control tick).

Observation: `FeedObserver.features()` (policies/feed_learned.py), 9 values in [0, 1], built from
the FeedObservation the policy node gets from the feeder's status and the policy's own commands.
Action: Discrete(8): conveyor speed (0, 125, 250, 400 mm/s) x release a blank (no, yes).
Reward per step: parts finished - 0.03 /s robot starved - 0.01 /s blank blocked at a full
buffer - 0.5 per jam (weights in `RewardWeights`).
Episodes end by truncation after `episode_s` of cell time; seeded resets are reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from cell_controller.policies.feed_learned import (
    DECISION_PERIOD_S,
    N_ACTIONS,
    N_FEATURES,
    FeedObserver,
    decode_action,
)
from cell_controller.sim.physics.flow import SCENARIOS, FlowModel, FlowParams, episode_summary

from . import FEED_ENV_ID as ENV_ID

#: bump when dynamics, observation, action or reward change (recorded in model cards)
ENV_VERSION = "Feed-v0 (flow model 1)"
CONTROL_DT_S = 0.1


@dataclass(frozen=True)
class RewardWeights:
    part: float = 1.0
    starved_per_s: float = 0.03
    blocked_per_s: float = 0.01
    jam: float = 0.5


class FeedEnv(gym.Env):
    """Feeding decisions against random robot/machine cycles, blank supply and jams."""

    metadata = {"render_modes": []}

    def __init__(self, scenario: str | FlowParams = "shop", episode_s: float = 1800.0,
                 weights: RewardWeights | None = None, control_dt_s: float = CONTROL_DT_S,
                 decision_period_s: float = DECISION_PERIOD_S):
        if isinstance(scenario, str):
            if scenario not in SCENARIOS:
                raise ValueError(f"scenario must be one of {sorted(SCENARIOS)}, got {scenario!r}")
            params = SCENARIOS[scenario]
        else:
            params = scenario
        if episode_s <= 0.0:
            raise ValueError(f"episode_s must be > 0, got {episode_s!r}")
        self.params = params
        self.episode_s = episode_s
        self.weights = weights or RewardWeights()
        self.dt_s = control_dt_s
        self.ticks_per_step = max(1, int(round(decision_period_s / control_dt_s)))
        self.max_steps = int(round(episode_s / (self.ticks_per_step * control_dt_s)))
        self.observation_space = spaces.Box(0.0, 1.0, (N_FEATURES,), dtype=np.float32)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.model = FlowModel(params, 0)
        self.observer = FeedObserver(params.conveyor_length_mm, params.blank_pitch_mm)
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """`options={"flow_seed": n}` seeds the flow model directly (as `run_feed_policy` does);
        otherwise its seed is drawn from the env's generator, below 2**31."""
        super().reset(seed=seed)
        flow_seed = (options or {}).get("flow_seed")
        self.model.reset(int(self.np_random.integers(0, 2**31 - 1)) if flow_seed is None else int(flow_seed))
        self.model.set_conveyor_speed(0.0)
        self.observer.reset()
        self.observer.update(self.model.observation(), 0.0, 0.0)
        self.steps = 0
        return self.observer.features(), {}

    def step(self, action):
        m, w = self.model, self.weights
        command = decode_action(action)
        m.set_conveyor_speed(command.conveyor_speed_mm_s)
        if command.release_blank:
            m.release_blank()
        before = (m.parts_out, m.starved_s, m.blocked_s, m.jam_count)
        for _ in range(self.ticks_per_step):
            m.step(self.dt_s)
            self.observer.update(m.observation(), self.dt_s, m.speed_mm_s)
        reward = (w.part * (m.parts_out - before[0]) - w.starved_per_s * (m.starved_s - before[1])
                  - w.blocked_per_s * (m.blocked_s - before[2]) - w.jam * (m.jam_count - before[3]))
        self.steps += 1
        truncated = self.steps >= self.max_steps
        info = {"parts": m.parts_out, "jams": m.jam_count}
        if truncated:
            info["episode_summary"] = episode_summary(m, self.steps * self.ticks_per_step * self.dt_s)
        return self.observer.features(), float(reward), False, truncated, info

