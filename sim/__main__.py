"""``python -m sim``: the same command line as ``python run.py`` and ``wom-sim``."""

import sys

from sim.cli import main

if __name__ == "__main__":  # not in the worker processes that multiprocessing spawns
    sys.exit(main(prog="python -m sim"))
