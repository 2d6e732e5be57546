"""execution.consistency.* (our extension of the taxonomy): consent, grounding, claims, silence, ignored errors."""

from __future__ import annotations

import msgspec
import pytest

from detectors.execution.consistency import (
    DEFAULT_ENABLED,
    KINDS,
    MAX_SEEN,
    ConsistencyDetector,
    ConsistencyState,
    consent,
    first_claim,
)
from detectors.model import EXTENSION_SIGNAL_TYPES, PAPER_SIGNAL_TYPES, SIGNAL_TYPES, Event, Signal
from detectors.registry import DEFAULT_DETECTORS
from detectors.session import Engine, Session, analyze
from detectors.text import normalize
from tests.builders import A, C, End, R, U, conv

ALL = Engine([ConsistencyDetector(enabled=frozenset(KINDS))])


def run(events: list[Event], engine: Engine = ALL) -> list[Signal]:
    return analyze("t", events, engine=engine).signals


def kinds(signals: list[Signal]) -> list[tuple[str, int]]:
    return [(s.type.rsplit(".", 1)[1], s.index) for s in signals]


def only(kind: str, events: list[Event], **options: object) -> list[tuple[str, int]]:
    engine = Engine([ConsistencyDetector(enabled=frozenset({kind}), **options)])  # type: ignore[arg-type]
    return kinds(run(events, engine))


PROPOSE = A("I can cancel reservation ZFA04Y for a full refund. Would you like me to proceed (yes/no)?")
CANCEL = C("cancel_reservation", {"reservation_id": "ZFA04Y"}, call_id="c1")
CANCELLED = R('{"reservation_id": "ZFA04Y", "status": "cancelled"}', call_id="c1")


# -- taxonomy ------------------------------------------------------------------------------------
def test_extension_is_marked_and_the_paper_types_stay_as_they_are() -> None:
    assert len(PAPER_SIGNAL_TYPES) == 25 and not any("consistency" in t for t in PAPER_SIGNAL_TYPES)
    assert tuple(f"execution.consistency.{k}" for k in KINDS) == EXTENSION_SIGNAL_TYPES
    assert SIGNAL_TYPES == PAPER_SIGNAL_TYPES + EXTENSION_SIGNAL_TYPES
    signal = run(conv("t", U("cancel ZFA04Y"), PROPOSE, U("how long does a refund take"), CANCEL))[0]
    assert signal.metadata["extension"] is True and signal.metadata["consistency_type"] == "unconfirmed_action"


def test_registered_with_the_measured_defaults_only() -> None:
    [detector] = [d for d in DEFAULT_DETECTORS if isinstance(d, ConsistencyDetector)]
    assert detector.enabled == DEFAULT_ENABLED == {"unconfirmed_action", "silent_action"}
    with pytest.raises(ValueError, match="unknown"):
        ConsistencyDetector(enabled=frozenset({"made_up"}))


# -- unconfirmed_action --------------------------------------------------------------------------
@pytest.mark.parametrize(("reply", "expected"), [
    ("Yes, please go ahead.", []),
    ("No water bottle, just this one. Yes, proceed.", []),  # the last marker wins
    ("how long does the refund take?", [("unconfirmed_action", 3)]),
    ("No, wait, I want to keep it", [("unconfirmed_action", 3)]),
    ("Yes... actually hold on", [("unconfirmed_action", 3)]),
    ("I don't want to proceed", [("unconfirmed_action", 3)]),
])
def test_state_changing_call_needs_an_explicit_yes_after_the_proposal(reply: str, expected: list) -> None:
    events = conv("t", U("cancel my reservation ZFA04Y"), PROPOSE, U(reply), CANCEL, CANCELLED,
                  A("Your reservation ZFA04Y has been cancelled."))
    assert only("unconfirmed_action", events) == expected


def test_after_a_decline_the_reason_says_so() -> None:
    events = conv("t", U("cancel ZFA04Y"), PROPOSE, U("No, don't cancel it yet"), CANCEL)
    [signal] = run(events)
    assert signal.metadata["reason"] == "after_decline" and signal.tool == "cancel_reservation"


def test_one_confirmation_covers_the_calls_of_that_turn_and_each_new_action_needs_its_own() -> None:
    events = conv("t", U("change my flight and add a bag"), A("Shall I update the flight and the bags?"), U("yes"),
                  C("update_reservation_flights", {"reservation_id": "ZFA04Y"}), R("{}"),
                  C("update_reservation_baggages", {"reservation_id": "ZFA04Y"}), R("{}"),
                  A("Done: the flights and bags are updated."), U("also upgrade to business"),
                  A("Upgrading costs $300. Do you want me to go ahead?"), U("what about my seat"),
                  C("update_reservation_flights", {"reservation_id": "ZFA04Y", "cabin": "business"}))
    assert only("unconfirmed_action", events) == [("unconfirmed_action", 11)]


