"""`cellctl report`: one shift as a self-contained HTML page (figures embedded as PNG), for people to read.

The page: the cell KPI table (shared with `cellctl summary`: shift_figures.KPI_ROWS), against a baseline
shift of the same journal when one is named; a timeline of every device's sequence steps across the
shift (feed, clamp, weld, unclamp, transfer, press, release, reject, from the journal's step log) with
Held and Suspended shaded (its PackML state log); the ISO 5817 levels and the imperfections found; and
energy and cost per part (its cost lines). Times are cell time (the devices' clock) since the shift
entered Execute.
"""
from __future__ import annotations

import base64
import html
import io
import math
from collections import Counter
from pathlib import Path

from cell_controller.core.config import CellConfig
from cell_controller.core.journal import PRODUCED, Journal, PartRecord, StateChange, StepEvent
from cell_controller.core.kpis import ISO5817_LEVELS, RUN_STATE, CellKpis
from cell_controller.shift_figures import KPI_ROWS, shift_kpis, unit_of

#: the timeline's rows, top to bottom: device -> its steps (core/sequence.py's step names)
TIMELINE = {"feeder": ("feed", "clamp", "unclamp", "transfer", "release", "reject"), "robot": ("weld",),
            "machine": ("press",)}
STEP_COLOURS = {"feed": "#4c78a8", "clamp": "#72b7b2", "weld": "#e45756", "unclamp": "#9ecae9",
                "transfer": "#54a24b", "press": "#b279a2", "release": "#eeca3b", "reject": "#7f7f7f"}
#: PackML states shaded on the timeline, with their colours
SHADED = {"Held": "#f8d7a8", "Holding": "#f8d7a8", "Suspended": "#d9d2e9", "Suspending": "#d9d2e9"}


def _pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> str:
    """`figure` as a base64 PNG for an <img> (the figure is closed)."""
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def step_bars(steps: list[StepEvent], origin_s: float) -> dict[str, list[tuple[float, float, str]]]:
    """step name -> (start, duration, part id) bars, cell s from `origin_s`. A press runs from its command to
    the end of the machine's cycle (the `cycle` step's end); a step never seen to end is left out."""
    started: dict[tuple[str, str], float] = {}
    bars: dict[str, list[tuple[float, float, str]]] = {}
    for e in steps:
        if e.cell_time_s is None:
            continue
        step = "press" if e.step == "cycle" else e.step
        key = (step, e.part_id)
        if e.edge == "start":
            started.setdefault(key, e.cell_time_s)
        elif e.edge == "done" and key in started and e.step != "press":  # a press ends with its cycle
            begin = started.pop(key)
            bars.setdefault(step, []).append((begin - origin_s, e.cell_time_s - begin, e.part_id))
    return bars


def state_spans(log: list[StateChange], origin_s: float, end_s: float) -> list[tuple[str, float, float]]:
    """(state, start, end) of the shaded states, cell s from `origin_s`; the last one open until `end_s`."""
    spans = []
    for change, following in zip(log, [*log[1:], None]):
        if change.new in SHADED and change.cell_time_s is not None:
            stop = following.cell_time_s if following is not None and following.cell_time_s is not None else end_s
            spans.append((change.new, change.cell_time_s - origin_s, stop - origin_s))
    return spans


def timeline_figure(steps: list[StepEvent], log: list[StateChange]):
    from matplotlib.patches import Patch

    plt = _pyplot()

    execute = next((c.cell_time_s for c in log if c.new == RUN_STATE and c.cell_time_s is not None), None)
    times = [e.cell_time_s for e in steps if e.cell_time_s is not None]
    origin_s = execute if execute is not None else min(times, default=0.0)
    bars = step_bars(steps, origin_s)
    end_s = max(times, default=origin_s)
    figure, axes = plt.subplots(figsize=(12, 2.6))
    for state, start, stop in state_spans(log, origin_s, end_s):
        axes.axvspan(start, stop, color=SHADED[state], zorder=0)
    for row, (device, names) in enumerate(TIMELINE.items()):
        for name in names:
            spans = [(start, duration) for start, duration, _ in bars.get(name, [])]
            axes.broken_barh(spans, (row - 0.35, 0.7), color=STEP_COLOURS[name], zorder=2)
    axes.set_yticks(range(len(TIMELINE)), list(TIMELINE))
    axes.invert_yaxis()
    axes.set_xlabel("cell time since Execute, s")
    axes.set_xlim(0, max(end_s - origin_s, 1.0))
    legend = [Patch(color=c, label=n) for n, c in STEP_COLOURS.items() if n in bars]
    legend += [Patch(color=SHADED[s], label=s) for s in ("Held", "Suspended")
               if any(span[0] == s for span in state_spans(log, origin_s, end_s))]
    axes.legend(handles=legend, ncol=len(legend), loc="upper center", bbox_to_anchor=(0.5, -0.3), frameon=False)
    axes.set_title("Sequence steps of each device (Held and Suspended shaded)")
    return figure


