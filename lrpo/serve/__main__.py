"""``python -m lrpo.serve ARGS`` is ``lrpo serve ARGS`` (for scripts that start a server)."""

import sys

from lrpo.cli import main

sys.exit(main(["serve", *sys.argv[1:]]))
