"""The HMI node: the operator page (`hmi/web.py`) as a node of the graph.

Like the northbound node it reads topics and publishes operator commands on `command` (with the logged-in
operator's name, which the supervisor journals); it never talks to the supervisor or a device directly, so
the page going away never stops or holds the cell. It reads `state`, the heartbeat's liveliness, each
device's status, `welder/process`, `robot/seam_tracker` and `weld/setpoints`, and the journal (read only,
for the shift's parts and KPIs). It raises the cell's alarms (`core/alarms.py`) from what it reads and
publishes each raise, acknowledgement (with the user) and clear on `alarm/events`, which the supervisor,
the journal's one writer, journals: a stalled HMI never holds the journal's lock.

The bus spins on the main thread; the web server runs on its own asyncio loop thread. Messages cross from
the bus to the pages through the `Hub`; commands and acknowledgements cross back as futures.
"""
from __future__ import annotations

import asyncio
import queue
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from cell_controller.bus.api import Node
from cell_controller.core.alarms import JOURNALED, AlarmBook, AlarmError, Change, conditions, event_values
from cell_controller.core.config import CellConfig, ConfigError, HmiConfig, hmi_bind_problem, is_loopback, parse_bind
from cell_controller.core.journal import Journal, JournalError, Outcome
from cell_controller.core.types import DeviceStatus
from cell_controller.hmi.sessions import Sessions
from cell_controller.hmi.view import (
    Trend, WeldTraces, alarms_message, device_message, kpis_message, parts_message, state_message,
)
from cell_controller.hmi.web import Hub, create_app
from cell_controller.opcua.users import Account, AccountsError, Role, load_accounts
from cell_controller.shift_figures import shift_kpis

from . import topics
from .codec import OK, Codec
from .runtime import spin_until_signal, start_node

#: how long a command waits for the supervisor's answer, s
ANSWER_TIMEOUT_S = 2.0
#: trend samples go to the pages this often, s
TREND_PERIOD_S = 0.05
#: liveliness and alarms are checked this often, s
CHECK_PERIOD_S = 0.25
#: the journal's parts and KPIs are read this often when the shift's counts changed, s ...
JOURNAL_PERIOD_S = 1.0
#: ... and this often anyway (an operator's verdict on a part changes no count of `state`), s
JOURNAL_REFRESH_S = 30.0
#: no alarm is raised for this long after the node starts: the graph is still being discovered, s
STARTUP_GRACE_S = 3.0
SERVER_START_TIMEOUT_S = 20.0


