"""A small mutation-testing runner for the core modules (issue 17 item 4).

Why our own: mutmut 3 rewrites every function into trampolines in a ``mutants/`` copy and needs the
code under ``src/`` or a configured layout; cosmic-ray needs a session database and a config per
module. What we need is small: one mutant at a time, in memory, with the unit tests that exercise
the mutated module, deterministic ids, and a report of the survivors.

How a mutant runs: the parent imports pytest and the heavy third-party packages once, then forks one
child per mutant. The child puts an import hook first on ``sys.meta_path`` that serves the mutated
source (``ast.unparse`` of the mutated tree) for the one module under test, then runs
``pytest -x -q`` on the module's unit tests. No file is ever written: the working tree is never
mutated, so this can run in a checkout others are using. A child that fails (any test red, an
import error) killed the mutant; one that runs past its time budget (3x the clean run + 10 s) is
killed by the parent and counts as killed (timeout). Tests that start another interpreter do not see
the mutant (they cannot kill it).

Operators (each site gives one mutant, see ``Mutator``): comparison boundary/negation
(``<``/``<=``, ``>``/``>=``, ``==``/``!=``, ``in``/``not in``, ``is``/``is not``), arithmetic and bit
swaps (``+``/``-``, ``*``/``/``, ``//``/``*``, ``%``/``*``, ``<<``/``>>``, ``|``/``&``, ``^``/``|``, also
in ``+=``), integer constants off by one (``n`` -> ``n + 1``, ``1`` -> ``0``), float constants
(``x`` -> ``x + 1``, ``0.0`` -> ``1.0``), ``True``/``False`` flips, ``not x`` -> ``x``, ``-x`` -> ``x``,
``and``/``or`` swaps, ``min``/``max`` swaps, ``return x`` -> ``return None``, a removed statement
(a call statement, ``raise``, ``+=``, an assignment to an attribute or subscript, ``continue``,
``break``) replaced by ``pass``. Never mutated: strings (the SQL in ``sinks/sampling.py`` included),
docstrings, type annotations, ``__all__``, lines with ``# pragma: no mutate``.

Mutant ids are ``<module>:<function>:<operator>:<n>`` hashed to 8 hex digits, where ``n`` counts the
same operator within the same function: an edit elsewhere in the file does not change them.

    python tools/mutate.py --list [MODULE...]          # the mutants, no run
    python tools/mutate.py [MODULE...]                 # run all (see tools/mutation.py for the report)
    python tools/mutate.py --sample 40 --seed 17 --threshold 0.9
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import importlib.abc
import importlib.util
import json
import os
import select
import signal
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = REPO / "tools" / "mutation_equivalent.toml"

# module -> the test files that exercise it (targeted selection: a mutant runs in seconds). Files
# under tests/unit/ by name, others by their path under tests/ (chDB-only integration tests: no
# broker). pytest runs them in this order and stops at the first failure, so the fast by-value
# files come first: a killed mutant costs seconds, a survivor the whole list.
MODULES: dict[str, list[str]] = {
    "detectors/session.py": ["test_session_values.py", "test_pipeline.py", "test_detector_contract.py",
                             "test_redact.py", "test_session.py", "test_hostile_session.py"],
    "detectors/triage.py": ["test_quality_triage.py", "test_calibration.py", "test_cohort.py"],
    "detectors/cohort.py": ["test_cohort.py", "test_quality_triage.py"],
    "detectors/features.py": ["test_session_values.py", "test_quality_triage.py", "test_cohort.py", "test_session.py"],
    "detectors/redact.py": ["test_redact.py"],
    "sinks/version.py": ["test_sinks_rows.py"],
    "sinks/sampling.py": ["test_sinks_selection.py", "integration/test_clickhouse_sampling.py"],
    "streams/codec.py": ["test_codec.py", "test_hostile_codec.py", "test_pipeline.py"],
    "streams/pipeline.py": ["test_pipeline.py"],
    "streams/tracker.py": ["test_tracker.py", "test_pipeline.py"],
    "streams/worker/agents.py": ["test_ingest.py", "test_table_store.py", "test_pipeline.py"],
    "streams/worker/events_sink.py": ["test_events_sink.py"],
}
# tests left out of a module's selection: what they check is checked faster elsewhere
DESELECT: dict[str, list[str]] = {
    # 100k events (~20 s): the reorder bounds are checked at their edges in test_session_values.py
    "detectors/session.py": ["test_hostile_session.py::test_flood_of_100k_out_of_order_events_keeps_state_bounded"],
}
PRELOAD = ("pytest", "msgspec", "numpy", "aiokafka", "ahocorasick")  # not pytest plugins (hypothesis): pytest must import those itself

_CMP_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_BIN_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult,
    ast.Mod: ast.Mult, ast.LShift: ast.RShift, ast.RShift: ast.LShift, ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr, ast.BitXor: ast.BitOr, ast.Pow: ast.Mult,
}
_SYMBOL = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in",
    ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+", ast.Sub: "-", ast.Mult: "*",
    ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>", ast.BitOr: "|",
    ast.BitAnd: "&", ast.BitXor: "^", ast.Pow: "**", ast.And: "and", ast.Or: "or",
}


@dataclass(frozen=True)
class Mutant:
    id: str
    module: str  # repo-relative path
    line: int
    function: str
    operator: str
    description: str
    index: int  # the n-th mutation site of the module (the order of Mutator's walk)


class Mutator(ast.NodeTransformer):
    """Walks a module in a fixed order. ``target is None``: collects the sites; otherwise applies the
    ``target``-th one only."""

    def __init__(self, module: str, source: str, target: int | None = None) -> None:
        self.module = module
        self.lines = source.splitlines()
        self.target = target
        self.sites: list[Mutant] = []
        self.applied: str | None = None
        self._scope: list[str] = []
        self._counts: dict[tuple[str, str], int] = {}

    # ------------------------------------------------------------ bookkeeping
    def _site(self, node: ast.AST, operator: str, description: str) -> bool:
        """Registers a site; True when it is the one to apply."""
        line = getattr(node, "lineno", 0)
        if 0 < line <= len(self.lines) and "pragma: no mutate" in self.lines[line - 1]:
            return False
        function = ".".join(self._scope) or "<module>"
        n = self._counts.get((function, operator), 0)
        self._counts[(function, operator)] = n + 1
        key = f"{self.module}:{function}:{operator}:{n}"
        mutant = Mutant(hashlib.sha1(key.encode()).hexdigest()[:8], self.module, line, function, operator,
                        description, len(self.sites))
        self.sites.append(mutant)
        if self.target == mutant.index:
            self.applied = description
            return True
        return False

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.AST:
        self._scope.append(node.name)
        try:
            if isinstance(node, ast.ClassDef):
                node.body = self._body(node.body)  # bases, keywords, decorators: not mutated
            else:
                node.body = self._body(node.body)
                node.args.defaults = [self.visit(d) for d in node.args.defaults]
                node.args.kw_defaults = [d if d is None else self.visit(d) for d in node.args.kw_defaults]
        finally:
            self._scope.pop()
        return node

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                out.append(stmt)  # docstring
                continue
            if self._scope and self._removable(stmt) and self._site(stmt, "remove", f"remove `{_src(stmt)}`"):
                out.append(ast.copy_location(ast.Pass(), stmt))
                continue
            new = self.visit(stmt)
            if isinstance(new, list):
                out.extend(new)
            elif new is not None:
                out.append(new)
        return out or [ast.Pass()]

    @staticmethod
    def _removable(stmt: ast.stmt) -> bool:
        if isinstance(stmt, ast.Expr):
            return isinstance(stmt.value, ast.Call | ast.Await)
        if isinstance(stmt, ast.Assign):
            return all(isinstance(t, ast.Attribute | ast.Subscript) for t in stmt.targets)
        return isinstance(stmt, ast.Raise | ast.AugAssign | ast.Continue | ast.Break)

    # ------------------------------------------------------------ structure
    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._scoped(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._scoped(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        return self._scoped(node)

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = self._body(node.body)
        return node

    def _blocks(self, node: ast.AST) -> ast.AST:
        for field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                setattr(node, field, self._body(value))
            elif isinstance(value, list):
                setattr(node, field, [self.visit(v) if isinstance(v, ast.AST) else v for v in value])
            elif isinstance(value, ast.AST):
                setattr(node, field, self.visit(value))
        return node

    visit_If = visit_For = visit_AsyncFor = visit_While = visit_With = visit_AsyncWith = _blocks
    visit_Try = visit_TryStar = visit_ExceptHandler = visit_match_case = _blocks

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is not None:
            node.value = self.visit(node.value)  # the annotation is not mutated
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        if any(isinstance(t, ast.Name) and t.id in ("__all__", "__slots__") for t in node.targets):
            return node
        node.value = self.visit(node.value)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            if self._site(node, "bool", f"`{value}` -> `{not value}`"):
                return ast.copy_location(ast.Constant(not value), node)
        elif isinstance(value, int):
            new = 0 if value == 1 else value + 1
            if self._site(node, "number", f"`{value}` -> `{new}`"):
                return ast.copy_location(ast.Constant(new), node)
        elif isinstance(value, float):
            newf = 1.0 if value == 0.0 else value + 1.0
            if self._site(node, "number", f"`{value}` -> `{newf}`"):
                return ast.copy_location(ast.Constant(newf), node)
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        for part in node.values:  # the Python inside an f-string, not its text
            if isinstance(part, ast.FormattedValue):
                part.value = self.visit(part.value)
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        node.left = self.visit(node.left)
        for i, op in enumerate(node.ops):
            new = _CMP_SWAP.get(type(op))
            if new is not None and self._site(node, "compare", f"`{_SYMBOL[type(op)]}` -> `{_SYMBOL[new]}`"
                                              f" in `{_src(node)}`"):
                node.ops[i] = new()
        node.comparators = [self.visit(c) for c in node.comparators]
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        new = _BIN_SWAP.get(type(node.op))
        if new is not None and self._site(node, "arith", f"`{_SYMBOL[type(node.op)]}` -> `{_SYMBOL[new]}`"
                                          f" in `{_src(node)}`"):
            node.op = new()
        node.left = self.visit(node.left)
        node.right = self.visit(node.right)
        return node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        new = _BIN_SWAP.get(type(node.op))
        if new is not None and self._site(node, "arith", f"`{_SYMBOL[type(node.op)]}=` -> `{_SYMBOL[new]}=`"
                                          f" in `{_src(node)}`"):
            node.op = new()
        node.value = self.visit(node.value)
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        if self._site(node, "boolop", f"`{_SYMBOL[type(node.op)]}` -> `{_SYMBOL[new]}` in `{_src(node)}`"):
            node.op = new()
        node.values = [self.visit(v) for v in node.values]
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        if isinstance(node.op, ast.Not | ast.USub) and not (
                isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)):
            symbol = "not " if isinstance(node.op, ast.Not) else "-"
            if self._site(node, "unary", f"drop `{symbol}` in `{_src(node)}`"):
                operand: ast.AST = self.visit(node.operand)
                return operand
        node.operand = self.visit(node.operand)
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in ("min", "max") and isinstance(node.ctx, ast.Load):
            other = "max" if node.id == "min" else "min"
            if self._site(node, "minmax", f"`{node.id}` -> `{other}`"):
                return ast.copy_location(ast.Name(other, ast.Load()), node)
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            if self._site(node, "return", f"`{_src(node)}` -> `return None`"):
                node.value = ast.Constant(None)
                return node
            node.value = self.visit(node.value)
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        node.body = self.visit(node.body)
        return node


def _src(node: ast.AST, limit: int = 70) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mutants(module: str, root: Path = REPO) -> list[Mutant]:
    source = (root / module).read_text()
    collector = Mutator(module, source)
    collector.visit(ast.parse(source))
    return collector.sites


def mutated_source(module: str, index: int, root: Path = REPO) -> str:
    source = (root / module).read_text()
    applier = Mutator(module, source, target=index)
    tree = applier.visit(ast.parse(source))
    if applier.applied is None:
        raise LookupError(f"{module}: no mutant {index}")
    return ast.unparse(ast.fix_missing_locations(tree))


def module_name(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def equivalents(path: Path = EQUIVALENT_FILE) -> dict[str, dict[str, str]]:
    """id -> its entry (module, function, mutation, reason) in tools/mutation_equivalent.toml."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text())
    return {entry["id"]: entry for entry in data.get("equivalent", [])}


