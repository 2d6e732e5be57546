"""environment.exhaustion.*: tool results that failed for reasons outside the agent's control.

Same classifier and signal shape as execution.failure (detectors/execution/failure.py): each error
result is either a failure or an exhaustion, never both (flaw 22). Precedence among exhaustion types
fixes flaw 21: "Request exceeded the token limit" is context_overflow, "504 gateway timeout" is timeout.
"""

from __future__ import annotations

from detectors.execution.failure import ToolErrorDetector


class ExhaustionDetector(ToolErrorDetector):
    name = "environment.exhaustion"
    family = "environment.exhaustion."
