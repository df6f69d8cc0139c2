"""`python -m tools` is the `tessera` command (as is `python -m tools.cli`)."""

import sys

from tools.cli import main

sys.exit(main())
