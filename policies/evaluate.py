"""Evaluate welding policies on held-out seeded joints; markdown table with confidence intervals.

Each policy welds the same joints (``generate_joint(seed)``, seeds from ``EVAL_SEED_BASE``,
never drawn in training or PID tuning) in a loop that mirrors the policy node: the arc
starts on the procedure's setpoints, then once per ``dt_s`` [s of cell time] the policy
acts on the sensor observation and its setpoints pass through the cell's ``WeldShield``
(limits, rate limits, fallback) before the process model welds them.

Figures per policy:

* imperfection rate = share of welds worse than ISO 5817 level C, 95 % Wilson score interval;
* mean arc energy [kJ] (∫ U I dt) of the good welds, 95 % percentile-bootstrap interval;
* arc energy per good weld [kJ] = all arc energy / number of good welds (scrap included),
  95 % bootstrap interval (resampling joints).

    python -m cell_controller.policies.evaluate --joints 200 --out eval.md
    python -m cell_controller.policies.evaluate --joints 200 --ray [ADDRESS]   # fanned out as Ray tasks

Model selection (sweeps, checkpoints) uses the *validation* joints (``validation_seeds``), training
seeds that no training run draws in practice and never an evaluation seed.
"""
from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cell_controller.core.config import CellConfig
from cell_controller.core.policy import WeldPolicy
from cell_controller.core.shield import WeldShield
from cell_controller.core.types import WeldParameters
from cell_controller.core.baselines import FixedRecipeWeldPolicy
from cell_controller.sim.envs.weld_env import EVAL_SEED_BASE, observation_from_sample
from cell_controller.sim.envs.weld_spaces import default_cell_config
from cell_controller.sim.physics.joint import JointGeometry, generate_joint
from cell_controller.sim.physics.weld import ProcessSample, WeldProcess
from cell_controller.sim.reality_gap import GAPS, NOMINAL, RealityGap, UnknownGapError, gap

__all__ = ["EpisodeResult", "PolicyFigures", "weld_joint", "run_policy", "evaluate", "wilson_interval", "bootstrap_interval",
           "to_markdown", "eval_seeds", "default_policies"]


@dataclass(frozen=True)
class EpisodeResult:
    joint_seed: int
    level: str
    defective: bool
    arc_energy_J: float
    weld_time_s: float
    imperfections: tuple[str, ...]
    interventions: int


#: the first validation joint seed (validation joints are training seeds, below EVAL_SEED_BASE)
VALIDATION_SEED_BASE = 500


def validation_seeds(n: int) -> list[int]:
    """The first ``n`` validation joint seeds: for choosing among runs and checkpoints, never for reporting."""
    if not 0 < n <= EVAL_SEED_BASE - VALIDATION_SEED_BASE:
        raise ValueError(f"validation joints: 1..{EVAL_SEED_BASE - VALIDATION_SEED_BASE}, got {n!r}")
    return list(range(VALIDATION_SEED_BASE, VALIDATION_SEED_BASE + n))


def eval_seeds(n: int, start: int = EVAL_SEED_BASE) -> list[int]:
    """The first ``n`` held-out joint seeds (``start`` must not be below ``EVAL_SEED_BASE``)."""
    if start < EVAL_SEED_BASE:
        raise ValueError(f"evaluation seeds start at {EVAL_SEED_BASE}, got start={start}")
    return list(range(start, start + n))


