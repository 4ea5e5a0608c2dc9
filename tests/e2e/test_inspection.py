"""A cell whose welder reports no ISO 5817 level, as a real power source: the inspection node's prediction
decides, a part it is unsure about waits for an operator, and `cellctl inspect` gives the verdict."""
from __future__ import annotations

import pytest

from cell_controller.core.config import load_cell
from cell_controller.core.journal import Journal, Outcome

from .conftest import run_cellctl

pytestmark = pytest.mark.e2e


def test_without_the_twins_grading_every_unsure_part_waits_for_an_operators_verdict(cell_file, cell_env) -> None:
    def edit(d: dict) -> None:
        d["twin"]["weld_grading"] = False
        d["inspection"] = {"model": "learned_inspection", "review_band": {"min": 0.0, "max": 1.0}}  # never sure
    config = load_cell(cell_file(edit))
    done = run_cellctl(["shift", "--parts", "2", "--config", str(config.path)], cell_env, timeout_s=240)
    assert done.returncode == 0, done.stdout + done.stderr
    with Journal(config.journal_path, writer=False) as journal:
        shift_id = journal.last_shift_id()
        records = journal.parts(shift_id)
        judged = {r.part_id: journal.judgements(r.part_id) for r in records}
        assert journal.summary(shift_id).needs_inspection == 2
    assert [r.outcome for r in records] == [Outcome.NEEDS_INSPECTION] * 2
    for record in records:
        (inspection,) = judged[record.part_id]  # no word from the welder
        assert inspection.source == "inspection" and inspection.status == "known"
        assert record.iso5817_level == inspection.level and 0.0 <= inspection.p_worse_than_c <= 1.0
        assert record.reason.startswith("inspection unsure: P(worse than C)")
    assert "good / defective / needs inspection" in done.stdout and "no part judged by both" in done.stdout

    first, second = (r.part_id for r in records)
    answer = run_cellctl(["inspect", first, "good", "--user", "anna", "--config", str(config.path)], cell_env, 30)
    assert answer.returncode == 0 and f"{first}: needs_inspection -> good by anna" in answer.stdout, answer.stderr
    for args, reason in ((["P999999", "good"], "no record of part 'P999999'"), ([second, "fine"], "invalid choice")):
        refused = run_cellctl(["inspect", *args, "--config", str(config.path)], cell_env, 30)
        assert refused.returncode == 2 and reason in refused.stderr, refused.stderr
    summary = run_cellctl(["summary", "--config", str(config.path)], cell_env, 30)
    assert "1 / 0 / 1" in summary.stdout, summary.stdout
    with Journal(config.journal_path, writer=False) as journal:
        assert journal.judgements(first)[-1][:4] == ("operator", "known", "", "good")
        assert journal.judgements(second)[-1].source == "inspection"  # the refused verdict wrote nothing
