"""The graded result of one weld of the GMAW weld process twin: ``WeldReport`` and ``grade_weld``.

``grade_weld`` cuts a finished (or partial) weld's trace into ``SEGMENT_LENGTH_MM`` segments, sizes each
imperfection per segment (minima of penetration, maxima of reinforcement, sag and flags, means of
width, deposit and heat input) and grades them to ISO 5817 (``iso5817``: limits, the short-imperfection
rule, the run-on allowance ``RUN_ON_MM``); ``weld.WeldProcess.result()`` calls it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .iso5817 import (
    ACCEPTANCE_LEVEL,
    IMPERFECTIONS,
    LEVELS,
    PRESENT_EPS,
    RUN_ON_MM,
    SEGMENT_LENGTH_MM,
    SHORT_ONLY_LEVELS,
    apply_short_rule,
    iso5817_level,
    worse_level,
)
from .joint import JointGeometry

__all__ = ["WeldReport", "grade_weld"]


@dataclass(frozen=True, eq=False)
class WeldReport:
    """Result of one weld, per ``SEGMENT_LENGTH_MM`` segment (arrays of length n_segments)."""

    segment_start_mm: np.ndarray
    bead_width_mm: np.ndarray  # mean top fusion width
    penetration_mm: np.ndarray  # min fusion depth under the arc (≤ thickness)
    joint_penetration_mm: np.ndarray  # min depth to which both groove faces are fused
    reinforcement_mm: np.ndarray  # max cap height (negative: underfill)
    root_reinforcement_mm: np.ndarray  # max root sag (excess penetration)
    deposit_area_mm2: np.ndarray  # mean
    heat_input_J_mm: np.ndarray  # mean
    imperfections: tuple[tuple[str, ...], ...]  # names worse than level B, per segment
    imperfection_size: dict[str, np.ndarray]  # per name, per segment: mm (porosity %; flags 0/1)
    segment_level: tuple[str, ...]
    segment_graded: np.ndarray  # False for the run-on allowance (RUN_ON_MM)
    level: str  # "B", "C", "D" or "fail"
    thickness_mm: float
    welded_length_mm: float
    complete: bool
    arc_energy_J: float
    weld_time_s: float
    mean_current_A: float
    mean_voltage_V: float
    mean_wire_feed_m_min: float
    mean_travel_speed_mm_s: float
    mean_heat_input_J_mm: float
    #: per name, per segment: that imperfection's own ISO 5817 level (short-imperfection rule applied)
    imperfection_level: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def acceptable(self, level: str = ACCEPTANCE_LEVEL) -> bool:
        """True when the weld meets ``level`` (B is better than C, C than D)."""
        return LEVELS.index(self.level) <= LEVELS.index(level)

    @property
    def defective(self) -> bool:
        """Worse than the cell's acceptance level (C)."""
        return not self.acceptable(ACCEPTANCE_LEVEL)

    @property
    def imperfection_names(self) -> tuple[str, ...]:
        """Imperfection names present in some graded segment, in ``IMPERFECTIONS`` order."""
        seen = {n for seg, g in zip(self.imperfections, self.segment_graded) if g for n in seg}
        return tuple(n for n in IMPERFECTIONS if n in seen)


