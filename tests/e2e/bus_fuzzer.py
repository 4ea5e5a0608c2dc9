"""A rogue participant on the cell's bus, for tests/e2e/test_bus_fuzz.py:

    bus_fuzzer.py NAMESPACE SECONDS SEED REPORT [--mode typed|oversized|wire|heartbeat] [--rate MSGS_PER_S]
                  [--oversized-every S] [--until STATE[,STATE...]]

A node of its own (a new DDS participant on ROS_DOMAIN_ID, CELL_BUS=dds) that publishes for SECONDS on
the topics the cell's nodes subscribe to from outside them. It never publishes a legitimate command: no
command text the supervisor would take, no device verb a bridge knows, no blank release (infeed
release_blank > 0.5).

The modes typed, oversized and wire publish on weld/setpoints, feeder/infeed, command and each
<role>/command, and never on `heartbeat` (they do not even create a writer of it: a second heartbeat
writer alive stops the bridges feeding the devices' watchdogs, by design, and the cell holds):
--mode typed (default), RATE messages/s: garbage (NaN, +-inf, +-1e300, wrong array lengths, random
unicode, control characters, look-alike verbs, empty fields, random layouts and levels) and out of range
(1000 V, negative speeds, finite values past every limit).
--mode oversized, one message per topic every OVERSIZED_EVERY_S: arrays of 1e6 doubles, layout labels,
command texts, verbs, goal ids and arguments of some MB, 20000 key-values.
--mode wire, RATE samples/s: well-formed CDR that no typed publisher sends: strings that are not UTF-8,
in every string field those topics carry (the command text, a device command's verb, name, hardware id,
keys and values, an array's layout label); and CDR that is not well-formed, which the DDS writer is
expected to refuse (counted as `<kind>_refused_by_writer` in the errors).

--mode heartbeat, RATE samples/s, on `heartbeat` only: a rogue second heartbeat writer. Typed heartbeats
(garbage and extreme values) and raw samples (cut short, a foreign encapsulation, trailing bytes), every
value in them >= ROGUE_HEARTBEAT (in either byte order), so that a device's watchdog that shows one was
fed by the fuzzer, not by the supervisor.

--until STATE,...: stop publishing early, as soon as the supervisor's `state` is one of those (SECONDS
is then the longest it publishes).

Meanwhile it listens to `state` and every `<role>/status`; at the end it writes REPORT (JSON): what
it published per topic and kind, how many readers each topic had, when (time.monotonic(), the same
clock in every process) its first sample went out and it stopped, the supervisor's answers to its
commands and every state it published meanwhile (with its stop reason), the bridges' answers to its
goals (ids 'fz...') and the bridges' last status values.
"""
from __future__ import annotations

import json
import math
import random
import struct
import sys
import threading
import time
from collections import Counter
from typing import Any, Callable

from cyclonedds._clayer import ddspy_write

from cell_controller.bridges import MAPPINGS
from cell_controller.bus import create_node
from cell_controller.core.goals import answers
from cell_controller.core.operator import DEVICE_VERB, MODE_VERB, VERBS, CommandError, parse
from cell_controller.core.packml import IllegalCommand, UnitMode
from cell_controller.nodes import topics

SPECIAL = (math.nan, math.inf, -math.inf, 1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308,
           5e-324, -0.0, 0.0, 1e-300, 2.0 ** 63, -(2.0 ** 63))
