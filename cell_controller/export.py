"""`cellctl export`: the journal's parts, events and cost lines as CSV or Parquet, for the plant's analytics.

Three tables per export, one file each in the output folder (`parts`, `events`, `part_costs`, with the
suffix of the format), with the journal's own column names and units (core/journal.py's SCHEMA):
times are Unix seconds (UTC) and cell seconds, amounts in the named ISO 4217 currency. Lists and
mappings of a part (imperfections, backends) are JSON text. A shift id limits the export to one shift.
"""
from __future__ import annotations

from pathlib import Path

from cell_controller.core.journal import Journal, part_row

FORMATS = ("csv", "parquet")
TABLES = ("parts", "events", "part_costs")


def frames(journal: Journal, shift_id: int | None):
    """table name -> pandas DataFrame of the journal (one shift, or all)."""
    import pandas as pd

    parts = journal.parts(shift_id)
    rows = [{**part_row(record), "currency": record.currency} for record in parts]
    costs = [{"part_id": record.part_id, "component": component, "quantity": line.quantity, "unit": line.unit,
              "amount": line.amount, "currency": record.currency}
             for record in parts for component, line in record.costs.items()]
    events = journal.event_rows(shift_id)
    return {
        "parts": pd.DataFrame(rows),
        "events": pd.DataFrame(events, columns=["shift_id", "at", "kind", "source", "detail", "cell_time_s"]),
        "part_costs": pd.DataFrame(costs, columns=["part_id", "component", "quantity", "unit", "amount", "currency"]),
    }


def export(journal: Journal, shift_id: int | None, out_dir: Path, fmt: str) -> list[Path]:
    """Write the tables to `out_dir` (created) in `fmt`; the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in frames(journal, shift_id).items():
        path = out_dir / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path, index=False)
        written.append(path)
    return written
