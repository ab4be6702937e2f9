"""Named random streams and counter-based uniforms, so one part's draws never shift another's.

Every stream is keyed by its *name*, not by its position, so adding a lever (whose stream is named
after it) never changes the network, the traits, or another lever's draws. The step's hot draws are
counter-based: the uniform of consumer ``i`` at step ``t`` is a hash of (stream key, t, i). Each
consumer thus has its own fixed slot, whatever the state, and consumers with nothing to decide cost
nothing (Starsim's "slots" idea, in its simplest form).
"""

from __future__ import annotations

import zlib

import numba
import numpy as np

STREAMS = ("network", "traits", "sharing", "transitions", "attribution")


def stream_seed(seed: int, name: str) -> np.random.SeedSequence:
    """The seed sequence of stream ``name`` of a run with root ``seed``."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(name.encode()),))


def make_rng(seed: int, name: str) -> np.random.Generator:
    """An independent generator for one concern (``network``, ``traits``, ``lever:ads:0``, ...)."""
    return np.random.default_rng(stream_seed(seed, name))


def stream_key(seed: int, name: str) -> np.uint64:
    """The 64-bit key of a counter-based stream (see :func:`uniform`)."""
    return np.uint64(stream_seed(seed, name).generate_state(1, dtype=np.uint64)[0])


@numba.njit(inline="always")
def _mix(x: np.uint64) -> np.uint64:
    # SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijection with full avalanche.
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(inline="always")
def uniform(key: np.uint64, step: int, i: int) -> float:
    """The uniform in [0, 1) of slot ``i`` at ``step`` in the stream with ``key``."""
    x = _mix(key ^ _mix(np.uint64(step) + np.uint64(0x9E3779B97F4A7C15)))
    x = _mix(x + np.uint64(i) * np.uint64(0x9E3779B97F4A7C15))
    return (x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def uniforms(key: np.uint64, step: int, n: int) -> np.ndarray:
    """All ``n`` slots of one step as an array (for vectorised callers and tests)."""
    out = np.empty(n)
    for i in range(n):
        out[i] = uniform(key, step, i)
    return out
