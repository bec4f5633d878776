"""OBI customer search latency: `customers?externalId=12*` and an attribute search.

Run after `benchmarks/obi_bulk.py` loaded data, or alone (it loads OBI_BENCH_N
customers through the service path first). Not a test: numbers, no asserts.
"""

from __future__ import annotations

import statistics
import time

import httpx

N_QUERIES = 50


def measure(client: httpx.Client, path: str, headers: dict[str, str]) -> dict[str, float]:
    cases = {
        "externalId=12*": {"externalId": "12*"},
        "attributeName=classification&attributeValue=gold": {
            "attributeName": "classification",
            "attributeValue": "gold",
        },
        "attributeName=city&attributeValue=c12*": {
            "attributeName": "city",
            "attributeValue": "c12*",
        },
        # An exact value one customer in 1,000 has, a prefix one in 9 has, and a prefix
        # of 9,000 numbers (fewer than FEW_MATCHES: sorted rather than walked).
        "attributeName=city&attributeValue=c123": {
            "attributeName": "city",
            "attributeValue": "c123",
        },
        "attributeName=city&attributeValue=c1*": {"attributeName": "city", "attributeValue": "c1*"},
        "attributeName=phone1&attributeValue=+1415250*": {
            "attributeName": "phone1",
            "attributeValue": "+1415250*",
        },
    }
    out = {}
    for name, params in cases.items():
        client.get(path, params=params, headers=headers).raise_for_status()
        times = []
        for _ in range(N_QUERIES):
            start = time.perf_counter()
            answer = client.get(path, params=params, headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            answer.raise_for_status()
        out[name] = statistics.median(times)
    return out


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.obi_bulk import main

    main(search_only=True)
