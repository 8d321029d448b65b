"""The official SDK against dsconn in simulation mode (no network traffic at all), with
DLI-style hostnames, and queue bindings read back through the SDK's own models."""

import json
import os
import shutil
import tempfile

import pytest
import requests
from huaweicloudsdkdli.v1 import CreateQueueRequest, CreateQueueRequestBody

from conftest import RecordingClient, run_cli, start_server
from helpers import (create, delete, expect_error, is_uuid4, list_connections, new_project_id,
                     poll_until, show, unique_name, wait_settled)

CLOUDTABLE_URL = ("cloudtable-c172-zk3-WBFt4fr2.mycloudtable.com:2181,"
                  "cloudtable-c172-zk2-LHZEWNau.mycloudtable.com:2181,"
                  "cloudtable-c172-zk1-cvwY6lMh.mycloudtable.com:2181")
FAILING_HOST = "dws-broken.dws.example.com"


@pytest.fixture(scope="module")
def simulated():
    """A server whose checks are simulated: 600 ms per check, one host rule failing."""
    work = tempfile.mkdtemp(prefix="dsconn-sdk-sim-")
    data_dir = os.path.join(work, "data")
    os.mkdir(data_dir)
    srv = None
    try:
        admin = json.loads(run_cli(data_dir, "credential", "create", "--all-projects", "--output", "json"))
        token = json.loads(run_cli(data_dir, "token", "create", "--all-projects", "--output", "json"))
        srv = start_server(data_dir, work, "--probe-mode", "simulate", "--simulate-duration", "600ms",
                           "--simulate-rule", f"{FAILING_HOST}=fail:CONNECTION_REFUSED:port 8000 refused (simulated)")
        srv.admin_ak, srv.admin_sk, srv.token = admin["access_key"], admin["secret_key"], token["token"]
        yield srv
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def sim(simulated):
    client = RecordingClient(simulated.base_url, new_project_id(), simulated.admin_ak, simulated.admin_sk)
    yield client
    client.sdk.close()


def test_a_dli_style_cloudtable_connection_walks_through_creating_to_active(sim):
    created = create(sim, unique_name("ct"), CLOUDTABLE_URL, service="CloudTable")
    assert created.is_success is True and is_uuid4(created.connection_id)
    seen = poll_until(lambda: show(sim, created.connection_id),
                      lambda c: c.state == "CREATING" and 0.0 < c.process < 1.0,
                      timeout=5, what="visible progress while CREATING")
    assert seen.state == "CREATING"
    done = wait_settled(sim, created.connection_id)
    assert done.state == "ACTIVE"
    assert done.process == 1.0
    assert done.connection_url == CLOUDTABLE_URL
    assert done.destination == CLOUDTABLE_URL


def test_a_rule_fails_its_host_with_the_configured_reason(sim):
    created = create(sim, unique_name("dws"), f"{FAILING_HOST}:8000", service="DWS")
    done = wait_settled(sim, created.connection_id)
    assert done.state == "FAILED"
    assert "port 8000 refused (simulated)" in done.message
    raw = json.loads(sim.last_response.text)
    assert raw["failure_reason"] == "CONNECTION_REFUSED"


def test_list_show_delete_and_errors_behave_as_in_dli(sim):
    first = create(sim, unique_name("a"), "rds-1.example.com:3306", tags=None)
    second = create(sim, unique_name("b"), "css-1.example.com", service="CSS")
    for connection_id in (first.connection_id, second.connection_id):
        wait_settled(sim, connection_id)
    listed = list_connections(sim)
    assert listed.count == 2
    assert {c.state for c in listed.connections} == {"ACTIVE"}
    assert delete(sim, first.connection_id).message == "Deleted"
    assert show(sim, first.connection_id).state == "DELETED"
    expect_error(sim, lambda: show(sim, "00000000-0000-4000-8000-000000000000"), 400, "DLI.0002")


def test_queue_bindings_read_back_through_the_sdk_models(simulated, sim):
    # A queue must exist to be bound.
    for name in ("etl_nightly", "adhoc"):
        body = CreateQueueRequestBody(queue_name=name, cu_count=16)
        assert sim.create_queue(CreateQueueRequest(body=body)).queue_name == name
    created = create(sim, unique_name("bound"), "rds-2.example.com:3306")
    wait_settled(sim, created.connection_id)
    url = (f"{simulated.base_url}/v2.0/{sim.project_id}/datasource-connection/"
           f"{created.connection_id}/associate-queue")
    response = requests.post(url, json={"queues": ["etl_nightly", "adhoc"]},
                             headers={"X-Auth-Token": simulated.token}, timeout=10)
    assert response.status_code == 200, response.text

    def bindings_done(connection):
        queues = connection.available_queue_info or []
        return len(queues) == 2 and all(q.status != "CREATING" for q in queues)

    shown = poll_until(lambda: show(sim, created.connection_id), bindings_done,
                       what="both bindings checked")
    by_name = {q.name: q for q in shown.available_queue_info}
    assert set(by_name) == {"etl_nightly", "adhoc"}
    for queue in by_name.values():
        assert queue.status == "ACTIVE"
        assert is_uuid4(queue.uuid)
        assert queue.err_msg == ""
        assert isinstance(queue.update_time, int) and queue.update_time > 0
    listed = list_connections(sim)
    assert sorted(listed.connections[0].queue_list) == ["adhoc", "etl_nightly"]

    refused = requests.post(url, json={"queues": ["default"]},
                            headers={"X-Auth-Token": simulated.token}, timeout=10)
    assert refused.status_code == 400 and refused.json()["error_code"] == "DLI.0007"
