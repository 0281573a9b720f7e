"""``python -m lrpo.reward_server ARGS`` is ``lrpo serve ARGS`` (for scripts)."""

import sys

from lrpo.cli import main

sys.exit(main(["serve", *sys.argv[1:]]))