NON_FINITE = (math.nan, math.inf, -math.inf)
#: out-of-range values per bus field (finite: they pass the array check and must be clamped)
OUT_OF_RANGE = {
    "voltage_V": (1000.0, -1000.0, 1e300, -1e300, 0.0, 16.99, 30.01, 36.5),
    "wire_feed_m_min": (-50.0, 1e6, 0.0, 100.0, 2.99, 14.01),
    "travel_speed_mm_s": (-100.0, -1e-9, 0.0, 1e9, 12.0001, 2.999),
    "torch_offset_mm": (1e6, -1e6, 3.0001, -3.0001, -50.0, 5.0),
    "sensed_stamp_s": (-1e300, 0.0, 1e300, -5.0, 1e18),
    "conveyor_speed_mm_s": (-500.0, -1e300, 1e9, 400.001, -1e-9, 1e300),
    "release_blank": (-1e300, -1.0, 0.0, 0.5, -math.ldexp(1, 1000)),
}
MODES = ("typed", "oversized", "wire", "heartbeat")
#: messages per second, all topics together (typed and wire); in oversized mode one per topic this often, s
RATE = 120.0
OVERSIZED_EVERY_S = 0.5
BIG_ARRAY = 1_000_000
BIG_TEXT = 3_000_000
#: bytes that are not UTF-8 (a lone continuation byte, an overlong form, a surrogate, 0xff ...)
NOT_UTF8 = (b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xe2\x82\x28", b"\xf0\x28\x8c\xbc",
            b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xf4\x90\x80\x80")
PLACEHOLDER = "\x01Q\x02Z\x03"  # marks a string field to overwrite in the serialized sample
#: every heartbeat the fuzzer sends is at least this: a device's watchdog that shows one was fed by it
ROGUE_HEARTBEAT = 2**31


# -- random text ---------------------------------------------------------------------------------

_ALPHABETS = (
    "abcdefghijklmnopqrstuvwxyz",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 =-_/.:;,!?'\"\\{}[]()<>|&*%$#@~`^+",
    "".join(chr(c) for c in range(1, 32)) + "\x7f",                      # control characters
    "äöüßéèçñøåæœ€£¥©®™°±µ¶§¿¡",
    "абвгдежзийклмнопрстуфхцчшщъыьэюяАВЕКМНОРСТХ",                       # Cyrillic (a look-alike 'а')
    "αβγδεζηθικλμνξοπρστυφχψω",
    "漢字かなカナ한국어中文日本語",
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff",  # invisible, bidi
    "\u0300\u0301\u0302\u0308\u0327\u20dd",                              # combining marks
    "\ufff9\ufffa\ufffb\ufffc\ufffd\ufffe\uffff\U0010ffff\U000e0001",    # specials, non-characters
    "😀💥🔥🤖⚡🧨👾🦾" "\U0001f1e9\U0001f1ea",
)


def _text(rng: random.Random, n: int | None = None) -> str:
    n = rng.choice((0, 1, 2, 5, 16, 64, 65, 255, 256, 257, 1000)) if n is None else n
    alphabets = rng.sample(_ALPHABETS, rng.randint(1, 3))
    return "".join(rng.choice(rng.choice(alphabets)) for _ in range(n))


def _mutate(rng: random.Random, word: str) -> str:
    """`word` one edit away: a character inserted, dropped, replaced, doubled, or a look-alike."""
    i = rng.randrange(len(word) + 1)
    edit = rng.randrange(6)
    if edit == 0:
        return word[:i] + rng.choice(_text(rng, 1) or "x") + word[i:]
    if edit == 1 and word:
        return word[:max(i - 1, 0)] + word[i:]
    if edit == 2 and word:
        return word[:max(i - 1, 0)] + rng.choice("\x00\t\u200b\u00a0аеорсх") + word[i:]
    if edit == 3:
        return word + rng.choice(("\x00", "\n", ";", " ;rm -rf /", "\u202e", "%s%n", "'--", "\x1b[2J", "!"))
    if edit == 4:
        return word.replace("a", "а").replace("o", "о").replace("e", "е")  # Cyrillic look-alikes
    return word + word


def _legitimate_command(text: str) -> bool:
    """Would the supervisor take `text` as an operator command? (The fuzzer never sends one.)"""
    try:
        command = parse(text)
    except CommandError:
        return False
    if command.verb == MODE_VERB:
        try:
            UnitMode.parse(command.args[0])
        except IllegalCommand:
            return False
        return True
    if command.verb == DEVICE_VERB:
        role, verb = command.args[0], command.args[1]
        return role in MAPPINGS and verb in MAPPINGS[role].commands
    return True


# -- messages ------------------------------------------------------------------------------------

class Messages:
    """The fuzzer's message generators: each returns (kind, message) for one topic."""

    def __init__(self, node: Any, rng: random.Random):
        self.rng = rng
        m = node.message
        self.Array, self.Layout, self.Dim = (m("std_msgs/msg/Float64MultiArray"), m("std_msgs/msg/MultiArrayLayout"),
                                             m("std_msgs/msg/MultiArrayDimension"))
        self.String, self.UInt32 = m("std_msgs/msg/String"), m("std_msgs/msg/UInt32")
        self.Status, self.KeyValue = m("diagnostic_msgs/msg/DiagnosticStatus"), m("diagnostic_msgs/msg/KeyValue")
        self.goals = 0

    # Float64MultiArray: weld/setpoints, feeder/infeed
    def _layout(self, topic: topics.Topic, label: str | None = None) -> Any:
        rng = self.rng
        if label is None and rng.random() < 0.5:
            return self.Layout(dim=[self.Dim(label=",".join(topic.fields), size=len(topic.fields),
                                             stride=len(topic.fields))], data_offset=0)
        dims = [self.Dim(label=_text(rng) if label is None else label, size=rng.choice((0, 1, 2**32 - 1, rng.getrandbits(32))),
                         stride=rng.getrandbits(32)) for _ in range(rng.choice((0, 1, 1, 3)))]
        return self.Layout(dim=dims, data_offset=rng.choice((0, 2**32 - 1, rng.getrandbits(32))))

    def _finite(self) -> float:
        rng = self.rng
        return rng.choice((rng.uniform(-1e3, 1e3), rng.gauss(0, 1e6), rng.choice(SPECIAL[3:])))

    def array(self, topic: topics.Topic, kind: str) -> Any:
        rng, n = self.rng, len(topic.fields)
        label = None
        if kind == "wrong_length":
            data = [self._finite() for _ in range(rng.choice((0, 1, n - 1, n + 1, 2 * n, 100)))]
        elif kind == "non_finite":
            data = [self._finite() for _ in range(n)]
            for i in rng.sample(range(n), rng.randint(1, n)):
                data[i] = rng.choice(NON_FINITE)
        elif kind == "out_of_range":
            data = [rng.choice(OUT_OF_RANGE[f]) for f in topic.fields]
        elif kind == "garbage":
            data = [rng.choice(SPECIAL) if rng.random() < 0.5 else self._finite()
                    for _ in range(rng.choice((n, n, rng.randrange(20))))]
        elif kind == "oversized_array":
            data = [rng.choice((0.0, 1e300, math.nan))] * BIG_ARRAY
        elif kind == "oversized_label":  # the right fields, out of range, under a label of some MB
            data, label = [rng.choice(OUT_OF_RANGE[f]) for f in topic.fields], "L" * BIG_TEXT
        else:
            raise ValueError(kind)
        if topic is topics.INFEED and len(data) == n and all(map(math.isfinite, data)) and data[1] > 0.5:
            data[1] = -data[1]  # never a blank release: that is a legitimate request on this topic
        return self.Array(layout=self._layout(topic, label), data=data)

    # String: command
    def command(self, kind: str) -> Any:
        rng = self.rng
        for _ in range(100):
            if kind == "garbage":
                text = _text(rng)
            elif kind == "near_verb":
                text = _mutate(rng, rng.choice(VERBS))
            elif kind == "bad_arguments":
                verb = rng.choice(VERBS)
                text = rng.choice((f"{verb} {_text(rng, 8)}", f"{MODE_VERB} {_text(rng, 6)}", f"{MODE_VERB} 0",
                                   f"{MODE_VERB} 4", f"{MODE_VERB} -1", f"{DEVICE_VERB} {_text(rng, 5)} {_text(rng, 5)}",
                                   f"{DEVICE_VERB} robot", f"{verb} id=", f"{verb} user={'u' * 65}",
                                   f"{verb} {_text(rng, 3)}={_text(rng, 3)}", f"{verb} id={'i' * 65}",
                                   f"{verb} id=a id=b extra", f"{verb} " + "x " * 200))
            elif kind == "empty":
                text = rng.choice(("", " ", "\t", "\n", "\x00", "   \t\n  ", "id=1", "user=x"))
            elif kind == "oversized":
                text = rng.choice(("abort", "stop", "hold", _text(rng, 4))) + " " + "A" * BIG_TEXT
            else:
                raise ValueError(kind)
            if not _legitimate_command(text):
                return self.String(data=text)
        raise AssertionError(f"no garbage {kind} command found")

    # UInt32: heartbeat, always >= ROGUE_HEARTBEAT (the supervisor's counter never gets there in a test)
    def heartbeat(self, kind: str) -> Any:
        rng = self.rng
        value = rng.randrange(ROGUE_HEARTBEAT, 2**32) if kind == "garbage" else rng.choice((ROGUE_HEARTBEAT, 2**32 - 1))
        return self.UInt32(data=value)

    def palindromic_heartbeat(self) -> int:
        """A heartbeat >= ROGUE_HEARTBEAT whose bytes read the same in either order (a sample under a
        foreign encapsulation decodes to a rogue value too)."""
        high, low = self.rng.randrange(0x80, 0x100), self.rng.randrange(0x100)
        return int.from_bytes(bytes((high, low, low, high)), "little")

    # DiagnosticStatus: <role>/command
    def _goal_id(self) -> str:
        self.goals += 1
        return f"fz{self.goals}-{self.rng.getrandbits(32):08x}"

    def _verb(self, role: str) -> str:
        rng = self.rng
        known = tuple(MAPPINGS[role].commands) or ("start_cycle",)
        for _ in range(100):
            verb = rng.choice((_text(rng), _mutate(rng, rng.choice(known)), "", rng.choice(known).upper(),
                               " " + rng.choice(known), rng.choice(known) + "\x00"))
            if verb not in MAPPINGS[role].commands:
                return verb
        raise AssertionError("no garbage verb found")

    def device_command(self, role: str, kind: str) -> Any:
        rng = self.rng
        level = rng.choice((0, 1, 2, 3, 4, 127, 255))
        name, hardware_id = rng.choice(("", role, _text(rng))), rng.choice(("", _text(rng)))
        values = [self.KeyValue(key="id", value=self._goal_id())]
        values += [self.KeyValue(key=f"arg{i}", value=_text(rng)) for i in range(rng.choice((0, 1, 3)))]
        verb = self._verb(role)
        if kind == "garbage":
            values += [self.KeyValue(key=_text(rng), value=_text(rng)) for _ in range(rng.choice((0, 1, 5)))]
            rng.shuffle(values)
        elif kind == "bad_id":
            values[0] = self.KeyValue(key="id", value=rng.choice(("", " ", _text(rng, 1000), "\x00")))
            if rng.random() < 0.3:
                values = [v for v in values if v.key != "id"]
            elif rng.random() < 0.3:
                values.append(self.KeyValue(key="id", value=self._goal_id()))  # the id twice
        elif kind == "empty":
            return self.Status(level=0, name="", message="", hardware_id="", values=[])
        elif kind == "oversized":
            what = rng.randrange(4)
            if what == 0:
                verb = "V" * BIG_TEXT
            elif what == 1:
                values[0] = self.KeyValue(key="id", value=f"fz-big-{self.goals}-" + "I" * BIG_TEXT)
            elif what == 2:
                values += [self.KeyValue(key=f"arg{i}", value=str(i)) for i in range(20_000)]
            else:
                values.append(self.KeyValue(key="arg0", value="A" * BIG_TEXT))
        else:
            raise ValueError(kind)
        return self.Status(level=level, name=name, message=verb, hardware_id=hardware_id, values=values)


#: kinds per topic kind, each with its weight (typed mode); the oversized ones (oversized mode)
ARRAY_KINDS = {"garbage": 3, "wrong_length": 2, "non_finite": 2, "out_of_range": 3}
ARRAY_OVERSIZED = ("oversized_array", "oversized_label")
COMMAND_KINDS = {"garbage": 4, "near_verb": 3, "bad_arguments": 3, "empty": 1}
DEVICE_KINDS = {"garbage": 4, "bad_id": 2, "empty": 1}
#: heartbeat mode: typed kinds and raw ones (`heartbeat_wire_samples`), each with its weight
HEARTBEAT_KINDS = {"garbage": 3, "extreme": 1}
HEARTBEAT_WIRE_KINDS = {"cut_short": 1, "foreign_encapsulation": 1, "trailing_bytes": 1}


# -- the wire: samples no typed publisher sends ----------------------------------------------------

def _serialized(msg: Any) -> bytes:
    return msg.serialize()


def _pad(raw: bytes) -> bytes:
    return raw.ljust((len(raw) + 3) & ~3, b"\0")


def _not_utf8(rng: random.Random, msg: Any) -> bytes:
    """`msg` serialized with every PLACEHOLDER string overwritten by bytes that are not UTF-8 (the
    same length: the CDR stays well-formed)."""
    raw = _serialized(msg)
    marker = PLACEHOLDER.encode()
    assert marker in raw
    while marker in raw:
        bad = b"".join(rng.choice(NOT_UTF8) for _ in range(len(marker)))[:len(marker)]
        try:
            bad.decode("utf-8")
        except UnicodeDecodeError:
            raw = raw.replace(marker, bad, 1)
    return _pad(raw)


def _malformed(rng: random.Random, msg: Any) -> bytes:
    """`msg` serialized and broken: cut short, a length prefix past the end, a foreign encapsulation."""
    raw = bytearray(_serialized(msg))
    how = rng.randrange(4)
    if how == 0:
        raw = raw[:rng.randrange(4, max(len(raw) - 1, 5))]
    elif how == 1 and len(raw) >= 8:
        raw[4:8] = struct.pack("<I", rng.choice((2**31 - 1, 2**32 - 1, len(raw) * 10)))
    elif how == 2:
        raw[0:2] = rng.choice((b"\x00\x07", b"\xff\xff", b"\x00\x10"))
    else:
        raw += bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 64)))
        raw[4:] = bytes(rng.getrandbits(8) for _ in range(len(raw) - 4))
    return _pad(bytes(raw))


