"""DLI's enhanced datasource connections through the official SDK (`huaweicloudsdkdli`):
every E operation (E1-E9 and the deprecated v2.0 route twins), each raw answer validated
against its official definition (tests/fixtures/dli-definitions-enhanced/; E7 has none,
so the SDK's model is checked instead). E3's `isPrivis`, `ipv6_enable` and `routes` are
extra keys the definitions allow."""

import json

from huaweicloudsdkdli.v1 import (
    AssociateQueueToEnhancedConnectionRequest,
    AssociateQueueToEnhancedConnectionRequestBody,
    CreateEnhancedConnectionRequest,
    CreateEnhancedConnectionRequestBody,
    CreateEnhancedConnectionRoutesRequest,
    CreateEnhancedConnectionRoutesRequestBody,
    CreateRouteToEnhancedConnectionRequest,
    CreateRouteToEnhancedConnectionRequestBody,
    DeleteEnhancedConnectionRequest,
    DeleteEnhancedConnectionRoutesRequest,
    DeleteRouteFromEnhancedConnectionRequest,
    DisassociateQueueFromEnhancedConnectionRequest,
    DisassociateQueueFromEnhancedConnectionRequestBody,
    EnhancedConnectionHost,
    ListEnhancedConnectionsRequest,
    ShowEnhancedConnectionRequest,
    Tag,
    UpdateEnhancedConnectionRequest,
    UpdateEnhancedConnectionRequestBody,
)
from jsonschema import Draft4Validator

from helpers import FIXTURES, expect_error, is_uuid4, unique_name
from test_sdk_queues import create_queue, queue_name

DEFINITIONS_DIR = FIXTURES / "dli-definitions-enhanced"


def conforms(dli, operation, status):
    """The last raw answer is HTTP `status` and validates against `operation`'s official
    schema for it; returns its JSON body."""
    raw = dli.last_response
    assert raw.status_code == status, raw.text
    assert raw.headers.get("Content-Type", "").startswith("application/json")
    doc = json.loads((DEFINITIONS_DIR / f"{operation}.json").read_text(encoding="utf-8"))
    (path_item,) = doc["paths"].values()
    (spec,) = path_item.values()
    schema = {"definitions": doc["definitions"], **spec["responses"][str(status)]["schema"]}
    body = raw.json()
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in Draft4Validator(schema).iter_errors(body)]
    assert not errors, f"{operation} {status} does not match the definition: {errors}\n{body}"
    return body


def connection_name():
    return f"c_{unique_name('').replace('-', '')}"[:64]


def create(dli, name, **fields):
    body = CreateEnhancedConnectionRequestBody(
        name=name, dest_vpc_id="22094d8f-c310-4621-913d-4c4d655d8495",
        dest_network_id="78f2562a-36e4-4b39-95b9-f5aab22e1281", **fields)
    return dli.create_enhanced_connection(CreateEnhancedConnectionRequest(body=body))


def show(dli, connection_id):
    return dli.show_enhanced_connection(ShowEnhancedConnectionRequest(connection_id=connection_id))