def test_an_action_never_proposed_is_judged_only_with_require_proposal_off() -> None:
    events = conv("t", U("please cancel ZFA04Y"), CANCEL, CANCELLED, A("It has been cancelled."))
    assert only("unconfirmed_action", events) == []
    assert only("unconfirmed_action", events, require_proposal=False) == [("unconfirmed_action", 1)]


def test_no_user_no_consent_to_ask_and_reads_are_never_judged() -> None:
    defaults = Engine([ConsistencyDetector()])
    assert run(conv("t", A("Shall I proceed?"), CANCEL, CANCELLED), defaults) == []  # an autonomous agent
    events = conv("t", U("hi"), PROPOSE, U("hmm"), C("get_reservation_details", {"reservation_id": "ZFA04Y"}))
    assert only("unconfirmed_action", events) == []


@pytest.mark.parametrize(("message", "expected"), [
    ("Yes", "confirm"), ("Sure, do it", "confirm"), ("no problem, go ahead", "confirm"),
    ("No longer needed. Yes, please cancel it.", "confirm"), ("Nope", "decline"), ("hold on a second", "decline"),
    ("Please don't proceed yet", "decline"), ("What's the price?", ""), ("", ""),
])
def test_consent_reading(message: str, expected: str) -> None:
    assert consent(normalize(message)) == expected


# -- ungrounded_argument -------------------------------------------------------------------------
def test_argument_values_must_appear_earlier() -> None:
    events = conv("t", U("I am mia_li_3668, send me a certificate"),
                  C("get_user_details", {"user_id": "mia_li_3668"}, call_id="u"),
                  R('{"payment_methods": {"credit_card_4421486": {}}, "reservations": ["NO6JO3"]}', call_id="u"),
                  C("book_reservation", {"user_id": "mia_li_3668", "cabin": "economy", "passengers": 1,
                                         "payment_methods": [{"payment_id": "credit_card_4421486", "amount": 155}]}))
    [signal] = run(events)
    assert (signal.type, signal.index) == ("execution.consistency.ungrounded_argument", 3)
    assert signal.metadata["argument"] == "payment_methods[0].amount"  # "economy", 1: no value tokens
    assert "155" in signal.snippet


def test_grounded_by_user_text_numbers_and_earlier_calls() -> None:
    events = conv("t", U("please refund $150.00 for order #W2378156"), A("Is that correct?"), U("yes"),
                  C("search_direct_flight", {"date": "2024-05-20"}), R("[]"),
                  C("send_certificate", {"amount": 150, "order": "W2378156", "date": "2024-05-20"}))
    assert only("ungrounded_argument", events) == []


def test_grounding_state_is_bounded_and_stops_judging_when_full() -> None:
    huge = " ".join(f"ID{i:06d}" for i in range(MAX_SEEN + 10))
    events = conv("t", U("hello"), C("search", {}, call_id="s"), R(huge, call_id="s"),
                  C("update_order", {"order_id": "ZZ999999"}))
    session = Session("t", engine=ALL)
    out = [s for e in events for s in session.feed(e)]
    state = session.state.detectors[0]
    assert isinstance(state, ConsistencyState) and len(state.seen) <= MAX_SEEN and state.saturated
    assert "execution.consistency.ungrounded_argument" not in {s.type for s in out}


# -- unbacked_claim ------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "outcome"), [
    ("I have cancelled your reservation ZFA04Y.", "cancelled"),
    ("Done! Your order has been successfully exchanged.", "exchanged"),
    ("I've confirmed your identity.", None),  # a check, not an outcome
    ("Would you like it to be cancelled?", None),
    ("Once I have cancelled it, you will get a refund.", None),
    ("This reservation has already been cancelled.", None),
    ("I've updated the proposal to the white lamp.", None),
])
def test_claim_reading(text: str, outcome: str | None) -> None:
    claim = first_claim(text.lower())
    assert (claim[1] if claim else None) == outcome


def test_claim_needs_a_successful_call_of_a_matching_verb() -> None:
    claim = A("I have cancelled your reservation ZFA04Y.")
    assert only("unbacked_claim", conv("t", U("cancel it"), claim)) == [("unbacked_claim", 1)]
    assert only("unbacked_claim", conv("t", U("cancel it"), CANCEL, CANCELLED, claim)) == []
    booked = [C("book_reservation", {}, call_id="b"), R("{}", call_id="b")]
    assert only("unbacked_claim", conv("t", U("x"), *booked, claim)) == [("unbacked_claim", 3)]
    failed = [CANCEL, R("Error: reservation not found", call_id="c1")]
    assert only("unbacked_claim", conv("t", U("x"), *failed, claim)) == [("unbacked_claim", 3)]


