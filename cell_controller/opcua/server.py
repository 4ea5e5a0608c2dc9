"""`DeviceServer`: an asyncua server whose address space is built from one `DeviceSpec`.

The digital twin's devices are DeviceServers; the device models (elsewhere) push
process values with `set_values`, receive client setpoint writes through
`on_setpoint_written` and implement methods with `bind_method`.

Everything runs on the asyncio loop that called `start`; callbacks must not block it.

Security. asyncua's defaults are insecure (reliability.md): a None endpoint,
anonymous logins, every client certificate accepted. Without a `ServerSecurity`
a DeviceServer offers only the None policy, which is acceptable only on loopback;
`start` refuses a non-loopback endpoint without security unless `allow_insecure=True`.
With a `ServerSecurity` the server offers only SignAndEncrypt with the policies named and (with a
`trust` folder) accepts only client application certificates found there, not revoked, valid now. With `accounts` (`opcua/users.py`) it takes only username logins checked
against their Argon2 hashes, and enforces the accounts' roles: a viewer's method call or
write is answered BadUserAccessDenied; without accounts, sessions are anonymous.

Transport limits are bounded (CVE-2022-25304): `MAX_MESSAGE_SIZE`, `MAX_CHUNK_COUNT`. So is what a
flood of clients can take (a device serves its cell and a few tools, not a thousand): `MAX_CONNECTIONS`
connections, `MAX_SUBSCRIPTIONS` subscriptions, publishing no faster than `MIN_PUBLISHING_INTERVAL_MS`,
and a connection that has not activated a session within `ACTIVATION_TIMEOUT_S` is closed.
"""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from asyncua import Server, ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.common.connection import TransportLimits
from asyncua.crypto.permission_rules import UserRole
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions

from cell_controller.core.config import SecurityConfig, is_loopback

from . import _ua
from .address_space import UNECE_NAMESPACE, DeviceSpec, EnumSpec, MethodSpec, VariableSpec
from .security import POLICIES, certificate_uri, validator
from .users import Account, AccountUsers, RolePermissions

_log = logging.getLogger(__name__)

CHUNK_SIZE = 65535
MAX_MESSAGE_SIZE = 4 * 1024 * 1024
MAX_CHUNK_COUNT = math.ceil(MAX_MESSAGE_SIZE / CHUNK_SIZE)
MAX_CONNECTIONS = 16
MAX_SUBSCRIPTIONS = 32
#: the bridges ask for half their device's period: 10 ms at the robot's 50 Hz
MIN_PUBLISHING_INTERVAL_MS = 10.0
ACTIVATION_TIMEOUT_S = 5.0

SetpointCallback = Callable[[str, Any], "Awaitable[None] | None"]
"""callback(path, value): a client wrote `value` (plain Python) to the writable variable `path`."""

MethodCallable = Callable[..., Any]
"""fn(*inputs) -> output (or a tuple of outputs); sync or async; plain Python values in and out."""


@dataclass(frozen=True)
class ServerSecurity:
    """A secured endpoint: SignAndEncrypt only, with the policies named (`core.config.SECURITY_POLICIES`).

    certificate / private_key: the server's application certificate and key (keep the key mode 0600,
    never committed); the server's application URI is the one its certificate names. trust: a folder
    of trusted client application certificates (CRLs in its `crl` subfolder); a client whose
    certificate is not there, revoked or not valid now is refused. None: any time-valid certificate.
    """

    certificate: Path
    private_key: Path
    policies: tuple[str, ...] = ("Basic256Sha256",)
    trust: Path | None = None

    @classmethod
    def from_config(cls, security: SecurityConfig) -> ServerSecurity:
        return cls(security.certificate, security.private_key, (security.policy,), security.trust)


def _limit_clients(server: Server) -> None:
    """Bound what any number of clients can take from the server (see the module docstring)."""
    iserver = server.iserver
    iserver.max_connections, iserver.max_subscriptions = MAX_CONNECTIONS, MAX_SUBSCRIPTIONS
    iserver.max_pending_activation_seconds = ACTIVATION_TIMEOUT_S
    service = iserver.subscription_service
    create = service.create_subscription

    async def create_at_most_this_fast(params: ua.CreateSubscriptionParameters, *args: Any, **kwargs: Any) -> Any:
        params.RequestedPublishingInterval = max(params.RequestedPublishingInterval, MIN_PUBLISHING_INTERVAL_MS)
        return await create(params, *args, **kwargs)

    service.create_subscription = create_at_most_this_fast  # type: ignore[method-assign]


