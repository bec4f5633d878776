"""Settings from `RAPPEL_*` environment variables and an optional TOML file.

Precedence: environment, then the TOML file named by `RAPPEL_CONFIG` (or
`rappel.toml` in the working directory when it exists), then the defaults below.
TOML keys are the variable names without the `RAPPEL_` prefix, in lower case.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting has a value Rappel cannot use."""


@dataclass(frozen=True)
class Settings:
    #: SQLAlchemy URL; a SQLite file in the working directory by default.
    database_url: str = "sqlite:///rappel.db"
    #: SQLite's `synchronous` for the file database: FULL syncs every commit to disk
    #: before it is acknowledged (a stored callback survives a power cut); NORMAL only
    #: survives a crash of the process, for throwaway databases.
    sqlite_synchronous: str = "FULL"
    #: Address and port of `rappel serve`.
    host: str = "127.0.0.1"
    port: int = 8080
    #: Public base URL, used in links (cancel links, widget embed code).
    public_url: str = ""
    #: Host names and CIDR networks outbound URLs may reach despite the SSRF guard.
    outbound_allow: str = ""
    #: Telephony driver: `sim` (simulated carrier and agents) or `sip` (real calls).
    telephony: str = "sim"
    #: Where calls to customers go (sip driver): `sip:trunk.example.net:5060;transport=tcp`.
    sip_trunk: str = ""
    #: Credentials answering the trunk's digest challenges (401 and 407).
    sip_username: str = ""
    sip_password: str = ""
    #: Rappel's own SIP address (UDP and TCP).
    sip_listen: str = "127.0.0.1:5060"
    #: The address put in Contact and Via when Rappel is behind NAT (`host[:port]`).
    sip_public_address: str = ""
    #: Most calls at once through the trunk, and calls started per second.
    sip_trunk_max_calls: int = 30
    sip_trunk_cps: float = 5.0
    #: RFC 4028 session interval: a call whose worker died ends within about this long.
    sip_session_expires_s: int = 90
    #: Seconds between OPTIONS probes of the trunk (0: off).
    sip_options_interval_s: float = 30.0
    #: rtpengine's ng control address.
    rtpengine: str = "127.0.0.1:22222"
    #: Where a channel's IVR script `name` is found as `name.wav` (8 kHz mono 16-bit PCM).
    #: Empty: the prompts shipped with Rappel.
    prompts_dir: str = ""
    #: Fixed `sim` outcomes: `16505551212=answer;16505550000=busy`.
    sim_outcomes: str = ""
    sim_ring_s: float = 8.0
    sim_talk_s: float = 60.0
    sim_wrap_s: float = 10.0
    #: Simulated agents logged in and READY on each outbound queue at start.
    sim_agents: int = 0
    sim_seed: int = 1
    sim_answer_rate: float = 0.8
    sim_busy_rate: float = 0.1
    sim_no_answer_rate: float = 0.08
    sim_machine_rate: float = 0.0
    #: Secret for session cookies and for encrypting CRM tokens at rest. Generated into
    #: `secret_file` on first start when not given.
    secret_key: str = ""
    secret_file: str = ".rappel-secret"
    #: Log level and format (`json` or `text`).
    log_level: str = "INFO"
    log_format: str = "json"
    #: Operator token for tenant administration through `/v1/tenants` (off when empty).
    operator_token: str = ""
    #: Run the engine inside `rappel serve` (on SQLite it always must).
    run_engine: bool = True
    #: Seconds an agent has to accept an offer before it goes to the next agent.
    offer_timeout_s: float = 20.0
    #: Seconds a claimed item stays leased to one worker.
    lease_s: float = 30.0
    #: Maximum request body for XML surfaces, in bytes.
    max_xml_bytes: int = 65536
    #: Largest request body on every other path but OBI's and the data dip's, in bytes.
    max_body_bytes: int = 1024 * 1024
    #: Widget rate limits per visitor IP and per phone number, per hour.
    widget_ip_per_hour: int = 20
    widget_phone_per_hour: int = 3
    #: Failed sign-ins allowed in any `signin_window_s` seconds per account (password
    #: logins) and per client address (per credential kind); each API node counts alone.
    signin_account_failures: int = 10
    signin_address_failures: int = 100
    signin_window_s: float = 900.0
    #: Password hashes (argon2) checked at once; further logins wait their turn.
    signin_hash_concurrency: int = 1
    #: Server-side CAPTCHA verification for the widget: "" (off) or a verify URL.
    captcha_verify_url: str = ""
    captcha_secret: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.telephony not in TELEPHONY_DRIVERS:
            allowed = ", ".join(TELEPHONY_DRIVERS)
            raise ConfigError(
                f"{_PREFIX}TELEPHONY: {self.telephony!r} is not a telephony driver"
                f" (one of {allowed})"
            )
        if self.telephony == "sip" and not self.sip_trunk:
            raise ConfigError(f"{_PREFIX}SIP_TRUNK must be set when {_PREFIX}TELEPHONY=sip")
        if self.sip_trunk_max_calls < 1 or not self.sip_trunk_cps > 0:
            raise ConfigError(
                f"{_PREFIX}SIP_TRUNK_MAX_CALLS and {_PREFIX}SIP_TRUNK_CPS must be positive"
            )
        if self.sip_session_expires_s < 90:
            raise ConfigError(f"{_PREFIX}SIP_SESSION_EXPIRES_S must be at least 90 (RFC 4028)")
        if self.telephony == "sip":
            host_port(self.sip_listen, 5060, f"{_PREFIX}SIP_LISTEN")
            host_port(self.rtpengine, 22222, f"{_PREFIX}RTPENGINE")
            if self.sip_public_address:
                host_port(self.sip_public_address, 5060, f"{_PREFIX}SIP_PUBLIC_ADDRESS")
            scheme, _, rest = self.sip_trunk.partition(":")
            if scheme.lower() not in ("sip", "sips") or not rest.strip():
                raise ConfigError(
                    f"{_PREFIX}SIP_TRUNK: {self.sip_trunk!r} is not a SIP URI"
                    " (sip:trunk.example.net:5060;transport=tcp)"
                )


