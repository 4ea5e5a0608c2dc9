"""`DeviceClient`: a typed, self-healing OPC UA client for one device spec.

Paths are the spec's ``"A/B/C"`` strings; they are resolved to NodeIds once, at connect,
with one TranslateBrowsePathsToNodeIds call (real devices choose their own NodeIds).

Link supervision uses asyncua's connection supervisor (``auto_reconnect=True``): it probes
ServerStatus every `watchdog_interval_s` with a timeout of the same length, so a dead or
half-open link is detected within about 2 x `watchdog_interval_s` (default 0.3 s: ~0.6 s,
even on an idle link that carries no data change), and a closed socket at once. A loss is logged
once, as one warning (asyncua's own records of it are lowered to DEBUG). On loss every subscribed path is delivered once with
``good=False``; the supervisor then reconnects with backoff (capped at
`reconnect_max_delay_s`), re-activates the session or creates a new one and restores or
re-creates the subscriptions with the same client handles. After the link is back every
subscribed path is read once and delivered (fresh values even when the server kept the
subscriptions and sends no initial values).

Callbacks run on the asyncio loop. They must return quickly and never block: hand the
value to an `asyncio.Queue`, a `queue.Queue` or a thread (asyncua issue #1252: blocking
in a data-change callback kills the client).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from asyncua import Client, Node, ua
from asyncua.client.ua_client import UaClientState
from asyncua.common.subscription import DataChangeNotif, Subscription

from cell_controller.core.config import SecurityConfig

from . import _ua
from .address_space import DeviceSpec
from .security import POLICIES, certificate_uri, validator

_log = logging.getLogger(__name__)

#: asyncua's client-side loggers. What they warn of is the link (a refused reconnect, a publish on a
#: closed channel, a fault answered on a dead session): `DeviceClient` reports the link itself, once
#: per loss, and raises every failed call to its caller, so their records are kept at DEBUG only.
_ASYNCUA_CLIENT_LOGGERS = ("asyncua.client.client", "asyncua.client.ua_client.UASocketProtocol",
                           "asyncua.client.ua_client.UaClient", "asyncua.client.ua_session",
                           "asyncua.client.ua_session.UaSession", "asyncua.common.subscription",
                           "asyncua.uaprotocol")


class _AtDebug(logging.Filter):
    """Lowers a record to DEBUG (its traceback kept, for whoever logs at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_AT_DEBUG = _AtDebug()


def _quiet_asyncua_client() -> None:
    for name in _ASYNCUA_CLIENT_LOGGERS:
        logging.getLogger(name).addFilter(_AT_DEBUG)  # adding it twice adds it once

ValueCallback = Callable[[str, Any, "datetime | None", bool], None]
"""callback(path, value, source_timestamp, good): value is plain Python (enums as Int32 index),
source_timestamp UTC (None when unknown), good False for Bad/Uncertain quality or a lost link
(value then None). Called on the asyncio loop: must not block."""


class DeviceIdentityError(LookupError):
    """The server is not the device the cell description names (another ApplicationUri)."""


class DeviceUnreachableError(ConnectionError):
    """The device's endpoint could not be connected to within the timeout."""


class DeviceSpecMismatchError(LookupError):
    """The device lacks nodes the spec names (see `opcua.checker` for a full report)."""


@dataclass(frozen=True)
class ClientSecurity:
    """A secured session: SignAndEncrypt with `policy` (`core.config.SECURITY_POLICIES`), the cell's
    application certificate and key; `trust`, a folder of trusted server certificates (CRLs in `crl/`),
    or `server_certificate`, one pinned certificate; and a user: username and password, or an X.509
    user certificate and its key. Built from the cell description by `from_config`.
    """

    policy: str
    certificate: Path
    private_key: Path
    trust: Path | None = None
    server_certificate: Path | None = None
    username: str | None = None
    password: str | None = None
    user_certificate: Path | None = None
    user_private_key: Path | None = None

    @classmethod
    def from_config(cls, security: SecurityConfig) -> ClientSecurity:
        user = security.user
        return cls(security.policy, security.certificate, security.private_key, security.trust,
                   username=user.username if user else None, password=user.password() if user else None,
                   user_certificate=user.certificate if user else None,
                   user_private_key=user.private_key if user else None)


async def _secure(client: Client, security: ClientSecurity) -> None:
    """Set SignAndEncrypt with the cell's certificate, the server's trust check and the user token."""
    uri = certificate_uri(security.certificate)
    if uri is not None:
        client.application_uri = uri  # a server checks that the certificate names the application
    await client.set_security(POLICIES[security.policy][0], str(security.certificate), str(security.private_key),
                              server_certificate=str(security.server_certificate) if security.server_certificate
                              else None, mode=ua.MessageSecurityMode.SignAndEncrypt)
    if security.trust is not None:
        client.certificate_validator = (await validator(security.trust, peer_is_server=True)).validate
    if security.user_certificate is not None:
        await client.load_client_certificate(str(security.user_certificate))
        await client.load_private_key(str(security.user_private_key))
    elif security.username is not None:
        client.set_user(security.username)
        client.set_password(security.password or "")


async def resolve_paths(client: Client, paths: Iterable[str], ns: int,
                        prop: str | None = None) -> dict[str, ua.NodeId | None]:
    """Map each spec path below Objects to its NodeId (None where the server has no such node).

    With `prop` (e.g. "EURange"), resolve that standard (ns=0) property of each node instead.
    One TranslateBrowsePathsToNodeIds call for all paths.
    """
    paths = list(paths)
    relative = []
    for path in paths:
        elements = [ua.RelativePathElement(ReferenceTypeId=ua.NodeId(ua.ObjectIds.HierarchicalReferences),
                                           IsInverse=False, IncludeSubtypes=True, TargetName=qname)
                    for qname in _ua.relative_path(path, ns) + ([ua.QualifiedName(prop, 0)] if prop else [])]
        relative.append(ua.RelativePath(Elements=elements))
    results = await client.translate_browsepaths(ua.NodeId(ua.ObjectIds.ObjectsFolder), relative) if paths else []
    return {path: _target(result) for path, result in zip(paths, results)}


def _target(result: ua.BrowsePathResult) -> ua.NodeId | None:
    """The local NodeId a browse path resolved to (TargetId is an ExpandedNodeId), else None."""
    if not result.StatusCode.is_good() or not result.Targets:
        return None
    target = result.Targets[0].TargetId
    return ua.NodeId(target.Identifier, target.NamespaceIndex, target.NodeIdType)


async def open_client(endpoint: str, spec: DeviceSpec, timeout_s: float, security: ClientSecurity | None = None,
                      *, username: str | None = None, password: str | None = None,
                      watchdog_interval_s: float = 0.3, request_timeout_s: float = 2.0,
                      reconnect_max_delay_s: float = 2.0) -> Client:
    """A connected asyncua Client (auto-reconnecting) for `spec`'s device at `endpoint`.

    username/password log in without a ClientSecurity (a loopback None endpoint; the password then
    travels in clear, so only there). Raises DeviceUnreachableError naming the endpoint when no
    session is up within timeout_s (the server refusing the login included).
    """
    _quiet_asyncua_client()
    client = Client(endpoint, timeout=request_timeout_s, watchdog_intervall=watchdog_interval_s,
                    auto_reconnect=True, reconnect_max_delay=reconnect_max_delay_s,
                    reconnect_request_timeout=request_timeout_s)
    client.name = client.description = f"cell-controller {spec.kind} client"
    client.application_uri = f"urn:cell-controller:client:{spec.kind}"
    try:
        if security is not None:
            await asyncio.wait_for(_secure(client, security), timeout_s)
        elif username is not None:
            client.set_user(username)
            client.set_password(password or "")
        await asyncio.wait_for(client.connect(), timeout_s)
    except (OSError, asyncio.TimeoutError, ua.UaError) as exc:
        await close_client(client)
        raise DeviceUnreachableError(
            f"{spec.kind} device at {endpoint} unreachable within {timeout_s} s: {exc!r}") from exc
    return client


class _Handler:
    """asyncua subscription handler forwarding to a ValueCallback (asyncua runs it in a task)."""

    def __init__(self, owner: DeviceClient, callback: ValueCallback) -> None:
        self._owner = owner
        self._callback = callback

    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        dv = data.monitored_item.Value
        good = dv.StatusCode is None or dv.StatusCode.is_good()
        self._owner._deliver(self._callback, self._owner._path_of[node.nodeid], val if good else None,
                             dv.SourceTimestamp, good)

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        if not status.Status.is_good():
            self._owner._deliver_bad(self._callback)


class DeviceClient:
    """A connected client for one device. Create with `await DeviceClient.connect(...)`."""

    def __init__(self, client: Client, spec: DeviceSpec, endpoint: str, nodeids: Mapping[str, ua.NodeId]) -> None:
        self.spec = spec
        self.endpoint = endpoint
        self._client = client
        self._nodeids = dict(nodeids)
        self._path_of = {nodeid: path for path, nodeid in self._nodeids.items()}
        self._subscribed: dict[ValueCallback, list[str]] = {}
        self._subscriptions: list[Subscription] = []
        #: what each subscription was made of, to make it again (`resubscribe`): paths, interval ms, callback
        self._requests: list[tuple[list[str], float, ValueCallback]] = []
        self._link_task: asyncio.Task[None] | None = None
        self._link_good = True
        self._link_callbacks: list[Callable[[bool], None]] = []

    @classmethod
    async def connect(cls, endpoint: str, spec: DeviceSpec, timeout_s: float = 3.0, *,
                      security: ClientSecurity | None = None, username: str | None = None,
                      password: str | None = None, watchdog_interval_s: float = 0.3,
                      request_timeout_s: float = 2.0, reconnect_max_delay_s: float = 2.0) -> DeviceClient:
        """Connect to `endpoint`, check the spec's namespace and resolve every spec path.

        timeout_s bounds the whole connect (s); request_timeout_s bounds each later request (s).
        Raises DeviceUnreachableError (naming the endpoint) when the server cannot be reached
        in time, DeviceSpecMismatchError when the namespace or nodes of the spec are missing.
        """
        client = await open_client(endpoint, spec, timeout_s, security, username=username, password=password,
                                   watchdog_interval_s=watchdog_interval_s,
                                   request_timeout_s=request_timeout_s, reconnect_max_delay_s=reconnect_max_delay_s)
        try:
            namespaces = await client.get_namespace_array()
            if spec.namespace_uri not in namespaces:
                raise DeviceSpecMismatchError(f"{endpoint}: namespace {spec.namespace_uri} not served")
            paths = [v.path for v in spec.variables] + [m.path for m in spec.methods]
            paths += sorted({m.path.rsplit("/", 1)[0] for m in spec.methods})
            resolved = await resolve_paths(client, paths, namespaces.index(spec.namespace_uri))
            missing = [p for p, nodeid in resolved.items() if nodeid is None]
            if missing:
                raise DeviceSpecMismatchError(f"{endpoint}: {spec.kind} device lacks {missing}")
        except BaseException:
            await close_client(client)
            raise
        self = cls(client, spec, endpoint, {p: n for p, n in resolved.items() if n is not None})
        self._link_task = asyncio.create_task(self._watch_link())
        return self

    @property
    def connected(self) -> bool:
        """True while the session is up (False while reconnecting)."""
        return self._client.uaclient.state is UaClientState.CONNECTED

    async def disconnect(self) -> None:
        """Stop supervising, delete subscriptions and close the session (never raises)."""
        if self._link_task is not None:
            self._link_task.cancel()
            await asyncio.gather(self._link_task, return_exceptions=True)
            self._link_task = None
        await close_client(self._client)

    async def application_uri(self) -> str:
        """The server's ApplicationUri (ServerArray[0], OPC UA Part 5 6.3.2): the device's identity."""
        server_array = await self._client.get_node(ua.NodeId(ua.ObjectIds.Server_ServerArray)).read_value()
        return server_array[0] if server_array else ""

    # --- services ------------------------------------------------------------------------------

    async def read(self, paths: Iterable[str]) -> dict[str, Any]:
        """Read several variables in one Read call: path -> plain value (enums as Int32 index).

        Raises ua.UaStatusCodeError (naming the path) when a value has Bad quality.
        """
        paths = list(paths)
        values = await self._client.uaclient.read_attributes([self._variable_id(p) for p in paths],
                                                             ua.AttributeIds.Value)
        out: dict[str, Any] = {}
        for path, dv in zip(paths, values):
            if dv.StatusCode is not None and not dv.StatusCode.is_good():
                raise ua.UaStatusCodeError(dv.StatusCode.value, f"{self.spec.kind} {path}")
            out[path] = dv.Value.Value if dv.Value is not None else None
        return out

    async def write(self, path: str, value: Any) -> None:
        """Write a setpoint, typed as the spec's DataType, in the spec's unit.

        Raises PermissionError for a variable the spec marks read-only; TypeError for a wrong
        type; ValueError for NaN, +-Inf, a value outside the EURange or an unknown enum member;
        ua.UaStatusCodeError when the device refuses.
        """
        var = self.spec.variable(path)
        if not var.writable:
            raise PermissionError(f"{self.spec.kind}: {path} is read-only")
        variant = _ua.encode_setpoint(var, value)
        await self._client.get_node(self._nodeids[path]).write_value(ua.DataValue(variant))

    async def call(self, method_path: str, *args: Any) -> Any:
        """Call a method with the spec's input arguments; returns its single output, a tuple when it has
        several (the cell's methods: Status, an Int32 index into COMMAND_STATUS, and Reason), None when none.

        Raises TypeError for a wrong argument count or type, ua.UaStatusCodeError when the
        device answers Bad (e.g. BadNotImplemented, BadUnexpectedError).
        """
        meth = self.spec.method(method_path)
        if len(args) != len(meth.inputs):
            raise TypeError(f"{method_path} takes {len(meth.inputs)} arguments "
                            f"({', '.join(a.name for a in meth.inputs)}), got {len(args)}")
        variants = [_ua.encode(f"{method_path}:{a.name}", a.data_type, v) for a, v in zip(meth.inputs, args)]
        parent = self._client.get_node(self._nodeids[method_path.rsplit("/", 1)[0]])
        result = await parent.call_method(self._nodeids[method_path], *variants)
        return tuple(result) if isinstance(result, list) else result

    async def subscribe(self, paths: Iterable[str], publishing_interval_ms: float, callback: ValueCallback) -> None:
        """Subscribe to value changes of `paths`; `callback(path, value, source_timestamp, good)`.

        The current value of each path arrives first. Sampling interval = publishing interval.
        The subscription survives reconnects (see the module docstring).
        """
        paths = list(paths)
        self._subscriptions.append(await self._create_subscription(paths, publishing_interval_ms, callback))
        self._requests.append((paths, publishing_interval_ms, callback))
        self._subscribed.setdefault(callback, []).extend(paths)

    async def _create_subscription(self, paths: list[str], publishing_interval_ms: float,
                                   callback: ValueCallback) -> Subscription:
        nodes = [self._client.get_node(self._variable_id(p)) for p in paths]
        sub = await self._client.create_subscription(publishing_interval_ms, _Handler(self, callback))
        results = await sub.subscribe_data_change(nodes, sampling_interval=publishing_interval_ms)
        failed = [p for p, r in zip(paths, results) if isinstance(r, ua.StatusCode)]
        if failed:
            await sub.delete()
            raise DeviceSpecMismatchError(f"{self.endpoint}: cannot monitor {failed}")
        return sub

    async def resubscribe(self) -> None:
        """Delete every subscription and make it again from its paths, then deliver fresh values: for a link
        that is up but whose data stopped (asyncua's restore after a reconnect can leave a subscription
        without its monitored items, and then nothing says so). Raises LINK_ERRORS when the link fails."""
        old, self._subscriptions = self._subscriptions, []
        for sub in old:
            try:
                await asyncio.wait_for(sub.delete(), 2.0)
            except Exception:  # noqa: BLE001 - best effort: the server may have dropped it already
                _log.debug("%s: deleting a subscription failed", self.spec.kind, exc_info=True)
        for paths, interval_ms, callback in self._requests:
            self._subscriptions.append(await self._create_subscription(paths, interval_ms, callback))
        await self._refresh()

    # --- link supervision ----------------------------------------------------------------------

    def on_link_change(self, callback: Callable[[bool], None]) -> None:
        """Call `callback(up)` on the loop when the link is lost (False) and when it is back (True),
        before the values are delivered Bad or fresh."""
        self._link_callbacks.append(callback)

    def _tell_link(self, up: bool) -> None:
        for callback in self._link_callbacks:
            try:
                callback(up)
            except Exception:
                _log.exception("%s: link callback failed", self.spec.kind)

    def _variable_id(self, path: str) -> ua.NodeId:
        self.spec.variable(path)
        return self._nodeids[path]

    def _deliver(self, callback: ValueCallback, path: str, value: Any, ts: datetime | None, good: bool) -> None:
        try:
            callback(path, value, ts, good)
        except Exception:
            _log.exception("%s: value callback failed for %s", self.spec.kind, path)

    def _deliver_bad(self, callback: ValueCallback) -> None:
        now = datetime.now(timezone.utc)
        for path in self._subscribed.get(callback, ()):
            self._deliver(callback, path, None, now, False)

    async def _watch_link(self) -> None:
        """Deliver good=False on link loss, and fresh values once the link is back."""
        async with self._client.uaclient.subscribe_state() as states:
            while True:
                state = await states.next_change()
                if state is not UaClientState.CONNECTED and self._link_good:
                    self._link_good = False
                    _log.warning("%s: link to %s lost (%s)", self.spec.kind, self.endpoint, state.value)
                    self._tell_link(False)
                    for callback in self._subscribed:
                        self._deliver_bad(callback)
                elif state is UaClientState.CONNECTED and not self._link_good:
                    self._link_good = True
                    _log.info("%s: link to %s back", self.spec.kind, self.endpoint)
                    self._tell_link(True)
                    await self._refresh()

    async def _refresh(self) -> None:
        for callback, paths in list(self._subscribed.items()):
            try:
                values = await self._client.uaclient.read_attributes(
                    [self._nodeids[p] for p in paths], ua.AttributeIds.Value)
            except (OSError, asyncio.TimeoutError, ua.UaError) as exc:
                _log.info("%s: refresh after reconnect failed: %r", self.spec.kind, exc)
                return
            for path, dv in zip(paths, values):
                good = dv.StatusCode is None or dv.StatusCode.is_good()
                self._deliver(callback, path, dv.Value.Value if good and dv.Value else None,
                              dv.SourceTimestamp, good)


#: what a link to a device can fail with while it connects, subscribes or answers: callers catch these
#: without importing asyncua (a link lost mid-request raises the protocol's own errors)
LINK_ERRORS: tuple[type[BaseException], ...] = (DeviceUnreachableError, DeviceSpecMismatchError, DeviceIdentityError,
                                                ConnectionError, asyncio.TimeoutError, ua.UaError)


async def close_client(client: Client) -> None:
    """Disconnect `client` within 2 s, ignoring a link that is already dead."""
    try:
        await asyncio.wait_for(client.disconnect(), 2.0)
    except Exception as exc:  # teardown of a dead link: nothing left to do
        _log.debug("disconnect: %r", exc)
