"""sipp (Debian package sip-tester) as a scripted far end, one process per test.

`sipp_uas("uas_reject.xml", tmp_path, keys={"status": "486"})` starts sipp on free ports
with a scenario from `tests/support/sip/` and stops it afterwards. sipp exits 0 when the
scenario ran to its end (every expected ACK, BYE, CANCEL arrived), which is what tests
assert with `peer.finished()`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.peers import free_port_block, require_binary, wait_until


def free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP right now."""
    return free_port_block(1, (socket.SOCK_DGRAM, socket.SOCK_STREAM))


def bound(port: int, process: subprocess.Popen[bytes], transport: str) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"exited with {process.returncode} before listening")
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


SCENARIOS = Path(__file__).parent / "sip"


@dataclass
class Sipp:
    """A running sipp: its SIP port, its process and where it logs."""

    port: int
    process: subprocess.Popen[bytes]
    messages: Path
    screen: Path

    def uri(self, user: str = "bob", transport: str = "udp") -> str:
        suffix = ";transport=tcp" if transport == "tcp" else ""
        return f"sip:{user}@127.0.0.1:{self.port}{suffix}"

    def finished(self, timeout_s: float = 30.0) -> int:
        """Wait for sipp to end; its exit code (0 = the scenario ran to its end)."""
        return self.process.wait(timeout_s)

    def log(self) -> str:
        """Every message sipp sent and received."""
        return self.messages.read_text(errors="replace") if self.messages.exists() else ""


@contextmanager
def sipp_uas(
    scenario: str,
    tmp_path: Path,
    *,
    transport: str = "udp",
    keys: dict[str, str] | None = None,
    fill: dict[str, str] | None = None,
    timeout_s: int = 30,
) -> Iterator[Sipp]:
    """Run sipp as a UAS with `scenario` (a file in tests/support/sip/) for one call.

    `keys` become sipp's `-key` values (`[name]` in messages); `fill` replaces `{{name}}`
    in the file before sipp reads it, for what sipp checks at load time (response codes).
    """
    binary = require_binary("sipp")
    port, control, media = free_port(), free_port(), free_port()
    messages, screen = tmp_path / f"sipp-{port}-messages.log", tmp_path / f"sipp-{port}.out"
    path = SCENARIOS / scenario
    if fill:
        text = path.read_text()
        for name, value in fill.items():
            text = text.replace("{{" + name + "}}", value)
        path = tmp_path / f"{port}-{scenario}"
        path.write_text(text)
    command = [
        binary, "-sf", str(path), "-i", "127.0.0.1", "-p", str(port),
        "-t", "t1" if transport == "tcp" else "u1", "-m", "1", "-nostdin",
        "-cp", str(control), "-mp", str(media), "-timeout", f"{timeout_s}s", "-timeout_error",
        "-trace_msg", "-message_file", str(messages),
    ]  # fmt: skip
    for name, value in (keys or {}).items():
        command += ["-key", name, value]
    with screen.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True
        )
    try:
        wait_until(lambda: bound(port, process, transport), 15, f"sipp listening on {port}")
        yield Sipp(port, process, messages, screen)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
