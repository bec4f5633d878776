"""A missing real peer fails CI and skips elsewhere; never a silent pass."""

from __future__ import annotations

import pytest

from tests.support.peers import require_binary


def test_a_missing_peer_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-such-peer-binary is not installed"):
        require_binary("no-such-peer-binary")


def test_a_missing_peer_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="ensure-telephony"):
        require_binary("no-such-peer-binary")


def test_an_installed_peer_is_found() -> None:
    assert require_binary("sh").endswith("/sh")
