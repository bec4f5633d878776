"""A real rtpengine in userspace for tests: its own ng port, port range and short timeouts.

    with RtpEngineProcess() as rtpengine:
        anchor = MediaAnchor(rtpengine.address)   # "127.0.0.1:<port>"
        ...
        rtpengine.log()                           # what it wrote to stderr

Calls whose media stops are ended by rtpengine itself after `timeout_s`, so a
test that crashes mid-call leaves nothing behind for long.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from tests.support.peers import free_port_block, free_udp_port, require_binary, wait_until


class RtpEngineProcess:
    """`rtpengine --table=-1 --foreground` on 127.0.0.1; a context manager."""

    def __init__(self, timeout_s: int = 10, ports: int = 200) -> None:
        self.binary = require_binary("rtpengine")
        self.ng_port = free_udp_port()
        self.port_min = free_port_block(ports)
        self.port_max = self.port_min + ports - 1
        self.timeout_s = timeout_s
        self._log = tempfile.NamedTemporaryFile(prefix="rtpengine-", suffix=".log")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ng_port}"

    def start(self) -> RtpEngineProcess:
        command = [
            self.binary,
            "--config-file=none",
            "--foreground",
            "--table=-1",
            "--log-stderr",
            "--interface=127.0.0.1",
            f"--listen-ng=127.0.0.1:{self.ng_port}",
            f"--port-min={self.port_min}",
            f"--port-max={self.port_max}",
            f"--timeout={self.timeout_s}",
            f"--silent-timeout={self.timeout_s}",
            f"--offer-timeout={self.timeout_s}",
            "--delete-delay=0",
            "--num-threads=2",
            "--media-num-threads=1",
        ]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            wait_until(self._answers_ping, 10, f"rtpengine on {self.address} answering ping")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"rtpengine did not start:\n{self.log()}") from None
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def _answers_ping(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"rtpengine exited:\n{self.log()}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.2)
            sock.sendto(b"probe d7:command4:pinge", ("127.0.0.1", self.ng_port))
            try:
                return b"pong" in sock.recv(1024)
            except OSError:
                return False

    def __enter__(self) -> RtpEngineProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self._log.close()
