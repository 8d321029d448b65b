"""Authentication and project isolation, through the official SDK (issue 3).

Every signature here is made by the pinned SDK's own signer: either the SDK client
itself (BasicCredentials(ak, sk, project_id)), the SDK client with a request hook
that changes the request after it was signed (tampering), or the SDK's Signer class
with `requests` (headers the SDK client would not let us choose). Each test that
needs a credential or token of its own issues it through the admin CLI on the
running server's data dir, so revocations touch nothing else.
"""

import hashlib
import json
import os
import re
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer
from huaweicloudsdkdli.v1 import ListDatasourceConnectionsRequest, Tag

from conftest import run_cli, start_server
from helpers import (create, create_settled, delete, expect_error, list_connections, new_project_id,
                     now_ms, poll_until, show, unique_name, wait_settled)

UNAUTHORIZED = (401, "APIG.0301")
FORBIDDEN = (403, "APIG.0302")
# A running server sees a change made by the CLI within 1 s (contract); the margin is ours.
STORE_CHANGE_DEADLINE_S = 1.5
# The token test's TTL and how long after creating it we wait for it to be refused.
TOKEN_TTL = "2s"
TOKEN_EXPIRY_DEADLINE_S = 4.0
SDK_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
UNKNOWN_ID = "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"


# ---------------------------------------------------------------- helpers

@pytest.fixture
def credential(server):
    """Factory: a fresh AK/SK bound to the given projects (or all, with all_projects=True)."""
    return server.new_credential


@pytest.fixture
def signed_by(client_for):
    """Factory: an SDK client for `project_id` signing with the given credential (or AK/SK)."""

    def make(project_id, cred=None, ak=None, sk=None, before_send=None):
        if cred is not None:
            ak, sk = cred["access_key"], cred["secret_key"]
        return client_for(project_id, ak=ak, sk=sk, before_send=before_send)

    return make


def wrong_secret(sk):
    """The same length and alphabet as sk, but a different key."""
    return sk[::-1] if sk[::-1] != sk else "x" + sk[1:]


def sdk_date(offset=timedelta()):
    return (datetime.now(timezone.utc) + offset).strftime(SDK_DATE_FORMAT)


def all_four_calls(dli, connection_id, tcp_listener):
    """(operation, call) for each DLI operation, aimed at connection_id where it takes one."""
    return [
        ("list", lambda: list_connections(dli)),
        ("show", lambda: show(dli, connection_id)),
        ("create", lambda: create(dli, unique_name("intruder"), tcp_listener.address)),
        ("delete", lambda: delete(dli, connection_id)),
    ]


def sign_with_sdk_signer(server, ak, sk, method, project_id, *rest, query=(), body=b"", headers=None):
    """A request to /v2.0/<project_id>/datasource-connection[/<rest>] signed by the SDK's
    Signer exactly as the SDK client signs (Content-Type, User-Agent, X-Project-Id,
    Host, X-Sdk-Date), with `headers` added or overriding before signing."""
    header_params = {"Content-Type": "application/json",
                     "User-Agent": "huaweicloud-usdk-python/3.0",
                     "X-Project-Id": project_id}
    header_params.update(headers or {})
    request = SdkRequest(method=method, schema="http", host=f"127.0.0.1:{server.port}",
                         resource_path="/".join(["/v2.0", project_id, "datasource-connection", *rest]),
                         query_params=list(query), header_params=header_params, body=body)
    return Signer(BasicCredentials(ak, sk, project_id)).sign(request)


def send(request):
    """Send a signed SdkRequest as it is, with requests."""
    return requests.request(request.method, request.url, headers=request.header_params,
                            data=request.body or None, timeout=10)


def with_token(method, url, token, **kw):
    headers = {"X-Auth-Token": token, **kw.pop("headers", {})}
    return requests.request(method, url, headers=headers, timeout=10, **kw)


def assert_error(resp, status, code, says=None):
    """A raw HTTP answer is the DLI error body with this status and code, and a request id."""
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    assert resp.headers.get("X-Request-Id", "").strip(), "missing X-Request-Id"
    body = resp.json()
    assert body.get("error_code") == code, body
    assert body.get("is_success") is False, body
    assert isinstance(body.get("error_msg"), str) and body["error_msg"] == body.get("message"), body
    if says is not None:
        assert says in body["error_msg"], f"error_msg should say {says!r}: {body['error_msg']!r}"
    return body


