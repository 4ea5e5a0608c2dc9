"""A mutation fuzzer for OPC UA binary (None policy) against a running server, and a session flood.

`RawChannel` speaks the protocol by hand with asyncua's own encoders: Hello, OpenSecureChannel, then
any request framed for its channel. `fuzz(host, port, url, messages, seed)` sends `messages` mutated
messages: each case opens a channel and mutates one message of a conversation (Hello, Open, or a
service request: CreateSession, ActivateSession, Read, Write, Call, Browse, CreateSubscription,
TranslateBrowsePaths) either in its body (framing intact: the decoders and services see garbage) or
in its frame (sizes, types, channel ids). It never waits on a reply: a server may close, answer a
fault or stay silent; what is checked, by the caller, is that it keeps serving everyone else.
"""
from __future__ import annotations

import asyncio
import random
import struct
from dataclasses import dataclass, field

from asyncua import ua
from asyncua.common.connection import SecureConnection, TransportLimits
from asyncua.common.utils import Buffer
from asyncua.crypto.security_policies import SecurityPolicyNone
from asyncua.ua.ua_binary import header_from_binary, struct_from_binary, struct_to_binary, uatcp_to_binary

#: byte values that break parsers more often than random ones do
#: how long a case waits for the server to answer or close its channel, s
REPLY_WAIT_S = 0.3
_INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)
_INTERESTING_U32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 65535, 65536, 2**24)


def _requests(url: str, rng: random.Random) -> list[object]:
    """One of each request the cell's clients send, with plausible and odd values."""
    node = ua.NodeId(rng.choice(["Feeder/Conveyor/SpeedSetpoint", "JoiningSystem/ProcessParameters/VoltageSetpoint",
                                 "x" * rng.randrange(1, 300)]), rng.randrange(0, 4))
    read = ua.ReadRequest()
    read.Parameters.NodesToRead = [ua.ReadValueId(NodeId=node, AttributeId=ua.AttributeIds.Value)]
    write = ua.WriteRequest()
    value = ua.WriteValue(NodeId=node, AttributeId=ua.AttributeIds.Value)
    value.Value = ua.DataValue(ua.Variant(rng.choice([1e308, float("nan"), -1, "s" * 100, True])))
    write.Parameters.NodesToWrite = [value]
    call = ua.CallRequest()
    call.Parameters.MethodsToCall = [ua.CallMethodRequest(ObjectId=node, MethodId=node,
                                                          InputArguments=[ua.Variant("P" * rng.randrange(0, 5000))])]
    browse = ua.BrowseRequest()
    browse.Parameters.NodesToBrowse = [ua.BrowseDescription(NodeId=ua.NodeId(ua.ObjectIds.ObjectsFolder))]
    browse.Parameters.RequestedMaxReferencesPerNode = rng.choice([0, 1, 2**31 - 1])
    session = ua.CreateSessionRequest()
    session.Parameters.EndpointUrl = url
    session.Parameters.SessionName = "fuzz"
    session.Parameters.RequestedSessionTimeout = rng.choice([0.0, 1e12, 5000.0])
    activate = ua.ActivateSessionRequest()
    activate.Parameters.UserIdentityToken = ua.AnonymousIdentityToken()
    subscription = ua.CreateSubscriptionRequest()
    subscription.Parameters.RequestedPublishingInterval = rng.choice([0.0, 1e-9, 1e12, -1.0])
    subscription.Parameters.RequestedLifetimeCount = 2**32 - 1
    translate = ua.TranslateBrowsePathsToNodeIdsRequest()
    translate.Parameters.BrowsePaths = [ua.BrowsePath(StartingNode=ua.NodeId(ua.ObjectIds.ObjectsFolder),
                                                      RelativePath=ua.RelativePath(Elements=[
                                                          ua.RelativePathElement(TargetName=ua.QualifiedName("A", 9))
                                                          for _ in range(rng.randrange(1, 50))]))]
    return [session, activate, read, write, call, browse, subscription, translate]


