"""The batched weld env: bit for bit N independent Weld-v0 envs with the same seeds and actions (autoreset
included), the same PPO training as SB3's DummyVecEnv, and clear errors for bad sizes and commands."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from gymnasium.vector import AutoresetMode

from cell_controller.sim.envs import WELD_ENV_ID
from cell_controller.sim.envs.weld_batch_env import WeldBatchEnv
from cell_controller.sim.physics.joint import generate_joint
from cell_controller.sim.physics.weld import WeldBatch, WeldProcess

N = 3
FAST = {"thickness_quantum_mm": 0.1, "length_mm": 60.0}  # short joints: many episodes end in a short test


def independent(n: int) -> gym.vector.SyncVectorEnv:
    return gym.vector.SyncVectorEnv([lambda: gym.make(WELD_ENV_ID, **FAST) for _ in range(n)],
                                    autoreset_mode=AutoresetMode.SAME_STEP)


def test_each_slot_is_bit_for_bit_an_independent_weld_env_across_autoresets() -> None:
    batched = gym.make_vec(WELD_ENV_ID, num_envs=N, vectorization_mode="vector_entry_point", **FAST)
    reference = independent(N)
    assert isinstance(batched, WeldBatchEnv) and batched.observation_space == reference.observation_space
    first, info = batched.reset(seed=11)
    expected, expected_info = reference.reset(seed=11)
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(info["joint_seed"], expected_info["joint_seed"])
    rng = np.random.default_rng(5)
    ended = 0
    for step in range(260):
        actions = rng.uniform(-1.0, 1.0, (N, 4)).astype(np.float32)
        got, want = batched.step(actions), reference.step(actions)
        for name, a, b in zip(("observations", "rewards", "terminations", "truncations"), got[:4], want[:4]):
            assert np.array_equal(a, b), (step, name)
        np.testing.assert_array_equal(got[4]["joint_seed"], want[4]["joint_seed"])  # a new episode's at the top
        if "final_info" in want[4]:
            mask = want[4]["_final_info"]
            np.testing.assert_array_equal(got[4]["_final_info"], mask)
            for key in ("level", "defective", "arc_energy_J", "joint_seed"):
                np.testing.assert_array_equal(got[4]["final_info"][key][mask], want[4]["final_info"][key][mask])
            np.testing.assert_array_equal(np.stack(got[4]["final_obs"][mask]), np.stack(want[4]["final_obs"][mask]))
            ended += int(mask.sum())
    assert ended >= 2 * N  # every slot went through at least one autoreset


def test_a_weld_in_a_batch_equals_the_weld_alone() -> None:
    joints = [generate_joint(seed, length_mm=40.0) for seed in (1, 2)]
    batch = WeldBatch(2, joints[0].gap_mm.shape[0], 200)
    alone = [WeldProcess(joint, seed) for seed, joint in zip((1, 2), joints)]
    for e, joint in enumerate(joints):
        batch.start(e, joint, e + 1)
    commands = np.array([[24.0, 25.5], [8.0, 9.0], [10.0, 7.0], [0.0, 0.4], [15.0, 15.0]])
    while not all(p.done for p in alone):
        active = np.array([not p.done for p in alone])
        samples = batch.step(0.1, *commands, active=active)
        for e, process in enumerate(alone):
            if active[e]:
                assert samples[e].tolist() == list(vars(process.step(0.1, *commands[:, e])).values())
    for e, process in enumerate(alone):
        np.testing.assert_array_equal(batch.trace_of(e)["width_mm"], process.trace["width_mm"])
        assert batch.result(e).level == process.result().level


def test_bad_sizes_and_commands_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1, got 0"):
        WeldBatchEnv(0)
    batch = WeldBatch(2, 41, 10)
    batch.start(0, generate_joint(1, length_mm=40.0), 1)
    batch.start(1, generate_joint(2, length_mm=40.0), 2)
    ok = np.array([24.0, 24.0]), np.array([8.0, 8.0]), np.array([10.0, 10.0]), np.zeros(2), np.full(2, 15.0)
    with pytest.raises(ValueError, match=r"voltage_V of slot 1 must be in \[14.0, 36.0\], got nan"):
        batch.step(0.1, np.array([24.0, np.nan]), *ok[1:])
    with pytest.raises(ValueError, match="the batch's joints have 41 points"):
        batch.start(0, generate_joint(3, length_mm=200.0), 3)
    for _ in range(10):
        batch.step(0.1, *ok)
    with pytest.raises(RuntimeError, match="slot 0 has taken its 10 steps"):
        batch.step(0.1, *ok)
    env = WeldBatchEnv(2, **FAST)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must have shape \(2, 4\)"):
        env.step(np.zeros((3, 4), dtype=np.float32))


def test_ppo_trains_the_same_model_on_the_batched_env_as_on_sb3s_dummy_vec_env(tmp_path) -> None:
    from stable_baselines3 import PPO

    from cell_controller.policies.train import train

    hp = {"env_id": WELD_ENV_ID, "n_envs": 2, "vec_env": "dummy", "policy": "MlpPolicy", "n_steps": 128,
          "batch_size": 64, "n_epochs": 2, "policy_kwargs": {"net_arch": [16]}, "env_kwargs": FAST,
          "torch_threads": 1, "checkpoint_every": 10_000}
    (tmp_path / "hp.yml").write_text(yaml.safe_dump({"ppo": hp}))
    models = [train("ppo", tmp_path / "hp.yml", 512, 4, tmp_path / name, progress_bar=False, batched_envs=envs)
              for name, envs in (("dummy", None), ("batched", 2))]
    a, b = (PPO.load(m, device="cpu").policy.state_dict() for m in models)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "batched" / "monitor" / "batched.monitor.csv").read_text().count("\n") > 3  # episodes logged


def test_cellctl_train_refuses_zero_envs(tmp_path) -> None:
    done = subprocess.run([str(Path(sys.executable).with_name("cellctl")), "train", "weld", "--envs", "0", "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--envs must be >= 1, got 0" in done.stderr
    assert not (tmp_path / "run").exists()
