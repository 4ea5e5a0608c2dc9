"""`cell_controller/Feed-v0`: conveyor speed and blank releases against the cell's material flow.

Registered by `cell_controller.sim.envs`:

    import gymnasium as gym
    import cell_controller.sim.envs  # noqa: F401  (registers the ids)
    env = gym.make("cell_controller/Feed-v0", scenario="shop")

The flow model is `cell_controller.sim.physics.flow.FlowModel` (the twin's semantics, see its
docstring for the differences). One env step is one decision of the deployed `LearnedFeedPolicy`,
`DECISION_PERIOD_S` = 1 s of cell time, run as the policy node runs it: the policy's
`FeedControlInterface` (`feed_spaces`, the wrapper without its actor) observes every feeder status
(`FlowParams.status_period_s`) through the node's `FeedLoop` (core/feed_loop.py: its step, the release
in flight), and the agent chooses where the wrapper's actor would.

Observation: `FeedObserver.features()` (sim/envs/feed_spaces.py), 9 values in [0, 1], built from
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

from cell_controller.core.feed_loop import FeedLoop
from cell_controller.sim.physics.flow import SCENARIOS, FlowModel, FlowParams, episode_summary

from . import FEED_ENV_ID as ENV_ID  # noqa: F401 - the id, as feed_env.ENV_ID
from .feed_spaces import DECISION_PERIOD_S, N_ACTIONS, N_FEATURES, FeedControlInterface

#: bump when dynamics, observation, action or reward change (recorded in model cards)
ENV_VERSION = "Feed-v0 (flow model 2: statuses every 0.5 s, commands 0.2 s late, the node's FeedLoop)"


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
                 weights: RewardWeights | None = None, decision_period_s: float = DECISION_PERIOD_S):
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
        self.observation_space = spaces.Box(0.0, 1.0, (N_FEATURES,), dtype=np.float32)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.model = FlowModel(params, 0)
        #: the deployed wrapper without its actor: the agent chooses for it
        self.agent = FeedControlInterface(decision_period_s, params.conveyor_length_mm, params.blank_pitch_mm)
        self.loop = FeedLoop(self.agent, params.control_period_s)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """`options={"flow_seed": n}` seeds the flow model directly (as `run_feed_policy` does);
        otherwise its seed is drawn from the env's generator, below 2**31."""
        super().reset(seed=seed)
        flow_seed = (options or {}).get("flow_seed")
        self.model.reset(int(self.np_random.integers(0, 2**31 - 1)) if flow_seed is None else int(flow_seed))
        self.loop.reset()
        self._to_decision()
        return self.agent.observer.features(), {}

    def step(self, action):
        m, w = self.model, self.weights
        command = self.loop.command(self.agent.decide(action), m.time_s, m.blanks_released)
        before = (m.parts_out, m.starved_s, m.blocked_s, m.jam_count)
        m.advance_status(command)
        self._to_decision()
        reward = (w.part * (m.parts_out - before[0]) - w.starved_per_s * (m.starved_s - before[1])
                  - w.blocked_per_s * (m.blocked_s - before[2]) - w.jam * (m.jam_count - before[3]))
        truncated = m.time_s >= self.episode_s - 1e-6
        info = {"parts": m.parts_out, "jams": m.jam_count}
        if truncated:
            info["episode_summary"] = episode_summary(m, m.time_s)
        return self.agent.observer.features(), float(reward), False, truncated, info

    def _to_decision(self) -> None:
        """Run the feeder's statuses through the loop until the agent's next decision is due."""
        m = self.model
        while True:
            dt_s = self.loop.ask(m.time_s)
            if dt_s is None:
                m.advance_status()
            elif self.agent.observe(m.observation(), dt_s):
                return
            else:
                m.advance_status(self.loop.command(self.agent.hold(), m.time_s, m.blanks_released))

