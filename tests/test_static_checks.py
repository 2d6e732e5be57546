"""ruff over the repository and strict mypy over detectors/, streams/ and sinks/ run as part of the test suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean() -> None:
    result = run("ruff", "check", "detectors", "streams", "sinks", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_detectors_streams_and_sinks() -> None:
    result = run("mypy")  # files and strictness from [tool.mypy] in pyproject.toml
    assert result.returncode == 0, result.stdout + result.stderr


# ----------------------------------------------------------------- layer rules (README "Architecture")
import ast  # noqa: E402 - the layer rules below are a section of their own
import re  # noqa: E402

LAYERED = ("detectors", "streams", "sinks")
ENVIRONMENT_OWNER = {"streams/settings.py"}
CLICKHOUSE_OWNER = {"sinks/client.py"}
# The Faust worker package, and the worker command that starts it.
FAUST_PACKAGE = "streams/worker/"
FAUST_OWNERS = {"streams/cli/commands/worker.py"}
# Packages by role: what each may not import. The shared core (streams/*.py) imports none of them.
ROLE_PACKAGES = ("streams.worker", "streams.replay", "streams.cli", "streams.review")
NOT_IMPORTED_BY = {"streams/worker/": ("streams.replay", "streams.cli"), "streams/replay/": ("streams.cli",),
                   "streams/review/": ("streams.worker", "streams.replay", "streams.cli")}


def faust_owner(path: str) -> bool:
    return path.startswith(FAUST_PACKAGE) or path in FAUST_OWNERS


def forbidden_imports(path: str) -> tuple[str, ...]:
    """The role packages that the module at ``path`` must not import."""
    if path.startswith("streams/") and path.count("/") == 1:  # the shared core
        return ROLE_PACKAGES
    return next((banned for prefix, banned in NOT_IMPORTED_BY.items() if path.startswith(prefix)), ())


SQL = re.compile(r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\b(?:CREATE|ALTER|DROP)\s+(?:TABLE|DATABASE|VIEW)\b")


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [node.module]
    return []


def violations(source: str, path: str) -> list[str]:
    """Layer rules broken by one module (``path`` relative to the repository root)."""
    tree, out = ast.parse(source), []
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        where = f"{path}:{getattr(node, 'lineno', 0)}"
        for module in _imported(node):
            top = module.split(".")[0]
            if top == "clickhouse_connect" and path not in CLICKHOUSE_OWNER:
                out.append(f"{where}: clickhouse_connect outside {sorted(CLICKHOUSE_OWNER)}")
            if top in ("faust", "mode") and not faust_owner(path):
                out.append(f"{where}: {top} outside the worker modules")
            for banned in forbidden_imports(path):
                if module == banned or module.startswith(banned + "."):
                    out.append(f"{where}: {banned} imported by {path} (see docs/architecture.md, the tree)")
        if (isinstance(node, ast.ImportFrom) and node.module == "os" and path not in ENVIRONMENT_OWNER
                and {"environ", "getenv", "putenv", "environb"} & {a.name for a in node.names}):
            out.append(f"{where}: the environment read outside {sorted(ENVIRONMENT_OWNER)}")
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
                and node.attr in ("environ", "getenv", "putenv", "environb") and path not in ENVIRONMENT_OWNER):
            out.append(f"{where}: os.{node.attr} outside {sorted(ENVIRONMENT_OWNER)}")
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                and not path.startswith("sinks/") and SQL.search(node.value)):
            out.append(f"{where}: SQL outside sinks/")
    return out


def test_layer_rules_hold() -> None:
    found = []
    for package in LAYERED:
        for file in sorted((ROOT / package).rglob("*.py")):
            rel = file.relative_to(ROOT).as_posix()
            found += violations(file.read_text(encoding="utf-8"), rel)
    assert found == []


def test_layer_rules_catch_each_violation() -> None:
    bad = ('import os\nfrom os import environ\nimport faust\nfrom clickhouse_connect import get_client\n'
           'x = os.environ.get("A") or os.getenv("B")\nq = f"SELECT id FROM {db}.t"\n'
           'def f():\n    """SELECT a FROM b is fine in a docstring."""\n')
    found = violations(bad, "streams/cli/commands/stats.py")
    assert sorted(line.split(": ", 1)[1] for line in found) == sorted([
        "the environment read outside ['streams/settings.py']", "faust outside the worker modules",
        "clickhouse_connect outside ['sinks/client.py']", "os.environ outside ['streams/settings.py']",
        "os.getenv outside ['streams/settings.py']", "SQL outside sinks/"])
    assert violations("import faust\nfrom mode import Service\n", "streams/worker/agents.py") == []
    assert violations("import faust\n", "streams/replay/kafka.py") == [
        "streams/replay/kafka.py:1: faust outside the worker modules"]
    wrong_way = "from streams.worker.faust_fixes import all_metadata\nimport streams.cli.output\n"
    assert [line.split(": ", 1)[1] for line in violations(wrong_way, "streams/pipeline.py")] == [
        "streams.worker imported by streams/pipeline.py (see docs/architecture.md, the tree)",
        "streams.cli imported by streams/pipeline.py (see docs/architecture.md, the tree)"]
    assert [line.split(": ", 1)[1] for line in violations(wrong_way, "streams/replay/range.py")] == [
        "streams.cli imported by streams/replay/range.py (see docs/architecture.md, the tree)"]
    assert violations(wrong_way, "streams/cli/commands/replay.py") == []
    assert [line.split(": ", 1)[1] for line in violations(wrong_way, "streams/review/routes.py")] == [
        "streams.worker imported by streams/review/routes.py (see docs/architecture.md, the tree)",
        "streams.cli imported by streams/review/routes.py (see docs/architecture.md, the tree)"]
    assert sorted(violations(bad.replace("import faust\n", ""), "streams/settings.py")) == [
        "streams/settings.py:3: clickhouse_connect outside ['sinks/client.py']",
        "streams/settings.py:5: SQL outside sinks/"]


MACHINE_PATH = re.compile(r"(?<![.\w])/(?:work|home|Users|root)/")


def test_no_absolute_machine_paths_in_the_repository() -> None:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    found = [f"{name}:{number}" for name in listed.split()
             if (ROOT / name).is_file() and (ROOT / name).suffix in {".py", ".md", ".sh", ".toml", ".yml", ".yaml", ".txt"}
             for number, line in enumerate((ROOT / name).read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if MACHINE_PATH.search(line)]
    assert found == []


def _module_name(file: Path) -> str:
    parts = file.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (at the top or inside functions)."""
    files = {_module_name(f): f for package in LAYERED for f in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, file in files.items():
        targets = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            for module in _imported(node):
                submodules = {f"{module}.{a.name}" for a in getattr(node, "names", ())} & files.keys()
                # `from package import submodule` needs the submodule, not the package's __init__
                targets.update(c for c in (submodules or {module}) if c in files and c != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], dict.fromkeys(graph, 0)  # 0 new, 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state[target] == 1:
                found.append([*path[path.index(target):], target])
            elif state[target] == 0:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if state[node] == 0:
            visit(node, [node])
    return found


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]


