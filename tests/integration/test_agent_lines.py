"""An agent's current state is its log's last line, at a cost that ignores the log's length."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, insert

from rappel.clock import VirtualClock
from rappel.domain.agent import AgentState
from rappel.domain.ids import new_id
from rappel.store import agents as agent_store
from rappel.store.db import Database
from rappel.store.tables import agent_state_log

AGENTS = 20
LINES_EACH = 150
CYCLE = [AgentState.READY, AgentState.PREVIEW, AgentState.DIALING, AgentState.TALKING,
         AgentState.WRAPUP]  # fmt: skip


def a_busy_day(db: Database, tenant_id: str) -> dict[str, AgentState]:
    """Fill a fresh log (no statistics yet) with a day of state changes; each agent's last state."""
    start = VirtualClock().now()
    rows, last = [], {}
    for a in range(AGENTS):
        agent_id = new_id()
        for seq in range(1, LINES_EACH + a % 5 + 1):
            state = CYCLE[seq % len(CYCLE)]
            rows.append(
                {"tenant_id": tenant_id, "agent_id": agent_id, "seq": seq, "state": state.value,
                 "at": start + timedelta(seconds=seq)}
            )  # fmt: skip
            last[agent_id] = state
    with db.begin() as conn:
        conn.execute(insert(agent_state_log), rows)
    return last


@contextmanager
def statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _m: Any) -> None:
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def log_rows_read(db: Database, statement: str, parameters: Any) -> int:
    """PostgreSQL's own count of the log rows a statement's plan read (EXPLAIN ANALYZE)."""
    with db.read() as conn:
        plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
        (doc,) = plan.scalar_one()  # psycopg decodes the json column
    total = 0

    def walk(node: dict[str, Any]) -> None:
        nonlocal total
        if node.get("Relation Name") == "agent_state_log":
            total += int(node["Actual Rows"]) * int(node["Actual Loops"])
            total += int(node.get("Rows Removed by Filter", 0))
        for child in node.get("Plans", []):
            walk(child)

    walk(doc["Plan"])
    return total


def test_current_lines_are_each_agents_last_line(db: Database, demo: str) -> None:
    last = a_busy_day(db, demo)
    unknown = new_id()
    with db.read() as conn:
        lines = agent_store.current_lines(conn, demo, [*last, unknown])
        single = agent_store.last_line(conn, demo, next(iter(last)))
    assert {a: line.change.state for a, line in lines.items()} == last
    assert unknown not in lines
    assert single is not None
    assert lines[next(iter(last))] == single


def test_current_lines_read_a_row_or_so_per_agent_however_long_the_log(
    db: Database, demo: str
) -> None:
    """A grouped-max join read the whole log once per log line on a young PostgreSQL table."""
    last = a_busy_day(db, demo)
    with statements(db) as seen, db.read() as conn:
        agent_store.current_lines(conn, demo, list(last))
    assert seen
    if not db.is_postgres:
        return  # SQLite plans the per-agent probe alike; the planner trap is PostgreSQL's
    read = sum(log_rows_read(db, statement, parameters) for statement, parameters in seen)
    assert read <= 2 * AGENTS, f"{read} log rows read for {AGENTS} agents"
