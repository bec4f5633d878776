"""The long-running process's heap, settled once start-up is over."""

from __future__ import annotations

import gc


def settle_after_startup() -> None:
    """Collect once, then exempt every surviving object from the cyclic collector.

    What is alive when a server has started (modules, routes, table metadata,
    phone-number metadata) stays alive for the life of the process. Left in the
    collector's oldest generation, every full collection walks all of it again:
    about 55 ms on the intake benchmark's server, paid by whichever requests were
    in flight. Frozen, a full collection walks only what was made since start-up.
    """
    gc.collect()
    gc.freeze()