def wire_samples(messages: Messages, topic: topics.Topic, role: str | None) -> list[tuple[str, Callable[[], bytes]]]:
    """(kind, raw CDR maker) for `topic`: strings that are not UTF-8 and CDR that is malformed."""
    rng, m, ph = messages.rng, messages, PLACEHOLDER
    if topic is topics.CELL_COMMAND:
        return [("not_utf8", lambda: _not_utf8(rng, m.String(data=rng.choice((ph, f"abort {ph}", f"{ph} stop"))))),
                ("malformed", lambda: _malformed(rng, m.String(data=_text(rng, 12))))]
    if topic is topics.HEARTBEAT:
        raise ValueError("heartbeat samples: heartbeat_wire_samples")
    if topic.type == "std_msgs/msg/Float64MultiArray":
        def good_data() -> list[float]:
            return [rng.choice(OUT_OF_RANGE[f]) for f in topic.fields]
        return [("not_utf8", lambda: _not_utf8(rng, m.Array(layout=m.Layout(dim=[m.Dim(label=ph, size=len(topic.fields),
                                                                                      stride=len(topic.fields))],
                                                                           data_offset=0), data=good_data()))),
                ("malformed", lambda: _malformed(rng, m.array(topic, "out_of_range")))]

    def status(where: str) -> Any:
        values = [m.KeyValue(key="id", value=ph if where == "id" else m._goal_id()),
                  m.KeyValue(key=ph if where == "key" else "arg0", value=ph if where == "value" else "1")]
        return m.Status(level=0, name=ph if where == "name" else role, message=ph if where == "verb" else m._verb(role),
                        hardware_id=ph if where == "hardware_id" else "", values=values)
    return [("not_utf8", lambda: _not_utf8(rng, status(rng.choice(("verb", "name", "hardware_id", "id", "key", "value"))))),
            ("malformed", lambda: _malformed(rng, m.device_command(role, "garbage")))]


