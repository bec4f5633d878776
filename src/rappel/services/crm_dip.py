"""Consumer orchestration: dip into the tenant's CRM for an interaction (seed 004).

`dip_for_interaction` builds the seed's request from the interaction's values
under the configured key names, calls the CRM through `DataDipClient` (SSRF
guard, timeout, retries, a circuit breaker per CRM URL), and then:

- keeps every returned value in the process's `SessionParameterStore`;
- writes the `saveToDatabase: true` values to `session_parameters`;
- records the dip in `datadip_log`: ok or failed with its reason, the number
  of parameters, never a value, never the token.

One parameter cannot spoil the others (`screen`): a name or value holding NUL
or an unpaired surrogate is not text and is dropped; a value to save longer
than the search index holds, or a name longer than its column, is kept for
the interaction but not saved. The log row names them (never their values)
in `reason`, also on an ok dip, and is written even when saving fails.

It never raises and the interaction never waits on it: intake calls
`start_dip` (a background task); the engine may `await dip_for_interaction`
before an offer, bounded by the configured timeout times the attempts.
A failed dip leaves the interaction without parameters, nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Coroutine, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from rappel.bootstrap import Container
from rappel.domain.crm_dip import DipStage, InteractionValues, build_request
from rappel.domain.errors import RappelError
from rappel.domain.ids import new_id
from rappel.domain.text import unstorable
from rappel.integrations.circuit import CircuitBreaker
from rappel.integrations.datadip_client import DataDipClient, DipResult, SessionParameter
from rappel.integrations.http import GuardedHttpClient
from rappel.integrations.ssrf import OutboundAllowlist, system_resolver
from rappel.services import session_params
from rappel.services.crm_dip_config import CrmDipConfig, applicable_config, decrypt_token
from rappel.store import datadip as store

log = logging.getLogger("rappel.crm_dip")

PART = "crm_dipper"
_parts_lock = threading.Lock()


@dataclass(frozen=True)
class DipOutcome:
    """What one dip came to (no values: they may not be logged)."""

    ok: bool
    #: why the dip failed; on an ok dip, the parameters dropped or not saved (or "")
    reason: str = ""
    parameter_count: int = 0


@dataclass(frozen=True)
class Screened:
    """A dip's parameters sorted by what may be done with them."""

    #: kept for the interaction's life (shown to the agent by their flags)
    held: dict[str, SessionParameter]
    #: name -> (value, display_to_agent), to write to session_parameters
    saved: dict[str, tuple[str, bool]]
    #: what was dropped or not saved, and why: names only, never values
    notes: tuple[str, ...] = ()


def screen(parameters: Mapping[str, SessionParameter]) -> Screened:
    """Sort parameters so that one the database cannot hold costs only itself."""
    held: dict[str, SessionParameter] = {}
    saved: dict[str, tuple[str, bool]] = {}
    notes: list[str] = []
    for name, parameter in parameters.items():
        if unstorable(name) or unstorable(parameter.value):
            notes.append(f"{_label(name)} dropped: NUL or unpaired surrogate")
            continue
        held[name] = parameter
        if not parameter.save_to_database:
            continue
        problem = _unsaveable(name, parameter.value)
        if problem:
            notes.append(f"{_label(name)} not saved: {problem}")
        else:
            saved[name] = (parameter.value, parameter.display_to_agent)
    return Screened(held, saved, tuple(notes))


def _unsaveable(name: str, value: str) -> str | None:
    if len(name) > store.SAVED_NAME_MAX_CHARS:
        return f"name longer than {store.SAVED_NAME_MAX_CHARS} characters"
    if len(value.encode("utf-8")) > store.SAVED_VALUE_MAX_BYTES:
        return f"value longer than {store.SAVED_VALUE_MAX_BYTES} bytes"
    return None


def _label(name: str) -> str:
    # repr escapes NUL and surrogates, so that the note itself can always be stored.
    return f"parameter {name[:40]!r}"


def _storable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


class CrmDipper:
    """The process's CRM client, breaker, dip counters and background tasks."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self.breaker = CircuitBreaker(container.clock)
        self.allowlist = OutboundAllowlist.parse(container.settings.outbound_allow)
        #: dips by outcome ("ok", "failed") for metrics
        self.outcomes: Counter[str] = Counter()
        #: CRM URLs dipped into, for per-CRM circuit metrics
        self.urls: set[str] = set()
        #: the app's event loop, where dips started from worker threads run
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[DipOutcome | None]] = set()
        self._clients: dict[asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, DataDipClient]] = {}

    def client(self) -> DataDipClient:
        # httpx pools belong to one event loop; tests and the CLI may run several in turn.
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            raw = httpx.AsyncClient(follow_redirects=False, trust_env=False)
            guarded = GuardedHttpClient(raw, self.allowlist, system_resolver, self._container.clock)
            self._clients[loop] = (raw, DataDipClient(guarded, self.breaker, self._container.clock))
        return self._clients[loop][1]

    def track(self, task: asyncio.Task[DipOutcome | None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Wait for running dips (they are bounded by their timeouts), then close the pool."""
        loop = asyncio.get_running_loop()
        mine = [task for task in self._tasks if task.get_loop() is loop]
        if mine:
            await asyncio.gather(*mine, return_exceptions=True)
        pair = self._clients.pop(loop, None)
        if pair is not None:
            await pair[0].aclose()


def dipper_for(container: Container) -> CrmDipper:
    with _parts_lock:
        dipper = container.parts.get(PART)
        if not isinstance(dipper, CrmDipper):
            dipper = container.parts[PART] = CrmDipper(container)
        return dipper


