"""Swapping the welder between twin, shadow and real at runtime vs restarting its bridge on the new backend.

The rig: the twin's welder server (our address space, loopback, unsecured) and a "real" welder serving
Acme's address space through config/mappings/welder_acme.yaml behind SignAndEncrypt and accounts, both
in this process on loopback; the bridge on an in-memory bus run in real time, driven as the supervisor
drives it (`core/backends.BridgeManager`). One swap is timed from the request to the first status of the
new backend, which the bridge publishes once a fresh value (a life-sign after the switch) came from it.

The peer is what moving a device meant before: stop the bridge, start one on the new backend,
configure and activate it, until its first status with fresh data.

    python bench/bench_swap.py [--swaps 50]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from cell_controller.bridge_rig import Bus, Device, cell_with_real_welder, real_welder
from cell_controller.core.config import CellConfig
from cell_controller.core.types import Backend
from cell_controller.nodes.bridge import BridgeNode

#: the cycle of backends the swaps walk through
CYCLE = ("shadow", "real", "twin")


def _ready_on(bus: Bus, backend: str) -> bool:
    return bus.ready() and bus.status.get("backend") == backend and float(bus.status.get("data_age_s", "inf")) < 0.1


def time_swaps(config: CellConfig, swaps: int) -> list[float]:
    """Seconds from each swap's request to the first status on its new backend."""
    bus = Bus(config)
    bridge = BridgeNode(bus.bus.node("welder_bridge", config.namespace), config, "welder")
    bridge.start()
    took = []
    try:
        assert bus.until(bus.ready, 15.0), bus.status
        for n in range(swaps):
            backend = CYCLE[n % len(CYCLE)]
            started = time.monotonic()
            request = bus.manager.request_swap("welder", backend, started)
            assert bus.until(lambda: _ready_on(bus, backend) and request.goal.answer, 10.0), bus.status
            assert request.goal.answer == "Accepted", request.goal.answer
            took.append(time.monotonic() - started)
    finally:
        bridge.stop()
    return took


def on(config: CellConfig, backend: str) -> CellConfig:
    """`config` with the welder starting on `backend` (what editing the description meant)."""
    welder = config.devices["welder"]
    return replace(config, devices={**config.devices, "welder": replace(welder, backend=Backend(backend))})


def time_restarts(config: CellConfig, restarts: int) -> list[float]:
    """Seconds from stopping the bridge to the first status of a new one started on the next backend."""
    took = []
    configs = {backend: on(config, backend) for backend in CYCLE}
    bus = Bus(config)
    bridge = BridgeNode(bus.bus.node("welder_bridge", config.namespace), config, "welder")
    bridge.start()
    assert bus.until(bus.ready, 15.0)
    for n in range(restarts):
        backend = CYCLE[n % len(CYCLE)]
        started = time.monotonic()
        bridge.stop()
        bus = Bus(config)
        bridge = BridgeNode(bus.bus.node("welder_bridge", config.namespace), configs[backend], "welder")
        bridge.start()
        assert bus.until(lambda: _ready_on(bus, backend), 15.0), bus.status
        took.append(time.monotonic() - started)
    bridge.stop()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = cell_with_real_welder(Path(folder))
        twin, real = Device(config.device("welder").endpoint), real_welder(config)
        try:
            swaps = time_swaps(config, args.swaps)
            restarts = time_restarts(config, max(args.swaps // 5, 3))
        finally:
            twin.close()
            real.close()

    def p(values: list[float], q: int) -> float:
        return 1000.0 * statistics.quantiles(values, n=100, method="inclusive")[q - 1]
    print(f"{args.swaps} swaps of the welder through {' -> '.join(CYCLE)} (loopback, the real one secured and "
          "mapped), against restarting its bridge on the new backend\n")
    print("| | runs | p50 (ms) | p99 (ms) | max (ms) | p50 ratio to restart |")
    print("|---|---|---|---|---|---|")
    for name, values in (("swap at runtime", swaps), ("restart the bridge (peer)", restarts)):
        print(f"| {name} | {len(values)} | {p(values, 50):.0f} | {p(values, 99):.0f} | {1000 * max(values):.0f} | "
              f"{p(values, 50) / p(restarts, 50):.2f} |")
    for backend in CYCLE:
        into = [t for n, t in enumerate(swaps) if CYCLE[n % len(CYCLE)] == backend]
        print(f"\ninto {backend}: p50 {p(into, 50):.0f} ms, p99 {p(into, 99):.0f} ms over {len(into)}", end="")
    print(f"\n\ntarget: <= 500 ms from request to the first fresh value: "
          f"{'met' if p(swaps, 99) <= 500 else 'NOT met'} (p99 {p(swaps, 99):.0f} ms)")


if __name__ == "__main__":
    main()
