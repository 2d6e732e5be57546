"""Placeholder: format detection is being written (adapters helper)."""

from __future__ import annotations

from collections.abc import Iterator

from detectors.adapters.base import Trajectory


def read_trajectories(path: str) -> Iterator[Trajectory]:
    raise NotImplementedError
