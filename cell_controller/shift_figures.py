"""A shift's figures as people read them: the journal's summary and cell KPIs (core/kpis.py) as a table.

`cellctl summary` and the end of every `cellctl shift` print `print_shift`; `cellctl compare` and
`cellctl report` use `KPI_ROWS` for their tables, so each figure has one name, unit and format.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cell_controller.core.config import CellConfig
from cell_controller.core.journal import Journal, PartRecord, ShiftSummary
from cell_controller.core.kpis import CellKpis, cell_kpis
from cell_controller.core.verdict import GOOD_LEVELS


def shift_kpis(journal: Journal, shift_id: int, config: CellConfig, parts: list[PartRecord] | None = None) -> CellKpis:
    """The KPIs of shift `shift_id` of `journal`, against the description's ideal cycle; `parts`: its part
    records when the caller has read them already."""
    return cell_kpis(journal.parts(shift_id) if parts is None else parts, journal.state_log(shift_id),
                     config.supervisor.ideal_cycle_s)


@dataclass(frozen=True)
class KpiRow:
    """One figure of the KPI table: its name, unit, how to read it off CellKpis and its format (digits)."""

    name: str
    unit: str
    value: Callable[[CellKpis], float]
    digits: int

    def text(self, kpis: CellKpis) -> str:
        number = self.value(kpis)
        return "n/a" if math.isnan(number) else f"{number:.{self.digits}f}"


KPI_ROWS = (
    KpiRow("good parts per hour", "parts/h", lambda k: k.good_parts_per_hour, 1),
    KpiRow("cycle time, mean", "s", lambda k: k.mean_cycle_time_s, 1),
    KpiRow("cycle time, p95", "s", lambda k: k.p95_cycle_time_s, 1),
    KpiRow("bottleneck (robot) run rate", "parts/h", lambda k: k.run_rate_parts_per_hour, 1),
    KpiRow("robot arc-on share of run time", "%", lambda k: 100 * k.robot_arc_share, 1),
    KpiRow("OEE", "%", lambda k: 100 * k.oee, 1),
    KpiRow("availability", "%", lambda k: 100 * k.availability, 1),
    KpiRow("performance", "%", lambda k: 100 * k.performance, 1),
    KpiRow("quality", "%", lambda k: 100 * k.quality, 1),
    KpiRow("welds worse than ISO 5817 C", "%", lambda k: 100 * k.worse_than_c_rate, 1),
    KpiRow("arc energy per good part", "kJ", lambda k: k.arc_energy_per_good_part_kJ, 1),
    KpiRow("energy per good part", "kWh", lambda k: k.energy_per_good_part_kWh, 4),
    KpiRow("wire per good part", "g", lambda k: 1e3 * k.wire_per_good_part_kg, 1),
    KpiRow("shielding gas per good part", "L", lambda k: k.gas_per_good_part_L, 2),
    KpiRow("cost per good part", "currency", lambda k: k.cost_per_good_part, 2),
)


def unit_of(row: KpiRow, kpis: CellKpis) -> str:
    return (kpis.currency or "unpriced") if row.unit == "currency" else row.unit


def agreement_text(agreement: dict[tuple[str, str], int]) -> str:
    """How often the inspection's level agreed with the welder's own (the twin's grading): the shift's
    confusion, "<welder's level>-><inspection's level> <parts>", and the share on the same side of C."""
    if not agreement:
        return "no part judged by both"
    same_side = sum(n for (device, predicted), n in agreement.items()
                    if (device in GOOD_LEVELS) == (predicted in GOOD_LEVELS))
    cells = ", ".join(f"{device}->{predicted} {n}" for (device, predicted), n in sorted(agreement.items()))
    return f"{same_side} of {sum(agreement.values())} on the same side of C; {cells}"


def print_shift(journal: Journal, shift_id: int, config: CellConfig) -> None:
    """`print_summary` of shift `shift_id`, from the journal."""
    print_summary(journal.summary(shift_id), shift_kpis(journal, shift_id, config), config.journal_path,
                  journal.level_agreement(shift_id))


def print_summary(summary: ShiftSummary, kpis: CellKpis, journal: Path,
                  agreement: dict[tuple[str, str], int] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Shift {summary.shift_id}: {summary.status}", show_header=False)
    rows = [
        ("parts", f"{summary.good + summary.defective + summary.needs_inspection} of {summary.parts_target}"),
        ("good / defective / needs inspection", f"{summary.good} / {summary.defective} / {summary.needs_inspection}"),
        ("interrupted / scrapped", f"{summary.interrupted} / {summary.scrapped}"),
        *((row.name, f"{row.text(kpis)} {unit_of(row, kpis)}") for row in KPI_ROWS),
        ("cost per good part, by component", ", ".join(f"{c} {v:.2f}" for c, v in kpis.cost_breakdown.items())
         or "n/a"),
        ("ISO 5817 levels", ", ".join(f"{level} {n}" for level, n in kpis.levels.items()) or "none graded"),
        ("inspection vs the welder's own level", agreement_text(agreement or {})),
        ("total time", f"{summary.total_time_s:.1f} s (wall); cell times are the devices' clock"),
        ("journal", str(journal)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