async def dip_for_interaction(
    container: Container, tenant_id: str, interaction_id: str, stage: str
) -> DipOutcome | None:
    """Dip if a CRM is configured for this interaction and stage; None when no dip was due."""
    try:
        return await _dip(container, tenant_id, interaction_id, DipStage(stage))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a dip must never break the callback flow
        # Only the type: messages of database errors can quote the values being written.
        log.error(
            "data dip for interaction %s failed unexpectedly: %s",
            interaction_id,
            type(exc).__name__,
            extra={"tenant_id": tenant_id, "interaction_id": interaction_id},
        )
        return None


def start_dip(
    container: Container, tenant_id: str, interaction_id: str, stage: str
) -> asyncio.Task[DipOutcome | None] | Future[DipOutcome | None] | None:
    """Run a dip in the background, from async code or from a worker thread; never waits."""
    dipper = dipper_for(container)
    work: Coroutine[Any, Any, DipOutcome | None] = dip_for_interaction(
        container, tenant_id, interaction_id, stage
    )
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None:
        task = running.create_task(work, name=f"crm-dip-{interaction_id}-{stage}")
        dipper.track(task)
        return task
    if dipper.loop is not None and dipper.loop.is_running():
        return asyncio.run_coroutine_threadsafe(_tracked(dipper, work), dipper.loop)
    work.close()
    log.warning("no event loop to run the data dip for interaction %s", interaction_id)
    return None


async def _tracked(
    dipper: CrmDipper, work: Coroutine[Any, Any, DipOutcome | None]
) -> DipOutcome | None:
    task = asyncio.current_task()
    if task is not None:
        dipper.track(task)
    return await work


async def _dip(
    container: Container, tenant_id: str, interaction_id: str, stage: DipStage
) -> DipOutcome | None:
    if container.tenancy.known_crm_dip_configs(tenant_id) == ():
        return None  # no CRM configured for the tenant: no thread, no query
    found = await asyncio.to_thread(_load, container, tenant_id, interaction_id)
    if found is None:
        return None
    config, encrypted, values = found
    if not config.dip_at.includes(stage):
        return None
    dipper = dipper_for(container)
    token = decrypt_token(container.secret, encrypted)
    request = build_request(config.mappings, values)
    if token is None:
        result = DipResult.failed("the stored token cannot be decrypted (was the secret changed?)")
    elif not request:
        result = DipResult.failed("the interaction has none of the values to send")
    else:
        dipper.urls.add(config.url)
        result = await dipper.client().dip(
            config.url, token, request, config.timeout_s, config.retries
        )
    outcome = await asyncio.to_thread(_record, container, tenant_id, interaction_id, stage, result)
    dipper.outcomes["ok" if outcome.ok else "failed"] += 1
    log.info(
        "data dip for interaction %s at %s: %s",
        interaction_id,
        stage.value,
        _summary(outcome),
        extra={"tenant_id": tenant_id, "interaction_id": interaction_id},
    )
    return outcome


def _summary(outcome: DipOutcome) -> str:
    if not outcome.ok:
        return f"failed ({outcome.reason})"
    notes = f" ({outcome.reason})" if outcome.reason else ""
    return f"{outcome.parameter_count} parameters{notes}"


def _load(
    container: Container, tenant_id: str, interaction_id: str
) -> tuple[CrmDipConfig, str, InteractionValues] | None:
    with container.db.read() as conn:
        configs = container.tenancy.crm_dip_configs(conn, tenant_id)
        if not configs:
            return None
        row = store.interaction_for_dip(conn, tenant_id, interaction_id)
        if row is None:
            return None
        chosen = applicable_config(configs, row["campaign_id"], row["queue_id"])
    if chosen is None:
        return None
    values = InteractionValues.from_stored(
        row["customer_number"], row["udata"], row["ext_transaction_data"], row["attributes"]
    )
    return chosen[0], chosen[1], values


def _record(
    container: Container,
    tenant_id: str,
    interaction_id: str,
    stage: DipStage,
    result: DipResult,
) -> DipOutcome:
    parameters = result.parameters or {}
    screened = screen(parameters)
    if result.succeeded:
        session_params.store_for(container).put(tenant_id, interaction_id, screened.held)
    notes = list(screened.notes)
    entry: dict[str, Any] = {
        "tenant_id": tenant_id,
        "interaction_id": interaction_id,
        "stage": stage.value,
        "ok": result.succeeded,
        "parameter_count": len(parameters),
    }
    try:
        with container.db.begin() as conn:
            refused = store.save_parameters(conn, tenant_id, interaction_id, screened.saved)
            notes += [f"{_label(name)} not saved ({error})" for name, error in refused.items()]
            _log(container, conn, entry, result, notes)
    except (RappelError, SQLAlchemyError, UnicodeError) as exc:
        # The dip happened: its record must not be lost with the values it tried to save.
        notes.append(f"saved values not written ({type(exc).__name__})")
        with container.db.begin() as conn:
            _log(container, conn, entry, result, notes)
    reason = result.reason if not result.succeeded else "; ".join(notes)
    return DipOutcome(result.succeeded, reason, len(parameters))


def _log(
    container: Container,
    conn: Connection,
    entry: dict[str, Any],
    result: DipResult,
    notes: list[str],
) -> None:
    reason = "; ".join(([] if result.succeeded else [result.reason]) + notes)
    store.insert_dip_log(
        conn,
        {
            **entry,
            "id": new_id(),
            "at": container.clock.now(),
            "reason": _storable(reason[:1000]) or None,
        },
    )
