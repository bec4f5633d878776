"""Domain errors. They carry no HTTP codes: each surface maps them in one place."""

from __future__ import annotations


class RappelError(Exception):
    """Base of every error Rappel raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(RappelError):
    """Input that breaks a rule; `field` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotFound(RappelError):
    """The entity does not exist for this tenant."""


class Conflict(RappelError):
    """The request collides with existing state (duplicate key, wrong state)."""


class InvalidTransition(Conflict):
    """A state machine refused a transition."""


class Unauthenticated(RappelError):
    """No valid credential was given."""


class PermissionDenied(RappelError):
    """The credential is valid but may not do this."""


class ServiceUnavailable(RappelError):
    """A dependency (database, CRM) cannot serve the request now."""


class RateLimited(RappelError):
    """Too many requests for this caller, number or tenant; `retry_after_s` when known."""

    def __init__(self, message: str, retry_after_s: int = 0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
