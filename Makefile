# Convenience targets; the README's two commands need none of them.
.PHONY: start test check bench

start:
	./scripts/start

test:
	./scripts/test

check:
	bash scripts/bootstrap
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/ruff format --check src tests benchmarks
	.venv/bin/mypy

# Runs every benchmark (each writes docs/benchmarks/<name>.md), then collects them
# into docs/benchmarks.md. Benchmarks are measurements, never pass/fail tests.
bench:
	bash scripts/bootstrap
	./scripts/bench
