"""The operator page: topic-to-screen latency with three browser clients at the twin's full data rate, and the
HMI process's CPU use; prints markdown, exits 0.

A publisher process plays a running cell at its full rates: `welder/process`, `robot/seam_tracker`,
`weld/setpoints`, `robot/joint_states` and `robot/tcp_pose` at 50 Hz, the four device statuses at 4 Hz, `state` at
1 Hz and the heartbeat at 10 Hz, every stamp the wall clock (a real cell at time scale 1). Three headless
chromium pages (Playwright) show `cell-hmi`'s page; each records, for every process sample, the time from its
stamp to the animation frame that drew it (`window.hmiStats.latencies`). The HMI's CPU is its user + system
time over the measured window (/proc), as a share of one core.

The peer, measured in the same run: a bare relay (the same bus subscription, a Starlette WebSocket that
forwards each sample's stamp, a page that records its arrival): the floor of any browser page on this
machine. Targets: p99 <= 250 ms, CPU <= 10 % of one core.

    python bench/bench_hmi.py [--duration S]     # default 30 s measured after 8 s of warm-up
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CLIENTS = 3
RATE_HZ = 50.0
WARMUP_S = 8.0
TARGET_P99_S = 0.250
TARGET_CPU = 0.10


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q / 100 * len(ordered)), len(ordered) - 1)] if ordered else math.nan


def publish_cell(namespace: str, stop_at: float) -> None:
    """Play a running cell's topics at their full rates until `stop_at` (wall s)."""
    from cell_controller.bus import create_node
    from cell_controller.nodes import topics
    from cell_controller.nodes.codec import OK, Codec

    node = create_node("bench_cell", ["--ros-args", "-r", f"__ns:={namespace}"])
    codec = Codec(node)
    pubs = {t.name: topics.publisher(node, t) for t in (topics.WELD_PROCESS, topics.SEAM_TRACKER,
                                                        topics.WELD_SETPOINTS, topics.JOINT_STATES, topics.TCP_POSE,
                                                        topics.CELL_STATE, topics.HEARTBEAT)}
    statuses = {role: topics.publisher(node, topics.device_status(role)) for role in topics.ROLES}
    joint_state, pose = node.message(topics.JOINT_STATES.type), node.message(topics.TCP_POSE.type)
    uint32 = node.message(topics.HEARTBEAT.type)
    tick = 0
    next_s = time.time()
    while time.time() < stop_at:
        now = time.time()
        phase = tick / RATE_HZ
        pubs["welder/process"].publish(codec.array(topics.WELD_PROCESS, [
            200 + 20 * math.sin(phase), 24 + math.sin(phase), 8.0, 4800.0, 6 + 0.3 * math.sin(phase), 1.0, now]))
        pubs["robot/seam_tracker"].publish(codec.array(topics.SEAM_TRACKER, [1.2, 0.1, (phase % 20) / 20, 10.0, now]))
        pubs["weld/setpoints"].publish(codec.array(topics.WELD_SETPOINTS, [24.0, 8.0, 10.0, 0.0, now]))
        pubs["robot/joint_states"].publish(joint_state(name=[f"joint_{i}" for i in range(1, 7)],
                                                       position=[0.1] * 6, velocity=[0.0] * 6))
        pubs["robot/tcp_pose"].publish(pose())
        if tick % 5 == 0:
            pubs["heartbeat"].publish(uint32(data=tick))
        if tick % 12 == 0:
            for role, publisher in statuses.items():
                publisher.publish(codec.status(role, "busy", OK, {"state": "busy", "backend": "twin",
                                                                  "lifecycle": "active", "data_age_s": "0.010"}))
        if tick % 50 == 0:
            pubs["state"].publish(codec.status("cell", "Execute", OK, {"state": "Execute", "unit_mode": "Production",
                                                                       "available": "hold,stop,abort,suspend"}))
        tick += 1
        next_s += 1 / RATE_HZ
        node.spin_once(max(next_s - time.time(), 0.0))
    node.shutdown()


BARE_PAGE = """<!doctype html><script>
window.hmiStats = {latencies: []};
const socket = new WebSocket(`ws://${location.host}/ws`);
socket.onmessage = (e) => { const now = Date.now() / 1000;
  for (const stamp of JSON.parse(e.data)) window.hmiStats.latencies.push(now - stamp); };
</script>"""


