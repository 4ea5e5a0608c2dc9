"""The shipped policies in the loop: a shift with learned_weld and learned_feed across processes."""
from __future__ import annotations

import pytest

from cell_controller.core.config import load_cell
from cell_controller.core.journal import Journal
from cell_controller.policies import registry
from cell_controller.policies.evaluate import run_policy
from cell_controller.testing import learned_policies

from .conftest import run_cellctl

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PARTS = 4


def test_learned_policies_weld_the_shift_as_they_do_in_process(cell_file, cell_env) -> None:
    config = load_cell(cell_file(learned_policies))
    done = run_cellctl(["shift", "--parts", str(PARTS), "--config", str(config.path)], cell_env, timeout_s=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with Journal(config.journal_path, writer=False) as journal:
        records = journal.parts(journal.last_shift_id())
    assert len(records) == PARTS
    assert {(r.weld_policy, r.feed_policy) for r in records} == {("learned_weld", "learned_feed")}
    # the policy's setpoints reached the devices: the fixed recipe welds at exactly the procedure's speed
    assert any(abs(r.mean_travel_speed_mm_s - config.procedure.travel_speed_mm_s) > 0.05 for r in records)
    # part k is blank k (FIFO belt and buffer), whose joint seed is cell.seed * 100000 + k
    policy = registry.weld_policy(config)
    alone = [run_policy(policy, config.seed * 100_000 + k, config) for k in range(1, PARTS + 1)]
    in_loop = [not r.good for r in records]
    assert abs(sum(in_loop) - sum(r.defective for r in alone)) <= 1, (
        [r.iso5817_level for r in records], [r.level for r in alone])
