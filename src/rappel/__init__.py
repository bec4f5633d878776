"""Rappel: contact-center web callbacks and outbound campaigns."""

__version__ = "0.1.0"