class HmiNode:
    def __init__(self, node: Node, config: CellConfig, sessions: Sessions, host: str, port: int):
        self.node, self.config, self.sessions = node, config, sessions
        self.host, self.port = host, port
        self.log = node.get_logger()
        self.codec = Codec(node)
        self.loop = asyncio.new_event_loop()
        self.hub = Hub(self.loop)
        self.thread = threading.Thread(target=self._serve, name="hmi-web", daemon=True)
        self.server: Any = None
        self.started_at_s = node.monotonic_s()
        self.state: dict[str, str] = {}
        self.supervisor_alive = False
        self.statuses: dict[str, DeviceStatus | None] = {role: None for role in topics.ROLES}
        self.levels: dict[str, int] = {}
        self.trend, self.traces, self.alarms = Trend(), WeldTraces(), AlarmBook()
        self.acks: queue.SimpleQueue = queue.SimpleQueue()
        self._answers: dict[str, asyncio.Future] = {}
        self._counts_read: tuple[str, ...] = ()
        self._journal_read_at = 0.0
        self._alarm_summary: tuple[int, bool] = (0, False)
        self.journal: Journal | None = None
        self.command_pub = topics.publisher(node, topics.CELL_COMMAND)
        self.alarm_pub = topics.publisher(node, topics.ALARM_EVENTS)
        topics.subscribe(node, topics.CELL_STATE, self._on_state)
        self.heartbeat = topics.subscribe(node, topics.HEARTBEAT, lambda msg: None)
        self.device_subs = {role: topics.subscribe(node, topics.device_status(role),
                                                   lambda msg, r=role: self._on_device(r, msg))
                            for role in topics.ROLES}
        topics.subscribe(node, topics.WELD_PROCESS, self._on_process)
        topics.subscribe(node, topics.SEAM_TRACKER, self._on_tracker)
        topics.subscribe(node, topics.WELD_SETPOINTS, self._on_setpoints)
        node.create_timer(TREND_PERIOD_S, self._flush)
        node.create_timer(CHECK_PERIOD_S, self._check)
        node.create_timer(JOURNAL_PERIOD_S, self._read_journal)
        for role in topics.ROLES:
            self._publish_device(role)

    # -- the web server's thread ------------------------------------------------------------
    def start(self) -> None:
        import uvicorn

        tls = self.config.hmi.tls
        app = create_app(self, self.hub, self.sessions, tls is not None, self.log,
                         page_hosts(self.host, self.config.hmi.server_names))
        self.server = uvicorn.Server(uvicorn.Config(
            app, host=self.host, port=self.port, log_level="warning", lifespan="off", ws_max_size=64 * 1024,
            ssl_certfile=str(tls.certificate) if tls else None, ssl_keyfile=str(tls.private_key) if tls else None))
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the page could not listen on {self.host}:{self.port}")
            time.sleep(0.05)
        scheme = "https" if tls else "http"
        self.log.info("operator page on %s://%s:%d/", scheme, f"[{self.host}]" if ":" in self.host else self.host,
                      self.port)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(5)
        if self.journal is not None:
            self.journal.close()

    # -- bus -> pages -----------------------------------------------------------------------
    def _on_state(self, msg: Any) -> None:
        self.state = Codec.values(msg)
        self.hub.publish(state_message(self.state, self.supervisor_alive), "state")
        command_id = self.state.get("command_id", "")
        if command_id in self._answers:
            accepted = self.state.get("command_result") == "accepted"
            self.loop.call_soon_threadsafe(self._answer, command_id, accepted, self.state.get("command_reason", ""))

    def _on_device(self, role: str, msg: Any) -> None:
        self.statuses[role] = self.codec.read_device_status(msg)
        level = msg.level
        self.levels[role] = level[0] if isinstance(level, (bytes, bytearray)) else int(level)
        if role == "robot":
            self.traces.robot_part_id = self.statuses[role].part_id
        self._publish_device(role)

    def _publish_device(self, role: str) -> None:
        self.hub.publish(device_message(role, self.statuses[role], self.levels.get(role, 0)), f"device.{role}")

    def _on_process(self, msg: Any) -> None:
        sample = Codec.read_array(topics.WELD_PROCESS, msg, finite=False)
        if sample is not None:
            self.trend.add_process(sample)
            self.traces.add_process(sample)

    def _on_tracker(self, msg: Any) -> None:
        sample = Codec.read_array(topics.SEAM_TRACKER, msg, finite=False)
        if sample is not None:
            self.trend.add_tracker(sample)
            self.traces.travel_speed_mm_s = sample["travel_speed_mm_s"]

    def _on_setpoints(self, msg: Any) -> None:
        sample = Codec.read_array(topics.WELD_SETPOINTS, msg, finite=False)
        if sample is not None:
            self.trend.add_setpoints(sample)

    def _flush(self) -> None:
        message = self.trend.take()
        if message is not None:
            self.hub.publish(message)
        while not self.acks.empty():
            self._acknowledge(*self.acks.get_nowait())

    def _check(self) -> None:
        """Liveliness of the supervisor and the bridges, then the alarms."""
        alive = topics.supervisor_alive(self.heartbeat)
        if alive != self.supervisor_alive:
            self.supervisor_alive = alive
            self.hub.publish(state_message(self.state, alive), "state")
        for role, subscription in self.device_subs.items():
            if subscription.alive_publisher_count() == 0 and self.statuses[role] is not None:
                self.statuses[role] = None
                self._publish_device(role)
        if not self.thread.is_alive():
            self.log.error("the page's web server stopped: the HMI ends")
            raise SystemExit(1)
        if self.node.monotonic_s() - self.started_at_s < STARTUP_GRACE_S:
            return
        now_s = time.time()
        changes = self.alarms.update(conditions(self.state, self.statuses, self.supervisor_alive), now_s)
        for change in changes:
            self._journal_alarm(change)
        summary = (self.alarms.raised_within(now_s), self.alarms.flood(now_s))
        if changes or summary != self._alarm_summary:  # the flood window moves on by itself
            self._alarm_summary = summary
            self._publish_alarms()

    def _publish_alarms(self) -> None:
        self.hub.publish(alarms_message(self.alarms, time.time()), "alarms")

    def _journal_alarm(self, change: Change) -> None:
        """Publish a journaled change on `alarm/events` (the supervisor journals it)."""
        if change.what in JOURNALED:
            self.alarm_pub.publish(self.codec.status("hmi", change.what, OK, event_values(change)))

    # -- the journal ------------------------------------------------------------------------
    def _open_journal(self) -> Journal | None:
        if self.journal is None and self.config.journal_path.exists():
            try:
                self.journal = Journal(self.config.journal_path, writer=False)
            except JournalError as error:
                self.log.warning("journal not readable: %s", error)
        return self.journal

    def _shift_id(self) -> int | None:
        text = self.state.get("shift_id", "")
        return int(text) if text.isdigit() else None

    def _read_journal(self) -> None:
        """The shift's parts and KPIs, when the shift's counts on `state` changed (or JOURNAL_REFRESH_S passed)."""
        shift_id, journal = self._shift_id(), self._open_journal()
        if shift_id is None or journal is None:
            return
        counts = (str(shift_id), *(self.state.get(o.value, "") for o in Outcome))
        now_s = self.node.monotonic_s()
        if counts == self._counts_read and now_s - self._journal_read_at < JOURNAL_REFRESH_S:
            return
        self._counts_read, self._journal_read_at = counts, now_s
        try:
            records = journal.parts(shift_id)
            self.hub.publish(parts_message(records), "parts")
            self.hub.publish(kpis_message(shift_kpis(journal, shift_id, self.config, records)), "kpis")
        except (JournalError, sqlite3.Error, ValueError) as error:  # a locked, damaged or newer journal
            self.log.warning("journal not readable: %s", error)

    # -- pages -> bus (called on the web server's loop) --------------------------------------
    async def command(self, text: str, user: str) -> tuple[bool, str]:
        """Publish `text` as `user`'s command; the supervisor's answer (accepted, reason)."""
        if not self.supervisor_alive:
            return False, "the supervisor is not running"
        command_id = f"hmi-{secrets.token_hex(6)}"
        self.log.info("%s: %s", user, text)
        return await self._answered(command_id, lambda: self.command_pub.publish(
            self.codec.string(f"{text} id={command_id} user={user}")),
            f"the supervisor did not answer within {ANSWER_TIMEOUT_S:.0f} s")

    async def acknowledge(self, tag: str, user: str) -> tuple[bool, str]:
        """`user` acknowledges alarm `tag` (on the bus thread, which owns the alarms)."""
        request_id = f"ack-{secrets.token_hex(6)}"
        return await self._answered(request_id, lambda: self.acks.put((tag, user, request_id)),
                                    f"the HMI did not take it within {ANSWER_TIMEOUT_S:.0f} s (it may still)")

    async def _answered(self, request_id: str, send: Callable[[], None], late: str) -> tuple[bool, str]:
        """`send()` a request, then its answer (`_answer`), or (False, `late`) after ANSWER_TIMEOUT_S."""
        future: asyncio.Future = self.loop.create_future()
        self._answers[request_id] = future
        send()
        try:
            return await asyncio.wait_for(future, ANSWER_TIMEOUT_S)
        except asyncio.TimeoutError:
            return False, late
        finally:
            self._answers.pop(request_id, None)

    def _answer(self, request_id: str, accepted: bool, reason: str) -> None:
        future = self._answers.get(request_id)
        if future is not None and not future.done():
            future.set_result((accepted, reason))

    def _acknowledge(self, tag: str, user: str, request_id: str) -> None:
        try:
            change = self.alarms.acknowledge(tag, user, time.time())
        except AlarmError as error:
            self.loop.call_soon_threadsafe(self._answer, request_id, False, str(error))
            return
        self.log.info("%s acknowledged %s", user, tag)
        self._journal_alarm(change)
        self._publish_alarms()
        self.loop.call_soon_threadsafe(self._answer, request_id, True, "")

    def weld(self, part_id: str) -> dict | None:
        trace = self.traces.trace(part_id)
        if trace is None:
            return None
        return {"part_id": part_id, "fields": ["t_s", "current_A", "voltage_V", "wire_feed_m_min", "pool_width_mm",
                                               "travel_speed_mm_s"], "samples": list(trace)}


