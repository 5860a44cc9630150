"""Python's cyclic garbage collector held off while a large, acyclic tree is built.

Loading a suite allocates millions of short- and long-lived objects (libyaml's nodes and marks, then
the located dicts and lists): each allocation burst triggers collections whose oldest generation walks
the whole growing heap, so the time grows faster than the file. Measured here on a generated suite of
10,000 checks (1.6 MB), composing the YAML took 2.2-3.8 s with the collector paused against 7.9-12.7 s
with it running, and the whole load 11 s against 26 s (a loaded machine: ratios, not absolutes). Those
trees hold no reference cycles, so nothing is left for the collector to find; it runs again afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """No automatic collection inside; restored as it was on the way out (also on error)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
