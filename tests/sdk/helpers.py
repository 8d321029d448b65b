"""Small helpers shared by the end-to-end tests."""

import time
import uuid
from pathlib import Path

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdli.v1 import (
    CreateDatasourceConnectionRequest,
    CreateDatasourceConnectionRequestBody,
    DeleteDatasourceConnectionRequest,
    ListDatasourceConnectionsRequest,
    ShowDatasourceConnectionRequest,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"

SECURITY_GROUP = "a07ab107-a4ad-4835-ad09-08a2f2efccdb"
NETWORK = "e83ba67d-e812-42d3-908d-6ea0b2cc5ecb"

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
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {result!r}")
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


# ---------------------------------------------------------------- the four operations, via the SDK

def create(dli, name, url, service="RDS", tags=None):
    body = CreateDatasourceConnectionRequestBody(
        name=name, service=service, security_group_id=SECURITY_GROUP,
        network_id=NETWORK, url=url, tags=tags)
    return dli.create_datasource_connection(CreateDatasourceConnectionRequest(body=body))


def show(dli, connection_id):
    return dli.show_datasource_connection(ShowDatasourceConnectionRequest(connection_id=connection_id))


def delete(dli, connection_id):
    return dli.delete_datasource_connection(DeleteDatasourceConnectionRequest(connection_id=connection_id))


def list_connections(dli, tags=None):
    request = ListDatasourceConnectionsRequest() if tags is None else ListDatasourceConnectionsRequest(tags=tags)
    return dli.list_datasource_connections(request)


def wait_settled(dli, connection_id):
    """Poll show until the background probe has decided (state != CREATING)."""
    return poll_until(lambda: show(dli, connection_id), lambda r: r.state != "CREATING",
                      what=f"connection {connection_id} to leave CREATING")


def create_settled(dli, name, url, **kw):
    created = create(dli, name, url, **kw)
    assert created.is_success is True
    return wait_settled(dli, created.connection_id)


def expect_error(dli, call, status, code, says=None, never=()):
    """Run call(); it must raise the SDK's ClientRequestException with these values.

    dli is a RecordingClient (conftest). `says`: text the error_msg must contain.
    `never`: strings (secrets) that must appear neither in error_msg nor in the raw body.
    """
    with pytest.raises(ClientRequestException) as excinfo:
        call()
    e = excinfo.value
    raw = dli.last_response
    assert (e.status_code, e.error_code) == (status, code), f"raw body: {raw.text}"
    assert e.error_msg, "error_msg must not be empty"
    assert e.request_id, "the SDK found no X-Request-Id header on the error response"
    assert e.request_id == raw.headers.get("X-Request-Id")
    if says is not None:
        assert says in e.error_msg, f"error_msg should say {says!r}: {e.error_msg!r}"
    for secret in never:
        assert secret not in e.error_msg and secret not in raw.text, f"a secret was echoed: {raw.text!r}"
    return e
