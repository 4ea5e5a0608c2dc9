"""Ray, for training and evaluation that outgrow one machine (the ``ray`` extra of the package).

Only ``--ray`` imports this module, and only it imports Ray. ``connect(address)`` joins a running
cluster (``host:port`` of its head node, ``ray://host:port`` for Ray Client, ``auto``) or, for
``LOCAL``, starts a Ray instance of its own on this machine; ``tune_trials`` runs a sweep's trials as
Ray Tune trials (one CPU each); ``map_tasks`` fans calls out as Ray tasks (one CPU each). Every node
of a cluster needs this package installed (``pip install 'cell_controller[rl,ray]'``) and, for a
sweep, the run directory on storage all nodes share (each trial writes its files there).
"""
from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["LOCAL", "RayConnectError", "connect", "tune_trials", "map_tasks", "cluster_cpus", "one_cpu"]

#: the address that means "a Ray instance of this process's own"
LOCAL = "local"
#: how long a cluster's address may take to answer a TCP connect, s
CONNECT_TIMEOUT_S = 5.0


class RayConnectError(ConnectionError):
    """The Ray cluster at an address cannot be reached; the message names the address and why."""


def _check_reachable(address: str) -> None:
    """Refuse an address whose head does not accept a TCP connection within CONNECT_TIMEOUT_S."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = hostport.rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not sep or not port.isdigit():
        raise RayConnectError(f"Ray address {address!r}: expected host:port, ray://host:port, auto or {LOCAL}")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise RayConnectError(f"cannot reach the Ray cluster at {address!r}: {error}") from None


def connect(address: str, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address`` (``LOCAL``: start a local instance with ``num_cpus`` CPUs, default
    all); a process already connected stays on its cluster. RayConnectError when unreachable."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise RayConnectError("--ray needs Ray: pip install 'cell_controller[ray]' (the package's ray extra)") from None

    if ray.is_initialized():
        return
    options = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address == LOCAL:
        ray.init(num_cpus=num_cpus, **options)
        return
    _check_reachable(address)
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError) as error:
        raise RayConnectError(f"cannot join the Ray cluster at {address!r}: {error}") from None


def cluster_cpus() -> int:
    """The CPUs of the cluster this process is connected to."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def one_cpu() -> None:
    """Keep a trial or task on the one CPU Ray reserved for it: numba's (the batched weld kernel's) and torch's
    threads would otherwise default to every core of the node."""
    import numba
    import torch

    numba.set_num_threads(1)
    torch.set_num_threads(1)


def tune_trials(run: Callable[[int], dict[str, Any]], n: int, storage: Path) -> list[dict[str, Any]]:
    """``run(index)`` for index 0..n-1 as Ray Tune trials of one CPU each (Tune's state under ``storage``);
    the trials' results, which must be JSON-able. Raises RuntimeError naming a trial that failed."""
    from ray import tune

    def trainable(config: dict[str, Any]) -> None:
        one_cpu()
        tune.report({"entry_json": json.dumps(run(config["index"]), default=str)})

    tuner = tune.Tuner(tune.with_resources(trainable, {"cpu": 1}),
                       param_space={"index": tune.grid_search(list(range(n)))},
                       run_config=tune.RunConfig(name=storage.name, storage_path=str(storage.parent), verbose=0))
    grid = tuner.fit()
    entries = []
    for result in grid:
        if result.error is not None:
            raise RuntimeError(f"Ray Tune trial {result.config} failed: {result.error}")
        entries.append(json.loads(result.metrics["entry_json"]))
    return entries


def map_tasks(fn: Callable[..., Any], calls: list[tuple]) -> list[Any]:
    """``fn(*args)`` for every args of ``calls`` as Ray tasks of one CPU each; the results in order."""
    import ray

    remote = ray.remote(num_cpus=1)(fn)
    return ray.get([remote.remote(*args) for args in calls])
