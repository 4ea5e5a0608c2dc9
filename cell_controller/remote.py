"""Talking to a running cell over its bus, for `cellctl`: one operator command and its answer, and the
shadow devices' current divergence.

The command goes out on `command` with a fresh id; the supervisor answers on `state` with that id
(`command_result` accepted or refused, `command_reason`). A swap taken ends later, on `state` too:
`swap_id` (the command's id) and `swap_result` (done: ..., or refused: ... once its bridge rolled back).
"""
from __future__ import annotations

import os
import secrets
import time

from cell_controller.core.config import CellConfig

#: how long to wait for the cell's first `state` (is a cell running?), s
DISCOVERY_TIMEOUT_S = 5.0


class CellNotRunning(RuntimeError):
    """No supervisor answered on the cell's bus."""


def _node(config: CellConfig):
    from cell_controller.bus import create_node

    os.environ.setdefault("ROS_DOMAIN_ID", str(config.domain_id))
    return create_node(f"cellctl_{secrets.token_hex(3)}", ["--ros-args", "-r", f"__ns:={config.namespace}"])


def send_command(config: CellConfig, text: str, timeout_s: float, until_key: str = "command_id") -> dict[str, str]:
    """Send `text` (user=cellctl) and return the supervisor's first `state` values whose `until_key` is the
    command's id (`command_id`: the answer; `swap_id`: a swap's end, when it was accepted).

    Raises CellNotRunning when no `state` arrives within DISCOVERY_TIMEOUT_S, TimeoutError when the
    answer does not come within `timeout_s`."""
    from cell_controller.nodes import topics
    from cell_controller.nodes.codec import Codec

    node = _node(config)
    try:
        latest: list[dict[str, str]] = []
        node.create_subscription(topics.CELL_STATE.type, topics.CELL_STATE.name,
                                 lambda msg: latest.append(Codec.values(msg)), topics.CELL_STATE.qos)
        publisher = node.create_publisher(topics.CELL_COMMAND.type, topics.CELL_COMMAND.name, topics.CELL_COMMAND.qos)
        deadline = time.monotonic() + DISCOVERY_TIMEOUT_S
        while not latest:
            if time.monotonic() > deadline:
                raise CellNotRunning(f"no cell answers on domain {os.environ['ROS_DOMAIN_ID']} namespace "
                                     f"{config.namespace} (is `cellctl shift` running?)")
            node.spin_once(0.05)
        command_id = secrets.token_hex(6)
        publisher.publish(Codec(node).string(f"{text} id={command_id} user=cellctl"))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            node.spin_once(0.05)
            for values in latest:
                if values.get("command_id") == command_id and values.get("command_result") != "accepted":
                    return values  # refused: no swap will end
                if values.get(until_key) == command_id:
                    return values
            latest.clear()
        raise TimeoutError(f"the supervisor did not answer {text!r} within {timeout_s:.0f} s")
    finally:
        node.shutdown()


def divergence_now(config: CellConfig, window_s: float) -> dict[str, dict[str, tuple[float, float, int]]]:
    """For each device in shadow in a running cell: RMS, max |twin − real| and samples of each process
    value over the next `window_s` s (roles with no sample are left out: not in shadow, or no cell runs)."""
    from cell_controller.bridges.base import process_signals
    from cell_controller.core.divergence import DivergenceStats
    from cell_controller.nodes import topics
    from cell_controller.nodes.codec import Codec
    from cell_controller.opcua.address_space import spec_for

    stats = {role: DivergenceStats() for role in topics.ROLES}
    node = _node(config)
    try:
        for role in topics.ROLES:
            topic = topics.divergence(role, process_signals(spec_for(config.device(role).kind.value)))
            node.create_subscription(topic.type, topic.name, lambda msg, role=role, topic=topic:
                                     stats[role].add(Codec.read_array(topic, msg) or {}), topic.qos)
        deadline = time.monotonic() + window_s
        while time.monotonic() < deadline:
            node.spin_once(0.05)
    finally:
        node.shutdown()
    return {role: s.summary() for role, s in stats.items() if s.signals}
