"""`cellctl report` on a shift run by the supervisor (in process, simulated devices): the page holds the
KPI table of the journal, against a baseline shift, and its figures are PNGs drawn from the step and
state logs (a Hold shaded)."""
from __future__ import annotations

import base64
import io
import re

import matplotlib.image

from cell_controller.cli import main
from cell_controller.core.packml import State
from cell_controller.report import SHADED, state_spans, step_bars
from cell_controller.shift_figures import KPI_ROWS, shift_kpis

from harness import Harness, sim_config


def test_the_report_shows_the_shifts_kpis_against_a_baseline_and_its_timeline(tmp_path) -> None:
    config = sim_config(tmp_path)
    first = Harness(config, parts=2)
    first.run_to(State.COMPLETE)
    first.journal.close()
    cell = Harness(config, parts=3)
    cell.run_to(State.EXECUTE)
    assert cell.run_until(lambda: cell.sup.production.produced >= 1)
    cell.command("hold")
    cell.run_to(State.HELD)
    cell.command("unhold")
    cell.run_to(State.COMPLETE)
    steps, log = cell.journal.step_log(2), cell.journal.state_log(2)
    origin = next(c.cell_time_s for c in log if c.new == "Execute")
    bars = step_bars(steps, origin)
    assert [part for _, _, part in bars["weld"]] == ["P000003", "P000004", "P000005"]
    assert len(bars["press"]) == 3 and all(duration > 0 for _, duration, _ in bars["press"])
    assert [s for s, _, _ in state_spans(log, origin, 1e9) if s in SHADED][:2] == ["Holding", "Held"]

    out = tmp_path / "report.html"
    assert main(["report", "--config", str(config.path), "--shift", "2", "--baseline", "1", "--out", str(out)]) == 0
    page = out.read_text()
    kpis, baseline = shift_kpis(cell.journal, 2, config), shift_kpis(cell.journal, 1, config)
    for row in KPI_ROWS:
        assert f"<td>{row.name}</td><td>{row.text(kpis)}</td><td>{row.text(baseline)}</td>" in page, row.name
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3
    for image in images:
        pixels = matplotlib.image.imread(io.BytesIO(base64.b64decode(image)), format="png")
        assert pixels.shape[0] > 200 and pixels.shape[1] > 800