def load_sessions(hmi: HmiConfig, config_path: Any, host: str) -> Sessions:
    """The page's sessions over its accounts file; ConfigError naming the key when the page may not listen on
    `host` with them (off loopback: TLS and at least one operator account)."""
    problem = hmi_bind_problem(host, hmi)
    if problem:
        raise ConfigError(config_path, "hmi.bind", problem)
    accounts: dict[str, Account] = {}
    if hmi.accounts_path is not None:
        try:
            accounts = load_accounts(hmi.accounts_path)
        except AccountsError as error:
            raise ConfigError(config_path, "hmi.accounts", str(error)) from None
    if not is_loopback(host) and not any(a.role is Role.OPERATOR for a in accounts.values()):
        raise ConfigError(config_path, "hmi.accounts", f"{hmi.accounts_path}: no operator account: the page on "
                          f"{host} (not loopback) needs one (cellctl users add NAME --role operator --file FILE)")
    return Sessions(accounts, hmi.session_timeout_s)


def page_hosts(host: str, server_names: tuple[str, ...]) -> list[str]:
    """The names a browser may reach the page by (its Host header): on loopback the loopback names; else the
    bind address (for a wildcard: this PC's name and addresses) and `hmi.server_names`. A page reached by
    any other name is refused: a stranger's site whose name resolves to the cell PC (DNS rebinding)."""
    names = {"127.0.0.1", "localhost", "::1", "[::1]"}
    if not is_loopback(host):
        names |= {host, f"[{host}]", *server_names}
        if host in ("0.0.0.0", "::"):
            pc = {socket.gethostname(), socket.getfqdn()}
            names |= pc | {info[4][0] for name in pc for info in _addresses(name)}
    return sorted(names)


def _addresses(name: str) -> list:
    try:
        return socket.getaddrinfo(name, None)
    except OSError:
        return []


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def main(argv: list[str] | None = None) -> None:
    def setup(node: Node, config: CellConfig) -> tuple[Sessions, str, int]:
        bind = node.declare_parameter("bind", "")
        host, port = parse_bind(bind, lambda reason: ConfigError(config.path, "bind (parameter)", reason)) \
            if bind else (config.hmi.host, config.hmi.port)
        sessions = load_sessions(config.hmi, config.path, host)
        if not port_free(host, port):
            raise ConfigError(config.path, "hmi.bind", f"{host}:{port} is in use (another HMI or program)")
        return sessions, host, port
    node, config, (sessions, host, port) = start_node("hmi", argv, setup)
    hmi = HmiNode(node, config, sessions, host, port)
    hmi.start()
    spin_until_signal(node, hmi.stop)
