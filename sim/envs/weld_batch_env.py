"""``WeldBatchEnv``: N ``Weld-v0`` episodes stepped together, their welds in one ``WeldBatch``.

Each of the N slots is a ``WeldEnv`` (the same joints, actions, shield, observations, rewards and
grading, line for line) whose process is a slot of one shared ``weld.WeldBatch``: a step maps every
slot's action to setpoints (``WeldEnv.setpoints``), welds all N joints with one call of the process
kernel (``weld_kernel.step_joints``, in parallel over the joints), then finishes each slot's step
(``WeldEnv.outcome``). So slot i gives, bit for bit, what ``gymnasium.make("cell_controller/Weld-v0")``
seeded with ``seed + i`` gives for the same actions (``tests/sim/test_weld_batch_env.py``).

Gymnasium's vector API, autoreset in the same step (``AutoresetMode.SAME_STEP``): a slot whose
episode ends returns the first observation of its next episode, and ``infos["final_obs"]`` /
``infos["final_info"]`` (masked by ``infos["_final_obs"]``) hold the last one's. ``step_slots`` gives
the same as per-slot lists, which ``cell_controller.policies.batched.BatchedVecEnv`` turns into
stable-baselines3's ``VecEnv``.  A finished weld's ``snapshot`` (the plot's thermal field) is not
taken in a batch.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from cell_controller.sim.physics.weld import ProcessSample, WeldBatch

from .weld_env import WeldEnv

__all__ = ["WeldBatchEnv"]


class WeldBatchEnv(VectorEnv):
    """``num_envs`` Weld-v0 episodes in one batch; ``env_kwargs`` are ``WeldEnv``'s (config, dt_s, joint_seeds,
    reward, length_mm, sensor_noise, thickness_quantum_mm)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int, **env_kwargs: Any):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.num_envs = int(num_envs)
        self.envs = [WeldEnv(**env_kwargs) for _ in range(self.num_envs)]
        first = self.envs[0]
        points = int(round(first.length_mm / 1.0)) + 1  # generate_joint's 1 mm spacing
        # room for every step of an episode: the arc-start step and max_steps more
        self.batch = WeldBatch(self.num_envs, points, first.max_steps + 1)
        for e, env in enumerate(self.envs):
            env.batch_slot = (self.batch, e)
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None
        self._gas_L_min = np.full(self.num_envs, first._gas)

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        """Every slot's first observation; slot i is seeded with ``seed + i`` (or ``seed[i]``)."""
        seeds = seed if isinstance(seed, list) else [None if seed is None else seed + i for i in range(self.num_envs)]
        if len(seeds) != self.num_envs:
            raise ValueError(f"{len(seeds)} seeds for {self.num_envs} envs")
        observations, infos = [], {}
        for e, (env, s) in enumerate(zip(self.envs, seeds)):
            observation, info = env.reset(seed=s, options=options)
            observations.append(observation)
            infos = self._add_info(infos, info, e)
        return np.stack(observations), infos

    def step_slots(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict], list]:
        """One step of every slot: (observations, rewards, terminations, truncations, each slot's info,
        each slot's final observation or None), a slot that ended already reset (its next episode's first
        observation in ``observations``)."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, *self.single_action_space.shape):
            raise ValueError(f"actions must have shape {(self.num_envs, *self.single_action_space.shape)}, "
                             f"got {actions.shape}")
        setpoints = [env.setpoints(a) for env, a in zip(self.envs, actions)]
        samples = self.batch.step(self.envs[0].dt_s, *(np.array([getattr(p, name) for p in setpoints])
                                                       for name in ("voltage_V", "wire_feed_m_min",
                                                                    "travel_speed_mm_s", "torch_offset_mm")),
                                  self._gas_L_min)
        observations = np.empty((self.num_envs, *self.single_observation_space.shape), dtype=np.float32)
        rewards = np.empty(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict] = []
        finals: list = [None] * self.num_envs
        for e, (env, params) in enumerate(zip(self.envs, setpoints)):
            observation, rewards[e], terminated[e], truncated[e], info = env.outcome(
                params, ProcessSample(*samples[e].tolist()))
            if terminated[e] or truncated[e]:
                finals[e] = observation
                observation, _ = env.reset()
            observations[e] = observation
            infos.append(info)
        return observations, rewards, terminated, truncated, infos, finals

    def step(self, actions):
        observations, rewards, terminated, truncated, slot_infos, finals = self.step_slots(actions)
        infos: dict = {}
        for e, (info, final) in enumerate(zip(slot_infos, finals)):
            if final is not None:
                infos = self._add_info(infos, {"final_obs": final, "final_info": info}, e)
            else:
                infos = self._add_info(infos, info, e)
        return observations, rewards, terminated, truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()

