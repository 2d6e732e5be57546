"""The root of the test tree: the shared fixtures (``tests/support/``, loaded as plugins for every
test directory) and the hypothesis profiles.

Profiles: ``ci`` (selected when CI=true, as ``.ci/run`` sets it) is deterministic -- derandomized,
no example database, so a run is the same on every machine -- bounded (at most 100 examples where a
test does not set its own ``max_examples``) and has no deadline nor the too-slow health check (a
loaded CI machine is slow; timing is measured in bench/, not asserted here). ``dev`` (the default)
is hypothesis's random search with its example database, without a deadline either.
HYPOTHESIS_PROFILE overrides the choice.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.support.chdb", "tests.support.kafka", "tests.support.worker", "tests.support.review"]

# both from hypothesis's "default" profile, not from whatever is loaded (hypothesis loads its own
# "ci" profile when it sees CI=true; ours replaces it)
_DEFAULT = settings.get_profile("default")
settings.register_profile("ci", _DEFAULT, derandomize=True, database=None, max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("dev", _DEFAULT, deadline=None)


def hypothesis_profile(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    if given := environ.get("HYPOTHESIS_PROFILE"):
        return given
    return "ci" if environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"


settings.load_profile(hypothesis_profile())
