"""The operator page in a real browser (Debian's headless chromium, driven by Playwright) against a running
cell (`cellctl shift --hmi --manual-start`): a state change shows within 1 s; Hold clicked by an operator
holds the cell and the journal names her; a viewer's click is refused and reaches nothing; the page going
away (kill -9) neither stops nor holds the cell, and `cellctl hmi` serves it again; an alarm raised by a
device (the robot's fence door opened) appears, is acknowledged and clears. Each case leaves a screenshot
in runs/hmi-screenshots/ (one of them is in the README)."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from cell_controller.core.config import load_cell
from cell_controller.core.journal import EVENT_FLUSH_S, Journal
from cell_controller.opcua.address_space import TwinControlPaths, spec_for, with_twin_control
from cell_controller.opcua.client import DeviceClient
from cell_controller.opcua.users import Role, add_account
from cell_controller.testing import free_ports, tls_files

from .conftest import CELLCTL
from .running import RunningCell

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "runs" / "hmi-screenshots"
CHROMIUM = "/usr/bin/chromium"
PASSWORDS = {"olga": "olga-operates-the-cell", "victor": "victor-only-watches"}


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: make test installs Debian's chromium (apt-get)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def accounts_file(folder: Path) -> Path:
    path = folder / "hmi_accounts.yaml"
    add_account(path, "olga", Role.OPERATOR, PASSWORDS["olga"])
    add_account(path, "victor", Role.VIEWER, PASSWORDS["victor"])
    return path


def log_in(page: Page, user: str) -> None:
    page.fill("#login-user", user)
    page.fill("#login-password", PASSWORDS[user])
    page.click("#login-button")
    expect(page.get_by_test_id("who")).to_contain_text(user)


def shown_at(page: Page, state: str, timeout_s: float = 30.0) -> float:
    """The wall time (Unix s) at which the page first showed `state`."""
    expect(page.get_by_test_id("cell-state")).to_have_text(state, timeout=timeout_s * 1000)
    return next(at for shown, at in page.evaluate("window.hmiStats.states") if shown == state)


def executing(page: Page, timeout_s: float = 90.0) -> None:
    """Until the cell is in Execute with Hold offered. A cell that held itself meanwhile (a device's life-sign
    late on a loaded machine: device_offline) is unheld from the page, as its operator would."""
    deadline = time.monotonic() + timeout_s
    while not page.locator("button[data-command=hold]").is_enabled():
        assert time.monotonic() < deadline, f"not in Execute: {page.get_by_test_id('stop-reason').text_content()}"
        if page.locator("button[data-command=unhold]").is_enabled():
            try:
                page.click("button[data-command=unhold]", timeout=1000)
            except PlaywrightTimeout:  # Unhold was taken or refused meanwhile: look again
                pass
        time.sleep(0.5)


def hmi_pids(namespace: str) -> list[int]:
    """The cell-hmi processes of the cell in `namespace`."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"cell-hmi") for a in argv[:2]) and f"__ns:={namespace}".encode() in argv:
            pids.append(int(entry.name))
    return pids


def events(config) -> list[tuple]:
    with Journal(config.journal_path, writer=False) as journal:
        return journal.event_rows()


def journaled(config, holds, timeout_s: float = 2 * EVENT_FLUSH_S + 2.0) -> list[tuple]:
    """The journal's events once `holds(events)` (the supervisor writes its events at most EVENT_FLUSH_S late)."""
    deadline = time.monotonic() + timeout_s
    while not holds(rows := events(config)):
        assert time.monotonic() < deadline, f"not journaled within {timeout_s:.0f} s: {rows[-5:]}"
        time.sleep(0.2)
    return rows


def robot_fence(config, open_: bool) -> None:
    async def call() -> None:
        device = config.device("robot")
        client = await DeviceClient.connect(device.endpoint, with_twin_control(spec_for("robot"), "robot"), 5.0)
        try:
            assert await client.call(TwinControlPaths.SET_PROTECTIVE_STOP, open_) == (0, "")
        finally:
            await client.disconnect()
    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API holds this thread's event loop
        thread.submit(asyncio.run, call()).result(30)


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_for_page(page: Page, url: str, alive) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            page.goto(url)
            return
        except Exception:
            assert time.monotonic() < deadline and alive(), "the page never came up"
            time.sleep(0.5)


