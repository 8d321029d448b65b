"""The connection lifecycle, driven through the official Huawei Cloud DLI Python SDK.

If these pass, an unmodified DLI client works against dsconn: it builds the
requests, signs them, and parses every answer and every error into its models.
"""

import pytest
from huaweicloudsdkdli.v1 import Tag

from helpers import (create, create_settled, delete, expect_error, is_uuid4, list_connections,
                     new_project_id, now_ms, show, unique_name, wait_settled)

PROD_TAGS = [Tag(key="env", value="prod")]


# ---------------------------------------------------------------- create / show

def test_create_answers_201_with_success_and_a_uuid4_connection_id(dli, tcp_listener):
    created = create(dli, unique_name(), tcp_listener.address, tags=PROD_TAGS)

    assert created.status_code == 201
    assert created.is_success is True
    assert created.message == ""
    assert is_uuid4(created.connection_id), created.connection_id


def test_a_reachable_destination_becomes_active_with_every_field_filled_in(dli, tcp_listener):
    name = unique_name("active")
    accepted_before = tcp_listener.accepted
    before = now_ms()
    created = create(dli, name, tcp_listener.address, tags=PROD_TAGS)
    after = now_ms()

    conn = wait_settled(dli, created.connection_id)

    assert conn.state == "ACTIVE"
    assert conn.is_success is True
    assert conn.connection_id == created.connection_id
    assert conn.name == name
    assert conn.service == "RDS"
    assert conn.process == 1.0
    assert conn.destination == tcp_listener.address
    assert conn.connection_url == tcp_listener.address
    assert conn.cluster_name == ""
    assert conn.available_queue_info == []
    raw_create_time = dli.last_response.json()["create_time"]
    assert type(raw_create_time) is int, f"create_time must be a JSON integer, got {raw_create_time!r}"
    assert before - 1000 <= conn.create_time <= after + 1000, (before, conn.create_time, after)
    assert tcp_listener.accepted > accepted_before, "the server never connected to the destination"


def test_an_unreachable_destination_fails_and_the_show_message_says_why(dli, closed_port):
    url = f"127.0.0.1:{closed_port}"
    created = create(dli, unique_name("failed"), url)

    conn = wait_settled(dli, created.connection_id)

    assert conn.state == "FAILED"
    assert conn.destination == url
    assert conn.connection_url == ""
    assert conn.message, "a FAILED connection must explain why in `message`"
    assert str(closed_port) in conn.message, conn.message


def test_the_service_is_matched_case_insensitively_and_stored_in_canonical_spelling(dli, tcp_listener):
    created = create(dli, unique_name(), tcp_listener.address, service="cloudtable.opentsdb")

    assert show(dli, created.connection_id).service == "CloudTable.OpenTSDB"


# ---------------------------------------------------------------- list

@pytest.fixture
def tagged_and_untagged(dli, tcp_listener, closed_port):
    """Two settled connections in the test's project: ACTIVE with env=prod, FAILED untagged."""
    tagged = create_settled(dli, unique_name("tagged"), tcp_listener.address, tags=PROD_TAGS)
    untagged = create_settled(dli, unique_name("plain"), f"127.0.0.1:{closed_port}")
    assert (tagged.state, untagged.state) == ("ACTIVE", "FAILED")
    return tagged, untagged


def test_list_without_filters_returns_every_connection_of_the_project_with_its_count(dli, tagged_and_untagged):
    tagged, untagged = tagged_and_untagged

    listed = list_connections(dli)

    assert listed.is_success is True
    assert listed.count == 2
    assert len(listed.connections) == 2
    by_id = {c.connection_id: c for c in listed.connections}
    assert set(by_id) == {tagged.connection_id, untagged.connection_id}
    for expected in (tagged, untagged):
        item = by_id[expected.connection_id]
        for field in ("name", "service", "destination", "connection_url", "state",
                      "process", "cluster_name", "create_time"):
            assert getattr(item, field) == getattr(expected, field), field
    times = [c.create_time for c in listed.connections]
    assert times == sorted(times, reverse=True), "default order is create_time descending"


def test_list_with_a_tag_key_and_value_returns_only_the_matching_connection(dli, tagged_and_untagged):
    tagged, _ = tagged_and_untagged

    listed = list_connections(dli, tags="env=prod")

    assert listed.count == 1
    assert [c.connection_id for c in listed.connections] == [tagged.connection_id]


def test_list_with_a_bare_tag_key_matches_any_value(dli, tagged_and_untagged):
    tagged, _ = tagged_and_untagged

    listed = list_connections(dli, tags="env")

    assert listed.count == 1
    assert [c.connection_id for c in listed.connections] == [tagged.connection_id]


