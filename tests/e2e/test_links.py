"""The cell across processes when its links to the devices break mid-weld: the cable between the cell PC
and the devices pulled for 5 s (every device's link through a `LinkProxy`), and the twin killed (-9) and
started again. Either way the arc is off and the cell Held within 1 s (the devices' watchdogs, the
supervisor's); once the devices are back the operator's Unhold resumes the shift, which completes with
the interrupted part recorded, every part handed out recorded once and no id twice.
"""
from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
import yaml

from cell_controller.core.config import CellConfig, load_cell
from cell_controller.core.packml import State
from cell_controller.opcua.address_space import PACKML_COMMANDS, WelderPaths, packml_spec, spec_for
from cell_controller.opcua.client import DeviceClient
from cell_controller.testing import LinkProxy

from .running import STATE, RunningCell, connect, read, until_arc, until_state

pytestmark = pytest.mark.e2e

ARC_ON = WelderPaths.ACTUAL_ARC_ON
PARTS = 3
#: arc off and the cell Held within this long of the break, s
REACTION_S = 1.0


def _through_proxies(twin_file: Path) -> tuple[CellConfig, dict[str, LinkProxy]]:
    """The description `twin_file` with every device reached through a proxy to where the twin serves it."""
    data = yaml.safe_load(twin_file.read_text())
    proxies = {}
    for name, device in data["devices"].items():
        proxies[name] = LinkProxy(int(device["endpoint"].rsplit(":", 1)[1]))
        device["endpoint"] = f"opc.tcp://127.0.0.1:{proxies[name].port}"
    path = twin_file.with_name("cell.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_cell(path), proxies


async def _arc_off_and_held(welder_endpoint: str, mes: DeviceClient, started: float) -> dict[str, float]:
    """Watch the welder where the twin serves it (a new session: the old one may have died with the twin)."""
    figures: dict[str, float] = {}
    welder = None
    while len(figures) < 2:
        assert time.monotonic() - started < 10.0, f"not arc off and Held: {figures}"
        if "held_s" not in figures and await read(mes, STATE) == State.HELD.number:
            figures["held_s"] = time.monotonic() - started
        try:
            welder = welder or await DeviceClient.connect(welder_endpoint, spec_for("welder"), 1.0)
            if "arc_off_s" not in figures and not await read(welder, ARC_ON):
                figures["arc_off_s"] = time.monotonic() - started
        except Exception:  # the twin is down: its arc is off with it
            figures.setdefault("arc_off_s", time.monotonic() - started)
            welder = None
        await asyncio.sleep(0.02)
    if welder is not None:
        await welder.disconnect()
    return figures


async def _unhold(mes: DeviceClient, timeout_s: float = 35.0) -> float:
    """Unhold as an operator would: again, until the cell takes it (refused while a device is not back)."""
    started = time.monotonic()
    while (await mes.call(f"{PACKML_COMMANDS}/Unhold"))[0] != 0:
        assert time.monotonic() - started < timeout_s, "Unhold refused for too long"
        await asyncio.sleep(0.5)
    return time.monotonic() - started


def _journal(config: CellConfig) -> tuple[list[tuple[str, str, str]], list[str], str]:
    with sqlite3.connect(config.journal_path, timeout=10) as db:
        records = db.execute("SELECT part_id, outcome, reason FROM parts").fetchall()
        entries = [row[0] for row in db.execute("SELECT part_id FROM entries")]
        status = db.execute("SELECT status FROM shifts ORDER BY rowid DESC LIMIT 1").fetchone()[0]
    return records, entries, status


def _break_mid_weld(cell_file, cell_env, tmp_path: Path, how: str) -> dict[str, float]:
    twin_config = load_cell(cell_file(lambda d: d["cell"].update(parts_per_shift=PARTS), name="twin.yaml"))
    config, proxies = _through_proxies(twin_config.path)
    cell = RunningCell(config, cell_env, tmp_path / "logs", PARTS, twin_config=twin_config)

    async def scenario() -> dict[str, float]:
        mes = await connect(config.mes.endpoint, packml_spec(), 120)
        welder = await connect(twin_config.device("welder").endpoint, spec_for("welder"))
        try:
            await until_state(mes, {State.EXECUTE.number}, 120)
            await until_arc(mes, welder)
            await asyncio.sleep(0.3)  # well into the seam
            await welder.disconnect()
            started = time.monotonic()
            if how == "cable":
                for proxy in proxies.values():
                    proxy.cut()
            else:
                cell.kill("twin")
            figures = await _arc_off_and_held(twin_config.device("welder").endpoint, mes, started)
            await asyncio.sleep(max(0.0, 5.0 - (time.monotonic() - started)))
            if how == "cable":
                for proxy in proxies.values():
                    proxy.heal()
            else:
                cell.restart("twin")
            back = time.monotonic()
            figures["unhold_taken_s"] = await _unhold(mes)
            assert await until_state(mes, {State.COMPLETE.number, State.ABORTED.number}, 300) == \
                State.COMPLETE.number, "the shift did not complete after Unhold"
            figures["back_to_complete_s"] = time.monotonic() - back
            return figures
        finally:
            await mes.disconnect()

    try:
        cell.start()
        figures = asyncio.run(scenario())
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{cell.log_tails()}") from failure
    finally:
        cell.stop()
        for proxy in proxies.values():
            proxy.close()
    records, entries, status = _journal(config)
    print(how, ", ".join(f"{k} {v:.2f}" for k, v in figures.items()), records)
    assert figures["arc_off_s"] < REACTION_S and figures["held_s"] < REACTION_S, figures
    assert status == "complete"
    assert sorted(entries) == sorted(set(entries)), "a part id handed out twice"
    assert sorted(r[0] for r in records) == sorted(entries), "a part handed out without its one record"
    interrupted = [r for r in records if r[1] in ("scrapped", "interrupted")]
    assert len(interrupted) == 1 and interrupted[0][2], f"the part under the torch, recorded with why: {records}"
    assert sum(r[1] in ("good", "defective") for r in records) == PARTS
    return figures


def test_a_cable_pulled_for_5_s_mid_weld_holds_the_cell_and_unhold_completes_the_shift(
        cell_file, cell_env, tmp_path) -> None:
    _break_mid_weld(cell_file, cell_env, tmp_path, "cable")


def test_the_twin_killed_mid_weld_and_restarted_holds_the_cell_and_unhold_completes_the_shift(
        cell_file, cell_env, tmp_path) -> None:
    _break_mid_weld(cell_file, cell_env, tmp_path, "twin")