def hmi_cell(cell_file, tmp_path: Path):
    """A private cell description whose page listens on a free port, with olga (operator) and victor
    (viewer); and the page's URL."""
    port = free_ports(1)[0]
    path = cell_file(lambda d: d.update(hmi={"bind": f"127.0.0.1:{port}", "accounts": str(accounts_file(tmp_path))}))
    return load_cell(path), f"http://127.0.0.1:{port}/"


def test_an_operator_runs_the_cell_from_the_page(browser, cell_file, cell_env, tmp_path: Path) -> None:
    """The cell's processes as `cellctl shift --hmi --manual-start` starts them, without cellctl's watch, so
    that the cell stays up in Aborted for the alarm to clear."""
    config, url = hmi_cell(cell_file, tmp_path)
    cell = RunningCell(config, cell_env, tmp_path / "logs", parts=200, auto_start=False, hmi=True)
    again = None
    try:
        cell.start()
        operator, viewer = browser.new_context().new_page(), browser.new_context().new_page()
        wait_for_page(operator, url, lambda: not cell.cell.dead())
        viewer.goto(url)
        shown_at(operator, "Stopped", 60)
        expect(operator.locator("button[data-command=reset]")).to_be_disabled()  # nobody logged in

        # a state change shows within 1 s of the supervisor's transition (its journaled wall time)
        log_in(operator, "olga")
        expect(operator.locator("button[data-command=reset]")).to_be_enabled()
        operator.click("button[data-command=reset]")
        idle_shown = shown_at(operator, "Idle", 60)
        idle_at = next(at for _, at, kind, _, detail, _ in journaled(config, lambda rows: any(
            "-> Idle" in row[4] for row in rows)) if kind == "state" and "-> Idle" in detail)
        assert 0 <= idle_shown - idle_at < 1.0, f"Idle shown {idle_shown - idle_at:.3f} s after the transition"
        print(f"the page showed Idle {idle_shown - idle_at:.3f} s after the supervisor's transition")
        operator.click("button[data-command=start]")
        shown_at(operator, "Execute", 30)
        expect(operator.locator("#diagram g.current")).to_have_attribute("data-state", "Execute")
        expect(operator.locator("#devices tr[data-device=welder]")).to_contain_text("twin")

        # Hold by the operator: the cell holds and the journal says who
        executing(operator)
        operator.click("button[data-command=hold]")
        shown_at(operator, "Held", 60)
        expect(operator.get_by_test_id("answer")).to_have_text("accepted")
        journaled(config, lambda rows: any(kind == "command" and source == "olga" and detail.startswith("hold: accepted")
                                           for _, _, kind, source, detail, _ in rows))
        shot(operator, "held_by_operator")

        # a viewer cannot command: the button is off, and a request forged on the WebSocket is refused
        log_in(viewer, "victor")
        shown_at(viewer, "Held")
        expect(viewer.locator("button[data-command=unhold]")).to_be_disabled()
        viewer.evaluate("send({type: 'command', command: 'unhold'})")
        expect(viewer.get_by_test_id("answer")).to_contain_text("refused: victor is a viewer")
        time.sleep(EVENT_FLUSH_S + 1.0)  # what the supervisor took is journaled by now
        assert not any(kind == "command" and "unhold" in detail for _, _, kind, _, detail, _ in events(config))
        expect(operator.get_by_test_id("cell-state")).to_have_text("Held")
        shot(viewer, "viewer_refused")

        # the page going away neither stops nor holds the cell; `cellctl hmi` serves it again
        operator.click("button[data-command=unhold]")
        executing(operator)
        expect(operator.locator("#parts tr.part").first).to_be_visible(timeout=60_000)
        shot(operator, "execute")
        cell.kill("hmi")
        killed_at = time.time()
        time.sleep(3.0 + EVENT_FLUSH_S)
        moves = [detail for _, at, kind, _, detail, _ in events(config) if kind == "state" and at > killed_at]
        assert all("device_offline" in m or "(SC)" in m for m in moves), moves  # a late life-sign may hold it
        again = subprocess.Popen([CELLCTL, "hmi", "--config", str(config.path)], env=cell_env,
                                 stdout=open(tmp_path / "hmi-again.log", "w"), stderr=subprocess.STDOUT)
        expect(operator.locator("#link")).to_be_hidden(timeout=30_000)  # the page reconnects by itself
        log_in(operator, "olga")  # sessions end with the process that held them
        executing(operator)

        # an alarm raised by a device appears, is acknowledged by the operator and clears
        robot_fence(config, open_=True)
        alarm = operator.locator("#alarms tr[data-alarm='robot.safety']")
        expect(alarm).to_contain_text("unacknowledged", timeout=10_000)
        shown_at(operator, "Aborted", 30)
        shot(operator, "alarm_raised")
        alarm.locator("button[data-ack]").click()
        expect(alarm).to_contain_text("acknowledged by olga")
        shot(operator, "alarm_acknowledged")
        robot_fence(config, open_=False)
        expect(alarm).to_have_count(0, timeout=10_000)
        expect(operator.locator("#alarm-history tr[data-history='robot.safety']").first).to_be_attached()
        shot(operator, "alarm_cleared")
        def alarm_events(rows) -> list[tuple[str, str]]:
            return [(source, detail.split()[0]) for _, _, kind, source, detail, _ in rows
                    if kind == "alarm" and "robot.safety" in detail]
        rows = journaled(config, lambda rows: len(alarm_events(rows)) >= 3)
        assert alarm_events(rows) == [("hmi", "raised"), ("olga", "acknowledged"), ("hmi", "cleared")]
    finally:
        if again is not None and again.poll() is None:
            again.send_signal(signal.SIGINT)
            again.wait(20)
        cell.stop()


