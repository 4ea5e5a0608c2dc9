"""What every node's `main()` shares: parameters, the cell description, signals and exit codes."""
from __future__ import annotations

import signal
import sys
from typing import Callable, TypeVar

from cell_controller.bus import ParameterError, create_node
from cell_controller.bus.api import Node
from cell_controller.core.config import CellConfig, ConfigError, load_cell

T = TypeVar("T")

#: exit code of a node that refuses to start on bad input
EXIT_BAD_INPUT = 2


def start_node(name: str, argv: list[str] | None, setup: Callable[[Node, CellConfig], T] = lambda n, c: None
               ) -> tuple[Node, CellConfig, T]:
    """Create the node, read `cell_config`, run `setup` (declare the node's own parameters,
    load what they name) and reject parameters nobody declared.

    Exits with EXIT_BAD_INPUT and a one-line reason on a bad parameter or cell description.
    """
    node = None
    try:
        node = create_node(name, sys.argv[1:] if argv is None else argv)
        config = load_cell(node.declare_parameter("cell_config", ""))
        result = setup(node, config)
        node.reject_undeclared_parameters()
    except (ParameterError, ConfigError) as error:
        if node is not None:
            node.shutdown()
        print(f"{name}: {error}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    return node, config, result


def spin_until_signal(node: Node, on_stop: Callable[[], None] | None = None) -> None:
    """Spin until SIGINT/SIGTERM; then run `on_stop` on this thread and shut down."""
    signals: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: signals.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, frame: signals.append(signum))
    try:
        while not signals:
            node.spin_once(0.05)
        if on_stop is not None:
            on_stop()
    finally:
        node.shutdown()