def _is_loopback(endpoint: str) -> bool:
    return is_loopback(urlparse(endpoint).hostname or "")


class DeviceServer:
    """A running OPC UA server serving one device spec. Create with `await DeviceServer.start(...)`."""

    def __init__(self, spec: DeviceSpec, server: Server, ns: int, endpoint: str) -> None:
        self.spec = spec
        self.endpoint = endpoint
        self.namespace_index = ns
        self._server = server
        self._vars: dict[str, VariableSpec] = {v.path: v for v in spec.variables}
        self._nodeids: dict[str, ua.NodeId] = {path: ua.NodeId(path, ns) for path in self._vars}
        self._writable: dict[ua.NodeId, str] = {
            self._nodeids[v.path]: v.path for v in spec.variables if v.writable
        }
        self._methods: dict[str, MethodCallable] = {}
        self._setpoint_callbacks: list[SetpointCallback] = []

    @classmethod
    async def start(cls, spec: DeviceSpec, endpoint: str, name: str, *, security: ServerSecurity | None = None,
                    accounts: Mapping[str, Account] | None = None, allow_insecure: bool = False) -> DeviceServer:
        """Build the address space of `spec` and listen on `endpoint` (e.g. "opc.tcp://127.0.0.1:4841").

        `name` is the application name (also in the application URI). Without `security`
        the endpoint must be loopback unless `allow_insecure` (see the module docstring).
        """
        if security is None and not allow_insecure and not _is_loopback(endpoint):
            raise ValueError(f"{endpoint}: an unsecured DeviceServer may only listen on loopback")
        server = Server()
        await server.init()
        server.set_endpoint(endpoint)
        server.set_server_name(name)
        await server.set_application_uri(f"urn:cell-controller:{spec.kind}:{name}")
        server.limits = TransportLimits(CHUNK_SIZE, CHUNK_SIZE, MAX_CHUNK_COUNT, MAX_MESSAGE_SIZE)
        _limit_clients(server)
        permissions = RolePermissions(accounts) if accounts is not None else None
        if security is None:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity], permission_ruleset=permissions)
        else:
            await _secure(server, security, permissions)
        if accounts is None:
            server.set_identity_tokens([ua.AnonymousIdentityToken])
        else:
            server.set_identity_tokens([ua.UserNameIdentityToken])
            server.iserver.set_user_manager(AccountUsers(accounts))
        ns = await server.register_namespace(spec.namespace_uri)
        self = cls(spec, server, ns, endpoint)
        await self._build()
        server.iserver.allow_remote_admin = False  # no client may log in as asyncua's "admin"
        self._check_client_writes()
        server.subscribe_server_callback(CallbackType.PostWrite, self._post_write)
        await server.start()
        _log.info("%s server %s listening on %s", spec.kind, name, endpoint)
        return self

    async def stop(self) -> None:
        """Close all sessions and stop listening, at once: asyncua's own stop waits for its server-clock
        loop to wake from its 1 s sleep, which made every restart and shutdown up to 1 s longer."""
        iserver = self._server.iserver
        clock, iserver.time_task = iserver.time_task, None
        if clock is not None:
            clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await clock
        await self._server.stop()

    # --- process values ------------------------------------------------------------------------

    async def set_values(self, values: Mapping[str, Any], source_timestamp: datetime | None = None) -> None:
        """Publish several variables at once, one Write service call for the whole batch.

        values: path -> plain value in the variable's unit (see the spec); enums take the
        member index or name. source_timestamp: when the values were measured (UTC), default now.
        Raises KeyError for an unknown path, TypeError/ValueError for a value that does not fit.
        """
        params = ua.WriteParameters()
        for path, value in values.items():
            var = self._vars.get(path)
            if var is None:
                raise KeyError(f"{self.spec.kind}: no variable {path!r}")
            wv = ua.WriteValue()
            wv.NodeId = self._nodeids[path]
            wv.AttributeId = ua.AttributeIds.Value
            wv.Value = _ua.data_value(_ua.encode(path, var.data_type, value), source_timestamp)
            params.NodesToWrite.append(wv)
        results = await self._server.iserver.isession.write(params)
        bad = [f"{p}: {r.name}" for p, r in zip(values, results) if not r.is_good()]
        if bad:
            raise RuntimeError(f"{self.spec.kind}: write refused: {bad}")

    def get_value(self, path: str) -> Any:
        """The current value of the variable at `path` (plain Python; enums as their index)."""
        if path not in self._nodeids:
            raise KeyError(f"{self.spec.kind}: no variable {path!r}")
        return self._server.read_attribute_value(self._nodeids[path]).Value.Value

    # --- client interaction --------------------------------------------------------------------

    def on_setpoint_written(self, callback: SetpointCallback) -> None:
        """Call `callback(path, value)` after a client's successful write to a writable variable.

        Implemented with asyncua's server-side PostWrite callback: it runs on the server's
        loop inside the client's Write request (so keep it short; an async callback is
        awaited before the client gets its response). Writes by `set_values` do not trigger it.
        """
        self._setpoint_callbacks.append(callback)

    def bind_method(self, path: str, fn: MethodCallable) -> None:
        """Make the method at `path` call `fn(*inputs)` with plain values; `fn` returns the output(s).

        Sync callables run on the server loop (not asyncua's thread pool), so they may touch the
        twin's state without locks, and must not block. Argument count and types are checked
        first (BadArgumentsMissing, BadTooManyArguments, BadTypeMismatch); a method not yet bound
        answers BadNotImplemented; `fn` raising gives the caller BadUnexpectedError.
        """
        self.spec.method(path)
        self._methods[path] = fn

    # --- building ------------------------------------------------------------------------------

    async def _build(self) -> None:
        enum_ids = {e.name: await self._add_enum(e) for e in self.spec.enums}
        items = [self._object_item(path) for path in self.spec.object_paths]
        for var in self.spec.variables:
            items += self._variable_items(var, enum_ids)
        results = await self._server.iserver.isession.add_nodes(items)
        bad = [f"{i.BrowseName.Name}: {r.StatusCode.name}" for i, r in zip(items, results) if not r.StatusCode.is_good()]
        if bad:
            raise RuntimeError(f"{self.spec.kind}: building the address space failed: {bad}")
        for meth in self.spec.methods:
            await self._add_method(meth, enum_ids)

    def _data_type_id(self, data_type: str | EnumSpec, enum_ids: Mapping[str, ua.NodeId]) -> ua.NodeId:
        if isinstance(data_type, EnumSpec):
            return enum_ids[data_type.name]
        return _ua.scalar_data_type_id(data_type)

    async def _add_enum(self, enum: EnumSpec) -> ua.NodeId:
        ns = self.namespace_index
        node_id = _ua.enum_data_type_id(enum, ns)
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = node_id
        item.BrowseName = ua.QualifiedName(enum.name, ns)
        item.NodeClass = ua.NodeClass.DataType
        item.ParentNodeId = ua.NodeId(ua.ObjectIds.Enumeration)
        item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasSubtype)
        attrs = ua.DataTypeAttributes()
        attrs.DisplayName = ua.LocalizedText(enum.name)
        item.NodeAttributes = attrs
        strings = [ua.LocalizedText(v) for v in enum.values]
        prop = self._property_item(node_id, f"DataType/{enum.name}/EnumStrings", "EnumStrings",
                                   ua.Variant(strings, ua.VariantType.LocalizedText), ua.ObjectIds.LocalizedText)
        prop.NodeAttributes.ValueRank = ua.ValueRank.OneDimension
        prop.NodeAttributes.ArrayDimensions = [len(strings)]
        for result in await self._server.iserver.isession.add_nodes([item, prop]):
            result.StatusCode.check()
        definition = ua.EnumDefinition()
        definition.Fields = [ua.EnumField(Value=i, DisplayName=ua.LocalizedText(v), Name=v)
                             for i, v in enumerate(enum.values)]
        await self._server.get_node(node_id).write_data_type_definition(definition)
        return node_id

    def _parent_id(self, path: str) -> tuple[ua.NodeId, ua.NodeId]:
        """(parent NodeId, reference type) of the node at `path`."""
        if "/" not in path:
            return ua.NodeId(ua.ObjectIds.ObjectsFolder), ua.NodeId(ua.ObjectIds.Organizes)
        return ua.NodeId(path.rsplit("/", 1)[0], self.namespace_index), ua.NodeId(ua.ObjectIds.HasComponent)

    def _object_item(self, path: str) -> ua.AddNodesItem:
        name = path.rsplit("/", 1)[-1]
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = ua.NodeId(path, self.namespace_index)
        item.BrowseName = ua.QualifiedName(name, self.namespace_index)
        item.NodeClass = ua.NodeClass.Object
        item.ParentNodeId, item.ReferenceTypeId = self._parent_id(path)
        item.TypeDefinition = ua.NodeId(ua.ObjectIds.BaseObjectType)
        attrs = ua.ObjectAttributes()
        attrs.DisplayName = ua.LocalizedText(name)
        attrs.EventNotifier = 0
        item.NodeAttributes = attrs
        return item

    def _property_item(self, parent: ua.NodeId, node_path: str, name: str, value: ua.Variant,
                       data_type: int) -> ua.AddNodesItem:
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = ua.NodeId(node_path, self.namespace_index)
        item.BrowseName = ua.QualifiedName(name, 0)
        item.NodeClass = ua.NodeClass.Variable
        item.ParentNodeId = parent
        item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasProperty)
        item.TypeDefinition = ua.NodeId(ua.ObjectIds.PropertyType)
        attrs = ua.VariableAttributes()
        attrs.DisplayName = ua.LocalizedText(name)
        attrs.DataType = ua.NodeId(data_type)
        attrs.Value = value
        attrs.ValueRank = ua.ValueRank.Scalar
        attrs.AccessLevel = attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
        item.NodeAttributes = attrs
        return item

    def _variable_items(self, var: VariableSpec, enum_ids: Mapping[str, ua.NodeId]) -> list[ua.AddNodesItem]:
        name = var.path.rsplit("/", 1)[-1]
        node_id = self._nodeids[var.path]
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = node_id
        item.BrowseName = ua.QualifiedName(name, self.namespace_index)
        item.NodeClass = ua.NodeClass.Variable
        item.ParentNodeId, item.ReferenceTypeId = self._parent_id(var.path)
        item.TypeDefinition = ua.NodeId(
            ua.ObjectIds.AnalogItemType if var.is_analog else ua.ObjectIds.BaseDataVariableType)
        attrs = ua.VariableAttributes()
        attrs.DisplayName = ua.LocalizedText(name)
        attrs.Description = ua.LocalizedText(var.description or name)
        attrs.DataType = self._data_type_id(var.data_type, enum_ids)
        attrs.Value = _ua.encode(var.path, var.data_type, var.default)
        attrs.ValueRank = ua.ValueRank.Scalar
        access = ua.AccessLevel.CurrentRead.mask
        if var.writable:
            access |= ua.AccessLevel.CurrentWrite.mask
        attrs.AccessLevel = attrs.UserAccessLevel = access
        item.NodeAttributes = attrs
        items = [item]
        if var.unit is not None and var.range is not None:
            eu = ua.EUInformation(NamespaceUri=UNECE_NAMESPACE, UnitId=var.unit.unit_id,
                                  DisplayName=ua.LocalizedText(var.unit.display),
                                  Description=ua.LocalizedText(var.unit.description))
            items.append(self._property_item(node_id, f"{var.path}/EURange", "EURange",
                                             ua.Variant(ua.Range(var.range.low, var.range.high)), ua.ObjectIds.Range))
            items.append(self._property_item(node_id, f"{var.path}/EngineeringUnits", "EngineeringUnits",
                                             ua.Variant(eu), ua.ObjectIds.EUInformation))
        return items

    async def _add_method(self, meth: MethodSpec, enum_ids: Mapping[str, ua.NodeId]) -> None:
        parent_path, name = meth.path.rsplit("/", 1)
        parent = self._server.get_node(ua.NodeId(parent_path, self.namespace_index))

        def arguments(specs: tuple) -> list[ua.Argument]:
            return [ua.Argument(Name=a.name, DataType=self._data_type_id(a.data_type, enum_ids),
                                ValueRank=ua.ValueRank.Scalar, Description=ua.LocalizedText(a.description))
                    for a in specs]

        async def dispatch(_parent: ua.NodeId, *inputs: ua.Variant) -> Any:
            return await self._call(meth, inputs)

        await parent.add_method(ua.NodeId(meth.path, self.namespace_index),
                                ua.QualifiedName(name, self.namespace_index), dispatch,
                                arguments(meth.inputs), arguments(meth.outputs))

    async def _call(self, meth: MethodSpec, inputs: tuple[ua.Variant, ...]) -> Any:
        if len(inputs) < len(meth.inputs):
            return ua.StatusCode(ua.StatusCodes.BadArgumentsMissing)
        if len(inputs) > len(meth.inputs):
            return ua.StatusCode(ua.StatusCodes.BadTooManyArguments)
        if any(v.VariantType != _ua.variant_type(a.data_type) for v, a in zip(inputs, meth.inputs)):
            return ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
        fn = self._methods.get(meth.path)
        if fn is None:
            return ua.StatusCode(ua.StatusCodes.BadNotImplemented)
        result = fn(*(v.Value for v in inputs))
        if inspect.isawaitable(result):
            result = await result
        outputs = result if isinstance(result, tuple) else (() if result is None else (result,))
        if len(outputs) != len(meth.outputs):
            raise ValueError(f"{meth.path}: callable returned {len(outputs)} outputs, spec has {len(meth.outputs)}")
        return [_ua.encode(f"{meth.path}:{a.name}", a.data_type, v) for a, v in zip(meth.outputs, outputs)]

    def _check_client_writes(self) -> None:
        """Refuse a client's write that no real device would take, before it reaches the address space:
        BadTypeMismatch for a value of another type, BadOutOfRange for NaN, +-Inf or a value outside the
        variable's EURange. The server's own writes (`set_values`, its internal Admin session) pass."""
        service = self._server.iserver.attribute_service
        write = service.write

        async def checked(params: ua.WriteParameters, user: Any = None) -> list[ua.StatusCode]:
            if user is None or user.role is UserRole.Admin:
                return await write(params, user) if user is not None else await write(params)
            results: list[ua.StatusCode | None] = []
            accepted = []
            for wv in params.NodesToWrite:
                refusal = self._refusal(wv)
                results.append(refusal)
                if refusal is None:
                    accepted.append(wv)
            written = iter(await write(ua.WriteParameters(NodesToWrite=accepted), user) if accepted else [])
            return [r if r is not None else next(written) for r in results]
        service.write = checked

    def _refusal(self, wv: ua.WriteValue) -> ua.StatusCode | None:
        """Why a client's write of `wv` is refused (None: let the address space decide)."""
        path = self._writable.get(wv.NodeId)
        if path is None or wv.AttributeId != ua.AttributeIds.Value:
            return None
        var = self._vars[path]
        variant = wv.Value.Value if wv.Value is not None else None
        if variant is None or variant.VariantType != _ua.variant_type(var.data_type):
            return ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
        value = variant.Value
        if var.data_type == "Double" and (not math.isfinite(value) or (var.range and not var.range.contains(value))):
            return ua.StatusCode(ua.StatusCodes.BadOutOfRange)
        if isinstance(var.data_type, EnumSpec) and not 0 <= value < len(var.data_type.values):
            return ua.StatusCode(ua.StatusCodes.BadOutOfRange)
        return None

    async def _post_write(self, event: ServerItemCallback, _dispatcher: Any) -> None:
        if not event.is_external:
            return
        for wv, status in zip(event.request_params.NodesToWrite, event.response_params):
            path = self._writable.get(wv.NodeId)
            if path is None or wv.AttributeId != ua.AttributeIds.Value or not status.is_good():
                continue
            for callback in self._setpoint_callbacks:
                result = callback(path, wv.Value.Value.Value)
                if inspect.isawaitable(result):
                    await result


async def _secure(server: Server, security: ServerSecurity, permissions: RolePermissions | None) -> None:
    """SignAndEncrypt with the policies named, the server's certificate, the clients' trust list."""
    await server.load_certificate(str(security.certificate))
    await server.load_private_key(str(security.private_key))
    uri = certificate_uri(security.certificate)
    if uri is not None:
        await server.set_application_uri(uri)
    server.set_security_policy([POLICIES[p][1] for p in security.policies], permission_ruleset=permissions)
    if security.trust is not None:
        server.set_certificate_validator((await validator(security.trust, peer_is_server=False)).validate)
    else:
        options = CertificateValidatorOptions.BASIC_VALIDATION | CertificateValidatorOptions.PEER_CLIENT
        server.set_certificate_validator(CertificateValidator(options).validate)
