"""Operator commands: what is understood, and the reason for what is not."""
from __future__ import annotations

import pytest

from cell_controller.core.operator import MAX_COMMAND_CHARS, CommandError, OperatorCommand, parse, shorten


def test_commands_with_options_and_arguments() -> None:
    assert parse("hold") == OperatorCommand("hold")
    assert parse("  HOLD id=7 user=alice ") == OperatorCommand("hold", (), "7", "alice")
    assert parse("mode maintenance user=bob") == OperatorCommand("mode", ("maintenance",), "", "bob")
    assert parse("device feeder feed_part P000009").args == ("feeder", "feed_part", "P000009")
    assert parse("device robot stop_program").text == "device robot stop_program"


@pytest.mark.parametrize("text, reason", [
    ("", "empty command"), ("   ", "empty command"), ("dance", "unknown command 'dance'"),
    ("start now", "start takes no arguments"), ("mode", "mode takes one unit mode"),
    ("mode a b", "mode takes one unit mode"), ("device robot", "device takes a role and a verb"),
    ("hold who=me", "unknown option 'who'"), ("hold id=", "option id needs a value"),
    ("hold id=" + "x" * 65, "option id needs a value of 1..64"), ("hold\n", "printable ASCII"),
    ("hôld", "printable ASCII"), ("x" * (MAX_COMMAND_CHARS + 1), f"command of {MAX_COMMAND_CHARS + 1} characters"),
])
def test_malformed_commands_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(CommandError, match=reason):
        parse(text)


def test_shorten_bounds_and_escapes_what_goes_into_messages() -> None:
    assert shorten("a" * 200) == "a" * 79 + "…"
    assert shorten("bad\x00byte") == "bad\\x00byte"