def refused(call):
    """call() -> the ClientRequestException it raised, or None if it succeeded."""
    try:
        call()
    except ClientRequestException as e:
        return e
    return None


# ---------------------------------------------------------------- authentication is on

@pytest.mark.parametrize("method,rest,body", [
    ("GET", (), None),
    ("POST", (), {"name": "x", "service": "RDS", "security_group_id": "sg", "network_id": "n",
                  "url": "127.0.0.1:1"}),
    ("GET", (UNKNOWN_ID,), None),
    ("DELETE", (UNKNOWN_ID,), None),
], ids=["list", "create", "show", "delete"])
def test_every_operation_without_credentials_is_refused_with_401_no_credentials(server, method, rest, body):
    project = new_project_id()

    resp = requests.request(method, server.url(project, *rest), json=body, timeout=10)

    assert_error(resp, *UNAUTHORIZED, says="no credentials")
    assert with_token("GET", server.url(project), server.token).json()["count"] == 0


def test_healthz_needs_no_credentials(server):
    resp = requests.get(server.base_url + "/healthz", timeout=10)

    assert resp.status_code == 200, resp.text


def test_the_server_printed_no_credential_because_one_existed_before_it_started(server):
    out = server.stdout()

    assert "secret" not in out.lower(), out
    assert server.admin_sk not in out


@pytest.mark.parametrize("authorization", [
    "SDK-HMAC-SHA256 garbage",
    "Basic dXNlcjpwYXNz",
    "SDK-HMAC-SHA256 Access=HPUATESTAK0000000001, SignedHeaders=host;x-sdk-date",
], ids=["garbled", "other-scheme", "no-signature"])
def test_a_malformed_authorization_header_is_refused_with_401(server, authorization):
    resp = requests.get(server.url(new_project_id()), timeout=10,
                        headers={"Authorization": authorization, "X-Sdk-Date": sdk_date()})

    assert_error(resp, *UNAUTHORIZED)


# ---------------------------------------------------------------- valid credentials

def test_all_four_operations_succeed_with_a_credential_bound_to_the_project(
        signed_by, credential, project_id, tcp_listener):
    dli = signed_by(project_id, credential(project_id))
    name = unique_name("own")

    created = create(dli, name, tcp_listener.address, tags=[Tag(key="env", value="prod")])
    assert created.status_code == 201 and created.is_success is True
    shown = wait_settled(dli, created.connection_id)
    assert (shown.name, shown.state) == (name, "ACTIVE")
    listed = list_connections(dli, tags="env=prod")
    assert [c.connection_id for c in listed.connections] == [created.connection_id]
    deleted = delete(dli, created.connection_id)
    assert (deleted.status_code, deleted.message) == (200, "Deleted")
    assert show(dli, created.connection_id).state == "DELETED"


def test_a_credential_bound_to_two_projects_works_in_both_and_in_no_third(signed_by, credential):
    first, second, third = new_project_id(), new_project_id(), new_project_id()
    cred = credential(first, second)

    assert list_connections(signed_by(first, cred)).count == 0
    assert list_connections(signed_by(second, cred)).count == 0
    other = signed_by(third, cred)
    expect_error(other, lambda: list_connections(other), *FORBIDDEN)


def test_an_all_projects_credential_works_in_any_project(signed_by, credential):
    cred = credential(all_projects=True)

    for _ in range(3):
        assert list_connections(signed_by(new_project_id(), cred)).is_success is True


# ---------------------------------------------------------------- forged or stale signatures

def test_a_wrong_secret_key_is_refused_with_401_and_no_secret_is_echoed(server, signed_by, credential, project_id):
    cred = credential(project_id)
    bad_sk = wrong_secret(cred["secret_key"])
    dli = signed_by(project_id, ak=cred["access_key"], sk=bad_sk)

    expect_error(dli, lambda: list_connections(dli), *UNAUTHORIZED, says="signature does not match",
                 never=(bad_sk, cred["secret_key"], server.admin_sk))


def test_an_unknown_access_key_is_refused_with_401_unknown_or_revoked(server, signed_by, project_id):
    sk = "unknownSecretKey000000000000000000000001"
    dli = signed_by(project_id, ak="AKNOBODYHASISSUED000", sk=sk)

    expect_error(dli, lambda: list_connections(dli), *UNAUTHORIZED, says="unknown or revoked",
                 never=(sk, server.admin_sk))


