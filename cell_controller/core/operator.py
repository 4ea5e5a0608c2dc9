"""Operator commands to the cell: parsed and bounded before anything acts on them.

They arrive as text on the cell's `command` topic (std_msgs/String, so that
`ros2 topic pub --once /cell/command std_msgs/msg/String "data: hold"` works) and from the
northbound OPC UA server's methods:

    <verb> [argument ...] [id=<token>] [user=<name>]

verbs: the nine PackML commands (reset, start, stop, hold, unhold, suspend, unsuspend, abort,
clear); `mode <production|maintenance|manual|1|2|3>` (SetUnitMode); `device <role> <verb>
[argument ...]`, a single device command in Maintenance or Manual; `swap <device> <twin|real|shadow>`,
a device moved to another backend (`core/backends.py`). `id` comes back with the answer on the cell's
`state`; `user` is journaled with the command.
"""
from __future__ import annotations

from dataclasses import dataclass

from .packml import Command

MAX_COMMAND_CHARS = 256
MODE_VERB = "mode"
DEVICE_VERB = "device"
SWAP_VERB = "swap"
VERBS = tuple(c.value for c in Command) + (MODE_VERB, DEVICE_VERB, SWAP_VERB)
_OPTIONS = ("id", "user")
_MAX_OPTION_CHARS = 64


class CommandError(ValueError):
    """An operator command that cannot be understood; the message says why."""


@dataclass(frozen=True)
class OperatorCommand:
    verb: str
    args: tuple[str, ...] = ()
    id: str = ""
    user: str = ""

    @property
    def text(self) -> str:
        """The command as it is journaled (without options)."""
        return " ".join((self.verb, *self.args))


def shorten(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters for messages and the journal (control characters escaped)."""
    text = text.encode("unicode_escape", "backslashreplace").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= limit else text[:limit - 1] + "…"


def parse(text: str) -> OperatorCommand:
    """The command in `text`; CommandError (naming the offending part) when it is malformed."""
    if len(text) > MAX_COMMAND_CHARS:
        raise CommandError(f"command of {len(text)} characters (at most {MAX_COMMAND_CHARS})")
    if not text.isprintable() or not text.isascii():
        raise CommandError(f"command {shorten(text)!r} holds characters other than printable ASCII")
    words, options = [], {}
    for word in text.split():
        key, equals, val = word.partition("=")
        if equals:
            if key not in _OPTIONS:
                raise CommandError(f"unknown option {shorten(key)!r} (known: {', '.join(_OPTIONS)})")
            if not val or len(val) > _MAX_OPTION_CHARS:
                raise CommandError(f"option {key} needs a value of 1..{_MAX_OPTION_CHARS} characters")
            options[key] = val
        else:
            words.append(word)
    if not words:
        raise CommandError("empty command")
    verb, args = words[0].lower(), tuple(words[1:])
    if verb not in VERBS:
        raise CommandError(f"unknown command {shorten(verb)!r} (known: {', '.join(VERBS)})")
    if verb == MODE_VERB and len(args) != 1:
        raise CommandError("mode takes one unit mode: production, maintenance or manual")
    if verb == DEVICE_VERB and len(args) < 2:
        raise CommandError("device takes a role and a verb: device <role> <verb> [argument ...]")
    if verb == SWAP_VERB and len(args) != 2:
        raise CommandError("swap takes a device and a backend: swap <device> <twin|real|shadow>")
    if verb not in (MODE_VERB, DEVICE_VERB, SWAP_VERB) and args:
        raise CommandError(f"{verb} takes no arguments, got {shorten(' '.join(args))!r}")
    return OperatorCommand(verb, args, options.get("id", ""), options.get("user", ""))
