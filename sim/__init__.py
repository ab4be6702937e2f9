"""wom-sim: agent-based simulation of word-of-mouth marketing on a social network (AISAS funnel)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wom-sim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.1.0"
