"""OTel input speed on one core: OTLP protobuf decode, assembly, and the whole record path.

    .venv/bin/python bench/bench_otel.py [--conversations 200] [--turns 8] [--per-record 50] [--repeat 3]

The spans are made by the official SDK (tests/support/otel.py): per turn a user question, a tool
call, its result and the answer, so one ``chat`` span per assistant message (its input repeating
the whole history so far) and one ``execute_tool`` span per result; records of ``--per-record``
spans in end-time order, as a Collector batch would hold them. Figures (best of ``--repeat``):
- decode: protobuf bytes -> spans (opentelemetry-proto), spans/s;
- assemble: spans -> new events (``Assembler.add`` per record; every span's history is parsed,
  only new positions are emitted), spans/s, events/s, history messages parsed/s;
- record path: ``streams.otlp.OtlpReader.read`` (decode + assemble + encode the events-topic
  messages), records/s, spans/s, events/s.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detectors.adapters.otel import Assembler, decode
from streams.otlp import OtlpReader
from tests.support.otel import T0, conversation_spans, to_proto


def conversation(turns: int, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in range(turns):
        call = f"call_{n}_{t}"
        out += [{"role": "user", "content": f"where is order {n}-{t}? it was due yesterday"},
                {"role": "assistant", "content": "Let me check.",
                 "tool_calls": [{"id": call, "type": "function",
                                 "function": {"name": "get_order", "arguments": {"id": f"{n}-{t}"}}}]},
                {"role": "tool", "tool_call_id": call, "content": f'{{"status": "shipped", "eta": "{t + 2} days"}}'},
                {"role": "assistant", "content": f"Order {n}-{t} has shipped and arrives in {t + 2} days."}]
    return out


def best(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--per-record", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    spans, history = [], 0
    for n in range(args.conversations):
        messages = conversation(args.turns, n)
        made, _ = conversation_spans(messages, conversation=f"b-{n}", everywhere=True, start_ns=T0 + n * 10**9)
        spans += made
        history += sum(i + 1 for i, m in enumerate(messages) if m["role"] == "assistant")  # input + output
    spans.sort(key=lambda s: s.end_time)
    records = [to_proto(spans[i:i + args.per_record]) for i in range(0, len(spans), args.per_record)]
    megabytes = sum(map(len, records)) / 1e6
    print(f"{len(spans):,} spans ({args.conversations} conversations x {args.turns} turns) in {len(records)} "
          f"records, {megabytes:.1f} MB of OTLP protobuf")

    seconds, decoded = best(args.repeat, lambda: [decode(r) for r in records])
    print(f"decode:      {len(spans) / seconds:>10,.0f} spans/s   ({megabytes / seconds:.1f} MB/s)")

    def assemble() -> int:
        assembler, events = Assembler(), 0
        for batch in decoded:
            events += len(assembler.add(batch).events)
        return events

    seconds, events = best(args.repeat, assemble)
    print(f"assemble:    {len(spans) / seconds:>10,.0f} spans/s   {events / seconds:>10,.0f} events/s   "
          f"{history / seconds:,.0f} history messages parsed/s ({events:,} events)")

    def record_path() -> int:
        reader = OtlpReader()
        return sum(len(reader.read(r).messages) for r in records)

    seconds, _ = best(args.repeat, record_path)
    print(f"record path: {len(records) / seconds:>10,.0f} records/s {len(spans) / seconds:>10,.0f} spans/s   "
          f"{events / seconds:>10,.0f} events/s")


if __name__ == "__main__":
    main()
