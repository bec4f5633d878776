"""What every real-peer harness shares: finding binaries, free ports, waiting.

Outside CI a missing binary skips the test; with CI=true it fails it, because CI
installs every peer (scripts/ensure-telephony) and a skip would hide that.
"""

from __future__ import annotations

import random
import shutil
import socket
import time
from collections.abc import Callable

import pytest

from tests.support.databases import in_ci


def require_binary(name: str) -> str:
    """The path of `name`, or fail (CI) / skip (elsewhere) the test."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        message = f"{name} is not installed (bash scripts/ensure-telephony installs it)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing uses now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_block(size: int, kinds: tuple[int, ...] = (socket.SOCK_DGRAM,)) -> int:
    """The first of `size` consecutive ports, free now for every kind of socket given.

    Peers that bind several neighbouring ports (baresip: SIP on UDP and TCP,
    TLS on the next one) get a whole block, so parallel test runs do not collide.
    """
    for _ in range(200):
        base = random.randrange(20_000, 60_000 - size)
        if all(_is_free(port, kind) for port in range(base, base + size) for kind in kinds):
            return base
    raise RuntimeError(f"no block of {size} free ports found")


def _is_free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `condition` until it holds; raise naming `what` when it never does."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.02)
