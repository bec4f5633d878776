"""A real Rappel on SIP, with rtpengine and baresip phones: the end-to-end telephony lab.

    with SipLab(tmp_path, database_url) as lab:
        agent = lab.phone("agent1", 1000)              # the agent's own phone
        customer = lab.phone("16505551212", 440)       # a customer, reached through the "trunk"
        lab.start()                                    # rappel serve, RAPPEL_TELEPHONY=sip
        lab.set_phone("agent1", agent.uri)

The trunk is 127.0.0.1 on the customers' SIP port: a customer phone whose user is
its number answers `sip:<number>@127.0.0.1:<port>`, which is exactly the Request-URI
Rappel builds from `RAPPEL_SIP_TRUNK`. With several customers, each has its own
phone, and `trunk` names the one calls go to (or a kamailio in front of them).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from sqlalchemy import create_engine, update

from rappel.store.tables import tenants
from tests.support.peers import free_port_block, wait_until
from tests.support.phones import BaresipPhone
from tests.support.rtpengine import RtpEngineProcess
from tests.support.servers import free_port
from tests.support.tones import sine, write_wav

RAPPEL = [sys.executable, "-m", "rappel.cli"]
TOKEN = "fb65d0515b9631c6db72e7e66fe6df49"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: What each party sends, so a recording tells who was heard.
PROMPT_HZ, AGENT_HZ, CUSTOMER_HZ = 600, 1000, 440


class RappelProcess:
    """`rappel serve` or `rappel worker` with its JSON log in a file."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self._handle = open(log, "a")
        self.popen = subprocess.Popen(
            [*RAPPEL, *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=self._handle
        )

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._handle.close()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._handle.close()

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


class SipLab:
    """rtpengine, phones and a Rappel node configured for real calls."""

    def __init__(self, root: Path, database_url: str, **settings: str) -> None:
        self.root = root
        self.database_url = database_url
        self.settings = settings
        self.phones: dict[str, BaresipPhone] = {}
        self.rtpengine = RtpEngineProcess()
        self.processes: list[RappelProcess] = []
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.trunk_phone: str | None = None
        self.prompts = root / "prompts"

    def __enter__(self) -> SipLab:
        self.rtpengine.start()
        self.prompts.mkdir(parents=True, exist_ok=True)
        # The demo channel's prompt as a tone, so a recording shows when it was heard.
        write_wav(self.prompts / "welcome-callback.wav", sine(PROMPT_HZ, 2.0))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for process in self.processes:
            process.stop()
        for phone in self.phones.values():
            phone.stop()
        self.rtpengine.stop()

    # -- parts ---------------------------------------------------------------------------

    def phone(self, user: str, tone_hz: int, **options: Any) -> BaresipPhone:
        phone = BaresipPhone(user, tone_hz, self.root, **options).start()
        self.phones[user] = phone
        return phone

    def environment(self, sip_port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPEL_")}
        trunk = self.settings.get("trunk")
        if trunk is None:
            assert self.trunk_phone is not None, "say which phone is the trunk"
            trunk = f"sip:127.0.0.1:{self.phones[self.trunk_phone].sip_port}"
        env.update(
            RAPPEL_DATABASE_URL=self.database_url,
            RAPPEL_SECRET_KEY="sip-lab-secret",
            RAPPEL_LOG_FORMAT="json",
            RAPPEL_TELEPHONY="sip",
            RAPPEL_SIP_TRUNK=trunk,
            RAPPEL_SIP_LISTEN=f"127.0.0.1:{sip_port}",
            RAPPEL_RTPENGINE=self.rtpengine.address,
            RAPPEL_PROMPTS_DIR=str(self.prompts),
            RAPPEL_OUTBOUND_ALLOW="127.0.0.1/32,localhost",
            RAPPEL_SIP_OPTIONS_INTERVAL_S="2",
        )
        env.update({f"RAPPEL_{k.upper()}": v for k, v in self.settings.items() if k != "trunk"})
        return env

    def prepare(self) -> None:
        env = self.environment(5060)
        for verb in ("migrate", "demo"):
            done = subprocess.run(
                [*RAPPEL, verb], env=env, cwd=self.root, capture_output=True, timeout=120
            )
            assert done.returncode == 0, done.stderr
        engine = create_engine(self.database_url)
        with engine.begin() as conn:
            # Equal hard hours mean "no limit": the test must not depend on the time of day.
            conn.execute(update(tenants).values(hard_hours_start="00:00", hard_hours_end="00:00"))
        engine.dispose()

    def start(self) -> RappelProcess:
        """Migrate, provision the demo and serve (API + engine) on SIP."""
        self.prepare()
        return self.serve()

    def serve(self) -> RappelProcess:
        sip_port = free_port_block(1, (socket.SOCK_DGRAM, socket.SOCK_STREAM))
        env = self.environment(sip_port)
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        process = RappelProcess(args, env, self.root, self.root / f"rappel-{sip_port}.log")
        self.processes.append(process)
        self._wait_ready(process)
        return process

    def worker(self) -> RappelProcess:
        sip_port = free_port_block(1, (socket.SOCK_DGRAM, socket.SOCK_STREAM))
        env = self.environment(sip_port)
        process = RappelProcess(["worker"], env, self.root, self.root / f"worker-{sip_port}.log")
        self.processes.append(process)
        return process

    def _wait_ready(self, process: RappelProcess) -> None:
        def ready() -> bool:
            assert process.popen.poll() is None, process.tail()
            try:
                return httpx.get(self.base + "/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 30, "rappel answering /readyz")

    # -- the API ---------------------------------------------------------------------------

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=AUTH, timeout=10)

    def agent_id(self, username: str) -> str:
        with self.client() as api:
            users = api.get("/v1/users", params={"role": "agent"}).json()
        return str(next(u["id"] for u in users if u["username"] == username))

    def set_phone(self, username: str, phone: str) -> str:
        agent_id = self.agent_id(username)
        with self.client() as api:
            answer = api.patch(f"/v1/users/{agent_id}", json={"phone": phone})
        assert answer.status_code == 200, answer.text
        return agent_id

    def agent(self, agent_id: str, action: str, **body: Any) -> dict[str, Any]:
        with self.client() as api:
            answer = api.post(
                f"/v1/agent/{action}", params={"agent_id": agent_id}, json=body or None
            )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def state(self, agent_id: str) -> str:
        with self.client() as api:
            return str(api.get("/v1/agent/state", params={"agent_id": agent_id}).json()["state"])

    def wait_offer(self, agent_id: str, timeout_s: float = 30) -> str:
        """Wait for an offer on the agent's desk; its interaction id."""
        found: dict[str, str] = {}

        def offered() -> bool:
            with self.client() as api:
                answer = api.get("/v1/agent/offer", params={"agent_id": agent_id})
            if answer.status_code == 200:
                found["id"] = answer.json()["interaction_id"]
                return True
            return False

        wait_until(offered, timeout_s, "an offer on the agent's desk")
        return found["id"]

    def wait_state(self, agent_id: str, state: str, timeout_s: float = 30) -> None:
        wait_until(lambda: self.state(agent_id) == state, timeout_s, f"agent {state}")

    def interaction(self, interaction_id: str) -> dict[str, Any]:
        with self.client() as api:
            answer = api.get(f"/v1/interactions/{interaction_id}")
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


def talk_for(seconds: float) -> None:
    """Let both sides send their tones for a while (what the recordings will show)."""
    time.sleep(seconds)
