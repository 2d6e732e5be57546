"""Adapters: trajectory files in any supported format -> events.

Public API (stable; other layers import only these names):
- ``Trajectory``: an id, its events (seq 0..n-1) and optional labels (e.g. τ-bench ``reward``).
- ``read_trajectories(path)``: iterate trajectories from a file (JSON array or JSONL; ``-`` is stdin),
  the format detected from content; raises ``AdapterError`` naming the formats accepted.
"""

from __future__ import annotations

from detectors.adapters.base import AdapterError, Trajectory
from detectors.adapters.detect import read_trajectories

__all__ = ["AdapterError", "Trajectory", "read_trajectories"]
