"""DLI's datasource authentication (auth infos) through the official SDK
(`huaweicloudsdkdli`): the v3 calls (create_job_auth_info, list_job_auth_infos,
update_job_auth_info, delete_job_auth_info) and the deprecated v2.0 ones (create_auth_info,
list_auth_info, update_auth_info, delete_auth_info). Each raw answer is validated against its
official definition (tests/fixtures/dli-definitions-enhanced/). The definitions say 200 for a
create while dsconn sends 201 (what Terraform requires): for creates only the body's schema
is checked. Passwords never come back, neither in answers nor in errors."""

import json
import warnings

import pytest
from huaweicloudsdkdli.v1 import (
    CreateAuthInfoRequest,
    CreateAuthInfoRequestBody,
    CreateJobAuthInfoRequest,
    CreateJobAuthInfoRequestBody,
    DeleteAuthInfoRequest,
    DeleteJobAuthInfoRequest,
    ListAuthInfoRequest,
    ListJobAuthInfosRequest,
    UpdateAuthInfoRequest,
    UpdateAuthInfoRequestBody,
    UpdateJobAuthInfoRequest,
    UpdateJobAuthInfoRequestBody,
)
from jsonschema import Draft4Validator

from helpers import FIXTURES, expect_error

DEFINITIONS_DIR = FIXTURES / "dli-definitions-enhanced"

PASSWORDS = ("Sdk-pw-Kq71-first", "Sdk-pw-Kq71-second", "Sdk-trust-Kq71", "Sdk-key-Kq71")


def conforms(dli, operation, status, schema_status=None):
    """The last raw answer is HTTP `status` and its body validates against `operation`'s
    official schema for `schema_status` (default: the same status); returns the body."""
    raw = dli.last_response
    assert raw.status_code == status, raw.text
    assert raw.headers.get("Content-Type", "").startswith("application/json")
    assert raw.headers.get("X-Request-Id")
    doc = json.loads((DEFINITIONS_DIR / f"{operation}.json").read_text(encoding="utf-8"))
    (path_item,) = doc["paths"].values()
    (spec,) = path_item.values()
    response = spec["responses"][str(schema_status or status)]
    schema = {"definitions": doc["definitions"], **response["schema"]}
    body = raw.json()
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
              for e in Draft4Validator(schema).iter_errors(body)]
    assert not errors, f"{operation} {status} does not match the definition: {errors}\n{body}"
    for secret in PASSWORDS:
        assert secret not in raw.text, f"a password was answered: {raw.text}"
    return body


