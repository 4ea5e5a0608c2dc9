"""A second process for pub/sub tests: `peer.py pub|sub TOPIC QOS COUNT`.

pub: publishes std_msgs/String 'msg-<i>' COUNT times once a reader matched, then keeps
     spinning (serving late joiners) until stdin closes.
sub: prints 'ready', then one line per received message's `data`, exits after COUNT.
"""
from __future__ import annotations

import sys
import threading
import time

from cell_controller.bus import PROFILES, create_node


def main(mode: str, topic: str, qos_name: str, count: int) -> None:
    node = create_node(f"peer_{mode}")
    qos = PROFILES[qos_name]
    String = node.message("std_msgs/msg/String")
    if mode == "pub":
        pub = node.create_publisher("std_msgs/msg/String", topic, qos)
        deadline = time.monotonic() + 5.0
        while qos_name != "transient_local" and pub.subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        for i in range(count):
            pub.publish(String(data=f"msg-{i}"))
        print("published", flush=True)
        threading.Thread(target=lambda: (sys.stdin.read(), node.shutdown()), daemon=True).start()
        node.spin()
        return
    received: list[str] = []

    def on_msg(msg) -> None:
        received.append(msg.data)
        print(msg.data, flush=True)
        if len(received) >= count:
            node.shutdown()

    node.create_subscription("std_msgs/msg/String", topic, on_msg, qos)
    print("ready", flush=True)
    node.spin()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
