"""A bound on how many values a JSON body may hold, checked before it is parsed.

`json.loads` is one C call that never lets go of the interpreter lock: even in a
worker thread, 5 MiB of `[],` (1.7 million values) froze every other request for
about a second. Counting `,`, `[` and `{` is a fast upper bound on the number of
values; strings holding those characters count too, which only a body far from
any real document would notice.
"""

from __future__ import annotations

#: A full OBI list (1000 customers with 100 attributes each) counts about 315,000.
MAX_JSON_VALUES = 400_000


def too_many_values(body: bytes) -> bool:
    return body.count(b",") + body.count(b"[") + body.count(b"{") > MAX_JSON_VALUES
