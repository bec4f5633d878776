"""Settings from the environment and a TOML file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rappel.config import ConfigError, load_settings


def test_defaults_use_sqlite_in_the_working_directory() -> None:
    settings = load_settings({}, toml_path=None)
    assert settings.database_url == "sqlite:///rappel.db"
    assert settings.port == 8080
    assert settings.sim_agents == 0


def test_environment_overrides_toml(tmp_path: Path) -> None:
    toml = tmp_path / "rappel.toml"
    toml.write_text('port = 9001\nsim_agents = 4\noutbound_allow = "10.0.0.0/8"\n')
    settings = load_settings({"RAPPEL_PORT": "9002"}, toml_path=toml)
    assert settings.port == 9002
    assert settings.sim_agents == 4
    assert settings.outbound_allow == "10.0.0.0/8"


def test_config_file_from_environment(tmp_path: Path) -> None:
    toml = tmp_path / "other.toml"
    toml.write_text("run_engine = false\n")
    assert load_settings({"RAPPEL_CONFIG": str(toml)}).run_engine is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RAPPEL_PORT": "eighty"}, "RAPPEL_PORT"),
        ({"RAPPEL_RUN_ENGINE": "maybe"}, "RAPPEL_RUN_ENGINE"),
        ({"RAPPEL_SIM_TALK_S": "long"}, "RAPPEL_SIM_TALK_S"),
        ({"RAPPEL_SQLITE_SYNCHRONOUS": "OFF"}, "RAPPEL_SQLITE_SYNCHRONOUS"),
        ({"RAPPEL_SIGNIN_ACCOUNT_FAILURES": "0"}, "RAPPEL_SIGNIN_ACCOUNT_FAILURES"),
        ({"RAPPEL_SIGNIN_HASH_CONCURRENCY": "-1"}, "RAPPEL_SIGNIN_HASH_CONCURRENCY"),
        ({"RAPPEL_SIGNIN_WINDOW_S": "0.5"}, "RAPPEL_SIGNIN_WINDOW_S"),
    ],
)
def test_unusable_values_are_refused_with_the_variable_named(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_unknown_toml_keys_are_refused(tmp_path: Path) -> None:
    toml = tmp_path / "rappel.toml"
    toml.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings({}, toml_path=toml)


def test_sqlite_commits_are_synced_to_disk_unless_configured_otherwise() -> None:
    assert load_settings({}).sqlite_synchronous == "FULL"
    assert load_settings({"RAPPEL_SQLITE_SYNCHRONOUS": "normal"}).sqlite_synchronous == "NORMAL"
