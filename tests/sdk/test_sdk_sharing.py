"""Sharing enhanced connections and their v3 tags through the official SDK
(`huaweicloudsdkdli`): RunAuthorizationAction, ShowEnhancedConnectionPrivilege,
ListAuthorizationPrivileges and the six tag calls, each raw answer validated against its
official definition (tests/fixtures/dli-definitions-enhanced/; ShowResourceTags has none).
Exceptions, each a documented decision: BatchCreate/DeleteResourceTags answer dsconn's
success object where the definition says a bare string (the SDK accepts either), and a
Resource's `tags` is a list of {key, value} as the SDK model and DLI's examples have it,
where the definition says `type: object`."""

import json

import pytest
import requests
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdli.v1 import (
    BatchCreateResourceTagsRequest,
    BatchCreateResourceTagsRequestBody,
    BatchDeleteResourceTagsRequest,
    BatchDeleteResourceTagsRequestBody,
    CountResourcesByTagsRequest,
    CountResourcesByTagsRequestBody,
    ListAuthorizationPrivilegesRequest,
    ListResourcesByTagsRequest,
    ListResourcesByTagsRequestBody,
    ListResourcesTagsRequest,
    Privilege,
    RunAuthorizationActionRequest,
    RunAuthorizationActionRequestBody,
    ShowEnhancedConnectionPrivilegeRequest,
    ShowResourceTagsRequest,
    Tag,
    TagWithValues,
)
from jsonschema import Draft4Validator

from helpers import FIXTURES, new_project_id, unique_name

DEFINITIONS_DIR = FIXTURES / "dli-definitions-enhanced"
RESOURCE_TYPE = "dli_enhanced_datasource"


def conforms(dli, operation, status, skip=()):
    """The last raw answer is HTTP `status` and validates against `operation`'s official
    schema (minus the `skip` paths, each a documented deviation); its JSON body."""
    raw = dli.last_response
    assert raw.status_code == status, raw.text
    doc = json.loads((DEFINITIONS_DIR / f"{operation}.json").read_text(encoding="utf-8"))
    (path_item,) = doc["paths"].values()
    (spec,) = path_item.values()
    schema = {"definitions": doc["definitions"], **spec["responses"][str(status)]["schema"]}
    body = raw.json()
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in Draft4Validator(schema).iter_errors(body)
              if "/".join(map(str, e.absolute_path)) not in skip]
    assert not errors, f"{operation} {status} does not match the definition: {errors}\n{body}"
    return body


def create_connection(server, project_id, tags=()):
    url = f"{server.base_url}/v2.0/{project_id}/datasource/enhanced-connections"
    body = {"name": f"c_{unique_name('').replace('-', '')}", "dest_vpc_id": "vpc-1",
            "dest_network_id": "net-1", "tags": [{"key": k, "value": v} for k, v in tags]}
    answer = requests.post(url, json=body, headers={"X-Auth-Token": server.token}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["connection_id"]


def authorize(dli, action, grantee, connection_id):
    body = RunAuthorizationActionRequestBody(
        project_id=grantee, action=action,
        privileges=[Privilege(object=f"edsconnections.{connection_id}", privileges=["BIND_QUEUE"])])
    return dli.run_authorization_action(RunAuthorizationActionRequest(body=body))


def test_a_connection_is_granted_read_and_revoked_through_the_sdk(server, dli, project_id):
    connection_id = create_connection(server, project_id)
    grantee = new_project_id()

    granted = authorize(dli, "grant", grantee, connection_id)
    assert granted.is_success is True
    conforms(dli, "RunAuthorizationAction", 200)

    shown = dli.show_enhanced_connection_privilege(
        ShowEnhancedConnectionPrivilegeRequest(connection_id=connection_id))
    body = conforms(dli, "ShowEnhancedConnectionPrivilege", 200)
    assert shown.connection_id == connection_id
    assert [(p.applicant_project_id, p.privileges) for p in shown.privileges] == [
        (grantee, ["BIND_QUEUE"])]
    assert body["privileges"][0]["project_id"] == grantee

    listed = dli.list_authorization_privileges(
        ListAuthorizationPrivilegesRequest(object=f"edsconnections.{connection_id}"))
    conforms(dli, "ListAuthorizationPrivileges", 200)
    assert (listed.object_type, listed.object_name, listed.count) == (
        "edsconnections", connection_id, 1)
    assert listed.privileges[0].privileges == ["BIND_QUEUE"]

    authorize(dli, "revoke", grantee, connection_id)
    conforms(dli, "RunAuthorizationAction", 200)
    shown = dli.show_enhanced_connection_privilege(
        ShowEnhancedConnectionPrivilegeRequest(connection_id=connection_id))
    assert shown.privileges == []

    unknown = "503fc86a-5e60-4349-92c2-7e399404fa7a"
    with pytest.raises(ClientRequestException) as refused:
        dli.show_enhanced_connection_privilege(
            ShowEnhancedConnectionPrivilegeRequest(connection_id=unknown))
    assert refused.value.status_code == 400
    assert refused.value.error_code == "DLI.0001"
    assert refused.value.error_msg == f"Connection {unknown} is not exist."


def test_tags_are_set_listed_filtered_counted_and_removed_through_the_sdk(server, dli, project_id):
    connection_id = create_connection(server, project_id, tags=[("env", "prod")])

    created = dli.batch_create_resource_tags(BatchCreateResourceTagsRequest(
        resource_type=RESOURCE_TYPE, resource_id=connection_id,
        body=BatchCreateResourceTagsRequestBody(tags=[Tag(key="team", value="data")])))
    assert dli.last_response.status_code == 200
    assert dli.last_response.json() == {"is_success": True, "message": ""}
    assert created is not None

    shown = dli.show_resource_tags(ShowResourceTagsRequest(
        resource_type=RESOURCE_TYPE, resource_id=connection_id))
    assert [(t.key, t.value) for t in shown.tags] == [("env", "prod"), ("team", "data")]
    assert shown.count == 2

    keys = dli.list_resources_tags(ListResourcesTagsRequest(resource_type=RESOURCE_TYPE))
    conforms(dli, "ListResourcesTags", 200)
    assert [(t.key, t.values) for t in keys.tags] == [("env", ["prod"]), ("team", ["data"])]

    found = dli.list_resources_by_tags(ListResourcesByTagsRequest(
        resource_type=RESOURCE_TYPE, limit=10, offset=0,
        body=ListResourcesByTagsRequestBody(tags=[TagWithValues(key="team", values=["data"])])))
    conforms(dli, "ListResourcesByTags", 200, skip={"resources/0/tags"})
    assert found.total_count == 1
    assert found.resources[0].resource_id == connection_id
    assert found.resources[0].tags == [{"key": "env", "value": "prod"},
                                       {"key": "team", "value": "data"}]

    counted = dli.count_resources_by_tags(CountResourcesByTagsRequest(
        resource_type=RESOURCE_TYPE,
        body=CountResourcesByTagsRequestBody(without_any_tag=True)))
    conforms(dli, "CountResourcesByTags", 200)
    assert counted.total_count == 0

    dli.batch_delete_resource_tags(BatchDeleteResourceTagsRequest(
        resource_type=RESOURCE_TYPE, resource_id=connection_id,
        body=BatchDeleteResourceTagsRequestBody(tags=[Tag(key="env", value="prod")])))
    assert dli.last_response.status_code == 200
    shown = dli.show_resource_tags(ShowResourceTagsRequest(
        resource_type=RESOURCE_TYPE, resource_id=connection_id))
    assert [(t.key, t.value) for t in shown.tags] == [("team", "data")]