@pytest.fixture(autouse=True)
def quiet_deprecations():
    """The SDK warns on every deprecated v2.0 call; that is what these tests make."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def test_an_auth_info_lives_through_the_v3_calls(dli):
    created = dli.create_job_auth_info(CreateJobAuthInfoRequest(body=CreateJobAuthInfoRequestBody(
        auth_info_name="sdk_orders", datasource_type="passwd", user_name="etl",
        password=PASSWORDS[0])))
    assert created.is_success is True
    conforms(dli, "CreateJobAuthInfo", 201, schema_status=200)

    listed = dli.list_job_auth_infos(ListJobAuthInfosRequest(auth_info_name="sdk_orders",
                                                             limit=10, offset=0))
    body = conforms(dli, "ListJobAuthInfos", 200)
    assert listed.count == 1 and body["count"] == 1
    (item,) = listed.auth_infos
    assert (item.auth_info_name, item.datasource_type, item.user_name) == (
        "sdk_orders", "passwd", "etl")
    assert item.owner and item.create_time >= 10**12 and item.update_time >= item.create_time

    updated = dli.update_job_auth_info(UpdateJobAuthInfoRequest(body=UpdateJobAuthInfoRequestBody(
        auth_info_name="sdk_orders", user_name="loader", password=PASSWORDS[1])))
    assert updated.is_success is True and updated.message == "Update success."
    assert dli.last_response.status_code == 200
    (item,) = dli.list_job_auth_infos(ListJobAuthInfosRequest(auth_info_name="sdk_orders")).auth_infos
    conforms(dli, "ListJobAuthInfos", 200)
    assert item.user_name == "loader"

    deleted = dli.delete_job_auth_info(DeleteJobAuthInfoRequest(auth_info_name="sdk_orders"))
    assert deleted.is_success is True
    conforms(dli, "DeleteJobAuthInfo", 200)
    gone = dli.list_job_auth_infos(ListJobAuthInfosRequest(auth_info_name="sdk_orders"))
    conforms(dli, "ListJobAuthInfos", 200)
    assert gone.count == 0 and gone.auth_infos == []

    expect_error(dli, lambda: dli.delete_job_auth_info(
        DeleteJobAuthInfoRequest(auth_info_name="sdk_orders")), 400, "DLI.0001",
        says="auth info sdk_orders does not exist")
    conforms(dli, "DeleteJobAuthInfo", 400)


def test_an_auth_info_lives_through_the_deprecated_v2_calls(dli):
    created = dli.create_auth_info(CreateAuthInfoRequest(body=CreateAuthInfoRequestBody(
        auth_info_name="sdk_stream", datasource_type="Kafka_SSL",
        truststore_location="obs://bucket/truststore.jks", truststore_password=PASSWORDS[2],
        keystore_location="obs://bucket/keystore.jks", keystore_password=PASSWORDS[2],
        key_password=PASSWORDS[3])))
    assert created.is_success is True
    conforms(dli, "CreateAuthInfo", 201, schema_status=200)

    listed = dli.list_auth_info(ListAuthInfoRequest(auth_info_name="sdk_stream"))
    conforms(dli, "ListAuthInfo", 200)
    (item,) = listed.auth_infos
    assert item.datasource_type == "Kafka_SSL"
    assert item.truststore_location == "obs://bucket/truststore.jks"
    assert item.user_name is None

    updated = dli.update_auth_info(UpdateAuthInfoRequest(body=UpdateAuthInfoRequestBody(
        auth_info_name="sdk_stream", truststore_location="obs://bucket/truststore-2.jks",
        truststore_password=PASSWORDS[1])))
    assert updated.is_success is True and updated.message == "Update success."
    (item,) = dli.list_auth_info(ListAuthInfoRequest(auth_info_name="sdk_stream")).auth_infos
    assert item.truststore_location == "obs://bucket/truststore-2.jks"

    deleted = dli.delete_auth_info(DeleteAuthInfoRequest(auth_info_name="sdk_stream"))
    assert deleted.is_success is True
    conforms(dli, "DeleteAuthInfo", 200)
    assert dli.list_auth_info(ListAuthInfoRequest(auth_info_name="sdk_stream")).auth_infos == []


def test_refusals_are_dli_errors_that_never_echo_a_password(dli):
    def create(**fields):
        return lambda: dli.create_job_auth_info(CreateJobAuthInfoRequest(
            body=CreateJobAuthInfoRequestBody(**fields)))

    expect_error(dli, create(auth_info_name="sdk_bad", datasource_type="passwd",
                             password=PASSWORDS[0]),
                 400, "DLI.0001", says="requires user_name", never=PASSWORDS)
    conforms(dli, "CreateJobAuthInfo", 400)
    expect_error(dli, create(auth_info_name="sdk_bad", datasource_type="KRB",
                             krb5_conf="obs://b/krb5.conf", password=PASSWORDS[0]),
                 400, "DLI.0001", says="keytab", never=PASSWORDS)
    expect_error(dli, create(auth_info_name="sdk-bad", datasource_type="passwd",
                             user_name="u", password=PASSWORDS[0]),
                 400, "DLI.0001", says="auth_info_name", never=PASSWORDS)
    dli.create_job_auth_info(CreateJobAuthInfoRequest(body=CreateJobAuthInfoRequestBody(
        auth_info_name="sdk_dup", datasource_type="passwd", user_name="u", password="p")))
    expect_error(dli, create(auth_info_name="sdk_dup", datasource_type="passwd",
                             user_name="u", password=PASSWORDS[1]),
                 400, "DLI.0006", says="already exists", never=PASSWORDS)
    expect_error(dli, lambda: dli.update_job_auth_info(UpdateJobAuthInfoRequest(
        body=UpdateJobAuthInfoRequestBody(auth_info_name="sdk_none", password=PASSWORDS[1]))),
                 400, "DLI.0001", says="does not exist", never=PASSWORDS)
    # A body left unset is sent as none: read as {}.
    expect_error(dli, lambda: dli.create_job_auth_info(CreateJobAuthInfoRequest()),
                 400, "DLI.0001", says="auth_info_name is required")


def test_lists_page_with_offset_and_limit(dli):
    for n in range(3):
        dli.create_job_auth_info(CreateJobAuthInfoRequest(body=CreateJobAuthInfoRequestBody(
            auth_info_name=f"sdk_page_{n}", datasource_type="passwd", user_name="u",
            password="p")))
    pages = []
    for offset in (0, 2, 4):
        page = dli.list_job_auth_infos(ListJobAuthInfosRequest(offset=offset, limit=2))
        conforms(dli, "ListJobAuthInfos", 200)
        assert page.count == 3
        pages.append([item.auth_info_name for item in page.auth_infos])
    assert pages == [["sdk_page_0", "sdk_page_1"], ["sdk_page_2"], []]