# -- silent_action -------------------------------------------------------------------------------
def test_state_change_never_reported_is_silent_at_close() -> None:
    events = conv("t", U("cancel ZFA04Y"), PROPOSE, U("yes"), CANCEL, CANCELLED, A("Anything else?"), End())
    [signal] = run(events)
    assert (signal.type, signal.index, signal.tool) == ("execution.consistency.silent_action", 4, "cancel_reservation")
    reported = conv("t", U("cancel ZFA04Y"), PROPOSE, U("yes"), CANCEL, CANCELLED, A("Done, it is cancelled."))
    assert run(reported) == []
    failed = conv("t", U("cancel ZFA04Y"), PROPOSE, U("yes"), CANCEL, R("Error: not allowed", call_id="c1"))
    assert run(failed) == []  # nothing changed (and no reply yet to judge the error by)


# -- ignored_error -------------------------------------------------------------------------------
def test_error_carried_past_without_a_word() -> None:
    error = [C("get_order_details", {"order_id": "#W1"}, call_id="g"), R("Error: order not found", call_id="g")]
    assert only("ignored_error", conv("t", U("where is #W1"), *error, A("Your order #W1 ships tomorrow."))) == [
        ("ignored_error", 3)]
    assert only("ignored_error", conv("t", U("where is #W1"), *error, A("Sorry, I could not find #W1."))) == []


def test_error_then_a_working_lookup_of_the_same_kind_is_not_ignored() -> None:
    events = conv("t", U("I'm Mei, mei@x.com, zip 80217"),
                  C("find_user_id_by_email", {"email": "mei@x.com"}, call_id="a"), R("Error: user not found", call_id="a"),
                  C("find_user_id_by_name_zip", {"zip": "80217"}, call_id="b"), R("mei_davis_8935", call_id="b"),
                  A("I found your account."))
    assert only("ignored_error", events) == []


def test_empty_result_counts_as_a_problem() -> None:
    events = conv("t", U("flights on May 20?"), C("search_direct_flight", {"date": "2024-05-20"}, call_id="s"),
                  R("[]", call_id="s"), A("Here are your options for May 20."))
    [signal] = run(events, Engine([ConsistencyDetector(enabled=frozenset({"ignored_error"}))]))
    assert signal.metadata["problem"] == "empty" and signal.metadata["result_index"] == 2


# -- the contract, with every type on -------------------------------------------------------------
def test_streaming_with_state_round_trips_equals_batch() -> None:
    events = conv("t", U("I am mia_li_3668, cancel ZFA04Y"), PROPOSE, U("what is the refund?"), CANCEL, CANCELLED,
                  C("get_order_details", {"order_id": "#W1"}, call_id="g"), R("Error: not found", call_id="g"),
                  A("I have booked your flight."), C("send_certificate", {"user_id": "mia_li_3668", "amount": 999}),
                  R("{}"), End())
    expected = run(events)
    assert {s.type.rsplit(".", 1)[1] for s in expected} == set(KINDS)
    session = Session("t", engine=ALL)
    streamed: list[Signal] = []
    for event in events:
        streamed += session.feed(event)
        session = Session("t", engine=ALL, state=ALL.decode_state(ALL.encode_state(session.state)))
    assert streamed + session.close() == expected
    state = session.state.detectors[0]
    assert len(msgspec.msgpack.encode(state)) < 1024


@pytest.mark.parametrize("text", [
    "", "confirm", "unconfirmed", "x(yes)", "(yes)", "_proceed", "1proceed", "é proceed", "éproceed",
    "would you like me to", "is that correct?", "it is done", "undone", "has  been", "all set.", "resetting",
])
def test_word_start_search_equals_the_boundary_regex(text: str) -> None:
    from detectors.execution import consistency as module

    assert module._at_word_start(module._PROPOSAL_BODY, text) == (module._PROPOSAL.search(text) is not None)
    assert module._reports(text) == (module._REPORT_WORDS.search(text) is not None)


def test_consent_markers_equal_the_finditer() -> None:
    from detectors.execution import consistency as module

    for raw in ("yes please go ahead", "no, dont proceed", "i dont want to proceed. yes", "ok, sounds good",
                "that works, please confirm", "not now", "yes yes yes"):
        tokens = normalize(raw).tokens
        padded = f" {' '.join(tokens)} "
        found = [(m.span(), m.lastgroup) for m in module._markers(tokens, padded)]
        assert found == [(m.span(), m.lastgroup) for m in module._MARKERS.finditer(padded)]
