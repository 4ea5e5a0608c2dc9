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
the same per slot (``SlotStep``), which ``cell_controller.policies.batched.BatchedVecEnv`` turns into
stable-baselines3's ``VecEnv``.  A finished weld's ``snapshot`` (the plot's thermal field) is not
taken in a batch.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from cell_controller.sim.physics.joint import generate_joint
from cell_controller.sim.physics.weld import ProcessSample, WeldBatch

from .weld_env import WeldEnv

__all__ = ["WeldBatchEnv", "SlotStep"]


class SlotStep(NamedTuple):
    """One step of every slot of a ``WeldBatchEnv``, per slot (arrays (N, ...) and lists of N)."""

    observations: np.ndarray  # float32; a slot that ended: its next episode's first observation
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    infos: list[dict]  # the step's info (a slot that ended: its last step's, with level, defective, ...)
    final_observations: list  # the last observation of an episode that ended, else None
    reset_infos: list  # the reset info of the episode begun, else None


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
        points = generate_joint(0, length_mm=first.length_mm).gap_mm.shape[0]
        # room for every step of an episode: the arc-start step and max_steps more
        self.batch = WeldBatch(self.num_envs, points, first.max_steps + 1)
        for e, env in enumerate(self.envs):
            env.batch_slot = (self.batch, e)
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None
        self._gas_flow_l_min = np.full(self.num_envs, first._gas)

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        """Every slot's first observation; slot i is seeded with ``seed + i`` (or ``seed[i]``); ``options`` go to
        every slot, as gymnasium's SyncVectorEnv passes them."""
        seeds = seed if isinstance(seed, list) else [None if seed is None else seed + i for i in range(self.num_envs)]
        if len(seeds) != self.num_envs:
            raise ValueError(f"{len(seeds)} seeds for {self.num_envs} envs")
        super().reset(seed=seeds[0])
        observations, infos = [], {}
        for e, (env, s) in enumerate(zip(self.envs, seeds)):
            observation, info = env.reset(seed=s, options=options)
            observations.append(observation)
            infos = self._add_info(infos, info, e)
        return np.stack(observations), infos

    def step_slots(self, actions) -> SlotStep:
        """One step of every slot (``SlotStep``); a slot that ended is already reset, its next episode's first
        observation in ``observations``."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs, *self.single_action_space.shape):
            raise ValueError(f"actions must have shape {(self.num_envs, *self.single_action_space.shape)}, "
                             f"got {actions.shape}")
        setpoints = [env.setpoints(a) for env, a in zip(self.envs, actions)]
        samples = self.batch.step(self.envs[0].dt_s, *(np.array([getattr(p, name) for p in setpoints])
                                                       for name in ("voltage_V", "wire_feed_m_min",
                                                                    "travel_speed_mm_s", "torch_offset_mm")),
                                  self._gas_flow_l_min)
        done = SlotStep(np.empty((self.num_envs, *self.single_observation_space.shape), dtype=np.float32),
                        np.empty(self.num_envs), np.zeros(self.num_envs, dtype=bool),
                        np.zeros(self.num_envs, dtype=bool), [], [None] * self.num_envs, [None] * self.num_envs)
        for e, (env, params) in enumerate(zip(self.envs, setpoints)):
            observation, done.rewards[e], done.terminated[e], done.truncated[e], info = env.outcome(
                params, ProcessSample(*samples[e].tolist()))
            if done.terminated[e] or done.truncated[e]:
                done.final_observations[e] = observation
                observation, done.reset_infos[e] = env.reset()
            done.observations[e] = observation
            done.infos.append(info)
        return done

    def step(self, actions):
        done = self.step_slots(actions)
        infos: dict = {}
        for e, (info, final, reset_info) in enumerate(zip(done.infos, done.final_observations, done.reset_infos)):
            if final is not None:  # as SyncVectorEnv: the last step's in final_*, the new episode's at the top
                infos = self._add_info(infos, {"final_obs": final, "final_info": info}, e)
                info = reset_info
            infos = self._add_info(infos, info, e)
        return done.observations, done.rewards, done.terminated, done.truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()

