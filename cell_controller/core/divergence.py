"""The reality gap of a device in shadow: twin − real of each process value, summarised.

A bridge in shadow pairs each sample of the real device with the twin's latest value of the same
signal (same path, the spec's unit) and publishes the differences; `DivergenceStats` keeps their
RMS and largest magnitude per signal (per part in the journal), `DriftMonitor` a recent RMS per
signal (exponentially weighted over `window_samples`) against the cell description's tolerances.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class SignalStats:
    """Running figures of one signal's differences (the signal's unit)."""

    samples: int = 0
    sum_squares: float = 0.0
    max_abs: float = 0.0

    def add(self, difference: float) -> None:
        self.samples += 1
        self.sum_squares += difference * difference
        self.max_abs = max(self.max_abs, abs(difference))

    @property
    def rms(self) -> float:
        return math.sqrt(self.sum_squares / self.samples) if self.samples else 0.0


@dataclass
class DivergenceStats:
    """RMS and max |twin − real| per signal over every sample added."""

    signals: dict[str, SignalStats] = field(default_factory=dict)

    def add(self, differences: dict[str, float]) -> None:
        for signal, difference in differences.items():
            self.signals.setdefault(signal, SignalStats()).add(difference)

    def summary(self) -> dict[str, tuple[float, float, int]]:
        """signal -> (rms, max_abs, samples)."""
        return {s: (v.rms, v.max_abs, v.samples) for s, v in self.signals.items()}


class DriftMonitor:
    """Recent RMS of each signal's difference against its tolerance (the signal's unit)."""

    def __init__(self, tolerances: dict[str, float], window_samples: float):
        self.tolerances = tolerances
        self.alpha = 1.0 / max(window_samples, 1.0)
        self.mean_square: dict[str, float] = {}

    def add(self, differences: dict[str, float]) -> None:
        for signal, difference in differences.items():
            previous = self.mean_square.get(signal, difference * difference)
            self.mean_square[signal] = previous + self.alpha * (difference * difference - previous)

    def recent_rms(self, signal: str) -> float:
        return math.sqrt(self.mean_square.get(signal, 0.0))

    def drifted(self) -> list[str]:
        """'<signal>: recent RMS r > tolerance t' for every signal beyond its tolerance."""
        return [f"{signal}: recent RMS {self.recent_rms(signal):.3g} > {tolerance:g}"
                for signal, tolerance in self.tolerances.items() if self.recent_rms(signal) > tolerance]
