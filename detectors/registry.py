"""The explicit, ordered set of detectors the engine runs by default."""

from __future__ import annotations

from detectors.base import Detector

DEFAULT_DETECTORS: tuple[Detector, ...] = ()