# ---------------------------------------------------------------------------------------- running
class _MutantLoader(importlib.abc.SourceLoader):
    def __init__(self, fullname: str, path: str, source: str) -> None:
        self.fullname, self.path, self.source = fullname, path, source

    def get_filename(self, fullname: str) -> str:
        return self.path

    def get_data(self, path: str) -> bytes:
        return self.source.encode()


class _MutantFinder(importlib.abc.MetaPathFinder):
    def __init__(self, fullname: str, path: str, source: str) -> None:
        self.fullname, self.path, self.source = fullname, path, source

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname != self.fullname:
            return None
        return importlib.util.spec_from_file_location(
            fullname, self.path, loader=_MutantLoader(fullname, self.path, self.source))


def _pytest_args(module: str, root: Path) -> list[str]:
    tests = [str(_test_path(root, name)) for name in MODULES[module]]
    deselect = [arg for name in DESELECT.get(module, []) for arg in ("--deselect", str(_test_path(root, name)))]
    return ["-x", "-q", "--no-header", "-p", "no:cacheprovider", "--timeout", "120", *deselect, *tests]


def _test_path(root: Path, name: str) -> Path:
    return root / "tests" / ("unit" if "/" not in name.split("::")[0] else "") / name


@dataclass
class Result:
    mutant: Mutant
    status: str  # killed | survived | timeout
    seconds: float