def _mutate(data: bytes, rng: random.Random, frame: bool) -> bytes:
    """`data` changed a few times: flips, interesting bytes, truncation, growth, a size field rewritten."""
    b = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        kind = rng.randrange(7)
        if kind == 0 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif kind == 1 and b:
            b[rng.randrange(len(b))] = rng.choice(_INTERESTING)
        elif kind == 2 and len(b) > 4:
            i = rng.randrange(len(b) - 3)
            b[i:i + 4] = struct.pack("<I", rng.choice(_INTERESTING_U32))
        elif kind == 3 and b:
            del b[rng.randrange(len(b)):]
        elif kind == 4:
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.randbytes(rng.choice([1, 4, 16, 300]))
        elif kind == 5 and frame and len(b) >= 8:
            b[4:8] = struct.pack("<I", rng.choice(_INTERESTING_U32 + (len(b) + 1, len(b) - 1)))
        elif kind == 6 and frame and len(b) >= 4:
            b[0:4] = rng.choice([b"MSGF", b"OPNF", b"CLOF", b"HELF", b"ACKF", b"ERRF", b"MSGC", b"MSGA", b"XXXX"])
    return bytes(b)


@dataclass
class FuzzStats:
    """What `fuzz` sent and how the server took it."""

    messages: int = 0
    cases: int = 0
    refused_connections: int = 0
    closed_by_server: int = 0
    #: channels left waiting (a size field promised more bytes, a chunk was not final): neither answered nor
    #: closed within `REPLY_WAIT_S`; the server closes such a channel itself once its activation time runs out
    waiting: int = 0
    by_target: dict[str, int] = field(default_factory=dict)


class RawChannel:
    """One TCP connection speaking OPC UA binary by hand (None policy)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str):
        self.reader, self.writer, self.url = reader, writer, url
        self.connection = SecureConnection(SecurityPolicyNone(), TransportLimits(65535, 65535, 64, 4 * 2**20))
        self.request_id = 0

    @classmethod
    async def connect(cls, host: str, port: int, url: str) -> RawChannel:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, url)

    def hello(self) -> bytes:
        hello = ua.Hello()
        hello.EndpointUrl = self.url
        return uatcp_to_binary(ua.MessageType.Hello, hello)

    def open_request(self) -> tuple[bytes, ua.OpenSecureChannelParameters]:
        params = ua.OpenSecureChannelParameters(ClientProtocolVersion=0, RequestType=ua.SecurityTokenRequestType.Issue,
                                                SecurityMode=ua.MessageSecurityMode.None_, RequestedLifetime=60000,
                                                ClientNonce=b"")
        request = ua.OpenSecureChannelRequest()
        request.Parameters = params
        return self.frame(struct_to_binary(request), ua.MessageType.SecureOpen), params

    def frame(self, body: bytes, message_type=ua.MessageType.SecureMessage) -> bytes:
        self.request_id += 1
        return self.connection.message_to_binary(body, message_type=message_type, request_id=self.request_id)

    async def _read_message(self, timeout_s: float) -> tuple[ua.Header, Buffer]:
        """The next message: its header and a buffer positioned after it."""
        head = await asyncio.wait_for(self.reader.readexactly(8), timeout_s)
        rest = await asyncio.wait_for(self.reader.readexactly(struct.unpack("<I", head[4:8])[0] - 8), timeout_s)
        data = Buffer(head + rest)
        return header_from_binary(data), data

    async def handshake(self, timeout_s: float = 5.0) -> None:
        """Hello/Acknowledge and OpenSecureChannel: the channel's id and token are then this one's."""
        self.writer.write(self.hello())
        await self._read_message(timeout_s)
        data, params = self.open_request()
        self.writer.write(data)
        header, body = await self._read_message(timeout_s)
        message = self.connection.receive_from_header_and_body(header, body)
        response = struct_from_binary(ua.OpenSecureChannelResponse, message.body())
        self.connection.set_channel(response.Parameters, params.RequestType, params.ClientNonce)

    def close(self) -> None:
        self.writer.transport.abort()


class _Replies:
    """Reads what the server sends on a channel: the request ids of its MSG replies, and whether it closed."""

    def __init__(self, reader: asyncio.StreamReader):
        self.request_ids: set[int] = set()
        self.closed = asyncio.Event()
        self._task = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        data = b""
        try:
            while chunk := await reader.read(65536):
                data += chunk
                while len(data) >= 8 and len(data) >= (size := struct.unpack("<I", data[4:8])[0]) >= 8:
                    if data[:3] == b"MSG" and size >= 24:
                        self.request_ids.add(struct.unpack("<I", data[20:24])[0])
                    data = data[size:]
                if len(data) >= 8 and struct.unpack("<I", data[4:8])[0] < 8:
                    break  # not a frame: stop parsing, the server closes anyway
        except (OSError, asyncio.IncompleteReadError):
            pass
        self.closed.set()

    async def answered(self, request_id: int, timeout_s: float) -> bool:
        """True once the reply to `request_id` came, False when the server closed or `timeout_s` passed."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while request_id not in self.request_ids and not self.closed.is_set():
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.002)
        return request_id in self.request_ids

    def cancel(self) -> None:
        self._task.cancel()