@pytest.mark.parametrize("offset", [timedelta(minutes=-16), timedelta(hours=-3), timedelta(minutes=16)],
                         ids=["16-minutes-old", "3-hours-old", "16-minutes-ahead"])
def test_an_sdk_signature_dated_more_than_15_minutes_from_now_is_refused(signed_by, credential, project_id, offset):
    cred = credential(project_id)
    dli = signed_by(project_id, cred)
    date = sdk_date(offset)
    # The SDK's signer signs with an X-Sdk-Date that is already in the request.
    call = lambda: dli.list_datasource_connections_invoker(  # noqa: E731
        ListDatasourceConnectionsRequest()).add_header("X-Sdk-Date", date).invoke()

    expect_error(dli, call, *UNAUTHORIZED, says="more than 15 minutes", never=(cred["secret_key"],))
    assert dli.last_response.request.headers["X-Sdk-Date"] == date


def test_an_sdk_signature_dated_14_minutes_ago_is_still_accepted(signed_by, credential, project_id):
    dli = signed_by(project_id, credential(project_id))
    date = sdk_date(timedelta(minutes=-14))

    listed = dli.list_datasource_connections_invoker(
        ListDatasourceConnectionsRequest()).add_header("X-Sdk-Date", date).invoke()

    assert listed.count == 0
    assert dli.last_response.request.headers["X-Sdk-Date"] == date


class Tamper:
    """A request hook that rewrites one part of the request after the SDK signed it."""

    def __init__(self, part, old, new):
        self.part, self.old, self.new = part, old, new
        self.changed = 0

    def __call__(self, request):
        if self.part == "body":
            before = request.body
            request.body = before.replace(self.old.encode(), self.new.encode())
            self.changed += request.body != before
        elif self.part == "uri":
            before = request.uri
            request.uri = before.replace(self.old, self.new)
            self.changed += request.uri != before
        else:
            before = request.header_params.get(self.part)
            request.header_params[self.part] = self.new
            self.changed += before != self.new


def test_a_create_whose_body_was_changed_after_signing_is_refused_and_creates_nothing(
        server, signed_by, credential, project_id, tcp_listener):
    cred = credential(project_id)
    signed_name, sent_name = unique_name("signed"), unique_name("forged")
    untouched = signed_by(project_id, cred, before_send=Tamper("body", "no-such-text", "x"))
    tampered = signed_by(project_id, cred, before_send=Tamper("body", signed_name, sent_name))

    expect_error(tampered, lambda: create(tampered, signed_name, tcp_listener.address), *UNAUTHORIZED,
                 says="signature does not match")
    assert tampered.last_response.request.body.count(sent_name.encode()) == 1

    admin = signed_by(project_id)
    assert list_connections(admin).count == 0
    assert create(untouched, signed_name, tcp_listener.address).status_code == 201, \
        "the same hook without a change must be accepted"
    assert [c.name for c in list_connections(admin).connections] == [signed_name]


@pytest.mark.parametrize("old,new", [
    ("tags=env%3Dprod", "tags=env%3Ddev"),
    ("tags=env%3Dprod", "tags=env%3Dprod&limit=1"),
    ("?tags=env%3Dprod", ""),
], ids=["changed-value", "added-parameter", "dropped-query"])
def test_a_list_whose_query_was_changed_after_signing_is_refused(signed_by, credential, project_id, old, new):
    cred = credential(project_id)
    tamper = Tamper("uri", old, new)
    dli = signed_by(project_id, cred, before_send=tamper)

    expect_error(dli, lambda: list_connections(dli, tags="env=prod"), *UNAUTHORIZED,
                 says="signature does not match")
    assert tamper.changed == 1, "the hook did not find the query to change"
    assert list_connections(signed_by(project_id, cred), tags="env=prod").count == 0


def test_a_show_whose_path_was_changed_after_signing_is_refused(signed_by, credential, project_id, tcp_listener):
    cred = credential(project_id)
    owner = signed_by(project_id, cred)
    first = create(owner, unique_name(), tcp_listener.address).connection_id
    second = create(owner, unique_name(), tcp_listener.address).connection_id
    tamper = Tamper("uri", first, second)
    dli = signed_by(project_id, cred, before_send=tamper)

    expect_error(dli, lambda: show(dli, first), *UNAUTHORIZED, says="signature does not match")
    assert tamper.changed == 1
    assert second not in dli.last_response.text


