"""Real DeviceServers on free loopback ports (like asyncua's tests/conftest.py), no async plugin needed."""
from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cell_controller.opcua.address_space import DeviceSpec
from cell_controller.opcua.server import DeviceServer

logging.getLogger("asyncua").setLevel(logging.ERROR)


def free_endpoint() -> str:
    """An opc.tcp endpoint on a loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"opc.tcp://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def endpoint() -> str:
    """A free loopback endpoint for a test's own server."""
    return free_endpoint()


@pytest.fixture
def run_with_server() -> Callable[[DeviceSpec, Callable[[DeviceServer], Awaitable[Any]]], Any]:
    """run_with_server(spec, body): start a DeviceServer for spec, run `await body(server)`, stop it."""

    def run(spec: DeviceSpec, body: Callable[[DeviceServer], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            server = await DeviceServer.start(spec, free_endpoint(), f"test-{spec.kind}")
            try:
                return await body(server)
            finally:
                await server.stop()

        return asyncio.run(main())

    return run
