"""Static pages: widget, agent desktop, supervisor dashboard."""
