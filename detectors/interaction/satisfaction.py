"""interaction.satisfaction.*: the user thanks, confirms, or reports success.

At most one instance per user message: its most specific hit. Specific phrases say what was good
("that's helpful", "that works for me", "it worked"); generic ones are courtesy words and openers
("thanks", "Great,", "Perfect!"), reported only when the message has nothing more specific, so a
"Great," or a "thanks" never hides "it worked". Among hits of the same kind, precedence is
gratitude > confirmation > success. Negated phrases ("this is not great", "I don't think that
works") never reach here: the matcher drops them.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

from detectors.base import CloseView, EventView
from detectors.interaction.common import first_hit, phrase_signal
from detectors.model import Signal

SPECIFIC = (
    ("gratitude", frozenset({"satisfaction.gratitude"})),
    ("confirmation", frozenset({"satisfaction.confirmation"})),
    ("success", frozenset({"satisfaction.success"})),
)
GENERIC = (
    ("gratitude", frozenset({"satisfaction.courtesy", "satisfaction.gratitude_opener"})),
    ("confirmation", frozenset({"satisfaction.confirmation_opener"})),
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
        hits = view.hits
        if not hits:
            return []
        for specific, families in ((True, SPECIFIC), (False, GENERIC)):
            for pattern_type, lexicons in families:
                hit = first_hit(hits, lexicons)
                if hit is not None:
                    return [phrase_signal(f"interaction.satisfaction.{pattern_type}", view, hit,
                                          pattern_type=pattern_type, specific=specific)]
        return []

    def on_close(self, state: SatisfactionState, close: CloseView) -> list[Signal]:
        return []
