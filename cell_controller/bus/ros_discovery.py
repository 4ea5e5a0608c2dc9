"""`ros_discovery_info`: how ROS 2 tools learn which nodes a DDS participant holds.

rmw_dds_common's graph protocol, as rmw_cyclonedds_cpp implements it: each context
(one DDS participant) writes rmw_dds_common/msg/ParticipantEntitiesInfo on the DDS
topic `ros_discovery_info` (no `rt/` prefix: the rmw creates it with
avoid_ros_namespace_conventions), RELIABLE, TRANSIENT_LOCAL, KEEP_LAST 1. The sample
holds the participant's GID and, per node, its namespace, name and the GIDs of its
readers and writers; it is rewritten whenever a node or an entity comes or goes.

A GID is what rmw_cyclonedds_cpp's `convert_guid_to_gid` makes of a DDS GUID
(`dds_get_guid`): the 16 GUID bytes, zero-padded to the size of
rmw_dds_common/msg/Gid, which is 24 bytes up to Humble and 16 bytes from Iron on.
"""
from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from cell_controller.bus import api

#: The DDS topic name (used as is, no `rt/` prefix) and message type of the graph protocol.
TOPIC = "ros_discovery_info"
TYPE = "rmw_dds_common/msg/ParticipantEntitiesInfo"
#: rmw_cyclonedds_cpp's QoS for it: reliable, transient local, keep last 1.
QOS = api.QoS(TOPIC, api.Reliability.RELIABLE, api.Durability.TRANSIENT_LOCAL, 1)
#: For a reader: the type has no key, so KEEP_LAST 1 would keep one sample of all participants together.
READER_QOS = api.QoS(TOPIC, api.Reliability.RELIABLE, api.Durability.TRANSIENT_LOCAL, 1000)


def gid(guid: uuid.UUID, size: int) -> bytes:
    """The rmw GID of the DDS entity with GUID `guid`: its 16 bytes zero-padded to `size` bytes."""
    if size < 16:
        raise ValueError(f"a GID of {size} bytes cannot hold a 16-byte DDS GUID")
    return guid.bytes.ljust(size, b"\0")


@dataclass
class _NodeEntities:
    namespace: str
    name: str
    readers: list[uuid.UUID] = field(default_factory=list)
    writers: list[uuid.UUID] = field(default_factory=list)


class ParticipantEntities:
    """One participant's nodes and their entities; every change writes a new sample. Thread-safe.

    `message(type_name)` gives the message classes of the distribution in use (the GID size
    follows from it); `publish(sample)` writes a ParticipantEntitiesInfo on `ros_discovery_info`.
    """

    def __init__(self, participant_guid: uuid.UUID, message: Callable[[str], type],
                 publish: Callable[[Any], None]) -> None:
        self._info_class = message(TYPE)
        self._node_class = message("rmw_dds_common/msg/NodeEntitiesInfo")
        self._gid_class = message("rmw_dds_common/msg/Gid")
        self._gid_size = len(self._gid_class().data)
        self._participant = participant_guid
        self._publish = publish
        self._nodes: dict[int, _NodeEntities] = {}
        self._keys = itertools.count()
        self._lock = threading.Lock()

    def add_node(self, namespace: str, name: str) -> int:
        """Announce a node; returns the key that names it in the other calls."""
        with self._lock:
            key = next(self._keys)
            self._nodes[key] = _NodeEntities(namespace, name)
            self._publish_locked()
        return key

    def add_reader(self, node: int, guid: uuid.UUID) -> None:
        """Announce a DataReader (GUID `guid`) of the node `node`."""
        self._change(node, lambda entities: entities.readers.append(guid))

    def add_writer(self, node: int, guid: uuid.UUID) -> None:
        """Announce a DataWriter (GUID `guid`) of the node `node`."""
        self._change(node, lambda entities: entities.writers.append(guid))

    def remove_node(self, node: int) -> None:
        """Withdraw a node and all its entities."""
        with self._lock:
            if self._nodes.pop(node, None) is not None:
                self._publish_locked()

    def sample(self) -> Any:
        """The ParticipantEntitiesInfo message describing the participant now."""
        with self._lock:
            return self._sample_locked()

    def _change(self, node: int, change: Callable[[_NodeEntities], None]) -> None:
        with self._lock:
            change(self._nodes[node])
            self._publish_locked()

    def _publish_locked(self) -> None:
        self._publish(self._sample_locked())

    def _sample_locked(self) -> Any:
        def gids(guids: list[uuid.UUID]) -> list[Any]:
            return [self._gid_class(data=gid(g, self._gid_size)) for g in guids]

        return self._info_class(
            gid=gids([self._participant])[0],
            node_entities_info_seq=[
                self._node_class(node_namespace=n.namespace, node_name=n.name,
                                 reader_gid_seq=gids(n.readers), writer_gid_seq=gids(n.writers))
                for n in self._nodes.values()
            ],
        )
