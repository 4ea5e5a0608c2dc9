"""Sweeps and fanned-out evaluation: serial and on a local Ray instance (num_cpus=2) they give the same
trials, figures and choice; bad sweep files and unreachable clusters are refused before anything is
trained or written; nothing imports Ray without --ray."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cell_controller.policies.evaluate import default_policies, eval_seeds, evaluate, evaluate_on_ray, to_markdown
from cell_controller.policies.sweep import SweepError, load_sweep, run_sweep
from cell_controller.sim.envs.weld_spaces import default_cell_config

CELLCTL = str(Path(sys.executable).with_name("cellctl"))
#: a PPO small enough that a trial trains in seconds
TINY_PPO = {"env_id": "cell_controller/Weld-v0", "n_envs": 2, "vec_env": "dummy", "policy": "MlpPolicy",
            "n_steps": 128, "batch_size": 64, "n_epochs": 2, "learning_rate": 3.0e-4,
            "policy_kwargs": {"net_arch": {"pi": [16], "vf": [16]}, "activation_fn": "tanh", "log_std_init": -1.6},
            "env_kwargs": {"dt_s": 0.1, "thickness_quantum_mm": 0.1}, "torch_threads": 1, "checkpoint_every": 256}


def sweep_file(tmp_path: Path, **changes) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "hp.yml").write_text(yaml.safe_dump({"ppo": TINY_PPO}))
    data = {"kind": "ppo", "hyperparams": "hp.yml", "steps": 512, "validation_joints": 2,
            "grid": {"seed": [1, 2], "reward.w_energy": [0.3]}, **changes}
    path = tmp_path / "sweep.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")  # the `ray` extra, which make test installs
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def model_parameters(path: Path) -> dict:
    from stable_baselines3 import PPO

    return {k: v.numpy() for k, v in PPO.load(str(path), device="cpu").policy.state_dict().items()}


def test_a_two_trial_sweep_on_ray_equals_the_serial_run(tmp_path, local_ray) -> None:
    sweep = load_sweep(sweep_file(tmp_path))
    serial = run_sweep(sweep, tmp_path / "serial")
    on_ray = run_sweep(sweep, tmp_path / "ray", ray_address="local")
    assert [t["params"] for t in serial["trials"]] == [{"seed": 1, "reward.w_energy": 0.3},
                                                       {"seed": 2, "reward.w_energy": 0.3}]
    assert [t["validation"] for t in on_ray["trials"]] == [t["validation"] for t in serial["trials"]]
    assert on_ray["best"] == serial["best"]
    for run in ("serial", "ray"):
        for trial in ("trial_000", "trial_001"):
            trial_dir = tmp_path / run / "trials" / trial
            assert (trial_dir / "checkpoints" / "ppo_512_steps.zip").exists()
            assert list((trial_dir / "monitor").glob("*.monitor.csv")) and (trial_dir / "logs" / "progress.csv").exists()
            assert json.loads((trial_dir / "trial.json").read_text())["run"]["steps"] == 512
    assert (tmp_path / "ray" / "tune").is_dir()  # Ray Tune's own state, beside the trials
    a, b = model_parameters(tmp_path / "serial" / "best.zip"), model_parameters(tmp_path / "ray" / "best.zip")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    first, second = (model_parameters(tmp_path / "serial" / "trials" / t / "ppo_final.zip")
                     for t in ("trial_000", "trial_001"))
    assert any((first[k] != second[k]).any() for k in first)  # the seeds made two different trainings


def test_the_evaluation_fanned_out_on_ray_gives_the_serial_table(local_ray) -> None:
    config = default_cell_config()
    policies = default_policies(config)
    seeds = eval_seeds(6)
    serial = evaluate(policies, seeds, config)
    fanned = evaluate_on_ray(list(policies), seeds)
    assert [f.name for f in fanned] == list(policies) and "learned_weld" in policies
    assert [f.results for f in fanned] == [f.results for f in serial]
    assert to_markdown(fanned) == to_markdown(serial)


@pytest.mark.parametrize("change, named", [
    ({"grid": {"seed": [1], "learning_rat": [1e-4]}}, "unknown hyperparameter 'learning_rat'"),
    ({"grid": {"reward.w_energi": [0.3]}}, "unknown hyperparameter 'reward.w_energi'"),
    ({"grid": {"seed": 1}}, "seed: a non-empty list"),
    ({"grid": {"seed": ["one"]}}, "seed must be an integer"),
    ({"grid": {"learning_rate": ["fast"]}}, "'fast' is neither a number nor 'lin_<number>'"),
    ({"steps": 0}, "steps: must be a positive int"),
    ({"kind": "dqn"}, "kind: 'dqn' is not an algorithm"),
    ({"hyperparams": "missing.yml"}, "hyperparams:"),
    ({"epochs": 3}, "unknown key 'epochs'"),
    ({"grid": {"n_steps": [0]}}, "cannot run"),  # SB3's own check, run before any trial trains
    ({"validation_joints": 1_000_000}, "validation_joints: at most 999500"),
])
def test_a_bad_sweep_file_is_refused_naming_the_key(tmp_path, change, named) -> None:
    path = sweep_file(tmp_path, **change)
    with pytest.raises(SweepError, match=str(path)) as refused:
        load_sweep(path)
    assert named in str(refused.value)


def test_cellctl_refuses_bad_sweeps_and_unreachable_clusters_before_writing(tmp_path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    good = sweep_file(tmp_path)
    for args, says in ((["--sweep", str(good), "--ray", f"127.0.0.1:{port}"], f"cannot reach the Ray cluster at "
                                                                               f"'127.0.0.1:{port}'"),
                       (["--sweep", str(sweep_file(tmp_path / "bad", grid={"gama": [0.9]}))], "'gama'"),
                       (["--sweep", str(good), "--steps", "10"], "--steps does not go with --sweep"),
                       (["--sweep", str(good), "--envs", "0"], "--envs does not go with --sweep"),
                       (["--ray"], "--ray runs a sweep")):
        out = tmp_path / "run"
        done = subprocess.run([CELLCTL, "train", "weld", *args, "--out", str(out)], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2 and says in done.stderr, (args, done.stderr)
        assert not out.exists()
    evaluation = subprocess.run([CELLCTL, "evaluate", "weld", "--joints", "2", "--ray", f"127.0.0.1:{port}"],
                                capture_output=True, text=True, timeout=120)
    assert evaluation.returncode == 2 and "cannot reach the Ray cluster" in evaluation.stderr, evaluation.stderr
    out.mkdir()
    (out / "old.txt").write_text("a run before")
    with pytest.raises(SweepError, match="exists and is not empty"):
        run_sweep(load_sweep(good), out)
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]


def test_nothing_imports_ray_without_the_ray_flag() -> None:
    code = ("import sys, cell_controller.cli, cell_controller.policies.train, cell_controller.policies.evaluate, "
            "cell_controller.policies.sweep; print('ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
