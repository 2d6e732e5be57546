"""interaction.satisfaction.*: the user thanks, confirms, or reports success.

At most one instance per user message, precedence gratitude > confirmation > success. Negated
phrases ("this is not great", "I don't think that works") never reach here: the matcher drops them.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from detectors.base import CloseView, EventView
from detectors.interaction.common import first_hit, phrase_signal
from detectors.model import Signal

FAMILIES = (
    ("gratitude", frozenset({"satisfaction.gratitude", "satisfaction.gratitude_opener"})),
    ("confirmation", frozenset({"satisfaction.confirmation", "satisfaction.confirmation_opener"})),
    ("success", frozenset({"satisfaction.success"})),
)


class SatisfactionState(msgspec.Struct):
    pass


class Satisfaction:
    name: ClassVar[str] = "interaction.satisfaction"
    kinds: ClassVar[frozenset[str]] = frozenset({"user"})
    state_type: ClassVar[type[msgspec.Struct]] = SatisfactionState

    def on_event(self, state: SatisfactionState, view: EventView) -> list[Signal]:
        if not view.text.tokens:
            return []
        for pattern_type, lexicons in FAMILIES:
            hit = first_hit(view.hits, lexicons)
            if hit is not None:
                return [phrase_signal(f"interaction.satisfaction.{pattern_type}", view, hit, pattern_type=pattern_type)]
        return []

    def on_close(self, state: SatisfactionState, close: CloseView) -> list[Signal]:
        return []