def heartbeat_wire_samples(messages: Messages) -> dict[str, Callable[[], bytes]]:
    """Raw heartbeat samples that are not well-formed, by kind; whatever value a reader may still decode
    from one is >= ROGUE_HEARTBEAT (`_malformed` is not used: it can leave a small value in 8 bytes)."""
    rng, m = messages.rng, messages

    def rogue() -> bytes:
        return _serialized(m.UInt32(data=m.palindromic_heartbeat()))
    return {
        "cut_short": lambda: rogue()[:4],  # the encapsulation header, no value
        "foreign_encapsulation": lambda: rng.choice((b"\x00\x00", b"\x00\x07", b"\xff\xff", b"\x00\x10")) + rogue()[2:],
        "trailing_bytes": lambda: _pad(rogue() + bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 64)))),
    }


# -- the run ---------------------------------------------------------------------------------------

def _weighted(rng: random.Random, kinds: dict[str, int]) -> str:
    return rng.choices(list(kinds), weights=list(kinds.values()))[0]


def main(argv: list[str]) -> None:
    namespace, seconds, seed, report_path = argv[0], float(argv[1]), int(argv[2]), argv[3]
    mode = argv[argv.index("--mode") + 1] if "--mode" in argv else "typed"
    if mode not in MODES:
        raise SystemExit(f"--mode {mode!r}: one of {MODES}")
    rate = float(argv[argv.index("--rate") + 1]) if "--rate" in argv else RATE
    oversized_every = float(argv[argv.index("--oversized-every") + 1]) if "--oversized-every" in argv \
        else OVERSIZED_EVERY_S
    until = set(argv[argv.index("--until") + 1].split(",")) if "--until" in argv else set()
    rng = random.Random(seed)
    node = create_node("bus_fuzzer", ["--ros-args", "-r", f"__ns:={namespace}", "--disable-rosout-logs"])
    messages = Messages(node, rng)

    # what the cell says back: the supervisor's answers to commands, the bridges' to goals
    lock = threading.Lock()
    states: list[tuple[float, str, str]] = []  # (time.monotonic(), state, stop reason) at each change
    command_answers: Counter[str] = Counter()
    accepted_commands: list[str] = []
    last_command: dict[str, str] = {}
    goal_answers: dict[str, dict[str, str]] = {r: {} for r in topics.ROLES}
    last_status: dict[str, dict[str, str]] = {}

    def on_state(msg: Any) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        key = (values.get("command_id", ""), values.get("command", ""), values.get("command_result", ""))
        with lock:
            if not states or states[-1][1:] != (msg.message, values.get("stop_reason", "")):
                states.append((time.monotonic(), msg.message, values.get("stop_reason", "")))
            # the first (latched) state answers a command from before the fuzzer: not counted
            if last_command and key[2] and \
                    key != tuple(last_command.get(k, "") for k in ("command_id", "command", "command_result")):
                command_answers[key[2]] += 1
                if key[2] == "accepted":
                    accepted_commands.append(f"{key[1]!r}: {values.get('command_reason', '')}")
            last_command.update(values)
            last_command["state"] = msg.message

    def on_status(role: str, msg: Any) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        with lock:
            last_status[role] = values
            for goal_id, answer in answers(values).items():
                if goal_id.startswith("fz"):
                    goal_answers[role][goal_id] = answer

    node.create_subscription(topics.CELL_STATE.type, topics.CELL_STATE.name, on_state, topics.CELL_STATE.qos)
    for role in topics.ROLES:
        t = topics.device_status(role)
        node.create_subscription(t.type, t.name, lambda msg, role=role: on_status(role, msg), t.qos)

    # one publisher per topic fuzzed, each with its generators: heartbeat alone, or every other one
    targets: list[tuple[topics.Topic, Callable[[str], Any], dict[str, int], tuple[str, ...]]] = [
        (topics.HEARTBEAT, messages.heartbeat, HEARTBEAT_KINDS, ()),
    ] if mode == "heartbeat" else [
        (topics.WELD_SETPOINTS, lambda k: messages.array(topics.WELD_SETPOINTS, k), ARRAY_KINDS, ARRAY_OVERSIZED),
        (topics.INFEED, lambda k: messages.array(topics.INFEED, k), ARRAY_KINDS, ARRAY_OVERSIZED),
        (topics.CELL_COMMAND, messages.command, COMMAND_KINDS, ("oversized",)),
        *((topics.device_command(r), lambda k, r=r: messages.device_command(r, k), DEVICE_KINDS, ("oversized",))
          for r in topics.ROLES),
    ]
    created_at = time.monotonic()
    publishers = {t.name: node.create_publisher(t.type, t.name, t.qos) for t, *_ in targets}
    spinner = threading.Thread(target=node.spin, daemon=True)
    spinner.start()
    deadline = time.monotonic() + 15.0
    while any(p.subscription_count() == 0 for p in publishers.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    readers = {name: p.subscription_count() for name, p in publishers.items()}
    raws = {} if mode == "heartbeat" else {
        t.name: wire_samples(messages, t, t.name.split("/")[0] if t.name.endswith("/command") else None)
        for t, *_ in targets}
    heartbeat_raws = heartbeat_wire_samples(messages)
    heartbeat_kinds = {**HEARTBEAT_KINDS, **HEARTBEAT_WIRE_KINDS}

    published: dict[str, Counter[str]] = {t.name: Counter() for t, *_ in targets}
    errors: dict[str, Counter[str]] = {t.name: Counter() for t, *_ in targets}
    oversized_due = {t.name: time.monotonic() for t, *_ in targets}
    first_published_at: float | None = None
    started = time.monotonic()
    rounds = 0
    while (now := time.monotonic()) - started < seconds:
        with lock:
            if states and states[-1][1] in until:
                break
        for topic, make, kinds, oversized in targets:
            name = topic.name
            raw = None
            if mode == "wire":
                kind, raw = rng.choice(raws[name])
            elif mode == "heartbeat" and (kind := _weighted(rng, heartbeat_kinds)) in heartbeat_raws:
                raw = heartbeat_raws[kind]
            if raw is not None:
                result = ddspy_write(publishers[name]._writer._ref, raw())
                if result >= 0:
                    published[name][kind] += 1
                    first_published_at = first_published_at or time.monotonic()
                else:
                    errors[name][f"{kind}_refused_by_writer"] += 1
                continue
            if mode == "oversized":
                if now < oversized_due[name]:
                    continue
                oversized_due[name] = now + oversized_every
                kind = rng.choice(oversized) if oversized else _weighted(rng, kinds)
            elif mode != "heartbeat":
                kind = _weighted(rng, kinds)
            try:
                publishers[name].publish(make(kind))
                published[name][kind] += 1
                first_published_at = first_published_at or time.monotonic()
            except Exception as error:  # a writer that blocks past its max blocking time: counted
                errors[name][f"{kind}: {type(error).__name__}"] += 1
        rounds += 1
        time.sleep(max(0.0, started + rounds * len(targets) / rate - time.monotonic()))
    stopped_at = time.monotonic()
    time.sleep(2.0)  # the answers to the last messages
    with lock:
        report = {
            "seconds": stopped_at - started, "mode": mode, "readers": readers, "writers_created_at": created_at,
            "first_published_at": first_published_at, "stopped_at": stopped_at, "states": states,
            "published": {k: dict(v) for k, v in published.items()},
            "errors": {k: dict(v) for k, v in errors.items() if v},
            "command_answers": dict(command_answers), "accepted_commands": accepted_commands,
            "last_state": dict(last_command),
            "goal_answers": {r: dict(Counter(a.partition(":")[0] for a in g.values())) for r, g in goal_answers.items()},
            "accepted_goals": {r: [i for i, a in g.items() if a == "Accepted"] for r, g in goal_answers.items()},
            "status": last_status,
        }
    report["shutdown_at"] = time.monotonic()  # its writers go with the node
    with open(report_path, "w") as out:
        json.dump(report, out, indent=1, default=str)
    node.shutdown()
    spinner.join(2.0)


if __name__ == "__main__":
    main(sys.argv[1:])