def host_port(text: str, default_port: int, name: str) -> tuple[str, int]:
    """`127.0.0.1:5060`, `[::1]:5060` or a bare host; a clear error names the setting."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), name)
    elif text.count(":") == 1:
        host, _, raw = text.partition(":")
        port = _port(raw, name)
    if not host or any(c.isspace() for c in host):
        raise ConfigError(f"{name}: {text!r} is not host:port")
    return host, port


def _port(raw: str, name: str) -> int:
    if not raw.isdigit() or not 0 <= int(raw) < 65536:
        raise ConfigError(f"{name}: {raw!r} is not a port")
    return int(raw)


#: The telephony drivers Rappel has.
TELEPHONY_DRIVERS = ("sim", "sip")

_PREFIX = "RAPPEL_"


def _coerce(name: str, raw: Any, kind: Any) -> Any:
    try:
        if kind in (bool, "bool"):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        if kind in (int, "int"):
            return int(raw)
        if kind in (float, "float"):
            return float(raw)
        return str(raw)
    except ValueError as exc:
        raise ConfigError(f"{_PREFIX}{name.upper()}: cannot use {raw!r} as {kind}") from exc


def load_settings(
    environ: Mapping[str, str] | None = None, toml_path: str | Path | None = None
) -> Settings:
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = toml_path or env.get("RAPPEL_CONFIG")
    if path is None and Path("rappel.toml").exists():
        path = "rappel.toml"
    if path:
        try:
            with open(path, "rb") as handle:
                values.update(tomllib.load(handle))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read configuration file {path}: {exc}") from exc
    known = {f.name: f.type for f in fields(Settings) if f.name != "extra"}
    for key in list(values):
        if key not in known:
            raise ConfigError(f"unknown setting {key!r} in {path}")
    for name in known:
        env_name = _PREFIX + name.upper()
        if env_name in env:
            values[name] = env[env_name]
    coerced = {name: _coerce(name, value, known[name]) for name, value in values.items()}
    if "telephony" in coerced:
        coerced["telephony"] = str(coerced["telephony"]).strip().lower()
    if "sqlite_synchronous" in coerced:
        coerced["sqlite_synchronous"] = _synchronous(coerced["sqlite_synchronous"])
    for name in _AT_LEAST_ONE:
        if name in coerced and not coerced[name] >= 1:
            raise ConfigError(f"{_PREFIX}{name.upper()}: must be at least 1, not {values[name]!r}")
    return Settings(**coerced)


_AT_LEAST_ONE = (
    "signin_account_failures",
    "signin_address_failures",
    "signin_window_s",
    "signin_hash_concurrency",
)


SQLITE_SYNCHRONOUS = ("NORMAL", "FULL", "EXTRA")


def _synchronous(raw: str) -> str:
    mode = raw.strip().upper()
    if mode not in SQLITE_SYNCHRONOUS:
        allowed = ", ".join(SQLITE_SYNCHRONOUS)
        raise ConfigError(f"{_PREFIX}SQLITE_SYNCHRONOUS: {raw!r} is not one of {allowed}")
    return mode


def ensure_secret(settings: Settings) -> str:
    """The configured secret, or one generated once and kept in `secret_file`."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.secret_file)
    if path.exists():
        return path.read_text().strip()
    import secrets

    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret
