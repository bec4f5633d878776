"""`rappel serve | worker | migrate | demo | simulate | tenant | token`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from rappel.bootstrap import Container, build_container
from rappel.config import ConfigError, Settings, load_settings
from rappel.domain.errors import RappelError
from rappel.domain.tenancy import TokenKind
from rappel.heap import settle_after_startup
from rappel.logs import configure_logging


def _container(settings: Settings) -> Container:
    return build_container(settings)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from rappel.store.migrate import upgrade

    c = _container(settings)
    upgrade(c.db)
    print(f"database is up to date ({c.db.dialect})")
    return 0


def cmd_demo(settings: Settings, _args: argparse.Namespace) -> int:
    from rappel.services.demo import provision_demo

    c = _container(settings)
    report = provision_demo(c.db, c.clock)
    if report.created:
        print("demo data created: " + ", ".join(report.created))
    else:
        print("demo data already present")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from rappel.api.app import create_app
    from rappel.services.demo import credentials_text

    host = args.host or settings.host
    port = args.port or settings.port
    c = _container(settings)
    app = create_app(c)
    shown = "localhost" if host in ("0.0.0.0", "127.0.0.1", "::") else host
    if args.print_demo:
        print(credentials_text(f"http://{shown}:{port}"), flush=True)
    settle_after_startup()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    return 0


def cmd_worker(settings: Settings, _args: argparse.Namespace) -> int:
    from rappel.engine.worker import run_worker

    container = _container(settings)
    settle_after_startup()
    return run_worker(container)


def cmd_tenant_create(settings: Settings, args: argparse.Namespace) -> int:
    from rappel.services import tenancy

    c = _container(settings)
    values = {"name": args.name, "time_zone": args.time_zone}
    tenant = tenancy.create_tenant(c.db, c.clock, values)
    issued = tenancy.create_token(c.db, c.clock, tenant.id, "created with the tenant")
    print(f"tenant {tenant.name} id {tenant.id}")
    print(f"token {issued.token} (id {issued.id}; shown once)")
    return 0


def cmd_token_create(settings: Settings, args: argparse.Namespace) -> int:
    from rappel.services import tenancy

    c = _container(settings)
    tenant = tenancy.find_tenant_by_name(c.db, args.tenant)
    if tenant is None:
        print(f"no tenant named {args.tenant!r}", file=sys.stderr)
        return 2
    issued = tenancy.create_token(c.db, c.clock, tenant.id, args.label, TokenKind(args.kind))
    print(f"token {issued.token} (id {issued.id}; shown once)")
    return 0


def cmd_token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from rappel.services import tenancy

    c = _container(settings)
    tenant = tenancy.find_tenant_by_name(c.db, args.tenant)
    if tenant is None:
        print(f"no tenant named {args.tenant!r}", file=sys.stderr)
        return 2
    tenancy.revoke_token(c.db, c.clock, tenant.id, args.token_id.upper())
    print(f"token {args.token_id.upper()} revoked")
    return 0


def cmd_simulate(_settings: Settings, args: argparse.Namespace) -> int:
    from rappel.engine.sim_report import simulate_main

    code: int = simulate_main(args.rest)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rappel", description=__doc__)
    parser.add_argument("--config", help="TOML configuration file (else RAPPEL_CONFIG)")
    verbs = parser.add_subparsers(dest="verb", required=True)

    serve = verbs.add_parser("serve", help="run the API and the engine in one process")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--print-demo", action="store_true", help="print URLs and demo credentials")
    serve.set_defaults(run=cmd_serve)

    verbs.add_parser("worker", help="run the engine alone").set_defaults(run=cmd_worker)
    verbs.add_parser("migrate", help="bring the schema up to date").set_defaults(run=cmd_migrate)
    verbs.add_parser("demo", help="provision the demo data (idempotent)").set_defaults(run=cmd_demo)

    simulate = verbs.add_parser(
        "simulate", help="what-if run of a campaign on a virtual clock", add_help=False
    )
    simulate.add_argument("rest", nargs=argparse.REMAINDER)
    simulate.set_defaults(run=cmd_simulate)

    tenant = verbs.add_parser("tenant", help="tenant administration").add_subparsers(
        dest="tenant_verb", required=True
    )
    create = tenant.add_parser("create", help="create a tenant and its first token")
    create.add_argument("name")
    create.add_argument("--time-zone", default="UTC")
    create.set_defaults(run=cmd_tenant_create)

    token = verbs.add_parser("token", help="API and data-dip tokens").add_subparsers(
        dest="token_verb", required=True
    )
    tcreate = token.add_parser("create", help="issue a token (shown once)")
    tcreate.add_argument("tenant")
    tcreate.add_argument("--label", default="")
    tcreate.add_argument("--kind", choices=[k.value for k in TokenKind], default="api")
    tcreate.set_defaults(run=cmd_token_create)
    trevoke = token.add_parser("revoke", help="revoke a token by id")
    trevoke.add_argument("tenant")
    trevoke.add_argument("token_id")
    trevoke.set_defaults(run=cmd_token_revoke)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["simulate"]:
        # The simulator owns its options; argparse would read them as rappel's own.
        from rappel.engine.sim_report import simulate_main

        code: int = simulate_main(words[1:])
        return code
    args = build_parser().parse_args(words)
    try:
        settings = load_settings(toml_path=args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    run: Callable[[Settings, argparse.Namespace], int] = args.run
    try:
        return run(settings, args)
    except RappelError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
