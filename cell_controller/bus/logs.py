"""Node loggers shared by both adapters: python `logging` named after the node."""
from __future__ import annotations

import logging
import sys

from cell_controller.bus.args import NodeConfig

#: ROS 2's console format, roughly: "[INFO] [1712345678.123456789] [cell.robot]: text".
_FORMAT = "[%(levelname)s] [%(created).9f] [%(name)s]: %(message)s"
#: the package's own module loggers (an OPC UA client's link reports): a node's log has them too
_LIBRARY = logging.getLogger("cell_controller")


def stderr_handler() -> logging.Handler:
    """A handler writing ROS-style lines to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    return handler


def attach(config: NodeConfig, handlers: list[logging.Handler]) -> logging.Logger:
    """The node's logger with `handlers` added and the command line's --log-level (default INFO, as ROS 2);
    the package's module loggers write to the same handlers at that level."""
    logger = logging.getLogger(config.logger_name)
    level = config.log_level()
    for target in (logger, _LIBRARY):
        target.setLevel(level if level is not None else logging.INFO)
        for handler in handlers:
            target.addHandler(handler)
    return logger


def detach(logger: logging.Logger, handlers: list[logging.Handler]) -> None:
    """Remove and close `handlers` (on node shutdown)."""
    for handler in handlers:
        logger.removeHandler(handler)
        _LIBRARY.removeHandler(handler)
        handler.close()