def test_a_signed_header_changed_after_signing_is_refused(signed_by, credential, project_id):
    cred = credential(project_id)
    tamper = Tamper("User-Agent", None, "not-the-signed-agent/1.0")
    dli = signed_by(project_id, cred, before_send=tamper)

    expect_error(dli, lambda: list_connections(dli), *UNAUTHORIZED, says="signature does not match")
    assert tamper.changed == 1
    assert "user-agent" in dli.last_response.request.headers["Authorization"]


def test_a_request_signed_by_the_sdk_signer_and_sent_with_requests_is_accepted_and_refused_once_its_body_changes(
        server, credential, project_id, tcp_listener):
    cred = credential(project_id)
    ak, sk = cred["access_key"], cred["secret_key"]

    def signed_create(name):
        body = ('{"name": "%s", "service": "RDS", "security_group_id": "sg", "network_id": "net", '
                '"url": "%s"}' % (name, tcp_listener.address)).encode()
        return sign_with_sdk_signer(server, ak, sk, "POST", project_id, body=body)

    accepted = send(signed_create(unique_name("plain")))
    assert accepted.status_code == 201, accepted.text

    request = signed_create(unique_name("a"))
    request.body = request.body.replace(b'"RDS"', b'"DWS"')
    assert_error(send(request), *UNAUTHORIZED, says="signature does not match")

    request = signed_create(unique_name("b"))
    request.header_params["X-Sdk-Content-Sha256"] = "UNSIGNED-PAYLOAD"  # not signed: must not help
    request.body = request.body.replace(b'"RDS"', b'"DWS"')
    assert_error(send(request), *UNAUTHORIZED)

    listed = requests.get(server.url(project_id), headers={"X-Auth-Token": server.token}, timeout=10).json()
    assert [c["service"] for c in listed["connections"]] == ["RDS"]


def test_a_body_changed_after_signing_is_refused_even_when_the_signature_covers_x_sdk_content_sha256(
        server, credential, project_id, tcp_listener):
    cred = credential(project_id)

    def signed_create(content_sha256):
        body = ('{"name": "%s", "service": "RDS", "security_group_id": "sg", "network_id": "net", '
                '"url": "%s"}' % (unique_name(), tcp_listener.address)).encode()
        value = hashlib.sha256(body).hexdigest() if content_sha256 == "hash" else content_sha256
        request = sign_with_sdk_signer(server, cred["access_key"], cred["secret_key"], "POST", project_id,
                                       body=body, headers={"X-Sdk-Content-Sha256": value})
        assert "x-sdk-content-sha256" in request.header_params["Authorization"]
        return request

    accepted = send(signed_create("hash"))
    assert accepted.status_code == 201, accepted.text

    for declared in ("hash", "UNSIGNED-PAYLOAD"):
        request = signed_create(declared)
        request.body = request.body.replace(b'"RDS"', b'"DWS"')
        assert_error(send(request), *UNAUTHORIZED)

    listed = requests.get(server.url(project_id), headers={"X-Auth-Token": server.token}, timeout=10).json()
    assert [c["service"] for c in listed["connections"]] == ["RDS"]


# ---------------------------------------------------------------- project isolation

def test_a_credential_of_project_a_gets_403_in_project_b_on_every_operation_and_learns_nothing_of_b(
        server, signed_by, credential, tcp_listener):
    project_a, project_b = new_project_id(), new_project_id()
    admin_b = signed_by(project_b)
    secret_name = unique_name("b-only")
    b_conn = create_settled(admin_b, secret_name, tcp_listener.address)
    intruder = signed_by(project_b, credential(project_a))

    for operation, call in all_four_calls(intruder, b_conn.connection_id, tcp_listener):
        expect_error(intruder, call, *FORBIDDEN)
        raw = intruder.last_response
        leaked = [s for s in (secret_name, b_conn.connection_id)
                  if s in raw.text or s in str(raw.headers)]
        assert not leaked, f"{operation}: 403 answer mentions {leaked}: {raw.text}"

    listed = list_connections(admin_b)
    assert [(c.connection_id, c.name, c.state) for c in listed.connections] == \
        [(b_conn.connection_id, secret_name, "ACTIVE")], "the refused create or delete changed project B"


