"""``BatchedVecEnv``: the batched weld env (``sim.envs.weld_batch_env.WeldBatchEnv``) as stable-baselines3's
``VecEnv``, for ``train.py``'s ``vec_env: batched`` (``cellctl train weld --envs N``).

SB3's conventions on top of the batch's: ``reset()`` returns the observations only; a slot whose
episode ended is already reset, its last observation in ``infos[i]["terminal_observation"]`` and
``infos[i]["TimeLimit.truncated"]`` set when it ran out of steps; ``seed(s)`` seeds slot i with
``s + i`` at the next reset, as ``make_vec_env`` seeds its envs.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from cell_controller.sim.envs.weld_batch_env import WeldBatchEnv

__all__ = ["BatchedVecEnv"]


class BatchedVecEnv(VecEnv):
    """``n_envs`` Weld-v0 episodes in one ``WeldBatchEnv``; ``env_kwargs`` are ``WeldEnv``'s."""

    def __init__(self, n_envs: int, **env_kwargs: Any):
        self.batch_env = WeldBatchEnv(n_envs, **env_kwargs)
        super().__init__(n_envs, self.batch_env.single_observation_space, self.batch_env.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        seeds = [None if s is None else int(s) for s in self._seeds]
        observations = []
        for i, (env, seed, options) in enumerate(zip(self.batch_env.envs, seeds, self._options)):
            observation, self.reset_infos[i] = env.reset(seed=seed, options=options or None)
            observations.append(observation)
        self._reset_seeds()
        self._reset_options()
        return np.stack(observations)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        done = self.batch_env.step_slots(self._actions)
        for i, (info, final, timed_out) in enumerate(zip(done.infos, done.final_observations,
                                                         done.truncated & ~done.terminated)):
            if final is not None:
                info["terminal_observation"] = final
                info["TimeLimit.truncated"] = bool(timed_out)
                self.reset_infos[i] = done.reset_infos[i]
        return done.observations, done.rewards.astype(np.float32), done.terminated | done.truncated, done.infos

    def close(self) -> None:
        self.batch_env.close()

    def _slots(self, indices) -> list[int]:
        return list(self._get_indices(indices))

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self.batch_env.envs[i], attr_name) for i in self._slots(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        for i in self._slots(indices):
            setattr(self.batch_env.envs[i], attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        return [getattr(self.batch_env.envs[i], method_name)(*method_args, **method_kwargs) for i in self._slots(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._slots(indices)]
