"""The rows the checks accept, ready to store: the one shape checks (emc/metering/checks.py) hand to storage
(emc/metering/store.py) and reconciliation (pure data, numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Accepted:
    """Rows ready to store: one per meter period, in the meter's unit."""

    meter_id: np.ndarray
    start: np.ndarray
    end: np.ndarray
    value: np.ndarray
    source_value: np.ndarray
    factor: np.ndarray
    estimated: np.ndarray
    row: np.ndarray

    @classmethod
    def empty(cls) -> Accepted:
        i, f = np.array([], dtype=np.int64), np.array([], dtype=np.float64)
        return cls(i, i, i, f, f, f, np.array([], dtype=bool), i)

    def __len__(self) -> int:
        return len(self.meter_id)