def test_role_packages_declare_their_api() -> None:
    import importlib

    for name in ROLE_PACKAGES:
        package = importlib.import_module(name)
        assert (package.__doc__ or "").strip(), f"{name}: say what the package owns in its docstring"
        assert package.__all__, f"{name}: declare the public API in __all__"
        missing = [attr for attr in package.__all__ if getattr(package, attr, None) is None]
        assert missing == [], f"{name}.__all__ names what it does not have: {missing}"


def test_one_verdict_type() -> None:
    """``detectors.verdict.Verdict`` is the trajectory's verdict; a tool error's kind is an ``ErrorClassification``."""
    defined = [file.relative_to(ROOT).as_posix() for package in LAYERED for file in sorted((ROOT / package).rglob("*.py"))
               for node in ast.parse(file.read_text(encoding="utf-8")).body
               if isinstance(node, ast.ClassDef) and node.name == "Verdict"]
    assert defined == ["detectors/verdict.py"]


# ----------------------------------------------------------------- the test-support layer (issue 11, item 5)
TESTS = ROOT / "tests"
SHARED_TEST_MODULES = ("tests.builders", "tests.support")  # what test code may import from tests/


def _fixture_names(tree: ast.AST) -> set[str]:
    """Functions decorated with ``pytest.fixture`` (bare or called)."""
    def is_fixture(decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return isinstance(target, ast.Attribute) and target.attr == "fixture"
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and any(map(is_fixture, node.decorator_list))}


def support_violations(source: str, path: str, fixtures: set[str]) -> list[str]:
    """Imports of test modules or conftests, and fixtures imported by name (they come from pytest_plugins)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            if node.module.startswith("tests.support") and (imported := fixtures & {a.name for a in node.names}):
                out.append(f"{path}:{node.lineno} imports fixtures {sorted(imported)} (pytest_plugins provides them)")
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            if (module == "tests" or module.startswith("tests.")) and not any(
                    module == shared or module.startswith(shared + ".") for shared in SHARED_TEST_MODULES):
                out.append(f"{path}:{node.lineno} imports {module} (shared helpers live in tests/support/)")
    return out


def _support_fixtures() -> set[str]:
    return {name for file in (TESTS / "support").glob("*.py") for name in _fixture_names(ast.parse(file.read_text()))}


def test_no_test_module_imports_another_or_a_conftest() -> None:
    fixtures = _support_fixtures()
    found = [v for file in sorted([*TESTS.rglob("*.py"), *(ROOT / "bench").glob("*.py")])
             for v in support_violations(file.read_text(), str(file.relative_to(ROOT)), fixtures)]
    assert found == []


def test_the_support_check_catches_each_violation() -> None:
    fixtures = {"ch", "kafka_url"}
    assert support_violations("from tests.integration.test_stream_records import synthetic", "t.py", fixtures)
    assert support_violations("from tests.integration.conftest import read_topic", "t.py", fixtures)
    assert support_violations("from tests.conftest import chdb_dsn", "t.py", fixtures)
    assert support_violations("import tests.integration.faults", "t.py", fixtures)
    assert support_violations("from tests.support.chdb import ch, count", "t.py", fixtures)
    assert not support_violations("from tests.support.chdb import count\nfrom tests.builders import U", "t.py",
                                       fixtures)


def test_support_fixtures_are_loaded_by_the_root_conftest() -> None:
    [plugins] = [set(ast.literal_eval(node.value)) for node in ast.parse((TESTS / "conftest.py").read_text()).body
                 if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["pytest_plugins"]]
    assert plugins == {f"tests.support.{f.stem}" for f in (TESTS / "support").glob("*.py")
                       if _fixture_names(ast.parse(f.read_text()))}
    assert not (TESTS / "integration" / "conftest.py").exists() or "pytest_plugins" not in (
        TESTS / "integration" / "conftest.py").read_text()
