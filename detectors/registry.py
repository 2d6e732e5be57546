"""The explicit, ordered set of detectors the engine runs by default."""

from __future__ import annotations

from detectors.base import Detector
from detectors.environment.exhaustion import ExhaustionDetector
from detectors.execution.consistency import ConsistencyDetector
from detectors.execution.failure import FailureDetector
from detectors.execution.loops import LoopDetector
from detectors.interaction.disengagement import Disengagement
from detectors.interaction.misalignment import Misalignment
from detectors.interaction.satisfaction import Satisfaction
from detectors.interaction.stagnation import Stagnation

DEFAULT_DETECTORS: tuple[Detector, ...] = (
    Misalignment(),
    Stagnation(),
    Disengagement(),
    Satisfaction(),
    FailureDetector(),
    LoopDetector(),
    ExhaustionDetector(),
    ConsistencyDetector(),  # extension of the taxonomy (execution.consistency.*), after the paper's 25
)