def weld_joint(policy: WeldPolicy, joint: JointGeometry, seed: int, config: CellConfig,
               dt_s: float = 0.1, gap: RealityGap = NOMINAL,
               on_sample: Callable[[ProcessSample, WeldParameters], None] | None = None,
               ) -> tuple[WeldProcess, WeldShield]:
    """Weld ``joint`` (process noise ``seed``) with ``policy`` behind the cell's shield, as the policy
    node does, on a plant that differs from the model by ``gap``; ``on_sample(sample, setpoints)`` sees
    each sensor sample and the setpoints it was welded with. Returns the finished process (trace,
    ``result()``) and the shield (intervention counts)."""
    length_mm = joint.length_mm
    process = WeldProcess(joint, seed, gap=gap)
    limits = {**config.device("welder").limits, **config.device("robot").limits}
    shield = WeldShield(limits, config.policies.rate_limits_per_s, FixedRecipeWeldPolicy(config.procedure))
    p = config.procedure
    gas = p.gas_flow_L_min
    params = FixedRecipeWeldPolicy(p).action  # arc start on the procedure (the devices load it)
    policy.reset()
    shield.reset(params)
    steps = 0
    max_steps = int(math.ceil(length_mm / limits["travel_speed"].low / dt_s)) + 10
    while not process.done and steps < max_steps:
        sample = process.step(dt_s, params.voltage_V, params.wire_feed_m_min, params.travel_speed_mm_s,
                              params.torch_offset_mm, gas)
        steps += 1
        if on_sample is not None:
            on_sample(sample, params)
        if process.done:
            break
        observation = observation_from_sample(sample, params.travel_speed_mm_s, length_mm)
        params = shield.filter(policy.act(observation, dt_s), observation, dt_s).action
    return process, shield