@pytest.mark.slow  # the default run kills the page under a running cell in the browser test above
def test_a_shift_runs_on_when_its_page_is_killed(cell_file, cell_env, tmp_path: Path) -> None:
    config, url = hmi_cell(cell_file, tmp_path)
    shift = subprocess.Popen([CELLCTL, "shift", "--config", str(config.path), "--hmi", "--parts", "2"], env=cell_env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (pids := hmi_pids(config.namespace)):
        assert time.monotonic() < deadline and shift.poll() is None, "no HMI process started"
        time.sleep(0.2)
    time.sleep(2.0)  # it serves
    os.kill(pids[0], signal.SIGKILL)
    output, _ = shift.communicate(timeout=240)
    assert shift.returncode == 0, output[-3000:]
    assert "hmi stopped (the cell runs on)" in output
    assert "2 of 2" in output


def _hmi_section(tmp_path: Path, bind: str, tls: bool = False, operator: bool = True) -> dict:
    path = tmp_path / "accounts.yaml"
    add_account(path, "olga" if operator else "victor", Role.OPERATOR if operator else Role.VIEWER, "a-password")
    section = {"bind": bind, "accounts": str(path)}
    if tls:
        certificate, key = tls_files(tmp_path)
        section["tls"] = {"certificate": str(certificate), "private_key": str(key)}
    return section


@pytest.mark.parametrize(("args", "tls", "operator", "reason"), [
    (["--bind", "0.0.0.0:{port}"], False, True, "hmi.bind: the page on 0.0.0.0 (not loopback) needs tls"),
    (["--bind", "0.0.0.0:{port}"], True, False, "hmi.accounts: "),
    (["--bind", "localhost"], False, True, "--bind: expected ADDR:PORT"),
    (["--bind", "127.0.0.1:{busy}"], False, True, "is in use"),
])
def test_cellctl_hmi_refuses_what_it_may_not_serve(cell_file, cell_env, tmp_path: Path, args, tls, operator,
                                                   reason) -> None:
    port, busy = free_ports(2)
    path = cell_file(lambda d: d.update(hmi=_hmi_section(tmp_path, f"127.0.0.1:{port}", tls, operator)))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", busy))
        taken.listen()
        result = subprocess.run([CELLCTL, "hmi", "--config", str(path),
                                 *[a.format(port=port, busy=busy) for a in args]],
                                env=cell_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert reason in result.stderr, result.stderr
    assert operator or "no operator account" in result.stderr


def test_the_page_over_tls_on_every_address(cell_file, cell_env, tmp_path: Path) -> None:
    port = free_ports(1)[0]
    path = cell_file(lambda d: d.update(hmi=_hmi_section(tmp_path, f"0.0.0.0:{port}", tls=True)))
    hmi = subprocess.Popen([CELLCTL, "hmi", "--config", str(path)], env=cell_env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"https://127.0.0.1:{port}/", verify=False, timeout=2.0)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and hmi.poll() is None, "the page never came up"
                time.sleep(0.3)
        assert page.status_code == 200 and "operator page" in page.text
        login = httpx.post(f"https://127.0.0.1:{port}/api/login", json={"user": "olga", "password": "a-password"},
                           verify=False)
        assert "secure" in login.headers["set-cookie"].lower()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2.0)  # no plain HTTP beside it
    finally:
        hmi.send_signal(signal.SIGINT)
        assert hmi.wait(20) == 0
