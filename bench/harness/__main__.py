"""`python -m harness [flags]` (from bench/): the whole benchmark; bench/run.sh installs what it needs first."""

import sys

from .run import main

sys.exit(main(sys.argv[1:]))
