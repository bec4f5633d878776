"""The engine: scheduler, pacing, routing, call flows and leases."""
