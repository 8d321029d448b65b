"""DLI's queues and elastic resource pools through the official SDK (`huaweicloudsdkdli`):
create, list, show and delete, each raw answer validated against its official definition
(tests/fixtures/dli-definitions/, from the API Explorer; ShowQueue has none, so the SDK's
ShowQueueResponse model is checked instead). Also: a queue must exist to be bound, a bound
queue cannot be deleted, and queues declared with `serve --queue` are in every project."""

import json
import os
import shutil
import tempfile

import pytest
import requests
from huaweicloudsdkdli.v1 import (
    CreateElasticResourcePoolRequest,
    CreateElasticResourcePoolRequestBody,
    CreateQueueRequest,
    CreateQueueRequestBody,
    DeleteElasticResourcePoolRequest,
    DeleteQueueRequest,
    ListElasticResourcePoolsRequest,
    ListQueuesRequest,
    ShowQueueRequest,
    Tag,
)
from jsonschema import Draft4Validator

from conftest import RecordingClient, run_cli, start_server
from helpers import (FIXTURES, create, expect_error, is_uuid4, new_project_id, show, unique_name,
                     wait_settled)

DEFINITIONS_DIR = FIXTURES / "dli-definitions"


def conforms(dli, operation, status, documented=None):
    """The last raw answer is HTTP `status` and validates against `operation`'s official
    schema for `documented` (default: `status`); returns its JSON body. CreateQueue answers
    200 where the definition documents 201 (Terraform's provider accepts only 200)."""
    raw = dli.last_response
    assert raw.status_code == status, raw.text
    assert raw.headers.get("Content-Type", "").startswith("application/json")
    assert raw.headers.get("X-Request-Id")
    doc = json.loads((DEFINITIONS_DIR / f"{operation}.json").read_text(encoding="utf-8"))
    (path_item,) = doc["paths"].values()
    (spec,) = path_item.values()
    schema = {"definitions": doc["definitions"], **spec["responses"][str(documented or status)]["schema"]}
    body = raw.json()
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in Draft4Validator(schema).iter_errors(body)]
    assert not errors, f"{operation} {status} does not match the definition: {errors}\n{body}"
    return body


def create_queue(dli, name, **fields):
    body = CreateQueueRequestBody(queue_name=name, cu_count=fields.pop("cu_count", 16), **fields)
    return dli.create_queue(CreateQueueRequest(body=body))


def list_queues(dli, queue_type=None, tags=None):
    return dli.list_queues(ListQueuesRequest(queue_type=queue_type, tags=tags))


def queue_name():
    return f"q_{unique_name('').replace('-', '')}"


def bind(server, project_id, connection_id, queues):
    """associate-queue is a dsconn extension: the SDK has no call for it."""
    url = f"{server.base_url}/v2.0/{project_id}/datasource-connection/{connection_id}/associate-queue"
    return requests.post(url, json={"queues": queues}, headers={"X-Auth-Token": server.token},
                         timeout=10)