def test_a_credential_of_another_project_gets_the_same_403_whether_or_not_the_connection_or_body_is_valid(
        signed_by, credential, tcp_listener):
    project_a, project_b = new_project_id(), new_project_id()
    b_conn = create(signed_by(project_b), unique_name(), tcp_listener.address).connection_id
    intruder = signed_by(project_b, credential(project_a))

    for call in (lambda: show(intruder, b_conn), lambda: show(intruder, UNKNOWN_ID),
                 lambda: delete(intruder, b_conn), lambda: delete(intruder, UNKNOWN_ID),
                 lambda: create(intruder, "bad name!", tcp_listener.address)):
        expect_error(intruder, call, *FORBIDDEN)


@pytest.mark.parametrize("data,content_type", [
    (b'{"name": "x",', "application/json"),
    (b"name=x&service=RDS", "application/x-www-form-urlencoded"),
], ids=["truncated-json", "form-content-type"])
def test_a_create_in_another_project_is_refused_with_403_before_its_body_is_parsed(server, data, content_type):
    token = server.new_token(new_project_id())["token"]

    resp = with_token("POST", server.url(new_project_id()), token, data=data,
                      headers={"Content-Type": content_type})

    assert_error(resp, *FORBIDDEN)


def test_an_x_project_id_different_from_the_path_project_is_refused_with_403(server, project_id):
    request = sign_with_sdk_signer(server, server.admin_ak, server.admin_sk, "GET", project_id,
                                   headers={"X-Project-Id": new_project_id()})

    assert_error(send(request), *FORBIDDEN)

    matching = sign_with_sdk_signer(server, server.admin_ak, server.admin_sk, "GET", project_id)
    resp = send(matching)
    assert resp.status_code == 200, resp.text


# ---------------------------------------------------------------- tokens

def test_a_token_works_for_its_project_and_gets_403_in_another_without_learning_anything(
        server, project_id, tcp_listener):
    other = new_project_id()
    admin_other = requests.Session()
    admin_other.headers["X-Auth-Token"] = server.token
    secret_name = unique_name("other-only")
    created = admin_other.post(server.url(other), timeout=10, json={
        "name": secret_name, "service": "RDS", "security_group_id": "sg", "network_id": "n",
        "url": tcp_listener.address})
    assert created.status_code == 201, created.text
    other_id = created.json()["connection_id"]
    token = server.new_token(project_id)["token"]

    mine = with_token("GET", server.url(project_id), token)
    assert mine.status_code == 200 and mine.json()["count"] == 0, mine.text
    made = with_token("POST", server.url(project_id), token, json={
        "name": unique_name(), "service": "RDS", "security_group_id": "sg", "network_id": "n",
        "url": tcp_listener.address})
    assert made.status_code == 201, made.text

    for method, url in [("GET", server.url(other)), ("GET", server.url(other, other_id)),
                        ("DELETE", server.url(other, other_id)), ("POST", server.url(other))]:
        resp = with_token(method, url, token, json={"name": unique_name()} if method == "POST" else None)
        assert_error(resp, *FORBIDDEN)
        assert secret_name not in resp.text and other_id not in resp.text, resp.text
        assert token not in resp.text
    assert admin_other.get(server.url(other), timeout=10).json()["count"] == 1
    admin_other.close()


def test_an_unknown_token_is_refused_with_401(server, project_id):
    resp = with_token("GET", server.url(project_id), "dsct_" + "A" * 43)

    assert_error(resp, *UNAUTHORIZED, says="unknown or revoked")


def test_a_token_stops_working_when_it_expires_and_not_before(server, project_id):
    issued = server.new_token(project_id, ttl=TOKEN_TTL)
    token, expires_at = issued["token"], issued["expires_at"]
    issued_at = now_ms()
    assert 0 < expires_at - issued_at <= 2000, issued

    first = with_token("GET", server.url(project_id), token)
    assert first.status_code == 200, f"a {TOKEN_TTL} token was refused {now_ms() - issued_at} ms old: {first.text}"

    resp = poll_until(lambda: with_token("GET", server.url(project_id), token),
                      lambda r: r.status_code != 200, timeout=TOKEN_EXPIRY_DEADLINE_S,
                      what="the token to expire")
    refused_at = now_ms()
    assert_error(resp, *UNAUTHORIZED, says="expired")
    assert refused_at >= expires_at, f"refused {expires_at - refused_at} ms before its expiry"
    assert token not in resp.text