def grade_weld(trace: Mapping[str, np.ndarray], joint: JointGeometry, *, complete: bool,
               arc_energy_J: float) -> WeldReport:
    """Per-segment bead geometry, imperfections and the ISO 5817 level of a weld from its trace.

    ``trace`` is ``weld.WeldProcess.trace`` (per-step true values, as long as the weld so far), ``joint``
    the joint as welded, ``complete`` whether the torch reached the seam end and ``arc_energy_J`` the arc
    energy ∫ U I dt [J] so far.  Segments, the short-imperfection rule and the run-on allowance as in
    ``iso5817``.
    """
    tr = trace
    t_mm = joint.thickness_mm
    x = tr["x_mm"]
    n_steps = x.shape[0]
    welded = float(x[-1]) if n_steps else 0.0
    n_seg = int(math.ceil(welded / SEGMENT_LENGTH_MM - 1e-9)) if n_steps else 0
    seg_idx = np.minimum((np.maximum(x - 1e-9, 0.0) // SEGMENT_LENGTH_MM).astype(int), max(n_seg - 1, 0))
    starts = np.arange(n_seg) * SEGMENT_LENGTH_MM

    def agg(key: str, how: str) -> np.ndarray:
        out = np.zeros(n_seg)
        a = tr[key]
        for s in range(n_seg):
            m = seg_idx == s
            if not m.any():
                out[s] = np.nan
                continue
            out[s] = {"mean": np.mean, "min": np.min, "max": np.max}[how](a[m])
        return out

    width = agg("width_mm", "mean")
    pen = agg("penetration_mm", "min")
    jpen = agg("joint_penetration_mm", "min")
    rein = agg("reinforcement_mm", "max")
    rein_min = agg("reinforcement_mm", "min")
    sag = agg("root_sag_mm", "max")
    root_w = agg("root_width_mm", "max")
    dep = agg("deposit_area_mm2", "mean")
    hi = agg("heat_input_J_mm", "mean")
    sizes = {
        "incomplete_penetration": np.maximum(0.0, t_mm - jpen),
        "lack_of_fusion": agg("lack_of_fusion", "max"),
        "burn_through": agg("burn_through", "max"),
        "undercut": agg("undercut_mm", "max"),
        "excess_weld_metal": np.maximum(0.0, rein),
        "porosity": agg("porosity_pct", "max"),
        "joint_missed": agg("joint_missed", "max"),
        "excess_penetration": sag,
        "incompletely_filled_groove": np.maximum(0.0, -rein_min),
        "linear_misalignment": np.full(n_seg, joint.mismatch_mm),
    }
    # joint missed / burn-through dominate the geometric items of the same segment
    levels_per: dict[str, list[str]] = {}
    for name in IMPERFECTIONS:
        lv = []
        for s in range(n_seg):
            wdt = root_w[s] if name == "excess_penetration" else width[s]
            size = float(sizes[name][s])
            lv.append(iso5817_level(name, size if np.isfinite(size) else 0.0, t_mm, float(wdt)))
        levels_per[name] = lv
    # short-imperfection rule (ISO 5817 clause 3): ≤ 25 mm in any 100 mm of weld
    graded = starts + SEGMENT_LENGTH_MM > RUN_ON_MM + 1e-9
    for name, short_levels in SHORT_ONLY_LEVELS.items():
        present = np.nan_to_num(sizes[name]) > PRESENT_EPS.get(name, 0.0)
        levels_per[name] = apply_short_rule(levels_per[name], present, short_levels, graded, welded)
    seg_level = []
    seg_imps = []
    for s in range(n_seg):
        worst = "B"
        names = []
        for name in IMPERFECTIONS:
            L = levels_per[name][s]
            worst = worse_level(worst, L)
            if L != "B":
                names.append(name)
        seg_level.append(worst)
        seg_imps.append(tuple(names))
    level = "B"
    for s in range(n_seg):
        if graded[s]:
            level = worse_level(level, seg_level[s])
    weld_time = float(tr["time_s"][-1]) if n_steps else 0.0
    dts = np.diff(np.concatenate([[0.0], tr["time_s"]])) if n_steps else np.zeros(0)

    def tmean(k: str) -> float:
        return float(np.sum(tr[k] * dts) / weld_time) if weld_time > 0 else 0.0

    return WeldReport(
        segment_start_mm=starts, bead_width_mm=width, penetration_mm=pen, joint_penetration_mm=jpen,
        reinforcement_mm=rein, root_reinforcement_mm=sag, deposit_area_mm2=dep, heat_input_J_mm=hi,
        imperfections=tuple(seg_imps), imperfection_size=sizes, segment_level=tuple(seg_level),
        segment_graded=graded, level=level,
        thickness_mm=t_mm, welded_length_mm=welded, complete=complete, arc_energy_J=arc_energy_J,
        weld_time_s=weld_time, mean_current_A=tmean("current_A"), mean_voltage_V=tmean("voltage_V"),
        mean_wire_feed_m_min=tmean("wire_feed_m_min"), mean_travel_speed_mm_s=tmean("travel_speed_mm_s"),
        mean_heat_input_J_mm=tmean("heat_input_J_mm"),
        imperfection_level={name: tuple(lv) for name, lv in levels_per.items()},
    )
