"""A bridge's connection to one backend of its device: the twin's server, or the device on the shop floor.

`open_link` connects, checks that the server is the device the cell description names and then
subscribes every variable of the device spec into the link's own `Snapshot`. For the real device
that means: SignAndEncrypt with the description's keys, the ApplicationUri it must present
(`devices.<name>.real.application_uri`), its address space probed by `opcua.checker` against the
spec (through the mapping file where the vendor's address space is not ours) and driven only
through that mapping (`opcua.mapping.MappedClient`). The twin serves the spec itself on loopback,
unsecured; connecting resolves (and so checks) every path of the spec.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from cell_controller.bridges.base import Snapshot
from cell_controller.core.config import DeviceConfig
from cell_controller.opcua.address_space import DeviceSpec
from cell_controller.opcua.checker import check_device_server
from cell_controller.opcua.client import ClientSecurity, DeviceClient, DeviceIdentityError, DeviceSpecMismatchError
from cell_controller.opcua.mapping import MappedClient, load_mapping, vendor_spec

#: TWIN: the twin's server at `devices.<name>.endpoint`; REAL: the device at `devices.<name>.real.endpoint`
TWIN, REAL = "twin", "real"
#: how long connecting and subscribing one link may take, s
CONNECT_TIMEOUT_S = 3.0

ValueCallback = Callable[["Link", str, Any, "datetime | None", bool], None]


@dataclass(eq=False)
class Link:
    """One backend's connection: its client (our paths and units, mapped or not) and what it has said."""

    where: str
    endpoint: str
    client: Any  # DeviceClient or MappedClient: the same interface
    snapshot: Snapshot
    application_uri: str = ""
    subscribed: bool = field(default=False)

    @property
    def connected(self) -> bool:
        return self.client.connected

    async def close(self) -> None:
        await self.client.disconnect()


async def open_link(device: DeviceConfig, spec: DeviceSpec, where: str, interval_ms: float,
                    on_value: ValueCallback) -> Link:
    """Connect to `device`'s twin or real server, check it, subscribe every spec variable at `interval_ms`.

    Raises one of `opcua.client.LINK_ERRORS` with the reason (unreachable, another identity, an address
    space that does not conform, a link lost while subscribing); nothing is left open then.
    """
    if where == TWIN:
        client: Any = await DeviceClient.connect(device.endpoint, spec, CONNECT_TIMEOUT_S)
        endpoint = device.endpoint
    else:
        client, endpoint = await _connect_real(device, spec)
    try:
        uri = await asyncio.wait_for(client.application_uri(), CONNECT_TIMEOUT_S)
        expected = device.real.application_uri if where == REAL and device.real is not None else None
        if expected is not None and uri != expected:
            raise DeviceIdentityError(f"{endpoint} is {uri!r}, not the {device.name} the description names "
                                      f"({expected!r})")
        link = Link(where, endpoint, client, Snapshot(spec), uri)
        await asyncio.wait_for(client.subscribe([v.path for v in spec.variables], interval_ms,
                                                lambda path, value, ts, good: on_value(link, path, value, ts, good)),
                               CONNECT_TIMEOUT_S)
    except BaseException:
        await client.disconnect()
        raise
    link.subscribed = True
    return link


@dataclass(frozen=True)
class Probe:
    """What `probe` found at one endpoint: its ApplicationUri and how its address space departs from the spec."""

    endpoint: str
    application_uri: str
    problems: list[str]


async def probe(device: DeviceConfig, spec: DeviceSpec, where: str) -> Probe:
    """Connect to `device`'s twin or real server, read its identity and run the conformance probe
    (through the mapping for a mapped real device); raises one of LINK_ERRORS when it cannot connect."""
    if where == TWIN:
        endpoint, security, served, connect = device.endpoint, None, spec, \
            DeviceClient.connect(device.endpoint, spec, CONNECT_TIMEOUT_S)
    else:
        endpoint, security, served, connect = _real_client(device, spec)
    client = await connect
    try:
        uri = await asyncio.wait_for(client.application_uri(), CONNECT_TIMEOUT_S)
    finally:
        await client.disconnect()
    return Probe(endpoint, uri, await check_device_server(endpoint, served, CONNECT_TIMEOUT_S, security))


def _real_client(device: DeviceConfig, spec: DeviceSpec) -> tuple[str, ClientSecurity, DeviceSpec, Any]:
    """The real device's endpoint, the cell's security towards it, the address space it serves (the vendor's
    through the mapping, else the spec) and the coroutine that connects a client in our paths and units."""
    assert device.real is not None
    real = device.real
    security = ClientSecurity.from_config(real.security)
    mapping = load_mapping(real.mapping, spec) if real.mapping is not None else None
    if mapping is None:
        return real.endpoint, security, spec, DeviceClient.connect(real.endpoint, spec, CONNECT_TIMEOUT_S,
                                                                   security=security)
    return real.endpoint, security, vendor_spec(mapping, spec), \
        MappedClient.connect(real.endpoint, spec, mapping, CONNECT_TIMEOUT_S, security=security)


async def _connect_real(device: DeviceConfig, spec: DeviceSpec) -> tuple[Any, str]:
    """The real device's client, after its address space passed the conformance probe."""
    assert device.real is not None
    real = device.real
    endpoint, security, served, connect = _real_client(device, spec)
    results = await asyncio.gather(connect, check_device_server(endpoint, served, CONNECT_TIMEOUT_S, security),
                                   return_exceptions=True)
    client, problems = results
    if isinstance(problems, list) and problems:  # the probe's account first: it says what does not fit
        if not isinstance(client, BaseException):
            await client.disconnect()
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        through = f" through {real.mapping}" if real.mapping else ""
        raise DeviceSpecMismatchError(f"{endpoint} does not conform to the {spec.kind} spec{through}: "
                                      f"{problems[0]}{more}")
    for failed in (client, problems):
        if isinstance(failed, BaseException):
            if not isinstance(client, BaseException):
                await client.disconnect()
            raise failed
    return client, real.endpoint
