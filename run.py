"""Command line of the word-of-mouth simulation: ``python run.py --help``."""

import sys

from sim.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python run.py"))
