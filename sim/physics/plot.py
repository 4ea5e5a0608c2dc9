"""PNG figure of one weld: temperature snapshot, bead geometry along the seam, gap, imperfections.

Matplotlib with the Agg backend (no display needed)::

    from cell_controller.sim.physics.weld import generate_joint, run_fixed_recipe
    from cell_controller.sim.physics.plot import plot_weld
    plot_weld(run_fixed_recipe(generate_joint(3), 3), "weld_3.png")
"""
from __future__ import annotations

from pathlib import Path


from .weld import IMPERFECTIONS, WeldProcess

_COLOURS = dict(zip(IMPERFECTIONS, ("tab:red", "tab:orange", "black", "tab:purple", "tab:brown", "tab:pink",
                                    "tab:gray", "tab:olive", "tab:cyan", "tab:blue")))


def plot_weld(process: WeldProcess, path: str | Path, title: str | None = None) -> Path:
    """Write a PNG of ``process`` (finished or not) to ``path``; returns the path.

    Top: the thermal field (°C) at mid-seam (or now, if the torch has not got
    there), solidus isotherm, seam and torch.  Middle: fusion width, penetration
    and joint penetration along the seam [mm], with the gap profile and the
    thickness.  Bottom: per-segment ISO 5817 level and imperfections.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = process.result()
    tr = process.trace
    j = process.joint
    if process.snapshot is not None:
        xs, ys, T, x_arc, y_arc = process.snapshot
    else:
        xs, ys, T = process.temperature_field()
        x_arc, y_arc = process.x_mm, 0.0
    fig, ax = plt.subplots(3, 1, figsize=(10, 9), gridspec_kw={"height_ratios": [1.2, 1.4, 0.6]})
    a0 = ax[0]
    im = a0.pcolormesh(xs, ys, T.T, shading="auto", cmap="inferno", vmin=20, vmax=2000)
    a0.contour(xs, ys, T.T, levels=[process.props.solidus_C], colors="cyan", linewidths=1)
    a0.plot(j.x_mm, j.seam_offset_mm, "w--", lw=1, label="seam")
    a0.plot([x_arc], [y_arc], "c+", ms=12, label="torch")
    a0.set_xlim(xs[0], xs[-1])
    a0.set_ylim(ys[0], ys[-1])
    a0.set_ylabel("y [mm] (+ left)")
    a0.set_title(title or f"weld: level {r.level}, HI {r.mean_heat_input_J_mm:.0f} J/mm, "
                 f"arc energy {r.arc_energy_J / 1e3:.0f} kJ (2-D mean field, solidus in cyan)")
    a0.legend(loc="upper left", fontsize=8)
    fig.colorbar(im, ax=a0, label="T [°C]")

    a1 = ax[1]
    x = tr["x_mm"]
    a1.plot(x, tr["width_mm"], label="fusion width")
    a1.plot(x, tr["penetration_mm"], label="penetration")
    a1.plot(x, tr["joint_penetration_mm"], label="joint penetration")
    a1.plot(x, tr["reinforcement_mm"], label="reinforcement")
    a1.plot(j.x_mm, j.gap_mm, "k:", label="gap")
    a1.plot(x, tr["seam_error_mm"], color="0.5", lw=0.8, label="seam − torch")
    a1.axhline(j.thickness_mm, color="k", lw=0.6)
    a1.set_xlim(0, j.length_mm)
    a1.set_ylabel("mm")
    a1.legend(loc="upper right", fontsize=7, ncol=4)
    a1.grid(alpha=0.3)

    a2 = ax[2]
    lev = {"B": 0, "C": 1, "D": 2, "fail": 3}
    seg = r.segment_start_mm
    from .weld import SEGMENT_LENGTH_MM
    for s, (L, names, g) in enumerate(zip(r.segment_level, r.imperfections, r.segment_graded)):
        a2.bar(seg[s] + SEGMENT_LENGTH_MM / 2, lev[L] + 0.2, width=SEGMENT_LENGTH_MM * 0.9, bottom=-0.2,
               color=["tab:green", "yellowgreen", "orange", "tab:red"][lev[L]], alpha=1.0 if g else 0.3)
        for k, n in enumerate(names):
            a2.plot(seg[s] + 2 + 1.2 * k, 3.4, "s", color=_COLOURS[n], ms=5)
    for n, c in _COLOURS.items():
        a2.plot([], [], "s", color=c, label=n)
    a2.set_yticks([0, 1, 2, 3], ["B", "C", "D", "fail"])
    a2.set_ylim(-0.3, 3.8)
    a2.set_xlim(0, j.length_mm)
    a2.set_xlabel("x along the seam [mm]")
    a2.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
