"""Small helpers shared by the end-to-end tests."""

import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"

SETTLE_TIMEOUT_S = 15.0
POLL_INTERVAL_S = 0.05


def poll_until(fetch, done, timeout=SETTLE_TIMEOUT_S, what="condition"):
    """Call fetch() every POLL_INTERVAL_S until done(result); return that result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {result!r}")
        time.sleep(POLL_INTERVAL_S)


def unique_name(prefix="conn"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def is_uuid4(value) -> bool:
    try:
        u = uuid.UUID(str(value))
    except ValueError:
        return False
    return u.version == 4 and str(u) == str(value).lower()


def new_project_id() -> str:
    """A fresh project id: 32 lowercase hex digits, like a Huawei Cloud project id."""
    return uuid.uuid4().hex


def now_ms() -> int:
    return int(time.time() * 1000)
