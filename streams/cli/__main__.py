"""`python -m streams.cli`: the `signals` command."""

import sys

from streams.cli.main import main

sys.exit(main())
