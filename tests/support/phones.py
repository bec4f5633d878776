"""A real SIP phone for tests: baresip with auto-answer, a tone as microphone, recordings.

    with BaresipPhone("agent", tone_hz=1000, root=tmp_path) as agent, \\
         BaresipPhone("customer", tone_hz=440, root=tmp_path) as customer:
        customer.dial(agent.uri)
        agent.wait_for("CALL_ESTABLISHED")
        ...
        customer.hangup()
        agent.wait_for("CALL_CLOSED")
        tone_sequence(agent.heard(), freqs=[440, 600, 1000])   # what the agent heard

Each phone has its own folder (`accounts`, `config`, the tone, recordings), its
own SIP port (baresip also binds TLS on the next port) and RTP port range, and
a ctrl_tcp connection: commands go out as netstring JSON, and a reader thread
collects every event (CALL_INCOMING, CALL_RINGING, CALL_ESTABLISHED,
CALL_CLOSED with the reason in `param`, ...). The sndfile module records, per
call, what the phone sent (`*-enc.wav`) and what it heard (`*-dec.wav`); files
are named by the second the call started, so two calls of one phone that start
within the same second share (and overwrite) one file.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.peers import free_port_block, require_binary, wait_until
from tests.support.tones import sine, write_wav

_MODULES = ("g711.so", "aufile.so", "aubridge.so", "sndfile.so")


class BaresipPhone:
    """One baresip user agent on 127.0.0.1; a context manager."""

    def __init__(
        self,
        user: str,
        tone_hz: int,
        root: Path,
        answer_mode: str = "auto",
        tone_seconds: float = 60.0,
    ) -> None:
        self.binary = require_binary("baresip")
        self.user = user
        self.tone_hz = tone_hz
        self.folder = root / user
        self.recordings = self.folder / "rec"
        self.answer_mode = answer_mode
        self.tone_seconds = tone_seconds
        self.sip_port = free_port_block(2, (socket.SOCK_DGRAM, socket.SOCK_STREAM))
        self.ctrl_port = free_port_block(1, (socket.SOCK_STREAM,))
        self.rtp_min = free_port_block(20)
        self.events: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._process: subprocess.Popen[bytes] | None = None
        self._ctrl: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._tokens = 0

    @property
    def uri(self) -> str:
        """Where to call this phone."""
        return f"sip:{self.user}@127.0.0.1:{self.sip_port}"

    # Lifecycle -------------------------------------------------------------

    def start(self) -> BaresipPhone:
        self._write_folder()
        with (self.folder / "baresip.log").open("wb") as log:
            self._process = subprocess.Popen(
                [self.binary, "-f", str(self.folder)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
            )
        try:
            wait_until(self._connect, 10, f"baresip {self.user} accepting ctrl_tcp")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"baresip {self.user} did not start:\n{self.log()}") from None
        self._reader = threading.Thread(target=self._read, name=f"baresip-{self.user}", daemon=True)
        self._reader.start()
        return self

    def stop(self) -> None:
        if self._ctrl is not None:
            try:
                self.command("quit", wait=False)
            except OSError:
                pass
        if self._process is not None:
            try:
                self._process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._ctrl is not None:
            self._ctrl.close()
            self._ctrl = None

    def __enter__(self) -> BaresipPhone:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def log(self) -> str:
        path = self.folder / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # Control --------------------------------------------------------------

    def command(self, name: str, params: str = "", wait: bool = True) -> dict[str, Any] | None:
        """Send a ctrl_tcp command; return baresip's response (None when not waiting)."""
        if self._ctrl is None:
            raise RuntimeError(f"baresip {self.user} is not running")
        self._tokens += 1
        token = f"{self.user}-{self._tokens}"
        body = json.dumps({"command": name, "params": params, "token": token}).encode()
        self._ctrl.sendall(str(len(body)).encode() + b":" + body + b",")
        if not wait:
            return None
        return self._wait(lambda: self._response(token), 5, f"response to {name}")

    def dial(self, uri: str) -> None:
        self.command("dial", uri)

    def hangup(self) -> None:
        self.command("hangup")

    def accept(self) -> None:
        """Answer a ringing call (when `answer_mode` is not auto)."""
        self.command("accept")

    def wait_for(self, event_type: str, timeout_s: float = 10.0, after: int = 0) -> dict[str, Any]:
        """The first event of that type (among events numbered from `after`)."""

        def found() -> dict[str, Any] | None:
            return next((e for e in self.events[after:] if e.get("type") == event_type), None)

        return self._wait(found, timeout_s, f"{event_type} at {self.user}")

    def event_types(self) -> list[str]:
        with self._changed:
            return [str(event.get("type")) for event in self.events]

    # Recordings -------------------------------------------------------------

    def heard(self) -> Path:
        """The recording of what the phone heard in its latest call."""
        return self._latest("*-dec.wav")

    def all_heard(self) -> list[Path]:
        """What the phone heard, one recording per call, oldest first."""
        return sorted(self.recordings.glob("*-dec.wav"))  # named by start time

    def sent(self) -> Path:
        """The recording of what the phone sent in its latest call."""
        return self._latest("*-enc.wav")

    def _latest(self, pattern: str) -> Path:
        files = sorted(self.recordings.glob(pattern))  # named by start time
        if not files:
            raise FileNotFoundError(
                f"baresip {self.user} recorded no {pattern} in {self.recordings}"
            )
        return files[-1]

    # Inside ------------------------------------------------------------------

    def _write_folder(self) -> None:
        self.recordings.mkdir(parents=True, exist_ok=True)
        tone = self.folder / "tone.wav"
        write_wav(tone, sine(self.tone_hz, self.tone_seconds))
        (self.folder / "accounts").write_text(
            f"<sip:{self.user}@127.0.0.1:{self.sip_port}>;regint=0;"
            f"answermode={self.answer_mode};audio_codecs=pcmu\n"
        )
        lines = [
            ("poll_method", "epoll"),
            ("sip_listen", f"127.0.0.1:{self.sip_port}"),
            ("net_interface", "127.0.0.1"),
            ("audio_source", f"aufile,{tone}"),
            ("audio_player", f"aubridge,sink-{self.user}"),
            ("audio_alert", f"aubridge,sink-{self.user}"),
            ("rtp_ports", f"{self.rtp_min}-{self.rtp_min + 19}"),
            ("module_path", "/usr/lib/baresip/modules"),
            *(("module", module) for module in _MODULES),
            ("module_tmp", "uuid.so"),
            ("module_tmp", "account.so"),
            ("module_app", "menu.so"),
            ("module_app", "ctrl_tcp.so"),
            ("ctrl_tcp_listen", f"127.0.0.1:{self.ctrl_port}"),
            ("snd_path", str(self.recordings)),
        ]
        (self.folder / "config").write_text("".join(f"{k:<16} {v}\n" for k, v in lines))

    def _connect(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"baresip {self.user} exited:\n{self.log()}")
        try:
            self._ctrl = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.5)
        except OSError:
            return False
        self._ctrl.settimeout(None)
        return True

    def _read(self) -> None:
        assert self._ctrl is not None
        buffer = b""
        while True:
            try:
                chunk = self._ctrl.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while True:
                length, colon, rest = buffer.partition(b":")
                if not colon or not length.isdigit() or len(rest) < int(length) + 1:
                    break
                message = json.loads(rest[: int(length)])
                buffer = rest[int(length) + 1 :]
                with self._changed:
                    (self.events if message.get("event") else self.responses).append(message)
                    self._changed.notify_all()

    def _response(self, token: str) -> dict[str, Any] | None:
        return next((r for r in self.responses if r.get("token") == token), None)

    def _wait(self, find: Any, timeout_s: float, what: str) -> Any:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while (found := find()) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no {what} within {timeout_s} s; events: {self.event_types()}"
                    )
                self._changed.wait(left)
            return found