def test_a_queue_is_created_listed_shown_and_deleted_through_the_sdk(dli):
    name = queue_name()
    created = create_queue(
        dli, name.upper(), queue_type="general", description="nightly loads", charging_mode=1,
        enterprise_project_id="0", platform="x86_64", resource_mode=1, labels=["multi_az=2"],
        feature="basic", tags=[Tag(key="team", value="data")], elastic_resource_pool_name="pool_a",
        engine="spark")
    conforms(dli, "CreateQueue", 200, documented=201)
    assert created.is_success is True
    assert created.queue_name == name, "DLI keeps queue names in lower case"

    assert list_queues(dli).queues == [], "DLI lists sql queues unless asked otherwise"
    conforms(dli, "ListQueues", 200)
    listed = list_queues(dli, queue_type="all")
    body = conforms(dli, "ListQueues", 200)
    (queue,) = listed.queues
    assert (queue.queue_name, queue.queue_type, queue.cu_count) == (name, "general", 16)
    assert (queue.description, queue.charging_mode, queue.resource_mode) == ("nightly loads", 1, 1)
    assert (queue.platform, queue.feature, queue.engine) == ("x86_64", "basic", "spark")
    assert queue.elastic_resource_pool_name == "pool_a"
    assert queue.owner == "dsconn"
    assert json.loads(queue.labels) == ["multi_az=2"]
    assert is_uuid4(queue.resource_id)
    assert body["queues"][0]["tags"] == [{"key": "team", "value": "data"}]
    assert [q.queue_name for q in list_queues(dli, queue_type="general", tags="team=data").queues] == [name]
    assert list_queues(dli, queue_type="all", tags="team=ops").queues == []

    shown = dli.show_queue(ShowQueueRequest(queue_name=name))
    assert dli.last_response.status_code == 200
    assert shown.is_success is True
    # DLI spells queueName, queueType, cuCount and chargingMode in camelCase here: the
    # SDK's model only fills them from those spellings.
    assert (shown.queue_name, shown.queue_type, shown.cu_count, shown.charging_mode) == (name, "general", 16, 1)
    assert (shown.owner, shown.resource_id, shown.create_time) == ("dsconn", queue.resource_id, queue.create_time)
    assert shown.elastic_resource_pool_name == "pool_a"

    deleted = dli.delete_queue(DeleteQueueRequest(queue_name=name))
    conforms(dli, "DeleteQueue", 200)
    assert deleted.is_success is True
    expect_error(dli, lambda: dli.show_queue(ShowQueueRequest(queue_name=name)), 400, "DLI.0002",
                 says=f"There is no queue named {name}")
    expect_error(dli, lambda: dli.delete_queue(DeleteQueueRequest(queue_name=name)), 400, "DLI.0002",
                 says=f"There is no queue named {name}")
    conforms(dli, "DeleteQueue", 400)


def test_a_duplicate_or_malformed_queue_is_refused_with_dli_errors(dli):
    name = queue_name()
    create_queue(dli, name)
    expect_error(dli, lambda: create_queue(dli, name), 400, "DLI.0006", says=name)
    conforms(dli, "CreateQueue", 400)
    expect_error(dli, lambda: create_queue(dli, "_leading"), 400, "DLI.0001", says="queue_name")
    expect_error(dli, lambda: create_queue(dli, "12345"), 400, "DLI.0001", says="queue_name")
    expect_error(dli, lambda: create_queue(dli, queue_name(), queue_type="spark"), 400, "DLI.0001",
                 says="queue_type")
    expect_error(dli, lambda: create_queue(dli, queue_name(), cu_count=0), 400, "DLI.0001",
                 says="cu_count")
    assert [q.queue_name for q in list_queues(dli, queue_type="all").queues] == [name]


def test_only_an_existing_queue_can_be_bound_and_a_bound_one_cannot_be_deleted(dli, server, tcp_listener):
    name = queue_name()
    connection = create(dli, unique_name("bound"), tcp_listener.address)
    refused = bind(server, dli.project_id, connection.connection_id, [name])
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "DLI.0002"
    assert refused.json()["error_msg"] == f"There is no queue named {name}"
    assert show(dli, connection.connection_id).available_queue_info in (None, [])

    create_queue(dli, name)
    assert bind(server, dli.project_id, connection.connection_id, [name]).status_code == 200
    wait_settled(dli, connection.connection_id)
    assert [q.name for q in show(dli, connection.connection_id).available_queue_info] == [name]
    expect_error(dli, lambda: dli.delete_queue(DeleteQueueRequest(queue_name=name)), 400, "DLI.0007",
                 says="bound to 1 connection(s)")


def test_another_projects_queue_is_invisible(client_for, dli):
    name = queue_name()
    create_queue(dli, name)
    stranger = client_for(new_project_id())
    assert list_queues(stranger, queue_type="all").queues == []
    expect_error(stranger, lambda: stranger.show_queue(ShowQueueRequest(queue_name=name)), 400, "DLI.0002")
    expect_error(stranger, lambda: stranger.delete_queue(DeleteQueueRequest(queue_name=name)), 400, "DLI.0002")
    assert [q.queue_name for q in list_queues(dli, queue_type="all").queues] == [name]


def create_pool(dli, name, min_cu=64, max_cu=64, **fields):
    body = CreateElasticResourcePoolRequestBody(elastic_resource_pool_name=name, min_cu=min_cu,
                                                max_cu=max_cu, **fields)
    return dli.create_elastic_resource_pool(CreateElasticResourcePoolRequest(body=body))


