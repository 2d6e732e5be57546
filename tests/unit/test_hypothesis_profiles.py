"""The hypothesis profiles of tests/conftest.py: CI=true selects the deterministic, bounded one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOW = ("import json, tests.conftest; from hypothesis import settings; d = settings.default; "
        "print(json.dumps([settings.get_current_profile_name(), d.derandomize, d.database is None, d.max_examples, "
        "d.deadline is None]))")


def loaded(**env: str) -> list[object]:
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    done = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env={**clean, **env}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_ci_selects_the_deterministic_bounded_profile() -> None:
    assert loaded(CI="true") == ["ci", True, True, 100, True]


def test_a_local_run_searches_at_random() -> None:
    profile, derandomize, *_ = loaded()
    assert (profile, derandomize) == ("dev", False)


def test_hypothesis_profile_overrides_the_choice() -> None:
    assert loaded(CI="true", HYPOTHESIS_PROFILE="dev")[:2] == ["dev", False]
