"""Every response body validates against the official DLI API Explorer schema.

Raw HTTP (requests, authenticated with the session's admin X-Auth-Token), no SDK:
each answer is checked against
tests/fixtures/dli-definitions/<Operation>.json, taking
paths.<path>.<method>.responses.<status>.schema and resolving #/definitions/...
inside that same file. Also checked on every answer: Content-Type
application/json, a non-empty X-Request-Id, and the DLI error body shape.
"""

import copy
import json

import pytest
import requests
from jsonschema import Draft4Validator

from helpers import FIXTURES, is_uuid4, new_project_id, poll_until, unique_name

DEFINITIONS_DIR = FIXTURES / "dli-definitions"
COLLECTION = "/v2.0/{project_id}/datasource-connection"
ITEM = "/v2.0/{project_id}/datasource-connection/{connection_id}"

OPERATIONS = {
    "create": ("CreateDatasourceConnection", COLLECTION, "post"),
    "list": ("ListDatasourceConnections", COLLECTION, "get"),
    "show": ("ShowDatasourceConnection", ITEM, "get"),
    "delete": ("DeleteDatasourceConnection", ITEM, "delete"),
}
SCHEMA_CASES = [(op, status) for op in OPERATIONS
                for status in (201 if op == "create" else 200, 400)]