def run_policy(policy: WeldPolicy, joint_seed: int, config: CellConfig, dt_s: float = 0.1,
               length_mm: float = 200.0, plant: RealityGap = NOMINAL) -> EpisodeResult:
    """Weld the seeded joint ``joint_seed`` with ``policy`` on ``plant`` (``weld_joint``); the weld's figures."""
    process, shield = weld_joint(policy, generate_joint(joint_seed, length_mm=length_mm), joint_seed, config, dt_s,
                                 plant)
    report = process.result()
    defective = report.defective or not process.done
    return EpisodeResult(joint_seed, report.level if process.done else "fail", defective, report.arc_energy_J,
                         report.weld_time_s, report.imperfection_names, sum(shield.counts.values()))


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95 % for the default z)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    d = 1.0 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def bootstrap_interval(stat, data: np.ndarray, n_boot: int = 2000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(sample)`` over rows of ``data`` (fixed rng seed)."""
    data = np.asarray(data)
    if data.shape[0] == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, data.shape[0], size=(n_boot, data.shape[0]))
    vals = np.array([stat(data[i]) for i in idx], dtype=float)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return (math.nan, math.nan)
    a = (1.0 - level) / 2.0
    return (float(np.quantile(vals, a)), float(np.quantile(vals, 1.0 - a)))


@dataclass
class PolicyFigures:
    name: str
    results: list[EpisodeResult]
    wall_s: float = 0.0
    imperfection_rate: float = 0.0
    rate_ci: tuple[float, float] = (0.0, 1.0)
    good_energy_kJ: float = math.nan
    good_energy_ci: tuple[float, float] = (math.nan, math.nan)
    energy_per_good_kJ: float = math.nan
    energy_per_good_ci: tuple[float, float] = (math.nan, math.nan)
    imperfections: Counter = field(default_factory=Counter)

    @classmethod
    def of(cls, name: str, results: list[EpisodeResult], wall_s: float = 0.0) -> "PolicyFigures":
        n = len(results)
        bad = np.array([r.defective for r in results], dtype=bool)
        energy = np.array([r.arc_energy_J for r in results], dtype=float) / 1e3
        f = cls(name, results, wall_s)
        f.imperfection_rate = float(bad.mean()) if n else math.nan
        f.rate_ci = wilson_interval(int(bad.sum()), n)
        good = energy[~bad]
        if good.size:
            f.good_energy_kJ = float(good.mean())
            f.good_energy_ci = bootstrap_interval(np.mean, good)
            pairs = np.stack([energy, (~bad).astype(float)], axis=1)

            def per_good(s: np.ndarray) -> float:
                g = s[:, 1].sum()
                return float(s[:, 0].sum() / g) if g > 0 else math.nan

            f.energy_per_good_kJ = per_good(pairs)
            f.energy_per_good_ci = bootstrap_interval(per_good, pairs)
        f.imperfections = Counter(name for r in results if r.defective for name in r.imperfections)
        return f


def evaluate(policies: dict[str, WeldPolicy], seeds: list[int], config: CellConfig | None = None,
             dt_s: float = 0.1, verbose: bool = False, plant: RealityGap = NOMINAL) -> list[PolicyFigures]:
    """Every policy on every joint seed, welded on ``plant`` (a reality-gap set; default the twin itself);
    one ``PolicyFigures`` per policy, in the given order."""
    config = config or default_cell_config()
    out = []
    for name, policy in policies.items():
        t = time.perf_counter()
        results = [run_policy(policy, s, config, dt_s, plant=plant) for s in seeds]
        out.append(PolicyFigures.of(name, results, time.perf_counter() - t))
        if verbose:
            print(f"{name}: {out[-1].imperfection_rate:.3f} in {out[-1].wall_s:.0f} s", flush=True)
    return out


#: Ray tasks per CPU of the cluster in ``evaluate_on_ray`` (a task is one policy on a chunk of joints)
TASKS_PER_CPU = 8


def _evaluate_chunk(name: str, learned_path: str | None, seeds: list[int], dt_s: float,
                    plant: RealityGap) -> list[EpisodeResult]:
    """One Ray task of ``evaluate_on_ray``: the policy ``name`` of ``default_policies`` on ``seeds``."""
    from cell_controller.policies.ray_cluster import one_cpu

    one_cpu()
    config = default_cell_config()
    policy = default_policies(config, learned_path, name not in ("fixed_recipe", "pid_weld"))[name]
    return [run_policy(policy, s, config, dt_s, plant=plant) for s in seeds]


def evaluate_on_ray(names: list[str], seeds: list[int], learned_path: str | None = None, dt_s: float = 0.1,
                    address: str = "local", num_cpus: int | None = None, verbose: bool = False,
                    plant: RealityGap = NOMINAL) -> list[PolicyFigures]:
    """``evaluate`` of the ``default_policies`` called ``names``, fanned out as Ray tasks (chunks of joints,
    about TASKS_PER_CPU per CPU of the cluster at ``address``, so that the slower policies' tasks even out): the same figures as the serial run's. ``wall_s`` of
    each policy is the wall time of the whole fan-out. ``learned_path`` must be a file every node sees at
    that path (shared storage); None: the shipped model of each node's installation."""
    from cell_controller.policies.ray_cluster import cluster_cpus, connect, map_tasks

    if "learned_weld" in names and learned_path is not None:  # every worker loads it: absolute, checked here
        learned_path = str(Path(learned_path).resolve())  # (None: each worker's installed SHIPPED_MODEL)
        if not Path(learned_path).is_file():
            raise FileNotFoundError(f"learned model {learned_path}: no such file")
    connect(address, num_cpus)
    n_chunks = max(1, min(len(seeds), -(-TASKS_PER_CPU * cluster_cpus() // max(1, len(names)))))
    chunks = [list(c) for c in np.array_split(np.asarray(seeds), n_chunks) if len(c)]
    calls = [(name, learned_path, [int(s) for s in chunk], dt_s, plant) for name in names for chunk in chunks]
    t = time.perf_counter()
    results = map_tasks(_evaluate_chunk, calls)
    wall_s = time.perf_counter() - t
    figures = []
    for i, name in enumerate(names):
        episodes = [episode for chunk in results[i * len(chunks):(i + 1) * len(chunks)] for episode in chunk]
        figures.append(PolicyFigures.of(name, episodes, wall_s))
        if verbose:
            print(f"{name}: {figures[-1].imperfection_rate:.3f}", flush=True)
    return figures


def _fmt_ci(v: float, ci: tuple[float, float], pct: bool = False) -> str:
    if not math.isfinite(v):
        return "–"
    if pct:
        return f"{100 * v:.1f} % [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
    return f"{v:.1f} [{ci[0]:.1f}, {ci[1]:.1f}]"


def to_markdown(figures: list[PolicyFigures], reference: str | None = None) -> str:
    """Markdown table; ratios against the ``reference`` policy (default: the first)."""
    ref = next((f for f in figures if f.name == reference), figures[0]) if figures else None
    n = len(figures[0].results) if figures else 0
    lines = [
        f"{n} held-out joints per policy (seeds {figures[0].results[0].joint_seed}.."
        f"{figures[0].results[-1].joint_seed}); 95 % CI: Wilson (rate), percentile bootstrap (energy)."
        if n else "no joints",
        "",
        "| policy | welds worse than C | imperfection rate [95 % CI] | vs " + (ref.name if ref else "-")
        + " | mean arc energy of good welds, kJ [95 % CI] | vs " + (ref.name if ref else "-")
        + " | arc energy per good weld (scrap incl.), kJ [95 % CI] | main imperfections |",
        "|---|---:|---|---:|---|---:|---|---|",
    ]
    for f in figures:
        bad = sum(r.defective for r in f.results)
        r_rate = f.imperfection_rate / ref.imperfection_rate if ref and ref.imperfection_rate > 0 else math.nan
        r_en = f.good_energy_kJ / ref.good_energy_kJ if ref and ref.good_energy_kJ > 0 else math.nan
        top = ", ".join(f"{k} {v}" for k, v in f.imperfections.most_common(3)) or "–"
        lines.append(f"| {f.name} | {bad}/{len(f.results)} | {_fmt_ci(f.imperfection_rate, f.rate_ci, True)} | "
                     f"{r_rate:.2f} | {_fmt_ci(f.good_energy_kJ, f.good_energy_ci)} | {r_en:.2f} | "
                     f"{_fmt_ci(f.energy_per_good_kJ, f.energy_per_good_ci)} | {top} |")
    return "\n".join(lines) + "\n"


def default_policies(config: CellConfig, learned_path: str | Path | None = None,
                     include_learned: bool = True) -> dict[str, WeldPolicy]:
    """fixed recipe, PID and (when its model exists) the shipped learned policy."""
    from cell_controller.policies.pid import PidWeldPolicy

    policies: dict[str, WeldPolicy] = {"fixed_recipe": FixedRecipeWeldPolicy(config.procedure),
                                       "pid_weld": PidWeldPolicy(config)}
    if include_learned:
        from cell_controller.policies.learned import SHIPPED_MODEL, LearnedWeldPolicy

        path = Path(learned_path) if learned_path else SHIPPED_MODEL
        if path.exists():
            policies["learned_weld"] = LearnedWeldPolicy(config, path)
    return policies


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--joints", type=int, default=200, help="held-out joints (>= 200 for the report)")
    ap.add_argument("--start", type=int, default=EVAL_SEED_BASE, help="first evaluation joint seed")
    ap.add_argument("--model", default=None, help="learned model zip (default: the shipped one)")
    ap.add_argument("--no-learned", action="store_true")
    ap.add_argument("--dt", type=float, default=0.1, help="control period, s of cell time")
    ap.add_argument("--gap", default="nominal", metavar="SET",
                    help=f"weld on the plant of this reality-gap set ({', '.join(GAPS)}; default nominal, the twin)")
    ap.add_argument("--out", default=None, help="also write the markdown here")
    ap.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                    help="fan the joints out as Ray tasks: on the cluster at ADDRESS (host:port, ray://host:port, "
                         "auto), or without ADDRESS on a local Ray instance")
    ap.add_argument("--ray-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    args = ap.parse_args(argv)
    if args.joints < 1:
        ap.error(f"--joints must be >= 1, got {args.joints}")
    try:
        plant = gap(args.gap)
    except UnknownGapError as error:
        ap.error(f"--gap: {error.args[0]}")
    config = default_cell_config()
    pols = default_policies(config, args.model, not args.no_learned)
    seeds = eval_seeds(args.joints, args.start)
    if args.ray is not None:
        from cell_controller.policies.ray_cluster import RayConnectError

        try:
            figs = evaluate_on_ray(list(pols), seeds, args.model, args.dt, args.ray, args.ray_cpus, verbose=True,
                                   plant=plant)
        except RayConnectError as error:
            ap.exit(2, f"{ap.prog}: error: {error}\n")
    else:
        figs = evaluate(pols, seeds, config, args.dt, verbose=True, plant=plant)
    md = f"Plant: reality-gap set {args.gap!r}.\n\n" + to_markdown(figs, "fixed_recipe")
    print(md)
    if args.out:
        Path(args.out).write_text(md)


if __name__ == "__main__":
    main()