def _run_child(module: str, source: str | None, root: Path, budget: float) -> tuple[str, float]:
    """Forks a child running the module's tests (with the mutant in memory when ``source`` is given)."""
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        code = 3
        try:
            if not os.environ.get("MUTATE_VERBOSE"):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            if source is not None:
                sys.meta_path.insert(0, _MutantFinder(module_name(module), str(root / module), source))
            import pytest
            code = int(pytest.main(_pytest_args(module, root)))
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    deadline = start + budget
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            rc = os.waitstatus_to_exitcode(status)
            return ("survived" if rc == 0 else "killed"), time.monotonic() - start
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", time.monotonic() - start
        select.select([], [], [], 0.05)


def run(selected: list[Mutant], root: Path = REPO, log: bool = True) -> tuple[list[Result], dict[str, float]]:
    """Runs each mutant once. First a clean run per module (it must pass; it sets the time budget)."""
    sys.path.insert(0, str(root))
    os.environ.setdefault("CI", "true")  # the derandomized hypothesis profile: a run is reproducible
    os.environ["PYTHONPATH"] = os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    clean: dict[str, float] = {}
    for module in sorted({m.module for m in selected}):
        status, seconds = _run_child(module, None, root, 600)
        if status != "survived":
            raise SystemExit(f"mutate: the unit tests of {module} fail without a mutant ({status})")
        clean[module] = seconds
        if log:
            print(f"[clean] {module}: {seconds:.1f}s ({' '.join(MODULES[module])})", flush=True)
    results = []
    for n, mutant in enumerate(selected, 1):
        source = mutated_source(mutant.module, mutant.index, root)
        status, seconds = _run_child(mutant.module, source, root, 3 * clean[mutant.module] + 10)
        results.append(Result(mutant, status, seconds))
        if log:
            print(f"[{n}/{len(selected)}] {status:8} {seconds:5.1f}s {mutant.id} {mutant.module}:{mutant.line}"
                  f" {mutant.description}", flush=True)
    return results, clean


