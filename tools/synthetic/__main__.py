"""``python -m tools.synthetic``: write the synthetic sample data (see `tools.synthetic.cli`)."""

import sys

from tools.synthetic.cli import main

sys.exit(main())