def quality_figure(parts: list[PartRecord]):
    plt = _pyplot()

    produced = [p for p in parts if p.outcome in PRODUCED]
    levels = Counter(p.iso5817_level for p in produced)
    imperfections = Counter(i for p in produced for i in p.imperfections)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 3.2))
    left.bar(ISO5817_LEVELS, [levels[level] for level in ISO5817_LEVELS],
             color=["#54a24b", "#88d27a", "#f2a541", "#e45756"])
    left.set_title("ISO 5817 quality level of the produced parts")
    left.set_ylabel("parts")
    right.set_title("Imperfections (ISO 6520-1) found")
    if imperfections:
        names = sorted(imperfections, key=imperfections.get, reverse=True)
        right.barh(names, [imperfections[n] for n in names], color="#e45756")
        right.invert_yaxis()
        right.set_xlabel("parts")
    else:
        right.text(0.5, 0.5, "none found", ha="center", va="center", transform=right.transAxes)
        right.set_axis_off()
    return figure


def per_part_figure(parts: list[PartRecord], currency: str):
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()

    numbers = range(len(parts))
    figure, (energy, cost) = plt.subplots(1, 2, figsize=(12, 3.2))
    energy.bar(numbers, [p.costs["electricity"].quantity if "electricity" in p.costs else 0.0 for p in parts],
               color=["#4c78a8" if p.good else "#e45756" for p in parts])
    energy.set_title("Electricity per part, kWh (red: defective or scrapped)")
    energy.set_xlabel("part (in the order made)")
    components = sorted({c for p in parts for c in p.costs})
    bottom = [0.0] * len(parts)
    for component in components:
        heights = [(p.costs[component].amount or 0.0) if component in p.costs else 0.0 for p in parts]
        cost.bar(numbers, heights, bottom=bottom, label=component)
        bottom = [b + h for b, h in zip(bottom, heights)]
    cost.set_title(f"Cost per part by component, {currency or 'unpriced'}")
    cost.set_xlabel("part (in the order made)")
    for axes in (energy, cost):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if components:
        cost.legend(fontsize=7, ncol=2)
    return figure


def kpi_table(kpis: CellKpis, baseline: CellKpis | None) -> str:
    head = "<tr><th>figure</th><th>this shift</th>" + ("<th>baseline</th><th>ratio</th>" if baseline else "") + \
        "<th>unit</th></tr>"
    rows = []
    for row in KPI_ROWS:
        cells = [row.name, row.text(kpis)]
        if baseline is not None:
            b, a = row.value(baseline), row.value(kpis)
            cells += [row.text(baseline), "n/a" if not b or math.isnan(b) or math.isnan(a) else f"{a / b:.2f}x"]
        cells.append(unit_of(row, kpis))
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%;margin:1em 0}h1{margin-bottom:0}
.meta{color:#666;margin-top:.3em}"""


def render(journal: Journal, shift_id: int, config: CellConfig, baseline_shift: int | None) -> str:
    """The report page of `shift_id` (HTML, figures embedded)."""
    summary, parts = journal.summary(shift_id), journal.parts(shift_id)
    kpis = shift_kpis(journal, shift_id, config)
    baseline = shift_kpis(journal, baseline_shift, config) if baseline_shift else None
    policies = sorted({f"{p.weld_policy} + {p.feed_policy}" for p in parts}) or ["no parts"]
    against = f"; baseline: shift {baseline_shift}" if baseline_shift else ""
    figures = [timeline_figure(journal.step_log(shift_id), journal.state_log(shift_id)), quality_figure(parts),
               per_part_figure(parts, kpis.currency)]
    images = "".join(f'<img alt="figure {n + 1}" src="data:image/png;base64,{_png(f)}">' for n, f in enumerate(figures))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(config.name)}: shift {shift_id}</title><style>{STYLE}</style></head><body>
<h1>{html.escape(config.name)}: shift {shift_id} ({html.escape(summary.status)})</h1>
<p class="meta">{summary.good + summary.defective} of {summary.parts_target} parts produced ({summary.good} good,
{summary.defective} defective, {summary.scrapped} scrapped, {summary.interrupted} interrupted); policies
{html.escape(', '.join(policies))}{against}; cell times are the devices' clock; journal {html.escape(str(journal.path))}</p>
<h2>Cell KPIs</h2>{kpi_table(kpis, baseline)}
<h2>Timeline, quality, energy and cost</h2>{images}
</body></html>
"""


def write_report(journal: Journal, shift_id: int, config: CellConfig, baseline_shift: int | None, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(journal, shift_id, config, baseline_shift))
    return out