async def _case(host: str, port: int, url: str, rng: random.Random, per_channel: int, stats: FuzzStats) -> None:
    """One connection: a valid start up to the message to mutate, then `per_channel` mutated messages,
    then (on a channel still open) a valid Read whose reply shows the server processed them all."""
    try:
        channel = await asyncio.wait_for(RawChannel.connect(host, port, url), 5.0)
    except (OSError, asyncio.TimeoutError):
        stats.refused_connections += 1
        return
    stats.cases += 1
    target = rng.choice(["hello", "open", "request", "request", "request"])
    stats.by_target[target] = stats.by_target.get(target, 0) + per_channel
    replies = None
    try:
        if target == "hello":
            messages = [_mutate(channel.hello(), rng, frame=True) for _ in range(per_channel)]
        elif target == "open":
            channel.writer.write(channel.hello())
            messages = [_mutate(channel.open_request()[0], rng, frame=rng.random() < 0.5) for _ in range(per_channel)]
        else:
            await channel.handshake()
            messages = []
            for _ in range(per_channel):
                body = struct_to_binary(rng.choice(_requests(url, rng)))
                if rng.random() < 0.75:
                    messages.append(channel.frame(_mutate(body, rng, frame=False)))
                else:
                    messages.append(_mutate(channel.frame(body), rng, frame=True))
        replies = _Replies(channel.reader)
        for message in messages:
            if replies.closed.is_set():
                break
            channel.writer.write(message)
            stats.messages += 1
            await asyncio.sleep(0)
        if target == "request" and not replies.closed.is_set():
            channel.writer.write(channel.frame(struct_to_binary(_requests(url, rng)[2])))
            if not await replies.answered(channel.request_id, REPLY_WAIT_S) and not replies.closed.is_set():
                stats.waiting += 1
        else:
            await asyncio.wait_for(replies.closed.wait(), REPLY_WAIT_S)
        if replies.closed.is_set():
            stats.closed_by_server += 1
    except asyncio.TimeoutError:
        stats.waiting += 1
    except (OSError, asyncio.IncompleteReadError, ua.UaError):
        stats.closed_by_server += 1
    finally:
        channel.close()
        if replies is not None:
            replies.cancel()


async def fuzz(host: str, port: int, url: str, messages: int, seed: int, concurrency: int = 12,
               per_channel: int = 10) -> FuzzStats:
    """Send at least `messages` mutated messages to the server at host:port (`url` its endpoint)."""
    rng = random.Random(seed)
    stats = FuzzStats()

    async def worker(worker_rng: random.Random) -> None:
        while stats.messages < messages:
            await _case(host, port, url, worker_rng, per_channel, stats)

    await asyncio.gather(*(worker(random.Random(rng.random())) for _ in range(concurrency)))
    return stats