def test_every_enhanced_operation_answers_as_its_definition_says(dli):
    queue = queue_name()
    create_queue(dli, queue)
    created = create(dli, connection_name(), queues=[queue],
                     hosts=[EnhancedConnectionHost(name="db.example", ip="192.168.0.1")],
                     tags=[Tag(key="team", value="data")])
    conforms(dli, "CreateEnhancedConnection", 201)
    assert created.is_success is True
    assert is_uuid4(created.connection_id)
    cid = created.connection_id

    shown = show(dli, cid)
    body = conforms(dli, "ShowEnhancedConnection", 200)
    assert shown.status == "ACTIVE"
    assert [q.name for q in shown.available_queue_info] == [queue]
    assert shown.available_queue_info[0].status in ("CREATING", "ACTIVE")
    assert [(h.name, h.ip) for h in shown.hosts] == [("db.example", "192.168.0.1")]
    assert body["isPrivis"] is True and body["ipv6_enable"] is False and body["routes"] == []

    listed = dli.list_enhanced_connections(ListEnhancedConnectionsRequest(status="active"))
    conforms(dli, "ListEnhancedConnections", 200)
    assert listed.count == 1 and listed.connections[0].id == cid
    assert listed.connections[0].is_privis is True

    # E5/E6 with the SDK's bodies (queues), then with no body at all (400).
    other = queue_name()
    create_queue(dli, other)
    bound = dli.associate_queue_to_enhanced_connection(AssociateQueueToEnhancedConnectionRequest(
        connection_id=cid, body=AssociateQueueToEnhancedConnectionRequestBody(queues=[other])))
    conforms(dli, "AssociateQueueToEnhancedConnection", 200)
    assert bound.message == f"associated peer connection for queues: {{{other}}}."
    unbound = dli.disassociate_queue_from_enhanced_connection(
        DisassociateQueueFromEnhancedConnectionRequest(
            connection_id=cid,
            body=DisassociateQueueFromEnhancedConnectionRequestBody(queues=[other])))
    conforms(dli, "DisassociateQueueFromEnhancedConnection", 200)
    assert unbound.message == f"Disassociated peer connection for queues:{{{other}}}."
    expect_error(dli, lambda: dli.associate_queue_to_enhanced_connection(
        AssociateQueueToEnhancedConnectionRequest(connection_id=cid)), 400, "DLI.0001",
        says="queues or elastic_resource_pools is required")
    conforms(dli, "AssociateQueueToEnhancedConnection", 400)

    # E7 (no definition file: the SDK's model).
    updated = dli.update_enhanced_connection(UpdateEnhancedConnectionRequest(
        connection_id=cid, body=UpdateEnhancedConnectionRequestBody(
            hosts=[EnhancedConnectionHost(name="db2", ip="10.0.0.2")])))
    assert dli.last_response.status_code == 200
    assert updated.is_success is True and updated.message == ""
    assert [(h.name, h.ip) for h in show(dli, cid).hosts] == [("db2", "10.0.0.2")]

    # Routes: v3 and the deprecated v2.0 twins; names percent-encoded by the SDK.
    dli.create_route_to_enhanced_connection(CreateRouteToEnhancedConnectionRequest(
        connection_id=cid,
        body=CreateRouteToEnhancedConnectionRequestBody(name="route-1", cidr="10.169.0.0/24")))
    conforms(dli, "CreateRouteToEnhancedConnection", 200)
    dli.create_enhanced_connection_routes(CreateEnhancedConnectionRoutesRequest(
        connection_id=cid,
        body=CreateEnhancedConnectionRoutesRequestBody(name="route_2", cidr="127.0.0.0")))
    conforms(dli, "CreateEnhancedConnectionRoutes", 200)
    # The SDK's model has no `routes`: read them from the raw answer.
    show(dli, cid)
    body = conforms(dli, "ShowEnhancedConnection", 200)
    assert [(r["name"], r["cidr"]) for r in body["routes"]] == [
        ("route-1", "10.169.0.0/24"), ("route_2", "127.0.0.0/32")]
    expect_error(dli, lambda: dli.create_route_to_enhanced_connection(
        CreateRouteToEnhancedConnectionRequest(
            connection_id=cid,
            body=CreateRouteToEnhancedConnectionRequestBody(name="route_2", cidr="10.1.0.0/16"))),
        400, "DLI.0006")
    conforms(dli, "CreateRouteToEnhancedConnection", 400)
    deleted = dli.delete_route_from_enhanced_connection(DeleteRouteFromEnhancedConnectionRequest(
        connection_id=cid, name="route-1"))
    conforms(dli, "DeleteRouteFromEnhancedConnection", 200)
    assert deleted.message == "Deleted"
    dli.delete_enhanced_connection_routes(DeleteEnhancedConnectionRoutesRequest(
        connection_id=cid, name="route_2"))
    conforms(dli, "DeleteEnhancedConnectionRoutes", 200)
    expect_error(dli, lambda: dli.delete_route_from_enhanced_connection(
        DeleteRouteFromEnhancedConnectionRequest(connection_id=cid, name="route 1/x")),
        400, "DLI.0001", says="route route 1/x does not exist")

    # E4, then E3 of a DELETED one and E2 ?status=DELETED.
    gone = dli.delete_enhanced_connection(DeleteEnhancedConnectionRequest(connection_id=cid))
    conforms(dli, "DeleteEnhancedConnection", 200)
    assert gone.message == "Deleted"
    assert show(dli, cid).status == "DELETED"
    conforms(dli, "ShowEnhancedConnection", 200)
    assert dli.list_enhanced_connections(ListEnhancedConnectionsRequest()).count == 0
    deleted_list = dli.list_enhanced_connections(ListEnhancedConnectionsRequest(status="DELETED"))
    conforms(dli, "ListEnhancedConnections", 200)
    assert [c.id for c in deleted_list.connections] == [cid]


def test_unknown_ids_and_bad_input_get_the_definitions_error_body(dli):
    unknown = "503fc86a-5e60-4349-92c2-7e399404fa6a"
    expect_error(dli, lambda: show(dli, unknown), 400, "DLI.0001",
                 says=f"Connection {unknown} is not exist.")
    conforms(dli, "ShowEnhancedConnection", 400)
    expect_error(dli, lambda: dli.delete_enhanced_connection(
        DeleteEnhancedConnectionRequest(connection_id="not-a-uuid")), 400, "DLI.0001",
        says="Connection not-a-uuid is not exist.")
    conforms(dli, "DeleteEnhancedConnection", 400)
    expect_error(dli, lambda: create(dli, "bad name"), 400, "DLI.0001")
    conforms(dli, "CreateEnhancedConnection", 400)
    expect_error(dli, lambda: create(dli, connection_name(), queues=["default"]), 400, "DLI.0001",
                 says="queue default cannot be bound")
    expect_error(dli, lambda: create(dli, connection_name(), elastic_resource_pools=["nopool"]),
                 400, "DLI.0002", says="There is no elastic resource pool named nopool")
    # Paging past the end is an empty page, never a missing array.
    page = dli.list_enhanced_connections(ListEnhancedConnectionsRequest(offset=10, limit=0))
    body = conforms(dli, "ListEnhancedConnections", 200)
    assert page.count == 0 and body["connections"] == []
