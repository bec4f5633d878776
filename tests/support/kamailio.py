"""kamailio as a SIP trunk for tests: digest 407 challenges, Record-Route, relay to a far end.

`kamailio_trunk(tmp_path, relay="sip:bob@127.0.0.1:5090")` runs kamailio in the foreground
on a free UDP port with `tests/support/sip/kamailio.cfg` and stops it afterwards; `log()`
returns what it logged (one "IN <method> ..." line per request, with its Route header).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.peers import require_binary, wait_until
from tests.support.sipp import SCENARIOS, bound, free_port

MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"


@dataclass
class Kamailio:
    """A running kamailio trunk."""

    port: int
    process: subprocess.Popen[bytes]
    output: Path

    @property
    def uri(self) -> str:
        return f"sip:127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.output.read_text(errors="replace")


@contextmanager
def kamailio_trunk(tmp_path: Path, *, relay: str) -> Iterator[Kamailio]:
    """Run kamailio challenging with 407 and relaying authenticated INVITEs to `relay`."""
    binary = require_binary("kamailio")
    port = free_port()
    config = (SCENARIOS / "kamailio.cfg").read_text()
    for name, value in {"port": str(port), "relay": relay, "modules": MODULES}.items():
        config = config.replace("{{" + name + "}}", value)
    folder = tmp_path / f"kamailio-{port}"
    folder.mkdir()
    (folder / "kamailio.cfg").write_text(config)
    output = folder / "kamailio.log"
    command = [
        binary, "-DD", "-E", "-f", str(folder / "kamailio.cfg"), "-Y", str(folder),
        "-P", str(folder / "kamailio.pid"), "-w", str(folder), "-m", "32", "-M", "4",
    ]  # fmt: skip
    with output.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until(lambda: bound(port, process, "udp"), 15, f"kamailio listening on {port}")
        yield Kamailio(port, process, output)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
