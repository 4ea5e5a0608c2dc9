"""`cellctl compare`: the baseline cell against the autonomous cell on the same seeds, with 95 % intervals.

Both cells make the same blanks (the twin's seeded joints and cycle times from `cell.seed`, here
`--seed`, default HELD_OUT_SEED) under the same description; they differ only in their policies
(core/policy.py: BASELINE_POLICIES, AUTONOMOUS_POLICIES). The k-th blank's joint is seed × 100000 + k
(sim/devices/models.py), so seeds from 10 on give joints the welding policy never trained on.
Two depths:

* in-process (`--parts`, default 200): the cell simulation of cell_controller/cell_sim.py, the twin's device
  models, the supervisor's production sequence and the policies in one process, as fast as it runs;
* across processes (`--full N`, N ≥ 1): the whole cell, `cellctl shift --parts N` (OPC UA + DDS),
  whose figures are checked against the in-process run's first N parts.

Each KPI's ratio (autonomous / baseline) carries a 95 % percentile-bootstrap interval (parts resampled
within each cell; `BOOTSTRAP_RESAMPLES`), and the four plant targets (TARGETS) a verdict: met when the
whole interval is on the target's side, missed when the whole interval is on the other, else unsure.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from cell_controller.core.config import CellConfig, load_cell
from cell_controller.core.journal import PRODUCED, Journal, PartRecord
from cell_controller.core.kpis import WORSE_THAN_C, CellKpis
from cell_controller.core.policy import AUTONOMOUS_POLICIES, BASELINE_POLICIES
from cell_controller.shift_figures import KPI_ROWS, shift_kpis, unit_of

BOOTSTRAP_RESAMPLES = 2000
#: the default cell seed of a comparison: its joints (2,000,001 and up) are held out from the welding
#: policy's training (joint seeds below sim/envs/weld_env.TRAIN_SEEDS[1], 1,000,000) and from its
#: evaluation joints (1,000,000 to 1,000,199)
HELD_OUT_SEED = 20
#: joint seeds per cell seed (TwinCell.new_part: seed * JOINTS_PER_SEED + k)
JOINTS_PER_SEED = 100_000
CELLS = {"baseline": BASELINE_POLICIES, "autonomous": AUTONOMOUS_POLICIES}


@dataclass(frozen=True)
class Target:
    """A plant target: the ratio autonomous / baseline of one figure must be at least (higher_is_better)
    or at most `ratio`."""

    name: str
    ratio: float
    higher_is_better: bool

    def verdict(self, low: float, high: float) -> str:
        if math.isnan(low) or math.isnan(high):
            return "unsure"
        meets = (lambda r: r >= self.ratio) if self.higher_is_better else (lambda r: r <= self.ratio)
        return "met" if meets(low) and meets(high) else "missed" if not meets(low) and not meets(high) else "unsure"


#: the four figures AI autonomous manufacturing is held to (productivity, cost, defects, energy)
TARGETS = (
    Target("good parts per hour", 1.30, True),
    Target("cost per good part", 0.80, False),
    Target("welds worse than ISO 5817 C", 0.50, False),
    Target("energy per good part", 0.90, False),
)


def _part_figures(parts: list[PartRecord]) -> np.ndarray:
    """Per part: good, produced, cycle s, worse than C, kWh, cost, arc kJ (the sums the KPIs divide)."""
    rows = []
    for p in parts:
        produced = p.outcome in PRODUCED
        cost = sum(line.amount or 0.0 for line in p.costs.values())
        kwh = p.costs["electricity"].quantity if "electricity" in p.costs else 0.0
        rows.append((float(p.good), float(produced), p.cycle_time_s or 0.0,
                     float(produced and p.iso5817_level in WORSE_THAN_C), kwh, cost, p.arc_energy_kJ or 0.0))
    return np.array(rows, dtype=float).reshape(-1, 7)


#: figure name -> its value from column sums of `_part_figures` (one shift, or one resample of its parts).
#: The share of welds worse than C is the smoothed (k + 1/2) / (n + 1) (Jeffreys): a sample without a bad
#: weld still has an interval wider than zero
RESAMPLED: dict[str, Callable[[np.ndarray], float]] = {
    "good parts per hour": lambda s: s[0] * 3600.0 / s[2] if s[2] else math.nan,
    "cycle time, mean": lambda s: s[2] / s[1] if s[1] else math.nan,
    "welds worse than ISO 5817 C": lambda s: (s[3] + 0.5) / (s[1] + 1.0),
    "arc energy per good part": lambda s: s[6] / s[0] if s[0] else math.nan,
    "energy per good part": lambda s: s[4] / s[0] if s[0] else math.nan,
    "cost per good part": lambda s: s[5] / s[0] if s[0] else math.nan,
}


def ratio_interval(base: np.ndarray, auto: np.ndarray, figure: Callable[[np.ndarray], float],
                   seed: int = 0) -> tuple[float, float, float]:
    """(ratio, low, high): autonomous / baseline of `figure` and its 95 % percentile-bootstrap interval
    (each cell's parts resampled on their own)."""
    point_base, point_auto = figure(base.sum(axis=0)), figure(auto.sum(axis=0))
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        b = figure(base[rng.integers(0, len(base), len(base))].sum(axis=0))
        a = figure(auto[rng.integers(0, len(auto), len(auto))].sum(axis=0))
        if b and not math.isnan(a) and not math.isnan(b):
            ratios.append(a / b)
    ratio = point_auto / point_base if point_base and not math.isnan(point_base) else math.nan
    if not ratios:
        return ratio, math.nan, math.nan
    low, high = np.percentile(ratios, [2.5, 97.5])
    return ratio, float(low), float(high)


@dataclass
class CellRun:
    """One cell's shift: its description, its records and its KPIs."""

    name: str
    config: CellConfig
    parts: list[PartRecord]
    kpis: CellKpis


def held_out(seed: int) -> bool:
    """Whether every joint of cell seed `seed` lies above the welding policy's training joints."""
    from cell_controller.sim.envs.weld_env import TRAIN_SEEDS

    return seed * JOINTS_PER_SEED >= TRAIN_SEEDS[1]


def cell_description(source: Path, folder: Path, name: str, policies: tuple[str, str], seed: int,
                     edit: Callable[[dict[str, Any]], None] | None = None) -> CellConfig:
    """`source` rewritten into `folder/<name>.yaml` with `policies`, cell seed `seed` and a journal and logs
    of its own."""
    data = yaml.safe_load(source.read_text())
    data["policies"]["weld"], data["policies"]["feed"] = policies
    data["cell"]["seed"] = seed
    data["cell"]["journal"] = str(folder / f"{name}.sqlite")
    data["cell"]["logs"] = str(folder / f"{name}-logs")
    if edit is not None:
        edit(data)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_cell(path)


def _read(config: CellConfig, name: str) -> CellRun:
    with Journal(config.journal_path, writer=False) as journal:
        shift_id = journal.last_shift_id()
        assert shift_id is not None, f"{config.journal_path}: no shift"
        return CellRun(name, config, journal.parts(shift_id), shift_kpis(journal, shift_id, config))


def run_in_process(config: CellConfig, name: str, parts: int) -> CellRun:
    from cell_controller.cell_sim import simulate_shift

    with Journal(config.journal_path) as journal:
        simulate_shift(config, journal, parts)
    return _read(config, name)


def run_across_processes(config: CellConfig, name: str, parts: int) -> CellRun:
    """`cellctl shift --parts N` on `config` (a ROS domain of its own); RuntimeError when it fails."""
    env = {**os.environ, "ROS_DOMAIN_ID": str(100 + (os.getpid() + list(CELLS).index(name)) % 100)}
    cellctl = str(Path(sys.executable).with_name("cellctl"))
    done = subprocess.run([cellctl, "shift", "--parts", str(parts), "--config", str(config.path)], env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"the {name} cell's shift failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return _read(config, name)


@dataclass(frozen=True)
class Row:
    """One compared figure: each cell's value and the ratio with its interval."""

    name: str
    unit: str
    baseline: str
    autonomous: str
    ratio: float
    low: float
    high: float
    verdict: str


def compare_runs(base: CellRun, auto: CellRun) -> list[Row]:
    """The KPI table of two cells, ratios with 95 % intervals where a figure can be resampled by part."""
    figures_base, figures_auto = _part_figures(base.parts), _part_figures(auto.parts)
    targets = {t.name: t for t in TARGETS}
    rows = []
    for kpi in KPI_ROWS:
        if kpi.name in RESAMPLED:
            ratio, low, high = ratio_interval(figures_base, figures_auto, RESAMPLED[kpi.name])
        else:
            b, a = kpi.value(base.kpis), kpi.value(auto.kpis)
            ratio, low, high = (a / b if b else math.nan), math.nan, math.nan
        target = targets.get(kpi.name)
        rows.append(Row(kpi.name, unit_of(kpi, base.kpis), kpi.text(base.kpis), kpi.text(auto.kpis), ratio, low,
                        high, target.verdict(low, high) if target else ""))
    return rows


def _number(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f}"


def _significant(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4g}"


def to_markdown(rows: list[Row], title: str) -> str:
    targets = {t.name: t for t in TARGETS}
    lines = [title, "", "| figure | unit | baseline | autonomous | ratio | 95 % interval | target | verdict |",
             "|---|---|---:|---:|---:|---|---|---|"]
    for r in rows:
        t = targets.get(r.name)
        target = f"{'≥' if t.higher_is_better else '≤'} {t.ratio:.2f}x" if t else ""
        interval = f"{_number(r.low)}–{_number(r.high)}" if not math.isnan(r.low) else ""
        lines.append(f"| {r.name} | {r.unit} | {r.baseline} | {r.autonomous} | {_number(r.ratio)}x | {interval} | "
                     f"{target} | {r.verdict} |")
    return "\n".join(lines)


def difference_interval(full: np.ndarray, sim: np.ndarray, figure: Callable[[np.ndarray], float],
                        seed: int = 1) -> tuple[float, float]:
    """The 95 % percentile-bootstrap interval of figure(full) − figure(sim), each sample resampled on its own."""
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        a = figure(full[rng.integers(0, len(full), len(full))].sum(axis=0))
        b = figure(sim[rng.integers(0, len(sim), len(sim))].sum(axis=0))
        if not (math.isnan(a) or math.isnan(b)):
            differences.append(a - b)
    if not differences:
        return math.nan, math.nan
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(low), float(high)


def agreement(in_process: CellRun, full: CellRun) -> list[tuple[str, float, float, float, float, bool]]:
    """Each resampled figure of the full cell against the in-process cell on the same parts (its first
    len(full.parts)): (name, full value, in-process value, the 95 % interval of full − in process, whether
    0 is inside it)."""
    figures_sim = _part_figures(in_process.parts[:len(full.parts)])
    figures_full = _part_figures(full.parts)
    out = []
    for name, figure in RESAMPLED.items():
        low, high = difference_interval(figures_full, figures_sim, figure)
        out.append((name, figure(figures_full.sum(axis=0)), figure(figures_sim.sum(axis=0)), low, high,
                    bool(low <= 0.0 <= high)))
    return out


def compare_main(source: Path, parts: int, full_parts: int, out: Path | None, seed: int = HELD_OUT_SEED) -> int:
    """Run both cells at both depths asked for; print (and write to `out`) the tables. 0 when every
    full-cell figure agrees with the in-process one (0 is inside the interval of their difference), 1
    otherwise."""
    from rich.console import Console

    console = Console(stderr=True)
    sections = []
    agree = True
    with tempfile.TemporaryDirectory(prefix="cellctl_compare_") as folder:
        runs = {}
        for name, policies in CELLS.items():
            config = cell_description(source, Path(folder), f"{name}-in-process", policies, seed)
            console.print(f"cellctl compare: {name} cell, {parts} parts in process ...")
            runs[name] = run_in_process(config, name, parts)
        sections.append(to_markdown(compare_runs(runs["baseline"], runs["autonomous"]),
                                    f"## In process: {parts} parts per cell, cell seed {seed} (joints "
                                    f"{seed * JOINTS_PER_SEED + 1} to {seed * JOINTS_PER_SEED + parts}, "
                                    f"{'held out from' if held_out(seed) else 'within the range of'} the welding "
                                    "policy's training joints)"))
        if full_parts:
            for name, policies in CELLS.items():
                config = cell_description(source, Path(folder), f"{name}-full", policies, seed)
                console.print(f"cellctl compare: {name} cell, {full_parts} parts across processes ...")
                full = run_across_processes(config, name, full_parts)
                lines = [f"## {name} cell across processes ({full_parts} parts) against in process (same parts)",
                         "", "| figure | full cell | in process | full − in process, 95 % interval | agrees |",
                         "|---|---:|---:|---|---|"]
                for figure, value_full, value_sim, low, high, inside in agreement(runs[name], full):
                    agree &= inside
                    lines.append(f"| {figure} | {_significant(value_full)} | {_significant(value_sim)} | "
                                 f"{_significant(low)} to {_significant(high)} | {'yes' if inside else 'NO'} |")
                sections.append("\n".join(lines))
    text = "\n\n".join(sections) + "\n"
    print(text)
    if out is not None:
        out.write_text(text)
    return 0 if agree else 1
