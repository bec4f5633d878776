"""Running the engine: `rappel worker` alone, or inside `rappel serve` on its own thread.

`rappel worker` runs the engine (and the simulated agents when configured) in
the main thread until SIGTERM or SIGINT, then stops gracefully. `rappel
serve` starts the same engine through a start-up hook when `run_engine` is on
(on SQLite it must be: one process does everything), on a dedicated thread
with its own event loop so engine database calls never stall HTTP requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from rappel.api.errors import ErrorRenderers
from rappel.bootstrap import Container
from rappel.config import host_port
from rappel.engine.runtime import Engine
from rappel.engine.sim_agents import SimAgentBots, ensure_sim_agents
from rappel.telephony.port import DialOutcome, Telephony, parse_sim_outcomes
from rappel.telephony.sim import (
    Distribution,
    DistributionKind,
    SimAgentProfile,
    SimRates,
    SimTelephony,
)

log = logging.getLogger(__name__)
PART = "engine"


def build_telephony(container: Container) -> Telephony:
    """The configured driver (`container.parts["telephony"]` wins, for tests and embedders)."""
    given = container.parts.get("telephony")
    if given is not None:
        telephony: Telephony = given
        return telephony
    s = container.settings
    if s.telephony == "sip":
        return build_sip_telephony(container)
    from rappel.engine.dialing import AGENT_LINE

    fixed = {**parse_sim_outcomes(s.sim_outcomes), AGENT_LINE: DialOutcome.ANSWER}
    return SimTelephony(
        container.clock,
        seed=s.sim_seed,
        rates=SimRates(
            answer=s.sim_answer_rate,
            busy=s.sim_busy_rate,
            no_answer=s.sim_no_answer_rate,
            machine=s.sim_machine_rate,
        ),
        ring=Distribution(s.sim_ring_s, DistributionKind.LOGNORMAL),
        # Log-normal talk times: real calls are rarely a few seconds long, and an answered
        # leg waiting for its bridge must not hang up on its own before the other side rings.
        talk=Distribution(s.sim_talk_s, DistributionKind.LOGNORMAL),
        fixed_outcomes=fixed,
    )


def build_sip_telephony(container: Container) -> Telephony:
    """The `sip` driver from the settings; its trunk health is shared with /readyz."""
    from rappel.telephony.media import MediaAnchor
    from rappel.telephony.prompts import PromptLibrary
    from rappel.telephony.sip.useragent import SipConfig, UserAgent
    from rappel.telephony.sip_driver import SipTelephony
    from rappel.telephony.trunk import TrunkHealth, TrunkLimits

    s = container.settings
    host, port = host_port(s.sip_listen, 5060, "RAPPEL_SIP_LISTEN")
    public_host, public_port = (
        host_port(s.sip_public_address, port, "RAPPEL_SIP_PUBLIC_ADDRESS")
        if s.sip_public_address
        else (None, None)
    )
    config = SipConfig(
        listen_host=host,
        listen_port=port,
        contact_host=public_host,
        contact_port=public_port,
        username=s.sip_username,
        password=s.sip_password,
        session_expires_s=s.sip_session_expires_s,
    )
    health = container.parts.setdefault("trunk_health", TrunkHealth())
    return SipTelephony(
        container.clock,
        UserAgent(config),
        MediaAnchor(s.rtpengine),
        trunk=s.sip_trunk,
        limits=TrunkLimits(s.sip_trunk_max_calls, s.sip_trunk_cps),
        prompts=PromptLibrary(s.prompts_dir),
        health=health,
        options_interval_s=s.sip_options_interval_s,
    )


def sim_profile(container: Container) -> SimAgentProfile:
    s = container.settings
    return SimAgentProfile(
        talk=Distribution(s.sim_talk_s),
        wrap=Distribution(s.sim_wrap_s, DistributionKind.LOGNORMAL),
    )


async def run_engine(container: Container, stop: asyncio.Event, **engine_options: Any) -> None:
    """Run the engine (and simulated agents) on the current loop until `stop` is set."""
    telephony = build_telephony(container)
    start = getattr(telephony, "start", None)
    if start is not None:
        # A real driver binds its ports and checks its media server before any call.
        await start()
    engine = Engine(
        container.db,
        container.clock,
        container.settings,
        telephony,
        container=container,
        **engine_options,
    )
    container.parts[PART] = engine
    from rappel.engine.campaign_dialer import CampaignDialer, DialerOptions

    connections = None
    if container.settings.telephony == "sip":
        from rappel.engine.agent_connections import AgentConnections

        connections = AgentConnections(
            container.db,
            container.clock,
            engine.calls,
            engine.owner,
            lease_s=container.settings.lease_s,
        )
    # OBI campaigns share the engine's telephony, agents and clock as a second work source.
    engine.add_source(
        CampaignDialer(
            container.db,
            container.clock,
            engine.calls,
            engine.owner,
            DialerOptions(lease_s=container.settings.lease_s),
            connections=connections,
        )
    )
    tasks = [asyncio.create_task(engine.run(), name="rappel-engine")]
    if container.settings.sim_agents > 0 and container.settings.telephony == "sim":
        bots = ensure_sim_agents(container.db, container.clock, container.settings.sim_agents)
        runner = SimAgentBots(
            container.db, container.clock, bots, sim_profile(container), container.settings.sim_seed
        )
        container.parts["sim_agents"] = runner
        tasks.append(asyncio.create_task(runner.run(stop), name="rappel-sim-agents"))
        log.info("%d simulated agent(s) logged in", len(bots))
    await stop.wait()
    engine.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    if connections is not None:
        await connections.close()
    close = getattr(telephony, "close", None)
    if close is not None:
        await close()


def run_worker(container: Container) -> int:
    """`rappel worker`: the engine alone, until SIGTERM/SIGINT."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        from rappel.integrations.webhooks import delivery_worker

        # `rappel serve` starts its delivery worker through the webhooks plugin; a lone
        # worker process delivers the webhooks itself.
        async with delivery_worker(container):
            await run_engine(container, stop)

    asyncio.run(main())
    return 0


class EngineThread:
    """The engine on its own thread and event loop (inside `rappel serve`)."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="rappel-engine", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=timeout)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await run_engine(self.container, self._stop)

        try:
            asyncio.run(main())
        except Exception:
            log.exception("the engine thread stopped on an error")
        finally:
            self._ready.set()


@contextlib.asynccontextmanager
async def engine_hook(container: Container) -> AsyncIterator[None]:
    thread = EngineThread(container)
    thread.start()
    try:
        yield
    finally:
        await asyncio.to_thread(thread.stop)


def engine_plugin(app: FastAPI, container: Container, _renderers: ErrorRenderers) -> None:
    """Start the engine with the app when `settings.run_engine` is on."""
    if container.settings.run_engine:
        app.state.startup_hooks.append(engine_hook)