def test_a_revoked_token_stops_working_within_a_second_and_a_half(server, project_id):
    issued = server.new_token(project_id)
    ok = with_token("GET", server.url(project_id), issued["token"])
    assert ok.status_code == 200, ok.text

    server.cli("token", "revoke", issued["id"])
    revoked_at = time.monotonic()

    resp = poll_until(lambda: with_token("GET", server.url(project_id), issued["token"]),
                      lambda r: r.status_code != 200, timeout=STORE_CHANGE_DEADLINE_S,
                      what="the revoked token to be refused")
    assert time.monotonic() - revoked_at <= STORE_CHANGE_DEADLINE_S
    assert_error(resp, *UNAUTHORIZED, says="unknown or revoked")


# ---------------------------------------------------------------- failed attempts and revocation

def test_bad_signatures_never_lock_the_owner_out(signed_by, credential, project_id):
    cred = credential(project_id)
    good = signed_by(project_id, cred)
    bad = signed_by(project_id, ak=cred["access_key"], sk=wrong_secret(cred["secret_key"]))

    for _ in range(3):
        for _ in range(8):
            expect_error(bad, lambda: list_connections(bad), *UNAUTHORIZED, says="signature does not match")
        assert list_connections(good).count == 0, "a stranger's bad signatures must not lock the owner out"


def test_failed_attempts_from_one_address_are_rate_limited_but_the_owner_gets_in(scratch_dir, client_for):
    data_dir = scratch_dir / "data"
    project = new_project_id()
    cred = json.loads(run_cli(data_dir, "credential", "create", "--project", project, "--output", "json"))
    srv = start_server(data_dir, log_dir(scratch_dir, "logs"), "--auth-failure-burst", "3")
    try:
        good = client_for(project, ak=cred["access_key"], sk=cred["secret_key"], base_url=srv.base_url)
        bad = client_for(project, ak=cred["access_key"], sk=wrong_secret(cred["secret_key"]),
                         base_url=srv.base_url)
        assert list_connections(good).count == 0
        for _ in range(3):
            expect_error(bad, lambda: list_connections(bad), *UNAUTHORIZED, says="signature does not match")
        # The SDK client retries 429s itself, so the refused attempt is sent with requests.
        resp = send(sign_with_sdk_signer(srv, cred["access_key"], wrong_secret(cred["secret_key"]),
                                         "GET", project))
        assert_error(resp, 429, "APIG.0308", says="failed authentication")
        assert resp.headers.get("Retry-After"), resp.headers
        assert list_connections(good).count == 0, "the owner is never refused for others' failures"
        assert "authentication failed" in srv.stderr()
        assert cred["secret_key"] not in srv.stderr()
    finally:
        srv.stop()


def test_unknown_revoked_and_wrongly_signed_keys_get_the_same_answer(server, signed_by, credential, project_id):
    cred = credential(project_id)
    wrong = signed_by(project_id, ak=cred["access_key"], sk=wrong_secret(cred["secret_key"]))
    unknown = signed_by(project_id, ak=cred["access_key"][:8] + "NOSUCHKEY000", sk=cred["secret_key"])
    messages = [expect_error(dli, lambda: list_connections(dli), *UNAUTHORIZED).error_msg
                for dli in (wrong, unknown)]
    assert messages[0] == messages[1], messages


def test_a_revoked_credential_stops_working_within_a_second_and_a_half(server, signed_by, credential, project_id):
    cred = credential(project_id)
    dli = signed_by(project_id, cred)
    assert list_connections(dli).count == 0

    server.cli("credential", "revoke", cred["access_key"])
    revoked_at = time.monotonic()

    e = poll_until(lambda: refused(lambda: list_connections(dli)), lambda e: e is not None,
                   timeout=STORE_CHANGE_DEADLINE_S, what="the revoked credential to be refused")
    assert time.monotonic() - revoked_at <= STORE_CHANGE_DEADLINE_S
    assert (e.status_code, e.error_code) == UNAUTHORIZED
    assert "unknown or revoked" in e.error_msg
    assert e.request_id == dli.last_response.headers["X-Request-Id"]
    listed = {c["access_key"]: c for c in server.cli_json("credential", "list")}
    assert listed[cred["access_key"]]["status"] == "revoked", listed[cred["access_key"]]


# ---------------------------------------------------------------- secrets at rest and in logs

