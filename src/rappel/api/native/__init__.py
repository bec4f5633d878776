"""Rappel's own REST API under /v1."""
