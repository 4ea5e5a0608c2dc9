"""`cellctl export` and `cellctl summary` on a journal written here: the files read back with pandas
equal the journal, row for row; bad input names what is wrong and exits 2 (cellctl's `main`, in process)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cell_controller.cli import EXIT_BAD_INPUT, main
from cell_controller.core.config import load_cell
from cell_controller.core.costs import priced
from cell_controller.core.journal import Journal, Outcome, PartRecord, state_detail
from cell_controller.testing import private_cell_file


def _record(part_id: str, shift: int, outcome: Outcome, level: str) -> PartRecord:
    return PartRecord(
        part_id=part_id, shift_id=shift, started_at=1.7e9, finished_at=1.7e9 + 6, outcome=outcome, reason="",
        cycle_time_s=31.5, mean_current_A=231.0, mean_voltage_V=24.0, mean_wire_feed_m_min=8.0,
        mean_travel_speed_mm_s=10.0, arc_energy_kJ=147.0, weld_time_s=20.0, bead_width_mm=6.1, penetration_mm=2.2,
        imperfections=("incomplete penetration",) if level == "D" else (), iso5817_level=level,
        weld_policy="learned_weld", feed_policy="learned_feed", backends={"welder": "twin"}, config_hash="h")


@pytest.fixture
def cell(tmp_path: Path) -> Path:
    """A description whose journal holds two shifts (3 and 1 parts, priced, with their state logs)."""
    path = private_cell_file(tmp_path, "export")
    config = load_cell(path)
    with Journal(config.journal_path) as journal:
        for parts in (3, 1):
            shift = journal.begin_shift(parts, "h")
            journal.log_event(shift, "state", "packml", state_detail("Starting", "Execute", "state complete"), 0.0)
            for n in range(parts):
                outcome, level = (Outcome.DEFECTIVE, "D") if n == 1 else (Outcome.GOOD, "B")
                journal.record_part(priced(_record(journal.allocate_part(shift), shift, outcome, level), config))
            journal.log_event(shift, "state", "packml", state_detail("Execute", "Completing", "parts done"),
                              31.5 * parts)
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_writes_parts_events_and_cost_lines_that_read_back_as_the_journal(cell: Path, tmp_path: Path,
                                                                                 fmt: str) -> None:
    out = tmp_path / "out"
    assert main(["export", "--config", str(cell), "--format", fmt, "-o", str(out)]) == 0
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    parts, events, costs = (read(out / f"{name}.{fmt}") for name in ("parts", "events", "part_costs"))
    with Journal(load_cell(cell).journal_path, writer=False) as journal:
        records = journal.parts()
        rows = journal.event_rows()
    assert list(parts["part_id"]) == [r.part_id for r in records]
    assert list(parts["outcome"]) == [r.outcome.value for r in records]
    assert list(parts["arc_energy_kJ"]) == pytest.approx([r.arc_energy_kJ for r in records])
    assert [json.loads(i) for i in parts["imperfections"]] == [list(r.imperfections) for r in records]
    assert list(parts["currency"]) == ["EUR"] * 4
    assert len(events) == len(rows) == 4 and list(events["detail"]) == [r[4] for r in rows]
    assert list(events["cell_time_s"]) == pytest.approx([r[5] for r in rows])
    expected = [(r.part_id, c, line.quantity, line.amount) for r in records for c, line in r.costs.items()]
    assert len(costs) == len(expected) == 4 * 6
    for (part_id, component, quantity, amount), row in zip(expected, costs.itertuples()):
        assert (row.part_id, row.component) == (part_id, component)
        assert row.quantity == pytest.approx(quantity) and row.amount == pytest.approx(amount)


def test_export_of_one_shift_holds_only_its_rows(cell: Path, tmp_path: Path) -> None:
    assert main(["export", "--config", str(cell), "--shift", "2", "-o", str(tmp_path / "two")]) == 0
    parts = pd.read_csv(tmp_path / "two" / "parts.csv")
    assert list(parts["shift_id"]) == [2] and len(pd.read_csv(tmp_path / "two" / "part_costs.csv")) == 6


def test_summary_prints_the_cell_kpis(cell: Path, capsys) -> None:
    assert main(["summary", "--config", str(cell), "--shift", "1"]) == 0
    text = capsys.readouterr().out
    assert "good parts per hour" in text and f"{2 * 3600 / (3 * 31.5):.1f} parts/h" in text
    assert "OEE" in text and "cost per good part" in text and "EUR" in text


@pytest.mark.parametrize(("args", "message"), [
    (["export", "--shift", "9", "-o", "x"], "has no shift 9 (shifts 1..2)"),
    (["summary", "--shift", "-1"], "has no shift -1"),
])
def test_a_shift_the_journal_does_not_hold_is_refused(cell: Path, args: list[str], message: str, capsys) -> None:
    assert main([*args, "--config", str(cell)]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_export_without_a_journal_says_so(tmp_path: Path, capsys) -> None:
    path = private_cell_file(tmp_path, "empty")
    assert main(["export", "--config", str(path), "-o", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    assert "no journal yet" in capsys.readouterr().err and not (tmp_path / "out").exists()
