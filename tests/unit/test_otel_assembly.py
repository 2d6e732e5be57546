"""OTel spans -> trajectories: one per conversation, every message exactly once and in order,
the same record as the same conversation sent as OpenAI messages, whatever the span order."""

from __future__ import annotations

import json
import random
from typing import Any

import msgspec
import pytest

from detectors.adapters.openai import to_trajectory
from detectors.adapters.otel import Assembler, assemble, decode
from detectors.model import Event, ToolResult
from detectors.session import Session
from streams.codec import encode_report
from streams.pipeline import from_files
from tests.support.otel import WEATHER, conversation_spans, plain, to_proto, untraced

SHAPES = ("genai", "genai-event", "legacy", "openinference")
AGENT = {"genai": "agent-7", "genai-event": "agent-7", "legacy": "agent-7", "openinference": "support"}


def _otel(shape: str, **kw: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    sdk, timed = conversation_spans(WEATHER, conversation=f"c-{shape}", shape=shape, **kw)
    return decode(to_proto(sdk), "otlp_proto"), timed


def _as_openai(shape: str, timed: list[dict[str, Any]]) -> Any:
    """The same conversation as OpenAI messages (the flat shapes carry arguments as JSON text,
    as OpenAI itself does)."""
    messages = json.loads(json.dumps(timed))
    if shape in ("legacy", "openinference"):
        for message in messages:
            for call in message.get("tool_calls") or ():
                call["function"]["arguments"] = json.dumps(call["function"]["arguments"])
    metadata = {"agent_id": AGENT[shape], "app_id": "support-bot", "tenant_id": "acme", "model": "gpt-4o"}
    return to_trajectory({"id": f"c-{shape}", "messages": messages, "metadata": metadata}, "x", "test")


def _record(trajectory: Any) -> bytes:
    return encode_report(next(iter(from_files([trajectory]))).report)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_same_conversation_gives_the_same_record_as_openai_messages(shape: str) -> None:
    spans, timed = _otel(shape)
    [trajectory] = assemble(spans)
    openai = _as_openai(shape, timed)
    assert plain(trajectory.events) == openai.events
    assert _record(trajectory) == _record(openai)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_message_is_one_event_and_a_failed_tool_run_marks_its_one_result(shape: str) -> None:
    spans, _ = _otel(shape, failed_calls=frozenset({"call_VSPy"}))
    [trajectory] = assemble(spans)
    assert [e.seq for e in trajectory.events] == list(range(9))
    results = [e for e in trajectory.events if isinstance(e, ToolResult)]
    assert [(r.call_id, r.tool, r.is_error) for r in results] == [
        ("call_VSPy", "get_weather", True), ("call_Q2", "get_weather", None)]
    assert untraced(results[0].attributes) == {"otel_error_type": "TimeoutError"}
    report = next(iter(from_files([trajectory]))).report
    assert (report.tool_calls, report.tool_errors, report.user_turns) == (2, 1, 2)
    assert (report.agent_id, report.app_id, report.tenant_id, report.model) == (
        AGENT[shape], "support-bot", "acme", "gpt-4o")


def _streamed(records: list[list[Any]], assembler_per_record: bool) -> Session:
    """Records through streaming assemblers (one shared, or a fresh one per record as with many
    workers), the events fed to a session in arrival order, as the worker does."""
    shared = Assembler()
    session: Session | None = None
    for record in records:
        batch = (Assembler() if assembler_per_record else shared).add(record)
        assert batch.problems == []
        for event in batch.events:
            session = session or Session(event.trajectory_id)
            session.feed(event)
    assert session is not None
    session.close()
    return session


def _without_times(session: Session) -> dict[str, Any]:
    report = msgspec.to_builtins(session.report())
    return {k: v for k, v in report.items() if k not in ("first_ts", "last_ts")}


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("per_record", [False, True])
def test_spans_out_of_order_over_many_records_give_the_same_record(seed: int, per_record: bool) -> None:
    """Spans that carry their conversation id, shuffled and spread over records of 1-3 spans, read
    by one assembler or by a fresh one per record (many workers)."""
    spans, _ = _otel("genai", everywhere=True)
    [trajectory] = assemble(spans)
    expected = Session(trajectory.id)
    for event in trajectory.events:
        expected.feed(event)
    expected.close()
    rng = random.Random(seed)
    shuffled = rng.sample(spans, len(spans))
    records, at = [], 0
    while at < len(shuffled):
        size = rng.randint(1, 3)
        records.append(shuffled[at:at + size])
        at += size
    streamed = _streamed(records, per_record)
    assert _without_times(streamed) == _without_times(expected)
    assert streamed.state.features.events == 9 and streamed.state.gaps == 0


@pytest.mark.parametrize("seed", range(4))
def test_a_trace_in_one_record_in_any_order_takes_the_conversation_id_of_its_agent_span(seed: int) -> None:
    spans, _ = _otel("genai")  # the id only on invoke_agent, which ends (and is exported) last
    shuffled = random.Random(seed).sample(spans, len(spans))
    batch = Assembler().add(shuffled)
    assert {e.trajectory_id for e in batch.events} == {"c-genai"} and len(batch.events) == 9


def test_a_span_alone_before_its_trace_says_the_conversation_is_keyed_by_trace_id() -> None:
    """The documented limit (docs/otel.md): without its conversation id and before any span of its
    trace that has one, a span is keyed by its trace id; spans after such a span are keyed right."""
    spans, _ = _otel("genai")
    chats = [s for s in spans if s.name.startswith("chat")]
    root = next(s for s in spans if s.name.startswith("invoke_agent"))
    assembler = Assembler()
    early = assembler.add([chats[0]]).events
    assert {e.trajectory_id for e in early} == {root.trace_id}
    assembler.add([root])
    late = assembler.add([chats[-1]]).events
    assert {e.trajectory_id for e in late} == {"c-genai"}


def test_a_shared_assembler_emits_each_message_once_however_often_spans_repeat_it() -> None:
    spans, _ = _otel("genai", everywhere=True)
    assembler = Assembler()
    emitted: list[Event] = []
    for _ in range(3):  # the same spans redelivered
        for span in spans:
            emitted += assembler.add([span]).events
    assert [e.seq for e in emitted] == list(range(9))


def test_a_failed_tool_run_seen_before_the_history_that_repeats_it_is_joined_in_streaming() -> None:
    spans, _ = _otel("genai", failed_calls=frozenset({"call_VSPy"}))
    assembler = Assembler()
    tool_first = sorted(spans, key=lambda s: not s.name.startswith("execute_tool"))
    events = [e for span in tool_first for e in assembler.add([span]).events]
    failed = [e for e in events if isinstance(e, ToolResult) and e.is_error]
    assert [e.call_id for e in failed] == ["call_VSPy"]


def test_conversations_key_by_conversation_id_then_session_id_then_trace() -> None:
    one, _ = _otel("genai")  # gen_ai.conversation.id on invoke_agent only: its children inherit it
    two, _ = conversation_spans(WEATHER[:2], conversation="s-9", shape="openinference")
    bare = decode(to_proto(two), "otlp_proto")
    for span in bare:
        span.attributes.pop("session.id", None)
    ids = [t.id for t in assemble([*one, *decode(to_proto(two), "otlp_proto")])]
    assert sorted(ids) == ["c-genai", "s-9"]
    assert [t.id for t in assemble(bare)] == [bare[0].trace_id]


def test_bounded_state_under_a_flood_of_conversations_and_tool_runs() -> None:
    spans, _ = _otel("genai")
    assembler = Assembler(max_conversations=5, max_traces=5, max_tool_runs=2)
    for n in range(50):
        for span in spans:
            span.attributes["gen_ai.conversation.id"] = f"flood-{n}"
            span.trace_id = f"{n:032x}"
        assembler.add(spans)
    assert len(assembler.conversations) == 5 and len(assembler.identities.traces) == 5
    assert all(len(c.runs) <= 2 for c in assembler.conversations.values())


@pytest.mark.parametrize("system_on", ["first", "second"])
def test_spans_with_and_without_system_instructions_continue_the_same_history(system_on: str) -> None:
    """The prefix a span continues counts conversation turns, not system messages (which make no
    event): a later span without the system instructions does not shift positions."""
    user = {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    hello = {"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}
    again = {"role": "user", "parts": [{"type": "text", "content": "and the order?"}]}
    done = {"role": "assistant", "parts": [{"type": "text", "content": "shipped"}]}
    base = {"gen_ai.operation.name": "chat", "gen_ai.conversation.id": "sys"}
    system = {"gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}])}
    first = _span(1, {**base, **(system if system_on == "first" else {}),
                      "gen_ai.input.messages": json.dumps([user]), "gen_ai.output.messages": json.dumps([hello])})
    second = _span(2, {**base, **(system if system_on == "second" else {}),
                       "gen_ai.input.messages": json.dumps([user, hello, again]),
                       "gen_ai.output.messages": json.dumps([done])})
    assembler = Assembler()
    events = assembler.add([first]).events + assembler.add([second]).events
    assert [(e.seq, e.text) for e in events] == [  # type: ignore[union-attr]
        (0, "hi"), (1, "hello"), (2, "and the order?"), (3, "shipped")]
    if system_on == "first":
        [whole] = assemble([first, second])
        assert plain(whole.events) == plain(events)


def _span(n: int, attributes: dict[str, Any]) -> Any:
    from detectors.adapters.otel import Span
    return Span(trace_id="1" * 32, span_id=f"{n:016x}", name="chat", start_ns=n * 10**9, end_ns=n * 10**9 + 1,
                attributes=attributes)
