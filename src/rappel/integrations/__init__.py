"""Outbound HTTP: webhook delivery, data-dip client, SSRF guard."""
