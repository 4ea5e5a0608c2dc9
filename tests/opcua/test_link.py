"""DeviceClient through a TCP proxy that cuts and black-holes the link (`cell_controller.testing.LinkProxy`):
an idle link that goes silent is lost within 1 s (nothing changes on it, only the client's probe notices);
no call outlives its request timeout while the link is gone; the client is back within 35 s of the link's
return with fresh values and never delivers one from the gap as good; a reconnect logs one warning, no
traceback. The 60 s black hole is `slow`; the default run black-holes for 5 s."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from cell_controller.opcua.address_space import spec_for
from cell_controller.opcua.client import DeviceClient
from cell_controller.opcua.server import DeviceServer
from cell_controller.testing import LinkProxy, free_ports

SPEED_SETPOINT = "Feeder/Conveyor/SpeedSetpoint"
SPEED = "Feeder/Conveyor/Speed"
REQUEST_TIMEOUT_S = 2.0
#: the longest a lost link may take to be noticed, s
DETECTION_S = 1.0
#: the longest the client may take to be back once the link is, s
RECONNECT_S = 35.0


class Link:
    """A feeder server, a proxy in front of it, and a client subscribed to every value through the proxy;
    `deliveries` holds (monotonic s, path, value, good) and `links` (monotonic s, up)."""

    def __init__(self, server: DeviceServer, proxy: LinkProxy, client: DeviceClient):
        self.server, self.proxy, self.client = server, proxy, client
        self.deliveries: list[tuple[float, str, Any, bool]] = []
        self.links: list[tuple[float, bool]] = []
        client.on_link_change(lambda up: self.links.append((time.monotonic(), up)))

    @classmethod
    async def open(cls) -> Link:
        spec = spec_for("feeder")
        port = free_ports(1)[0]
        server = await DeviceServer.start(spec, f"opc.tcp://127.0.0.1:{port}", "link-test")
        await server.set_values({SPEED: 200.0})
        proxy = LinkProxy(port)
        client = await DeviceClient.connect(f"opc.tcp://127.0.0.1:{proxy.port}", spec,
                                            request_timeout_s=REQUEST_TIMEOUT_S)
        link = cls(server, proxy, client)
        await client.subscribe([v.path for v in spec.variables], 50,
                               lambda path, value, ts, good: link.deliveries.append(
                                   (time.monotonic(), path, value, good)))
        await link.until(lambda: any(p == SPEED and v == 200.0 for _, p, v, _ in link.deliveries), 5.0)
        return link

    async def until(self, condition, timeout_s: float) -> float:
        """Wait for `condition()`; the time it took, s (fails the test past `timeout_s`)."""
        start = time.monotonic()
        while not condition():
            assert time.monotonic() - start < timeout_s, f"not within {timeout_s} s"
            await asyncio.sleep(0.01)
        return time.monotonic() - start

    async def close(self) -> None:
        await self.client.disconnect()
        await self.server.stop()
        self.proxy.close()


async def _calls_during_the_gap(client: DeviceClient, gap_s: float) -> list[float]:
    """Read, write and call again and again for `gap_s`: how long each took, s (each must fail)."""
    took = []
    end = time.monotonic() + gap_s
    calls = [lambda: client.read([SPEED]), lambda: client.write(SPEED_SETPOINT, 100.0),
             lambda: client.call("Feeder/MethodSet/Clamp")]
    while time.monotonic() < end:
        for call in calls:
            started = time.monotonic()
            with pytest.raises(Exception):
                await call()
            took.append(time.monotonic() - started)
        await asyncio.sleep(0.1)
    return took


def _black_hole(gap_s: float) -> dict[str, float]:
    async def main() -> dict[str, float]:
        link = await Link.open()
        try:
            await asyncio.sleep(1.0)  # idle: no value changes, only the client's probe crosses the link
            link.proxy.black_hole()
            lost_s = await link.until(lambda: link.links and not link.links[-1][1], 5.0)
            assert not link.client.connected
            took = await _calls_during_the_gap(link.client, gap_s)
            lost_at = link.links[-1][0]
            link.proxy.heal()
            await link.server.set_values({SPEED: 210.0})
            back_s = await link.until(lambda: link.client.connected and link.links[-1][1], RECONNECT_S)
            fresh_s = await link.until(lambda: any(p == SPEED and v == 210.0 and good
                                                   for _, p, v, good in link.deliveries), 5.0)
            back_at = link.links[-1][0]
            from_gap = [d for d in link.deliveries if lost_at < d[0] < back_at and d[3]]
            assert from_gap == [], "a value delivered good while the link was gone"
            await link.server.set_values({SPEED: 220.0})  # the subscription itself is live again
            await link.until(lambda: link.deliveries[-1][1:] == (SPEED, 220.0, True), 5.0)
            return {"lost_s": lost_s, "longest_call_s": max(took), "back_s": back_s, "fresh_s": fresh_s}
        finally:
            await link.close()
    return asyncio.run(main())


def _assert_black_hole_figures(figures: dict[str, float]) -> None:
    print(", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
    assert figures["lost_s"] < DETECTION_S, figures
    assert figures["longest_call_s"] < REQUEST_TIMEOUT_S + 0.5, figures
    assert figures["back_s"] < RECONNECT_S, figures


def test_an_idle_link_black_holed_for_5_s_is_lost_within_1_s_and_back_with_fresh_values() -> None:
    _assert_black_hole_figures(_black_hole(5.0))


@pytest.mark.slow
def test_an_idle_link_black_holed_for_60_s_is_lost_within_1_s_and_back_within_35_s() -> None:
    _assert_black_hole_figures(_black_hole(60.0))


def test_a_cut_link_is_lost_at_once_and_a_reconnect_logs_one_warning_and_no_traceback(caplog) -> None:
    async def main() -> tuple[float, float]:
        link = await Link.open()
        try:
            caplog.clear()
            link.proxy.cut()
            lost_s = await link.until(lambda: link.links and not link.links[-1][1], 2.0)
            await asyncio.sleep(5.0)  # several reconnect attempts, each refused
            link.proxy.heal()
            back_s = await link.until(lambda: link.client.connected and link.links[-1][1], RECONNECT_S)
            await asyncio.sleep(0.5)
            return lost_s, back_s
        finally:
            await link.close()

    with caplog.at_level(logging.DEBUG):
        lost_s, back_s = asyncio.run(main())
    client_side = [r for r in caplog.records if not r.name.startswith("asyncua.server")]
    loud = [r for r in client_side if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in loud] == [next(r.getMessage() for r in loud)], \
        "one warning per lost link"
    assert "link to" in loud[0].getMessage() and "lost" in loud[0].getMessage()
    assert not [r for r in client_side if r.levelno >= logging.INFO and r.exc_info], "a traceback logged"
    assert lost_s < 0.5 and back_s < RECONNECT_S
