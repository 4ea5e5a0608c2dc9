"""PyBullet world of the cell: KUKA KR 6 R900 sixx with a GMAW torch, fixture, seam, conveyor, press, outfeed."""

from __future__ import annotations

from .layout import Station
from .seam import ButtSeam
from .world import CellWorld, UnreachablePoseError

__all__ = ["CellWorld", "ButtSeam", "Station", "UnreachablePoseError"]