def bare_relay(namespace: str, port: int, stop_at: float) -> None:
    """The peer: `welder/process` stamps relayed to a WebSocket every 50 ms (as the HMI batches its trends)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route, WebSocketRoute

    from cell_controller.bus import create_node
    from cell_controller.nodes import topics

    loop = asyncio.new_event_loop()
    pages: set[asyncio.Queue] = set()
    batch: list[float] = []
    node = create_node("bench_relay", ["--ros-args", "-r", f"__ns:={namespace}"])
    topics.subscribe(node, topics.WELD_PROCESS, lambda msg: batch.append(list(msg.data)[-1]))

    def flush() -> None:
        if batch:
            text = json.dumps(batch)
            batch.clear()
            for page in list(pages):
                loop.call_soon_threadsafe(page.put_nowait, text)
    node.create_timer(0.05, flush)

    async def socket(websocket) -> None:
        await websocket.accept()
        page: asyncio.Queue = asyncio.Queue()
        pages.add(page)
        try:
            while True:
                await websocket.send_text(await page.get())
        except Exception:
            pages.discard(page)

    async def index(request) -> HTMLResponse:
        return HTMLResponse(BARE_PAGE)
    app = Starlette(routes=[Route("/", index), WebSocketRoute("/ws", socket)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=lambda: loop.run_until_complete(server.serve()), daemon=True).start()
    while time.time() < stop_at:
        node.spin_once(0.05)
    server.should_exit = True
    node.shutdown()


def cpu_s(pid: int) -> float:
    """User + system CPU time of process `pid`, s."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, duration_s: float, pid: int | None) -> tuple[list[float], float]:
    """Every latency the CLIENTS pages recorded in `duration_s` after the warm-up, and the CPU share of `pid`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pages = [browser.new_context().new_page() for _ in range(CLIENTS)]
        for page in pages:
            page.goto(url)
        time.sleep(WARMUP_S)
        for page in pages:
            page.evaluate("window.hmiStats.latencies.length = 0")
        cpu_before, wall_before = (cpu_s(pid) if pid else 0.0), time.monotonic()
        time.sleep(duration_s)
        cpu = ((cpu_s(pid) - cpu_before) / (time.monotonic() - wall_before)) if pid else math.nan
        latencies = [x for page in pages for x in page.evaluate("window.hmiStats.latencies")]
        browser.close()
    return latencies, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="measured window, s")
    args = parser.parse_args()
    os.environ.setdefault("ROS_DOMAIN_ID", str(201 + os.getpid() % 30))
    os.environ["CELL_BUS"] = "dds"
    from cell_controller.testing import free_ports, private_cell_file

    folder = Path(tempfile.mkdtemp(prefix="bench_hmi_"))
    hmi_port, relay_port = free_ports(2)
    config = private_cell_file(folder, "bench_hmi", lambda d: d.update(hmi={"bind": f"127.0.0.1:{hmi_port}"}))
    namespace = __import__("yaml").safe_load(config.read_text())["cell"]["namespace"]
    run_s = WARMUP_S + args.duration + 15.0
    spawn = multiprocessing.get_context("spawn")
    rows = []
    for name in ("cell-hmi", "bare relay (peer)"):
        stop_at = time.time() + run_s + 10.0
        cell = spawn.Process(target=publish_cell, args=(namespace, stop_at))
        cell.start()
        if name == "cell-hmi":
            process = subprocess.Popen([str(Path(sys.executable).with_name("cell-hmi")), "--ros-args", "-r",
                                        f"__ns:={namespace}", "-p", f"cell_config:={config}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            pid, url = process.pid, f"http://127.0.0.1:{hmi_port}/"
        else:
            process = spawn.Process(target=bare_relay, args=(namespace, relay_port, stop_at))
            process.start()
            pid, url = process.pid, f"http://127.0.0.1:{relay_port}/"
        time.sleep(4.0)
        latencies, cpu = measure(url, args.duration, pid)
        process.terminate()
        cell.terminate()
        for p in (process, cell):
            p.wait(10) if hasattr(p, "wait") else p.join(10)
        rows.append((name, len(latencies), percentile(latencies, 50), percentile(latencies, 99), cpu))
    print(f"{CLIENTS} headless chromium pages, {args.duration:.0f} s measured after {WARMUP_S:.0f} s of warm-up, "
          f"process samples at {RATE_HZ:.0f} Hz (and the cell's other topics at their rates)\n")
    print("| page | samples drawn | p50 ms | p99 ms | CPU, % of one core |")
    print("|---|---|---|---|---|")
    for name, n, p50, p99, cpu in rows:
        print(f"| {name} | {n} | {1e3 * p50:.1f} | {1e3 * p99:.1f} | {100 * cpu:.1f} |")
    hmi, bare = rows
    print(f"\nHMI p99 / target {1e3 * TARGET_P99_S:.0f} ms: {hmi[3] / TARGET_P99_S:.2f}x "
          f"({'met' if hmi[3] <= TARGET_P99_S else 'missed'}); HMI CPU / target {100 * TARGET_CPU:.0f} %: "
          f"{hmi[4] / TARGET_CPU:.2f}x ({'met' if hmi[4] <= TARGET_CPU else 'missed'}); "
          f"HMI p99 / bare relay p99: {hmi[3] / bare[3]:.2f}x; HMI p50 / bare p50: {hmi[2] / bare[2]:.2f}x")
    expected = CLIENTS * RATE_HZ * args.duration
    print(f"\nSamples drawn per page: {hmi[1] / CLIENTS:.0f} of {expected / CLIENTS:.0f} published "
          f"({hmi[1] / expected:.0%})")


if __name__ == "__main__":
    main()
