"""PNG figure of one weld: temperature snapshot, bead geometry along the seam, gap, imperfections.

Matplotlib with the Agg backend (no display needed)::

    from cell_controller.sim.physics.joint import generate_joint
    from cell_controller.sim.physics.weld import run_fixed_recipe
    from cell_controller.sim.physics.plot import plot_weld
    plot_weld(run_fixed_recipe(generate_joint(3), 3), "weld_3.png")

As a command (wired as ``cellctl weld-plot``; ``main(argv)`` returns the exit status)::

    python -m cell_controller.sim.physics.plot --seed 3 --out weld_3.png
    python -m cell_controller.sim.physics.plot --seed 3 --voltage 27 --travel-speed 8 --out hot.png
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from .iso5817 import (
    ACCEPTANCE_LEVEL,
    IMPERFECTIONS,
    LEVELS,
    RUN_ON_MM,
    SEGMENT_LENGTH_MM,
    iso5817_limits,
)
from .joint import generate_joint
from .weld import NOMINAL_PROCEDURE, PARAMETER_LIMITS, WeldProcess, run_fixed_recipe

__all__ = ["plot_weld", "main"]

#: ISO 6520-1 reference numbers shown next to the names
_ISO_6520 = {
    "incomplete_penetration": "4021", "lack_of_fusion": "401", "burn_through": "510", "undercut": "5011",
    "excess_weld_metal": "502", "porosity": "2011", "joint_missed": "–", "excess_penetration": "504",
    "incompletely_filled_groove": "511", "linear_misalignment": "5071",
}
_LEVEL_COLOURS = {"B": "#2ca02c", "C": "#9acd32", "D": "#ff9f1c", "fail": "#d62728"}


def plot_weld(process: WeldProcess, path: str | Path, title: str | None = None) -> Path:
    """Write a PNG of ``process`` (finished or not) to ``path``; returns the path.

    1. the thermal field [°C] (through-thickness mean of the FD model) when the torch
       was at mid-seam (or now, if it has not got there), with the solidus isotherm,
       the real seam and the torch;
    2. bead along the seam [mm]: fusion width, reinforcement (cap height) with its
       ISO 5817 level-C limit, root sag (excess penetration);
    3. penetration along the seam [mm] against the plate thickness, with the root
       gap profile and the seam's offset from the torch;
    4. ISO 5817 grading per ``SEGMENT_LENGTH_MM`` segment: the level of each segment
       and, one row per imperfection, where it was found (colour = that imperfection's level).
    Segments graded worse than the acceptance level are shaded red in 2 and 3.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    r = process.result()
    tr = process.trace
    j = process.joint
    t_mm = j.thickness_mm
    if process.snapshot is not None:
        xs, ys, T, x_arc, y_arc = process.snapshot
    else:
        xs, ys, T = process.temperature_field()
        x_arc, y_arc = process.x_mm, 0.0
    x = tr["x_mm"]
    seg = r.segment_start_mm
    n_seg = seg.shape[0]
    bad = [LEVELS.index(L) > LEVELS.index(ACCEPTANCE_LEVEL) and g
           for L, g in zip(r.segment_level, r.segment_graded)]

    fig, ax = plt.subplots(4, 1, figsize=(11, 13.5), gridspec_kw={"height_ratios": [1.25, 1.1, 1.1, 1.0]})
    fig.suptitle(title or (
        f"GMAW butt weld, {t_mm:.1f} mm plate, seed {process.seed}: ISO 5817 level {r.level} "
        f"(acceptance {ACCEPTANCE_LEVEL}: {'accepted' if r.acceptable() else 'REJECTED'})\n"
        f"{r.mean_voltage_V:.1f} V, {r.mean_current_A:.0f} A, wire {r.mean_wire_feed_m_min:.1f} m/min, "
        f"travel {r.mean_travel_speed_mm_s:.1f} mm/s, heat input {r.mean_heat_input_J_mm:.0f} J/mm, "
        f"arc energy {r.arc_energy_J / 1e3:.0f} kJ in {r.weld_time_s:.1f} s"), fontsize=11)

    # 1 -- thermal field ------------------------------------------------------------------
    a0 = ax[0]
    ylim = 15.0
    sel = np.abs(ys) <= ylim
    im = a0.pcolormesh(xs, ys[sel], T[:, sel].T, shading="auto", cmap="inferno", vmin=20, vmax=1800)
    a0.contour(xs, ys[sel], T[:, sel].T, levels=[process.props.solidus_C], colors="cyan", linewidths=1.2)
    in_win = (j.x_mm >= xs[0]) & (j.x_mm <= xs[-1])
    a0.plot(j.x_mm[in_win], j.seam_offset_mm[in_win], "w--", lw=1, label="real seam (vs programmed path)")
    a0.plot([x_arc], [y_arc], marker="+", color="lime", ms=14, mew=2, ls="none", label="torch (arc centre)")
    a0.plot([], [], color="cyan", lw=1.2, label=f"solidus {process.props.solidus_C:.0f} °C")
    a0.set_xlim(xs[0], xs[-1])
    a0.set_ylim(-ylim, ylim)
    a0.set_aspect("equal")
    a0.set_xlabel("x along the seam [mm]")
    a0.set_ylabel("y [mm] (+ left)")
    a0.set_title(f"1  temperature field with the torch at x = {x_arc:.0f} mm "
                 "(thin-plate FD model, through-thickness mean)", fontsize=10, loc="left")
    a0.legend(loc="lower left", fontsize=8, framealpha=0.85)
    fig.colorbar(im, ax=a0, label="T [°C]", fraction=0.025, pad=0.01)

    def shade(a) -> None:
        for s in range(n_seg):
            if bad[s]:
                a.axvspan(seg[s], seg[s] + SEGMENT_LENGTH_MM, color="tab:red", alpha=0.12, lw=0)
        a.axvspan(0, RUN_ON_MM, color="0.85", alpha=0.5, lw=0)

    # 2 -- bead ---------------------------------------------------------------------------
    a1 = ax[1]
    shade(a1)
    a1.plot(x, tr["width_mm"], color="tab:blue", label="fusion width (top face)")
    a1.plot(x, tr["reinforcement_mm"], color="tab:brown", label="reinforcement h (cap; < 0: underfill)")
    lim_c = np.array([iso5817_limits("excess_weld_metal", t_mm, max(w, 0.0))["C"] for w in tr["width_mm"]])
    a1.plot(x, lim_c, color="tab:brown", ls="--", lw=0.9, label="502 limit, level C (1 + 0.15 b)")
    a1.plot(x, tr["root_sag_mm"], color="tab:olive", label="root sag (excess penetration)")
    a1.axhline(0.0, color="k", lw=0.5)
    a1.set_xlim(0, j.length_mm)
    hi = np.nanpercentile(np.concatenate([tr["width_mm"], lim_c]), 99) if x.size else 10.0
    lo = min(-1.0, float(np.nanmin(tr["reinforcement_mm"])) - 0.3) if x.size else -1.0
    a1.set_ylim(max(lo, -4.0), hi * 1.25 + 0.5)
    a1.set_ylabel("[mm]")
    a1.set_title("2  bead along the seam", fontsize=10, loc="left")
    h, lab = a1.get_legend_handles_labels()
    h += [Patch(color="tab:red", alpha=0.25), Patch(color="0.85")]
    lab += [f"segment worse than {ACCEPTANCE_LEVEL}", f"run-on {RUN_ON_MM:.0f} mm (not graded)"]
    a1.legend(h, lab, loc="upper right", fontsize=7.5, ncol=3, framealpha=0.85)
    a1.grid(alpha=0.3)

    # 3 -- penetration, gap, seam tracking ---------------------------------------------------
    a2 = ax[2]
    shade(a2)
    a2.axhline(t_mm, color="k", lw=1.0, label=f"plate thickness t = {t_mm:.2f} mm")
    a2.plot(x, tr["penetration_mm"], color="tab:orange", label="penetration under the arc")
    a2.plot(x, tr["joint_penetration_mm"], color="tab:green", ls="-.", label="joint penetration (both faces fused)")
    a2.plot(j.x_mm, j.gap_mm, "k:", lw=1.5, label="root gap")
    a2.plot(x, tr["seam_error_mm"], color="tab:purple", lw=0.9, label="seam − torch (lateral) ")
    a2.set_xlim(0, j.length_mm)
    a2.set_ylim(min(-1.0, float(np.min(tr["seam_error_mm"])) - 0.3 if x.size else -1.0), t_mm * 1.45)
    a2.set_ylabel("[mm]")
    a2.set_title("3  penetration, root gap and seam offset along the seam", fontsize=10, loc="left")
    a2.legend(loc="upper right", fontsize=7.5, ncol=3, framealpha=0.85)
    a2.grid(alpha=0.3)

    # 4 -- ISO 5817 grading --------------------------------------------------------------------
    a3 = ax[3]
    found = [n for n in IMPERFECTIONS if any(n in names for names in r.imperfections)]
    rows = ["segment level"] + found
    for s in range(n_seg):
        alpha = 1.0 if r.segment_graded[s] else 0.35
        col = _LEVEL_COLOURS[r.segment_level[s]]
        a3.add_patch(plt.Rectangle((seg[s] + 0.4, len(rows) - 1 - 0.4), SEGMENT_LENGTH_MM - 0.8, 0.8,
                                   color=col, alpha=alpha, lw=0))
        a3.text(seg[s] + SEGMENT_LENGTH_MM / 2, len(rows) - 1, r.segment_level[s], ha="center", va="center",
                fontsize=6.5, color="k" if r.segment_level[s] != "fail" else "w")
        for k, n in enumerate(found):
            if n in r.imperfections[s]:
                own = r.imperfection_level.get(n, r.segment_level)[s]
                a3.add_patch(plt.Rectangle((seg[s] + 1.5, len(rows) - 2 - k - 0.3), SEGMENT_LENGTH_MM - 3.0, 0.6,
                                           color=_LEVEL_COLOURS[own], alpha=alpha, ec="k", lw=0.5))
    a3.set_yticks(range(len(rows)), [f"{n.replace('_', ' ')} ({_ISO_6520[n]})" for n in reversed(found)]
                  + ["segment level"])
    a3.set_ylim(-0.6, len(rows) - 0.4)
    a3.set_xlim(0, j.length_mm)
    a3.set_xlabel("x along the seam [mm]")
    a3.set_title(f"4  ISO 5817 level per {SEGMENT_LENGTH_MM:.0f} mm segment and of each imperfection found "
                 "(worse than B; faded: run-on, not graded)" + ("" if found else " — no imperfections"), fontsize=10, loc="left")
    a3.legend([Patch(color=c) for c in _LEVEL_COLOURS.values()], [f"level {L}" for L in _LEVEL_COLOURS],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    a3.grid(axis="x", alpha=0.3)

    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    """Weld one seeded joint with the fixed recipe and write its PNG; returns the exit status."""
    P = NOMINAL_PROCEDURE
    ap = argparse.ArgumentParser(
        prog="weld-plot",
        description="Weld one seeded joint of the twin with the fixed recipe (no feedback) and write a PNG: "
                    "temperature snapshot, bead width and penetration along the seam with the gap profile, "
                    "and the ISO 5817 grading with the imperfections marked.")
    ap.add_argument("--seed", type=int, default=0, help="joint seed (joint variation and sensor noise; default 0)")
    ap.add_argument("--out", type=Path, default=None, help="PNG to write (default weld_<seed>.png)")
    ap.add_argument("--voltage", type=float, default=P.voltage_V, help=f"arc voltage, V (default {P.voltage_V:g})")
    ap.add_argument("--wire-feed", type=float, default=P.wire_feed_m_min,
                    help=f"wire feed speed, m/min (default {P.wire_feed_m_min:g})")
    ap.add_argument("--travel-speed", type=float, default=P.travel_speed_mm_s,
                    help=f"travel speed, mm/s (default {P.travel_speed_mm_s:g})")
    ap.add_argument("--gas-flow", type=float, default=P.gas_flow_l_min,
                    help=f"shielding-gas flow, L/min (default {P.gas_flow_l_min:g})")
    ap.add_argument("--length", type=float, default=200.0, help="seam length, mm (default 200)")
    args = ap.parse_args(argv)
    for name, value in (("voltage_V", args.voltage), ("wire_feed_m_min", args.wire_feed),
                        ("travel_speed_mm_s", args.travel_speed), ("gas_flow_l_min", args.gas_flow)):
        lo, hi = PARAMETER_LIMITS[name]
        if not lo <= value <= hi:
            ap.error(f"{name} must be in [{lo:g}, {hi:g}], got {value:g}")
    if not args.length > 0:
        ap.error(f"--length must be > 0 mm, got {args.length:g}")
    procedure = replace(P, voltage_V=args.voltage, wire_feed_m_min=args.wire_feed,
                        travel_speed_mm_s=args.travel_speed, gas_flow_l_min=args.gas_flow)
    process = run_fixed_recipe(generate_joint(args.seed, length_mm=args.length), args.seed, procedure)
    out = plot_weld(process, args.out or Path(f"weld_{args.seed}.png"))
    r = process.result()
    print(f"{out}: level {r.level}, imperfections: {', '.join(r.imperfection_names) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
