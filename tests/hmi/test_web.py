"""The operator page's server (hmi/web.py) through Starlette's test client, with a recording cell link: who may
do what, and every bad request refused with its reason, logged, and never passed to the cell."""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cell_controller.hmi.sessions import FAILURE_WINDOW_S, MAX_FAILURES, Sessions
from cell_controller.hmi.view import Trend, merge_trends
from cell_controller.hmi.web import COOKIE, MAX_MESSAGE_BYTES, MAX_MESSAGES_PER_S, Hub, create_app
from cell_controller.opcua.users import Role, add_account, load_accounts

PASSWORDS = {"olga": "olga-operates", "victor": "victor-watches"}
LOG = logging.getLogger("test_hmi")


class RecordingLink:
    """The cell as the server sees it: records what reaches it and accepts everything."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, str]] = []

    async def command(self, text: str, user: str) -> tuple[bool, str]:
        self.received.append(("command", text, user))
        return True, ""

    async def acknowledge(self, tag: str, user: str) -> tuple[bool, str]:
        self.received.append(("ack", tag, user))
        return True, ""

    def weld(self, part_id: str) -> dict | None:
        return {"part_id": part_id, "samples": [[0.0, 200.0]]} if part_id == "P000007" else None


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture(scope="module")
def accounts(tmp_path_factory) -> dict:
    path = Path(tmp_path_factory.mktemp("hmi")) / "accounts.yaml"
    add_account(path, "olga", Role.OPERATOR, PASSWORDS["olga"])
    add_account(path, "victor", Role.VIEWER, PASSWORDS["victor"])
    return load_accounts(path)


@pytest.fixture
def server(accounts):
    link, clock = RecordingLink(), Clock()
    sessions = Sessions(accounts, timeout_s=60.0, clock=clock)
    app = create_app(link, Hub(asyncio.new_event_loop()), sessions, tls=False, log=LOG)
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        yield client, link, clock


def log_in(client: TestClient, user: str, password: str | None = None):
    return client.post("/api/login", json={"user": user, "password": password or PASSWORDS[user]})


def connect(client: TestClient, **headers: str):
    """The page's WebSocket, with the client's session cookie (the test client does not send it itself)."""
    token = client.cookies.get(COOKIE)
    return client.websocket_connect("/ws", headers={**headers, **({"cookie": f"{COOKIE}={token}"} if token else {})})


def ask(client: TestClient, request: dict | str) -> dict:
    """Send one request on a fresh WebSocket; its answer."""
    with connect(client) as socket:
        assert socket.receive_json()["type"] == "hello"
        socket.send_text(request if isinstance(request, str) else json.dumps(request))
        while (message := socket.receive_json())["type"] != "answer":
            pass
        return message


def test_the_page_is_served_with_headers_that_keep_it_out_of_frames_and_foreign_scripts(server) -> None:
    client, _, _ = server
    page = client.get("/")
    assert page.status_code == 200 and "uPlot.iife.min.js" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-frame-options"] == "DENY"
    assert client.get("/static/vendor/uPlot.iife.min.js").status_code == 200


def test_a_login_sets_an_httponly_strict_cookie_and_wrong_ones_are_refused(server) -> None:
    client, _, _ = server
    refused = log_in(client, "olga", "guess")
    assert (refused.status_code, refused.json()["reason"]) == (401, "unknown name or wrong password")
    assert log_in(client, "mallory", "x").json()["reason"] == "unknown name or wrong password"  # no hint
    assert client.post("/api/login", content="user=olga&password=x",
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 415
    accepted = log_in(client, "olga")
    assert accepted.status_code == 200 and accepted.json()["role"] == "operator"
    cookie = accepted.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert client.get("/api/session").json()["user"] == "olga"
    client.post("/api/logout")
    assert client.get("/api/session").json()["user"] == ""


def test_guessing_a_password_is_throttled(server) -> None:
    client, _, clock = server
    for _ in range(MAX_FAILURES):
        log_in(client, "olga", "guess")
    assert "failed logins for this name" in log_in(client, "olga").json()["reason"]  # even the right one
    clock.now_s += FAILURE_WINDOW_S + 1
    assert log_in(client, "olga").status_code == 200


def test_an_operator_commands_and_acknowledges(server) -> None:
    client, link, _ = server
    log_in(client, "olga")
    assert ask(client, {"type": "command", "id": "c1", "command": "hold"}) == \
        {"type": "answer", "id": "c1", "result": "accepted", "reason": ""}
    assert ask(client, {"type": "command", "id": "c2", "command": "mode maintenance"})["result"] == "accepted"
    assert ask(client, {"type": "ack", "id": "a1", "tag": "robot.safety"})["result"] == "accepted"
    assert link.received == [("command", "hold", "olga"), ("command", "mode maintenance", "olga"),
                             ("ack", "robot.safety", "olga")]


@pytest.mark.parametrize(("request_", "reason"), [
    ("not json", "not JSON"),
    ("[1, 2]", 'expected {"type": "command" | "ack"'),
    ({"type": "command", "id": "c1", "command": "explode"}, "unknown command 'explode'"),
    ({"type": "command", "id": "c1", "command": "device robot stop_program"}, "'device' is not a command of the page"),
    ({"type": "command", "id": "c1", "command": "swap welder real"}, "'swap' is not a command of the page"),
    ({"type": "command", "id": "c1", "command": "hold user=mallory"}, "no options"),
    ({"type": "command", "id": "c1", "command": "hold now"}, "hold takes no arguments"),
    ({"type": "command", "id": "c1", "command": "mode turbo"}, "unit mode 'turbo' is not one of production"),
    ({"type": "command", "id": "c1", "command": 7}, "command: expected a text"),
    ({"type": "command", "id": "x" * 40, "command": "hold"}, "id: expected 1..32"),
    ({"type": "ack", "id": "a1", "tag": "'; DROP TABLE events"}, "tag: expected an alarm's tag"),
    ({"type": "command", "id": "c1", "command": "hold", "pad": "x" * MAX_MESSAGE_BYTES},
     f"(at most {MAX_MESSAGE_BYTES})"),
])
def test_a_bad_request_is_refused_with_its_reason_logged_and_reaches_nothing(server, caplog, request_, reason) -> None:
    client, link, _ = server
    log_in(client, "olga")
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        answer = ask(client, request_)
    assert answer["result"] == "refused" and reason in answer["reason"], answer
    assert any(reason in r.getMessage() for r in caplog.records)
    assert link.received == []


def test_only_a_logged_in_operator_may_command(server) -> None:
    client, link, _ = server
    assert ask(client, {"type": "command", "id": "c1", "command": "hold"})["reason"] == \
        "log in as an operator to do this"
    log_in(client, "victor")
    assert ask(client, {"type": "command", "id": "c2", "command": "hold"})["reason"] == \
        "victor is a viewer: only an operator may do this"
    assert ask(client, {"type": "ack", "id": "a1", "tag": "robot.safety"})["result"] == "refused"
    assert link.received == []


def test_a_command_from_an_expired_session_is_refused_and_the_page_told(server) -> None:
    client, link, clock = server
    log_in(client, "olga")
    assert ask(client, {"type": "command", "id": "c1", "command": "hold"})["result"] == "accepted"
    clock.now_s += 61.0  # longer than the session timeout since its last use
    with connect(client) as socket:
        socket.receive_json()
        socket.send_json({"type": "command", "id": "c2", "command": "unhold"})
        messages = [socket.receive_json() for _ in range(2)]
    assert messages[0]["reason"] == "the session expired: log in again"
    assert (messages[1]["type"], messages[1]["role"]) == ("hello", "viewer")
    assert link.received == [("command", "hold", "olga")]


def test_a_flood_of_requests_is_cut_off(server) -> None:
    client, link, _ = server
    log_in(client, "olga")
    with connect(client) as socket:
        socket.receive_json()
        for i in range(MAX_MESSAGES_PER_S + 5):
            socket.send_json({"type": "ack", "id": f"a{i}", "tag": "robot.safety"})
        answers = [socket.receive_json() for _ in range(MAX_MESSAGES_PER_S + 5)]
    refused = [a for a in answers if a["result"] == "refused"]
    assert len(refused) == 5 and "more than 20 messages in a second" in refused[0]["reason"]
    assert len(link.received) == MAX_MESSAGES_PER_S


def test_an_operator_commands_no_faster_than_the_supervisor_journals_each_with_her_name(server) -> None:
    client, link, _ = server
    log_in(client, "olga")
    answers = [ask(client, {"type": "command", "id": f"c{i}", "command": "hold"}) for i in range(3)]
    assert [a["result"] for a in answers] == ["accepted", "accepted", "refused"]
    assert answers[2]["reason"] == "more than 2 commands a second from olga"
    assert len(link.received) == 2


def test_a_websocket_from_another_site_is_refused(server) -> None:
    client, _, _ = server
    log_in(client, "olga")
    with pytest.raises(Exception):
        with connect(client, origin="http://evil.example") as socket:
            socket.receive_json()


def test_a_request_for_another_host_name_is_refused(accounts) -> None:
    """DNS rebinding: a site whose name resolves to the cell PC sends its own name as the Host."""
    app = create_app(RecordingLink(), Hub(asyncio.new_event_loop()), Sessions(accounts, 60.0), tls=False, log=LOG,
                     hosts=["127.0.0.1", "localhost"])
    with TestClient(app, base_url="http://attacker.example:8080") as client:
        assert client.get("/").status_code == 400
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        assert client.get("/").status_code == 200


def test_every_response_keeps_the_page_out_of_frames_and_the_page_is_not_a_static_file(server) -> None:
    client, _, _ = server
    assert client.get("/static/index.html").status_code == 404
    for path in ("/", "/static/hmi.js", "/api/session", "/api/weld/P000008"):
        assert client.get(path).headers["x-frame-options"] == "DENY", path


def test_an_oversized_login_is_refused_unread(server) -> None:
    client, _, _ = server
    refused = client.post("/api/login", content=b'{"user": "olga", "password": "' + b"x" * 100_000 + b'"}',
                          headers={"content-type": "application/json"})
    assert refused.status_code == 401 and "more than 2048 bytes" in refused.json()["reason"]


def test_the_weld_plot_of_a_part(server) -> None:
    client, _, _ = server
    assert client.get("/api/weld/P000007").json()["samples"] == [[0.0, 200.0]]
    missing = client.get("/api/weld/P000008")
    assert missing.status_code == 404 and "saw no weld of part 'P000008'" in missing.json()["reason"]


def test_a_page_that_connects_gets_the_newest_of_each_and_the_trend_window() -> None:
    loop = asyncio.new_event_loop()
    hub = Hub(loop)
    trend = Trend()
    hub.publish({"type": "state", "values": {"state": "Idle"}}, "state")
    hub.publish({"type": "state", "values": {"state": "Execute"}}, "state")
    for stamp_s in (1.0, 2.0):
        trend.add_tracker({"stamp_s": stamp_s, "travel_speed_mm_s": 8.0})
        hub.publish(trend.take())
    loop.run_until_complete(asyncio.sleep(0))
    page = hub.connect()
    received = [json.loads(page.get_nowait()) for _ in range(page.qsize())]
    assert received == [{"type": "state", "values": {"state": "Execute"}},
                        merge_trends([{"type": "trend", "process": [], "tracker": [[s, 8.0]], "setpoints": []}
                                      for s in (1.0, 2.0)])]
    loop.close()
