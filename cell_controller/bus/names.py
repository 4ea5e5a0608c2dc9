"""ROS 2 node, namespace and topic names: validation, resolution and the DDS topic mapping.

Rules follow rmw's validators: a token is `[A-Za-z_][A-Za-z0-9_]*`; tokens are
joined by single slashes, with no trailing slash. A topic is
absolute (`/x`), relative (`x`, resolved under the node's namespace) or private
(`~/x` or `~`, resolved under the node's fully qualified name).
"""
from __future__ import annotations

import re

_TOKEN = r"[A-Za-z_][A-Za-z0-9_]*"
_NODE_RE = re.compile(rf"^{_TOKEN}$")
_NAMESPACE_RE = re.compile(rf"^(/|(/{_TOKEN})+)$")
_TOPIC_RE = re.compile(rf"^(~|~/{_TOKEN}(/{_TOKEN})*|/?{_TOKEN}(/{_TOKEN})*)$")
_ABSOLUTE_RE = re.compile(rf"^(/{_TOKEN})+$")

#: ROS 2 topics live under this DDS prefix ("rt" = ROS topic).
DDS_TOPIC_PREFIX = "rt"


class InvalidNameError(ValueError):
    """A node name, namespace or topic name breaks the ROS 2 naming rules; the message names it."""


def validate_node_name(name: str) -> str:
    """Return `name` if it is a valid ROS 2 node name (one token, no slash)."""
    if not _NODE_RE.match(name):
        raise InvalidNameError(f"invalid node name {name!r}: must match {_TOKEN}")
    return name


def normalize_namespace(namespace: str) -> str:
    """A valid absolute namespace: '' -> '/', 'cell' -> '/cell'; trailing slashes are an error."""
    ns = namespace if namespace.startswith("/") else "/" + namespace
    if not _NAMESPACE_RE.match(ns):
        raise InvalidNameError(f"invalid namespace {namespace!r}: must be '/' or '/token[/token...]'")
    return ns


def fully_qualified_node_name(namespace: str, node: str) -> str:
    """'/cell', 'robot' -> '/cell/robot'; '/', 'robot' -> '/robot'."""
    return namespace.rstrip("/") + "/" + node


def resolve_topic(topic: str, namespace: str, node: str) -> str:
    """The absolute ROS 2 name of `topic` for a node `node` in `namespace`."""
    if not _TOPIC_RE.match(topic):
        raise InvalidNameError(
            f"invalid topic name {topic!r}: use '/abs/name', 'relative/name' or '~/private', "
            f"tokens matching {_TOKEN}"
        )
    if topic.startswith("/"):
        return topic
    if topic.startswith("~"):
        return fully_qualified_node_name(namespace, node) + topic[1:]
    return namespace.rstrip("/") + "/" + topic


def dds_topic_name(absolute_topic: str) -> str:
    """'/robot/joint_states' -> 'rt/robot/joint_states'."""
    if not _ABSOLUTE_RE.match(absolute_topic):
        raise InvalidNameError(f"{absolute_topic!r} is not an absolute, valid ROS 2 topic name")
    return DDS_TOPIC_PREFIX + absolute_topic
