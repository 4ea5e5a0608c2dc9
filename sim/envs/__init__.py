"""Gymnasium environments of the cell's twin, registered under the ``cell_controller`` namespace.

``gymnasium.make("cell_controller/Weld-v0")`` → ``weld_env.WeldEnv`` (one seeded joint per
episode), and ``gymnasium.make_vec("cell_controller/Weld-v0", num_envs=N,
vectorization_mode="vector_entry_point")`` → ``weld_batch_env.WeldBatchEnv`` (N episodes, one
process kernel call per step); ``gymnasium.make("cell_controller/Feed-v0")`` → ``feed_env.FeedEnv`` (material flow).  Registration needs gymnasium (extra ``rl``); without it this package still
imports (``weld_spaces`` is plain numpy).
"""
from __future__ import annotations

WELD_ENV_ID = "cell_controller/Weld-v0"
FEED_ENV_ID = "cell_controller/Feed-v0"

try:
    import gymnasium as _gym
except ImportError:  # pragma: no cover - the rl extra is not installed
    _gym = None

if _gym is not None and WELD_ENV_ID not in _gym.registry:
    _gym.register(id=WELD_ENV_ID, entry_point="cell_controller.sim.envs.weld_env:WeldEnv",
                  vector_entry_point="cell_controller.sim.envs.weld_batch_env:WeldBatchEnv")
if _gym is not None and FEED_ENV_ID not in _gym.registry:
    _gym.register(id=FEED_ENV_ID, entry_point="cell_controller.sim.envs.feed_env:FeedEnv", max_episode_steps=None)