def operation_spec(op):
    name, path, method = OPERATIONS[op]
    doc = json.loads((DEFINITIONS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return doc, doc["paths"][path][method]


def response_schema(op, status):
    """The documented schema for (operation, status), as a standalone JSON schema."""
    doc, spec = operation_spec(op)
    responses = spec["responses"]
    assert str(status) in responses, f"{op} documents no HTTP {status} (documented: {sorted(responses)})"
    schema = responses[str(status)]["schema"]
    return {"definitions": doc["definitions"], **schema}


def schema_errors(op, status, body):
    validator = Draft4Validator(response_schema(op, status))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(body)]


def check_common(resp):
    """Content type and request id, which every dsconn answer carries."""
    media_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    assert media_type == "application/json", f"Content-Type {resp.headers.get('Content-Type')!r}"
    assert resp.headers.get("X-Request-Id", "").strip(), "missing or empty X-Request-Id"
    try:
        return resp.json()
    except ValueError:
        raise AssertionError(f"body is not JSON: {resp.text[:300]!r}")


def check_error_shape(body, code):
    assert isinstance(body, dict), body
    assert body.get("error_code") == code, body
    assert isinstance(body.get("error_msg"), str) and body["error_msg"], body
    assert body.get("is_success") is False, body
    assert body.get("message") == body["error_msg"], body


def conforms(op, resp, status, error_code=None):
    """Assert resp is HTTP `status` of `op` and its body matches the official schema."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url}: expected {status}, got {resp.status_code}: {resp.text[:500]}")
    body = check_common(resp)
    errors = schema_errors(op, status, body)
    assert not errors, f"{op} {status} body does not match the official schema: {errors}\nbody: {body}"
    if status >= 400:
        check_error_shape(body, error_code)
    return body


# ---------------------------------------------------------------- raw API

class Api:
    def __init__(self, server, project_id):
        self.server = server
        self.project_id = project_id
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only, never a proxy
        self.session.headers["X-Auth-Token"] = server.token  # the admin token, all projects

    def url(self, *rest):
        return self.server.url(self.project_id, *rest)

    def create(self, **overrides):
        body = {"name": unique_name(), "service": "RDS",
                "security_group_id": "a07ab107-a4ad-4835-ad09-08a2f2efccdb",
                "network_id": "e83ba67d-e812-42d3-908d-6ea0b2cc5ecb",
                "url": "127.0.0.1:1"}
        body.update(overrides)
        body = {k: v for k, v in body.items() if v is not None}
        return self.session.post(self.url(), json=body, timeout=10)

    def post_raw(self, data, content_type):
        return self.session.post(self.url(), data=data, headers={"Content-Type": content_type}, timeout=10)

    def list(self, **params):
        return self.session.get(self.url(), params=params, timeout=10)

    def show(self, connection_id):
        return self.session.get(self.url(connection_id), timeout=10)

    def delete(self, connection_id):
        return self.session.delete(self.url(connection_id), timeout=10)

    def create_ok(self, **overrides):
        body = conforms("create", self.create(**overrides), 201)
        assert body["is_success"] is True and is_uuid4(body["connection_id"]), body
        return body["connection_id"]

    def settled(self, connection_id):
        resp = poll_until(lambda: self.show(connection_id),
                          lambda r: r.status_code != 200 or r.json().get("state") != "CREATING",
                          what=f"{connection_id} to leave CREATING")
        return resp


@pytest.fixture
def api(server, project_id):
    a = Api(server, project_id)
    yield a
    a.session.close()


# ---------------------------------------------------------------- the schemas themselves

def _objects_in(schema):
    if isinstance(schema, dict):
        yield schema
        for v in schema.values():
            yield from _objects_in(v)
    elif isinstance(schema, list):
        for v in schema:
            yield from _objects_in(v)


@pytest.mark.parametrize("op,status", SCHEMA_CASES)
def test_each_official_schema_is_valid_and_tolerates_extra_fields(op, status):
    schema = response_schema(op, status)
    Draft4Validator.check_schema(schema)
    assert all(node.get("additionalProperties") is not False for node in _objects_in(schema))

    samples = {
        ("create", 201): {"is_success": True, "message": "", "connection_id": "x"},
        ("list", 200): {"is_success": True, "message": "", "count": 1, "connections": [
            {"connection_id": "x", "state": "ACTIVE", "process": 1.0, "create_time": 1,
             "available_queue_info": [{"peer_id": "p", "uuid": "p"}], "tags": [{"key": "k", "value": ""}]}]},
        ("show", 200): {"is_success": True, "message": "", "state": "ACTIVE", "create_time": 1,
                        "available_queue_info": [{"uuid": "p", "peer_id": "p", "name": "q"}],
                        "queue_list": ["q"], "security_group_id": "sg", "tags": []},
        ("delete", 200): {"is_success": True, "message": "Deleted"},
    }
    sample = samples.get((op, status), {"error_code": "DLI.0001", "error_msg": "m"})
    with_extras = copy.deepcopy(sample)
    with_extras["dsconn_extension"] = {"any": ["thing"]}
    assert schema_errors(op, status, sample) == []
    assert schema_errors(op, status, with_extras) == []


@pytest.mark.parametrize("op,status,body", [
    ("create", 201, {"is_success": "yes"}),
    ("list", 200, {"count": "two"}),
    ("list", 200, {"connections": [{"create_time": 1.5}]}),
    ("show", 200, {"process": "done"}),
    ("delete", 200, {"message": 7}),
    ("show", 400, {"error_msg": "no code"}),
])
def test_the_validator_rejects_bodies_of_the_wrong_shape(op, status, body):
    assert schema_errors(op, status, body) != []


# ---------------------------------------------------------------- success answers

def test_create_answers_201_with_a_body_matching_the_schema(api, tcp_listener):
    body = conforms("create", api.create(url=tcp_listener.address,
                                          tags=[{"key": "env", "value": "prod"}]), 201)

    assert body["is_success"] is True
    assert body["message"] == ""
    assert is_uuid4(body["connection_id"])


def test_list_of_an_empty_project_matches_the_schema(api):
    body = conforms("list", api.list(), 200)

    assert body["is_success"] is True
    assert body["count"] == 0
    assert body["connections"] == []


def test_list_with_a_creating_and_a_settled_connection_matches_the_schema(api, tcp_listener, blackhole_port):
    active = api.create_ok(url=tcp_listener.address)
    assert api.settled(active).json()["state"] == "ACTIVE"
    creating = api.create_ok(url=f"127.0.0.1:{blackhole_port}")

    body = conforms("list", api.list(), 200)

    assert body["count"] == 2
    states = {c["connection_id"]: c["state"] for c in body["connections"]}
    assert states == {active: "ACTIVE", creating: "CREATING"}
    for item in body["connections"]:
        assert type(item["create_time"]) is int
        assert 0.0 <= item["process"] <= 1.0
        assert isinstance(item["available_queue_info"], list)
        assert isinstance(item["queue_list"], list)


def test_list_with_a_tag_filter_matches_the_schema(api, tcp_listener):
    api.create_ok(url=tcp_listener.address, tags=[{"key": "env", "value": "prod"}])
    api.create_ok(url=tcp_listener.address)

    body = conforms("list", api.list(tags="env=prod"), 200)

    assert body["count"] == 1 and len(body["connections"]) == 1


def test_show_of_a_creating_connection_matches_the_schema_and_it_cannot_be_deleted(api, blackhole_port):
    connection_id = api.create_ok(url=f"127.0.0.1:{blackhole_port}")

    body = conforms("show", api.show(connection_id), 200)
    assert body["state"] == "CREATING"
    assert body["process"] == 0.0
    assert body["connection_url"] == ""
    conforms("delete", api.delete(connection_id), 400, "DLI.0007")

    assert api.settled(connection_id).json()["state"] == "FAILED"


def test_show_of_active_failed_and_deleted_connections_matches_the_schema(api, tcp_listener, closed_port):
    active = api.create_ok(url=tcp_listener.address, tags=[{"key": "env", "value": "prod"}])
    failed = api.create_ok(url=f"127.0.0.1:{closed_port}")

    body = conforms("show", api.settled(active), 200)
    assert body["state"] == "ACTIVE" and body["process"] == 1.0
    assert body["connection_url"] == tcp_listener.address
    body = conforms("show", api.settled(failed), 200)
    assert body["state"] == "FAILED"

    for connection_id in (active, failed):
        deleted = conforms("delete", api.delete(connection_id), 200)
        assert deleted == {**deleted, "is_success": True, "message": "Deleted"}
        body = conforms("show", api.show(connection_id), 200)
        assert (body["state"], body["process"], body["connection_url"]) == ("DELETED", 0, "")


def test_deleting_twice_answers_the_same_matching_body(api, tcp_listener):
    connection_id = api.create_ok(url=tcp_listener.address)
    api.settled(connection_id)

    first = conforms("delete", api.delete(connection_id), 200)
    second = conforms("delete", api.delete(connection_id), 200)

    assert (first["is_success"], first["message"]) == (second["is_success"], second["message"]) == (True, "Deleted")


def test_extension_fields_in_answers_do_not_break_validation(api, tcp_listener):
    """dsconn may add fields beyond the documented ones (tags, security_group_id...);
    the real answers and the answers with one more unknown field still validate."""
    connection_id = api.create_ok(url=tcp_listener.address, tags=[{"key": "env", "value": "prod"}])
    shown = conforms("show", api.settled(connection_id), 200)
    listed = conforms("list", api.list(), 200)
    created = conforms("create", api.create(url=tcp_listener.address), 201)

    future = {"zz_future_field": [1, {"a": None}]}
    assert schema_errors("show", 200, {**shown, **future}) == []
    assert schema_errors("list", 200, {**listed, **future}) == []
    item = {**listed["connections"][0], **future}
    assert schema_errors("list", 200, {**listed, "connections": [item]}) == []
    assert schema_errors("create", 201, {**created, **future}) == []


# ---------------------------------------------------------------- error answers

@pytest.mark.parametrize("overrides,code", [
    ({"name": "bad name!"}, "DLI.0001"),
    ({"name": ""}, "DLI.0001"),
    ({"name": "n" * 65}, "DLI.0001"),
    ({"name": None}, "DLI.0001"),
    ({"service": "MySQLish"}, "DLI.0001"),
    ({"service": None}, "DLI.0001"),
    ({"security_group_id": ""}, "DLI.0001"),
    ({"network_id": None}, "DLI.0001"),
    ({"url": None}, "DLI.0001"),
    ({"url": "a" * 513}, "DLI.0001"),
    ({"tags": [{"key": "_sys_x", "value": "v"}]}, "DLI.0001"),
    ({"tags": [{"key": "k", "value": "1"}, {"key": "k", "value": "2"}]}, "DLI.0001"),
], ids=["bad-name", "empty-name", "long-name", "no-name", "unknown-service", "no-service",
        "empty-security-group", "no-network", "no-url", "long-url", "sys-tag", "duplicate-tag-key"])
def test_invalid_create_bodies_answer_400_matching_the_fail_schema(api, overrides, code):
    conforms("create", api.create(**overrides), 400, code)
    assert api.list().json()["count"] == 0


@pytest.mark.parametrize("data,content_type", [
    (b'{"name": "x",', "application/json"),
    (b"[1, 2]", "application/json"),
    (b"name=x&service=RDS", "application/x-www-form-urlencoded"),
], ids=["truncated-json", "json-array", "form-content-type"])
def test_malformed_create_requests_answer_400_matching_the_fail_schema(api, data, content_type):
    conforms("create", api.post_raw(data, content_type), 400, "DLI.0001")


def test_a_duplicate_name_answers_400_dli_0006_matching_the_fail_schema(api, tcp_listener):
    name = unique_name("dup")
    api.create_ok(name=name, url=tcp_listener.address)

    conforms("create", api.create(name=name, url=tcp_listener.address, service="DWS"), 400, "DLI.0006")


@pytest.mark.parametrize("params", [{"limit": "abc"}, {"order": "sideways"}], ids=["limit", "order"])
def test_an_invalid_list_query_answers_400_matching_the_fail_schema(api, params):
    conforms("list", api.list(**params), 400, "DLI.0001")


def test_show_and_delete_of_an_unknown_id_answer_400_dli_0002_matching_the_fail_schema(api):
    unknown = "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"

    conforms("show", api.show(unknown), 400, "DLI.0002")
    conforms("delete", api.delete(unknown), 400, "DLI.0002")


def test_a_connection_of_another_project_answers_400_dli_0002(api, server, tcp_listener):
    connection_id = api.create_ok(url=tcp_listener.address)
    stranger = Api(server, new_project_id())

    conforms("show", stranger.show(connection_id), 400, "DLI.0002")
    conforms("delete", stranger.delete(connection_id), 400, "DLI.0002")


@pytest.mark.parametrize("method,path", [
    ("GET", "/v2.0/{p}/no-such-resource"),
    ("PUT", "/v2.0/{p}/datasource-connection"),
    ("GET", "/nothing-here"),
], ids=["unknown-path", "unknown-method", "outside-api"])
def test_unknown_paths_and_methods_answer_404_apig_0101_as_json(api, server, method, path):
    resp = api.session.request(method, server.base_url + path.format(p=api.project_id), timeout=10)

    assert resp.status_code == 404, resp.text
    body = check_common(resp)
    check_error_shape(body, "APIG.0101")


def test_healthz_answers_json_with_a_request_id(api, server):
    resp = api.session.get(server.base_url + "/healthz", timeout=10)

    assert resp.status_code == 200
    check_common(resp)


def test_request_ids_differ_between_requests(api):
    ids = {api.list().headers.get("X-Request-Id") for _ in range(3)}

    assert len(ids) == 3, ids
