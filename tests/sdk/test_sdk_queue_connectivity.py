"""DLI's queue connection test through the official SDK (`huaweicloudsdkdli`):
`create_connectivity_task` and `show_connectivity_task` on a queue without agents, so the
server runs the check. Each raw answer is validated against its official definition
(tests/fixtures/dli-definitions/CreateConnectivityTask.json, ShowConnectivityTask.json),
also the answer while the check still runs (`connectivity` CHECKING, a dsconn extension
value the definition's plain string allows)."""

import time

import pytest
from huaweicloudsdkdli.v1 import (
    CreateConnectivityTaskRequest,
    CreateConnectivityTaskRequestBody,
    ShowConnectivityTaskRequest,
)

from helpers import expect_error, poll_until
from test_sdk_queues import conforms, create_queue, queue_name


def start_test(dli, queue, address):
    body = CreateConnectivityTaskRequestBody(address=address)
    return dli.create_connectivity_task(CreateConnectivityTaskRequest(queue_name=queue, body=body))


def show_test(dli, queue, task_id):
    # The SDK takes task_id as a string path parameter.
    return dli.show_connectivity_task(ShowConnectivityTaskRequest(queue_name=queue, task_id=str(task_id)))


def answer_of(dli, queue, task_id):
    """Polls ShowConnectivityTask until the check is done; the SDK's answer and the raw
    body, each validated against the definition."""
    def fetch():
        shown = show_test(dli, queue, task_id)
        return shown, conforms(dli, "ShowConnectivityTask", 200)
    return poll_until(fetch, lambda pair: pair[0].connectivity != "CHECKING",
                      what=f"connection test {task_id} of {queue}")


def test_the_sdk_runs_a_queue_connection_test_to_reachable_and_unreachable(dli, tcp_listener, closed_port):
    queue = queue_name()
    create_queue(dli, queue)

    created = start_test(dli, queue, tcp_listener.address)
    body = conforms(dli, "CreateConnectivityTask", 200)
    assert created.is_success is True
    assert isinstance(created.task_id, int) and created.task_id == body["task_id"]
    assert created.message == f"check connectivity to address:127.0.0.1 with port: {tcp_listener.port} successfully"
    shown, raw = answer_of(dli, queue, created.task_id)
    assert (shown.is_success, shown.connectivity) == (True, "REACHABLE"), raw
    assert shown.message == f"Get node connectivity status successfully for addressId:{created.task_id}"
    assert raw["checked_from"] == "server", "no agent serves this queue"

    refused = f"127.0.0.1:{closed_port}"
    created = start_test(dli, queue, refused)
    conforms(dli, "CreateConnectivityTask", 200)
    shown, raw = answer_of(dli, queue, created.task_id)
    assert shown.connectivity == "UNREACHABLE", raw
    assert raw["address"] == refused and raw["detail"], raw


def test_a_running_connection_test_answers_checking_within_the_definition(dli, blackhole_port):
    queue = queue_name()
    create_queue(dli, queue)
    # The check hangs for the server's whole --check-timeout (1 s). On a busy machine the
    # first read may come later than that: then try again, but a read in time must see
    # CHECKING.
    for _ in range(3):
        started = time.monotonic()
        created = start_test(dli, queue, f"127.0.0.1:{blackhole_port}")
        shown = show_test(dli, queue, created.task_id)
        raw = conforms(dli, "ShowConnectivityTask", 200)
        if shown.connectivity == "CHECKING":
            break
        assert time.monotonic() - started > 0.9, f"answered before the check could end: {raw}"
    else:
        pytest.fail("never read the test while it ran: the machine is too slow for this test")
    assert raw["checked_from"] is None, raw
    shown, raw = answer_of(dli, queue, created.task_id)
    assert shown.connectivity == "UNREACHABLE", raw


def test_connection_tests_of_unknown_queues_tasks_and_bad_addresses_are_dli_errors(dli, tcp_listener):
    missing = queue_name()
    expect_error(dli, lambda: start_test(dli, missing, tcp_listener.address), 400, "DLI.0002",
                 says=f"There is no queue named {missing}")
    conforms(dli, "CreateConnectivityTask", 400)
    queue = queue_name()
    create_queue(dli, queue)
    expect_error(dli, lambda: start_test(dli, queue, "127.0.0.1"), 400, "DLI.0001")
    conforms(dli, "CreateConnectivityTask", 400)
    expect_error(dli, lambda: show_test(dli, missing, 1), 400, "DLI.0002",
                 says=f"There is no queue named {missing}")
    conforms(dli, "ShowConnectivityTask", 400)
    expect_error(dli, lambda: show_test(dli, queue, 12345), 400, "DLI.0001")
    conforms(dli, "ShowConnectivityTask", 400)
    # A task is read through its own queue only.
    created = start_test(dli, queue, tcp_listener.address)
    other = queue_name()
    create_queue(dli, other)
    expect_error(dli, lambda: show_test(dli, other, created.task_id), 400, "DLI.0001")