def sample(all_mutants: list[Mutant], size: int, seed: int) -> list[Mutant]:
    """A deterministic sample: the same code, size and seed always give the same mutants. Mutants are
    ranked by a hash of (seed, id), so recording an equivalent or adding code elsewhere swaps few."""
    eq = equivalents()
    ranked = sorted((m for m in all_mutants if m.id not in eq),
                    key=lambda m: hashlib.sha1(f"{seed}:{m.id}".encode()).hexdigest())
    return sorted(ranked[:size], key=lambda m: (m.module, m.index))


def all_of(modules: list[str]) -> Iterator[Mutant]:
    for module in modules:
        yield from mutants(module)


def _module_path(name: str) -> str:
    """``detectors.session`` or ``detectors/session.py``: the repo-relative path."""
    return name if name.endswith(".py") else name.replace(".", "/") + ".py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--show", metavar="ID", help="print the mutated source of one mutant's line")
    parser.add_argument("--sample", type=int, metavar="N", help="run a deterministic sample of N mutants")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--threshold", type=float, help="exit 1 when the killed share is below this")
    parser.add_argument("--json", type=Path, help="write the results as JSON lines here")
    parser.add_argument("--ids", type=Path, help="run only the mutants whose ids this file lists (e.g. survivors)")
    args = parser.parse_args(argv)
    modules = [_module_path(m) for m in args.modules] or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        parser.error(f"not a core module: {', '.join(unknown)}")
    found = list(all_of(modules))
    if args.list:
        for m in found:
            print(f"{m.id} {m.module}:{m.line} [{m.function}] {m.operator}: {m.description}")
        print(f"{len(found)} mutants")
        return 0
    if args.show:
        (m,) = [m for m in found if m.id == args.show]
        print(f"{m.module}:{m.line} [{m.function}] {m.description}")
        return 0
    eq = equivalents()
    selected = sample(found, args.sample, args.seed) if args.sample else [m for m in found if m.id not in eq]
    if args.ids:
        wanted = set(args.ids.read_text().split())
        selected = [m for m in selected if m.id in wanted]
    start = time.monotonic()
    results, _ = run(selected)
    killed = sum(r.status != "survived" for r in results)
    score = killed / len(results) if results else 1.0
    if args.json:
        with args.json.open("w") as out:
            for r in results:
                out.write(json.dumps({**asdict(r.mutant), "status": r.status, "seconds": round(r.seconds, 2)}) + "\n")
    for r in results:
        if r.status == "survived":
            print(f"SURVIVED {r.mutant.id} {r.mutant.module}:{r.mutant.line} [{r.mutant.function}] "
                  f"{r.mutant.description}")
    print(f"mutation score: {killed}/{len(results)} killed = {score:.1%} ({len(eq)} equivalent excluded) "
          f"in {time.monotonic() - start:.0f}s")
    if args.threshold is not None and score < args.threshold:
        print(f"mutation score {score:.1%} is below the threshold {args.threshold:.0%}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["MODULES", "Mutant", "mutants", "mutated_source", "run", "sample"]