def test_credential_list_never_shows_a_secret_key(server, credential, project_id):
    cred = credential(project_id)

    for out in (server.cli("credential", "list"), server.cli("credential", "list", "--output", "json")):
        assert cred["access_key"] in out
        assert cred["secret_key"] not in out and server.admin_sk not in out


def test_no_secret_key_or_token_is_stored_in_plain_text_in_the_data_dir(server, credential, project_id):
    cred = credential(project_id)
    token = server.new_token(project_id)["token"]

    found = []
    for path in Path(server.data_dir).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [(path.name, what) for what, s in
                      (("sk", cred["secret_key"]), ("admin sk", server.admin_sk), ("token", token),
                       ("admin token", server.token))
                      if s.encode() in data]
    assert not found, found
    key_files = [p for p in Path(server.data_dir).iterdir() if p.is_file() and "key" in p.name]
    assert key_files, "no key file in the data dir"
    for p in key_files:
        assert os.stat(p).st_mode & 0o077 == 0, f"{p.name} is readable by others: {oct(os.stat(p).st_mode)}"


def test_secrets_never_appear_in_the_server_log(server, signed_by, credential, project_id):
    cred = credential(project_id)
    token = server.new_token(project_id)["token"]
    bad_sk = wrong_secret(cred["secret_key"])
    list_connections(signed_by(project_id, cred))
    bad = signed_by(project_id, ak=cred["access_key"], sk=bad_sk)
    expect_error(bad, lambda: list_connections(bad), *UNAUTHORIZED)
    with_token("GET", server.url(project_id), token)
    with_token("GET", server.url(new_project_id()), token)

    log = server.stdout() + server.stderr()
    for what, s in (("sk", cred["secret_key"]), ("wrong sk", bad_sk), ("token", token),
                    ("admin sk", server.admin_sk), ("admin token", server.token)):
        assert s not in log, f"the {what} is in the server's log"


# ---------------------------------------------------------------- first start and --auth none

@pytest.fixture
def scratch_dir():
    """A data dir of its own for a second server, and log dirs for each of its starts."""
    with tempfile.TemporaryDirectory(prefix="dsconn-sdk-scratch-") as work:
        work = Path(work)
        (work / "data").mkdir()
        yield work


def log_dir(scratch, name):
    path = scratch / name
    path.mkdir()
    return str(path)


def test_a_first_start_prints_one_working_credential_for_a_new_project_and_a_restart_prints_none(
        scratch_dir, client_for):
    data_dir = scratch_dir / "data"
    srv = start_server(data_dir, log_dir(scratch_dir, "first"))
    try:
        out = srv.stdout()
        fields = dict(re.findall(r"^\s*(project id|access key|secret key):\s*(\S+)\s*$", out, re.M))
        assert set(fields) == {"project id", "access key", "secret key"}, out
        ak, sk, project = fields["access key"], fields["secret key"], fields["project id"]
        assert sk not in srv.stderr(), "the first secret key is in the log"

        mine = client_for(project, ak=ak, sk=sk, base_url=srv.base_url)
        assert list_connections(mine).count == 0
        other = client_for(new_project_id(), ak=ak, sk=sk, base_url=srv.base_url)
        expect_error(other, lambda: list_connections(other), *FORBIDDEN)
    finally:
        srv.stop()

    again = start_server(data_dir, log_dir(scratch_dir, "second"))
    try:
        assert sk not in again.stdout() and "secret key" not in again.stdout(), again.stdout()
        listed = json.loads(run_cli(data_dir, "credential", "list", "--output", "json"))
        assert [c["access_key"] for c in listed] == [ak], "the restart created another credential"
        assert list_connections(client_for(project, ak=ak, sk=sk, base_url=again.base_url)).count == 0
    finally:
        again.stop()


def test_auth_none_accepts_unsigned_requests_and_warns_at_start_up(scratch_dir):
    srv = start_server(scratch_dir / "data", log_dir(scratch_dir, "logs"), "--auth", "none")
    try:
        resp = requests.get(srv.url(new_project_id()), timeout=10)
        assert resp.status_code == 200, resp.text
        assert "secret key" not in srv.stdout(), "--auth none must not create a credential"
        warnings = [line for line in srv.stderr().splitlines() if "WARN" in line.upper()]
        assert any("auth" in line.lower() for line in warnings), srv.stderr()
    finally:
        srv.stop()
