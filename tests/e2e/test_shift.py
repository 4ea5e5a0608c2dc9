"""A shift across processes: twin OPC UA servers, bridge nodes, policy and supervisor over DDS."""
from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cell_controller.core.config import load_cell
from cell_controller.core.journal import Journal
from cell_controller.opcua.address_space import spec_for
from cell_controller.opcua.client import DeviceClient, DeviceUnreachableError

from .conftest import CELLCTL, run_cellctl

pytestmark = pytest.mark.e2e

RESULT = "JoiningSystem/Results/LastResult"
DISCOVER = """import json, sys
from cell_controller.bus.discovery import check_against_topic_table, discover
print(json.dumps(check_against_topic_table(discover(3.0), sys.argv[1], exact_readers=False)))
"""
RESULT_FIELDS = {  # journal column -> welder address-space variable
    "arc_energy_kJ": "ArcEnergy", "weld_time_s": "WeldTime", "bead_width_mm": "BeadWidth",
    "penetration_mm": "Penetration", "mean_current_A": "MeanCurrent", "mean_voltage_V": "MeanVoltage",
    "mean_wire_feed_m_min": "MeanWireFeedSpeed", "mean_travel_speed_mm_s": "MeanTravelSpeed",
}


class WelderWitness:
    """An independent OPC UA client that records every weld result the welder reports."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.results: dict[str, dict] = {}
        self.client: DeviceClient | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._run(), self.loop)

    async def _run(self) -> None:
        spec = spec_for("welder")
        while True:
            try:
                client = self.client = await DeviceClient.connect(self.endpoint, spec, 2.0)
                break
            except DeviceUnreachableError:
                await asyncio.sleep(0.3)
        paths = [f"{RESULT}/{name}" for name in ("PartId", "Imperfections", "QualityLevel", *RESULT_FIELDS.values())]

        def on_counter(path, value, stamp, good) -> None:
            if good and value:
                asyncio.ensure_future(self._read(client, paths))
        await client.subscribe([f"{RESULT}/ResultCounter"], 20, on_counter)

    async def _read(self, client: DeviceClient, paths: list[str]) -> None:
        values = await client.read(paths)
        self.results[values[f"{RESULT}/PartId"]] = {p.rsplit("/", 1)[1]: v for p, v in values.items()}

    def stop(self) -> None:
        if self.client is not None:
            asyncio.run_coroutine_threadsafe(self.client.disconnect(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_three_part_shift_matches_what_the_devices_reported(cell_file, cell_env) -> None:
    config = load_cell(cell_file())
    witness = WelderWitness(config.device("welder").endpoint)
    witness.start()
    graph_problems: list[str] = []

    def check_graph() -> None:  # while the shift runs: every endpoint as the topic table says
        _wait_for_first_part(config.journal_path, timeout_s=120)
        # in a process of its own: this one's DDS participant may already live on another domain
        probe = subprocess.run([sys.executable, "-c", DISCOVER, config.namespace], env=cell_env,
                               capture_output=True, text=True, timeout=60)
        graph_problems.extend(json.loads(probe.stdout) if probe.returncode == 0 else [probe.stderr])
    checker = threading.Thread(target=check_graph)
    checker.start()
    try:
        done = run_cellctl(["shift", "--parts", "3", "--config", str(config.path)], cell_env, timeout_s=240)
    finally:
        witness.stop()
        checker.join()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Shift 1: complete" in done.stdout
    assert graph_problems == []

    with Journal(config.journal_path) as journal:
        assert journal.integrity_ok()
        summary = journal.summary(journal.last_shift_id())
        records = journal.parts(summary.shift_id)
        events = journal.events(summary.shift_id)
        judged = {r.part_id: journal.judgements(r.part_id) for r in records}
    assert summary.status == "complete" and summary.parts == 3
    assert "inspection vs the welder's own level" in done.stdout
    assert [r.part_id for r in records] == sorted(witness.results) and len(records) == 3
    for record in records:
        reported = witness.results[record.part_id]
        for column, variable in RESULT_FIELDS.items():
            assert getattr(record, column) == pytest.approx(reported[variable]), (record.part_id, column)
        assert record.iso5817_level == reported["QualityLevel"]
        assert ",".join(record.imperfections) == reported["Imperfections"]
        assert record.good == (record.iso5817_level in ("B", "C"))
        # the welder's own result decides; the inspection node's prediction is kept beside it
        assert len(judged[record.part_id]) == 2, (record.part_id, judged, _logs(config, "inspection", "supervisor"))
        device, inspection = judged[record.part_id]
        assert (device.source, device.level, device.verdict) == ("device", record.iso5817_level, record.outcome.value)
        assert inspection.source == "inspection" and inspection.judge == "learned_inspection"
        assert record.backends == {"robot": "twin", "welder": "twin", "machine": "twin", "feeder": "twin"}
        assert record.config_hash == config.config_hash
        assert record.weld_policy == "fixed_recipe" and record.feed_policy == "fixed_rate"
        assert record.cycle_time_s > 0 and math.isfinite(record.arc_energy_kJ)
    transitions = [detail for _, kind, _, detail in events if kind == "state"]
    assert transitions[:3] == ["Starting -> Execute (SC)", "Execute -> Completing (SC)",
                               "Completing -> Complete (SC)"]


def _logs(config, *nodes: str) -> str:
    """The latest shift's logs of `nodes` (for a failure's message)."""
    latest = max(config.logs_path.iterdir())
    return "\n".join(f"--- {name}.log\n{(latest / f'{name}.log').read_text()}" for name in nodes)


def _wait_for_first_part(journal_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if journal_path.exists():
            with sqlite3.connect(journal_path) as db:
                try:
                    if db.execute("SELECT COUNT(*) FROM parts").fetchone()[0] >= 1:
                        return
                except sqlite3.OperationalError:
                    pass
        time.sleep(0.3)
    raise AssertionError("no part was recorded in time")


def test_sigint_stops_every_process_and_keeps_the_journal_consistent(cell_file, cell_env) -> None:
    config = load_cell(cell_file())
    shift = subprocess.Popen([CELLCTL, "shift", "--parts", "20", "--config", str(config.path)], env=cell_env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_first_part(config.journal_path, timeout_s=120)
        os.killpg(shift.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
        interrupted_at = time.monotonic()
        output, _ = shift.communicate(timeout=10)
        deadline = interrupted_at + 5.0
        while time.monotonic() < deadline:
            try:
                os.killpg(shift.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("processes of the cell still run 5 s after SIGINT")
    finally:
        if shift.poll() is None:
            os.killpg(shift.pid, signal.SIGKILL)
    assert shift.returncode == 130, output

    with Journal(config.journal_path) as journal:
        assert journal.integrity_ok()
        shift_id = journal.last_shift_id()
        summary = journal.summary(shift_id)
        records = journal.parts(shift_id)
    assert summary.status == "stopped"
    assert 1 <= len(records) < 20
    with sqlite3.connect(config.journal_path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(parts)")]
        nulls = db.execute(f"SELECT COUNT(*) FROM parts WHERE {' OR '.join(f'{c} IS NULL' for c in columns)}")
        assert nulls.fetchone()[0] == 0  # every record so far is a produced part, whole
        for (imperfections,) in db.execute("SELECT imperfections FROM parts"):
            json.loads(imperfections)
        in_cell = db.execute("SELECT COUNT(*) FROM entries e LEFT JOIN parts p USING (part_id) "
                             "WHERE p.part_id IS NULL").fetchone()[0]

    again = run_cellctl(["shift", "--parts", "1", "--config", str(config.path)], cell_env, timeout_s=180)
    assert again.returncode == 0, again.stdout + again.stderr
    with Journal(config.journal_path) as journal:
        last = journal.summary(journal.last_shift_id())
        assert last.good + last.defective == 1
        everything = journal.parts()
        assert len({r.part_id for r in everything}) == len(everything) == len(records) + in_cell + 1
        assert sum(r.outcome.value == "interrupted" for r in everything) == in_cell  # left in the cell, then recorded
        assert journal.open_parts() == []