@pytest.mark.parametrize("key,value", [
    ("owner", "data team@hq"),
    ("route", "a:b+c.d-e_f"),
    ("环境", "生产"),
], ids=["space-and-at", "colon-plus-dot", "non-latin"])
def test_list_filters_on_tags_whose_characters_the_sdk_percent_encodes(dli, tcp_listener, key, value):
    wanted = create(dli, unique_name(), tcp_listener.address, tags=[Tag(key=key, value=value)])
    create(dli, unique_name(), tcp_listener.address, tags=[Tag(key=key, value="other")])

    listed = list_connections(dli, tags=f"{key}={value}")

    assert [c.connection_id for c in listed.connections] == [wanted.connection_id]
    assert listed.count == 1


@pytest.mark.parametrize("tags", ["env=dev", "team", "env=prod,team=data"])
def test_list_with_a_tag_filter_nothing_matches_returns_count_zero(dli, tagged_and_untagged, tags):
    listed = list_connections(dli, tags=tags)

    assert listed.is_success is True
    assert listed.count == 0
    assert listed.connections == []


# ---------------------------------------------------------------- delete

def test_deleting_an_active_connection_marks_it_deleted_and_repeating_the_delete_succeeds(dli, tcp_listener):
    conn = create_settled(dli, unique_name(), tcp_listener.address)
    assert conn.state == "ACTIVE"

    deleted = delete(dli, conn.connection_id)
    assert deleted.status_code == 200
    assert (deleted.is_success, deleted.message) == (True, "Deleted")

    gone = show(dli, conn.connection_id)
    assert gone.state == "DELETED"
    assert gone.process == 0
    assert gone.connection_url == ""

    again = delete(dli, conn.connection_id)
    assert (again.status_code, again.is_success, again.message) == (200, True, "Deleted")
    assert show(dli, conn.connection_id).state == "DELETED"


def test_the_name_of_a_deleted_connection_can_be_used_again(dli, tcp_listener):
    name = unique_name("reused")
    first = create_settled(dli, name, tcp_listener.address)
    delete(dli, first.connection_id)

    second = create(dli, name, tcp_listener.address)

    assert second.is_success is True
    assert second.connection_id != first.connection_id


# ---------------------------------------------------------------- errors

def test_show_and_delete_of_an_unknown_connection_id_fail_with_dli_0002(dli):
    unknown = "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"

    expect_error(dli, lambda: show(dli, unknown), 400, "DLI.0002")
    expect_error(dli, lambda: delete(dli, unknown), 400, "DLI.0002")


def test_an_invalid_name_is_rejected_with_dli_0001(dli, tcp_listener):
    expect_error(dli, lambda: create(dli, "bad name!", tcp_listener.address), 400, "DLI.0001")


def test_an_unknown_service_is_rejected_with_dli_0001(dli, tcp_listener):
    expect_error(dli, lambda: create(dli, unique_name(), tcp_listener.address, service="MySQLish"),
                 400, "DLI.0001")


def test_a_duplicate_name_is_rejected_with_dli_0006(dli, tcp_listener):
    name = unique_name("dup")
    create(dli, name, tcp_listener.address)

    # A different definition under a taken name is a real duplicate.
    expect_error(dli, lambda: create(dli, name, tcp_listener.address, service="DWS"), 400, "DLI.0006")
    assert list_connections(dli).count == 1


def test_retrying_an_identical_create_answers_the_same_connection(dli, tcp_listener):
    name = unique_name("retry")
    first = create(dli, name, tcp_listener.address)
    again = create(dli, name, tcp_listener.address)
    assert again.connection_id == first.connection_id
    assert list_connections(dli).count == 1


def test_rejected_creates_leave_nothing_behind(dli, tcp_listener):
    expect_error(dli, lambda: create(dli, "bad name!", tcp_listener.address), 400, "DLI.0001")

    assert list_connections(dli).count == 0


# ---------------------------------------------------------------- projects

def test_a_connection_is_invisible_from_another_project(client_for, project_id, tcp_listener):
    owner = client_for(project_id)
    created = create(owner, unique_name(), tcp_listener.address)
    other = client_for(new_project_id())

    assert list_connections(other).count == 0
    assert list_connections(other).connections == []
    expect_error(other, lambda: show(other, created.connection_id), 400, "DLI.0002")
    expect_error(other, lambda: delete(other, created.connection_id), 400, "DLI.0002")
    assert show(owner, created.connection_id).connection_id == created.connection_id
