"""`python -m xcross_core.cli`: the `xcross` command."""

import sys

from xcross_core.cli import main

sys.exit(main())
