"""User-facing errors: what was expected, what arrived, and how to fix it."""

from __future__ import annotations


class CliError(Exception):
    def __init__(self, expected: str, got: str, fix: str) -> None:
        super().__init__(f"expected {expected}, got {got}. Fix: {fix}")
        self.expected, self.got, self.fix = expected, got, fix