def test_an_elastic_resource_pool_is_created_listed_and_deleted_through_the_sdk(dli):
    name = queue_name()
    created = create_pool(dli, name, min_cu=64, max_cu=128, description="shared", charging_mode=1,
                          cidr_in_vpc="172.16.0.0/12", enterprise_project_id="0",
                          tags=[Tag(key="team", value="data")], label={"spec": "basic"},
                          ipv6_enable=False)
    conforms(dli, "CreateElasticResourcePool", 200)
    assert (created.is_success, created.elastic_resource_pool_name) == (True, name)
    create_queue(dli, queue_name(), elastic_resource_pool_name=name)

    listed = dli.list_elastic_resource_pools(ListElasticResourcePoolsRequest())
    conforms(dli, "ListElasticResourcePools", 200)
    assert listed.count == 1
    (pool,) = listed.elastic_resource_pools
    assert (pool.elastic_resource_pool_name, pool.min_cu, pool.max_cu) == (name, 64, 128)
    assert (pool.status, pool.owner, pool.description) == ("AVAILABLE", "dsconn", "shared")
    assert (pool.cidr_in_vpc, pool.charging_mode, pool.label) == ("172.16.0.0/12", 1, {"spec": "basic"})
    assert len(pool.queues) == 1
    assert is_uuid4(pool.resource_id)
    named = dli.list_elastic_resource_pools(ListElasticResourcePoolsRequest(name=name[:6], limit=10, offset=0))
    assert named.count == 1
    empty = dli.list_elastic_resource_pools(ListElasticResourcePoolsRequest(status="FAILED"))
    assert (empty.count, empty.elastic_resource_pools) == (0, [])

    expect_error(dli, lambda: create_pool(dli, name), 400, "DLI.0006", says=name)
    conforms(dli, "CreateElasticResourcePool", 400)
    expect_error(dli, lambda: create_pool(dli, queue_name(), min_cu=128, max_cu=64), 400, "DLI.0001",
                 says="min_cu")
    deleted = dli.delete_elastic_resource_pool(DeleteElasticResourcePoolRequest(elastic_resource_pool_name=name))
    conforms(dli, "DeleteElasticResourcePool", 200)
    assert deleted.is_success is True
    expect_error(dli, lambda: dli.delete_elastic_resource_pool(
        DeleteElasticResourcePoolRequest(elastic_resource_pool_name=name)), 400, "DLI.0002",
        says=f"There is no elastic resource pool named {name}")


@pytest.fixture(scope="module")
def declaring():
    """A server started with `--queue shared_etl --queue shared_adhoc`."""
    work = tempfile.mkdtemp(prefix="dsconn-sdk-queues-")
    data_dir = os.path.join(work, "data")
    os.mkdir(data_dir)
    srv = None
    try:
        admin = json.loads(run_cli(data_dir, "credential", "create", "--all-projects", "--output", "json"))
        srv = start_server(data_dir, work, "--probe-mode", "tcp",
                           "--queue", "shared_etl", "--queue", "shared_adhoc")
        srv.admin_ak, srv.admin_sk = admin["access_key"], admin["secret_key"]
        yield srv
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_declared_queues_are_in_every_project_and_cannot_be_deleted(declaring):
    for project_id in (new_project_id(), new_project_id()):
        dli = RecordingClient(declaring.base_url, project_id, declaring.admin_ak, declaring.admin_sk)
        try:
            listed = list_queues(dli)
            body = conforms(dli, "ListQueues", 200)
            assert [q.queue_name for q in listed.queues] == ["shared_etl", "shared_adhoc"]
            assert all(q.owner == "dsconn" and q.queue_type == "sql" for q in listed.queues)
            assert all(item["declared"] is True for item in body["queues"])
            shown = dli.show_queue(ShowQueueRequest(queue_name="shared_etl"))
            assert (shown.queue_name, shown.queue_type) == ("shared_etl", "sql")
            expect_error(dli, lambda: dli.delete_queue(DeleteQueueRequest(queue_name="shared_etl")),
                         400, "DLI.0007", says="--queue")
            expect_error(dli, lambda: create_queue(dli, "Shared_ETL"), 400, "DLI.0006")
        finally:
            dli.sdk.close()
