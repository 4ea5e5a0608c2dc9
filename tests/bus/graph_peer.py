"""A process holding the cell's topic graph: `graph_peer.py NAMESPACE`.

One node per publisher named in `nodes.topics` creates that topic's writer, and a node
`listener` subscribes to every topic, all with the table's QoS, under NAMESPACE. Prints
'ready' once all entities exist, then reads commands from stdin, answering each with 'ok':
`shutdown NODE` shuts that node down. Exits when stdin closes.
"""
from __future__ import annotations

import sys

from cell_controller.bus import create_node
from cell_controller.nodes.topics import ALL_TOPICS


def main(namespace: str) -> None:
    argv = ["--ros-args", "-r", f"__ns:={namespace}"]
    nodes = {name: create_node(name, argv) for name in sorted({t.publisher for t in ALL_TOPICS} | {"listener"})}
    for topic in ALL_TOPICS:
        nodes[topic.publisher].create_publisher(topic.type, topic.name, topic.qos)
        nodes["listener"].create_subscription(topic.type, topic.name, lambda msg: None, topic.qos)
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, name = line.strip().partition(" ")
        if command == "shutdown":
            nodes.pop(name).shutdown()
        print("ok", flush=True)
    for node in nodes.values():
        node.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
