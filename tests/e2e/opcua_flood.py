"""A session flood from a process of its own: `opcua_flood.py ENDPOINT KIND SESSIONS`.

Opens SESSIONS sessions (50 at a time), each subscribing to every variable of the device KIND at 1 ms,
holds those it got until stdin closes, and prints one JSON line: sessions opened, refused,
subscriptions created and refused. It runs at the lowest CPU priority: an attacker's own work runs on
the attacker's machine, not on the cell PC whose server it floods (on one machine, the test would
otherwise measure the flooder taking the server's CPU).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sys

from asyncua import Client

from cell_controller.opcua.address_space import spec_for

logging.disable(logging.CRITICAL)


class _Quiet:
    def datachange_notification(self, node, val, data) -> None:
        pass


async def _session(endpoint: str, kind: str, counts: dict[str, int], held: list[Client]) -> None:
    client = Client(endpoint, timeout=1)  # a refused connection is never answered
    try:
        await client.connect()
    except Exception:
        counts["sessions_refused"] += 1
        return
    counts["sessions"] += 1
    held.append(client)
    try:
        ns = await client.get_namespace_index(spec_for(kind).namespace_uri)
        subscription = await client.create_subscription(1, _Quiet())
        await subscription.subscribe_data_change([client.get_node(f"ns={ns};s={v.path}") for v in spec_for(kind).variables])
        counts["subscriptions"] += 1
    except Exception:
        counts["subscriptions_refused"] += 1


async def main(endpoint: str, kind: str, sessions: int) -> None:
    os.nice(19)
    counts = dict.fromkeys(("sessions", "sessions_refused", "subscriptions", "subscriptions_refused"), 0)
    held: list[Client] = []
    for start in range(0, sessions, 50):
        await asyncio.gather(*(_session(endpoint, kind, counts, held) for _ in range(min(50, sessions - start))))
    print(json.dumps(counts), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await asyncio.gather(*(c.disconnect() for c in held), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
