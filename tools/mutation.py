"""The full mutation run over the core modules, with a report (issue 17 item 4).

    .venv/bin/python tools/mutation.py [MODULE...] [--out tools/mutation_report.md]

Runs every mutant of tools/mutate.py (equivalents of tools/mutation_equivalent.toml excluded, one
process, one mutant at a time, in memory: the working tree is never changed) and writes a Markdown
report: the score per module and every survivor (module, line, function, mutation, id). Takes about
25-40 minutes on one core; pass modules to run a part. `.ci/run` runs a fixed sample instead
(`tools/mutate.py --sample 40 --seed 17 --threshold ...`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mutate


def report(results: list[mutate.Result], seconds: float) -> str:
    eq = mutate.equivalents()
    by_module: dict[str, list[mutate.Result]] = defaultdict(list)
    for r in results:
        by_module[r.mutant.module].append(r)
    lines = ["# Mutation report", "", f"`tools/mutation.py`, {len(results)} mutants in {seconds:.0f} s;"
             f" {len(eq)} equivalent mutants excluded (tools/mutation_equivalent.toml).", "",
             "| module | mutants | killed | survived | score |", "|---|---:|---:|---:|---:|"]
    total_killed = 0
    for module, rs in sorted(by_module.items()):
        killed = sum(r.status != "survived" for r in rs)
        total_killed += killed
        lines.append(f"| {module} | {len(rs)} | {killed} | {len(rs) - killed} | {killed / len(rs):.1%} |")
    if results:
        lines.append(f"| **all** | {len(results)} | {total_killed} | {len(results) - total_killed} |"
                     f" {total_killed / len(results):.1%} |")
    lines += ["", "## Survivors", ""]
    for r in results:
        if r.status == "survived":
            m = r.mutant
            lines.append(f"- `{m.id}` {m.module}:{m.line} `{m.function}`: {m.description}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*")
    parser.add_argument("--out", type=Path, default=Path("tools/mutation_report.md"))
    args = parser.parse_args(argv)
    modules = args.modules or list(mutate.MODULES)
    eq = mutate.equivalents()
    selected = [m for m in mutate.all_of(modules) if m.id not in eq]
    start = time.monotonic()
    results, _ = mutate.run(selected)
    text = report(results, time.monotonic() - start)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
