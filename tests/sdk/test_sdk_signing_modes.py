"""The official Python SDK in each of its five signing modes against a real server (issue 18).

Four algorithms through `HttpConfig.signing_algorithm`, and the derived signer
(V11-HMAC-SHA256) through `credentials.with_derived_predicate(...)` with a region and the
derived auth service name, as the SDK's generated clients for such services set them.
Each mode creates, lists, shows and deletes a connection; a wrong SK is refused in each.
"""

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkcore.signer.algorithm import SigningAlgorithm
from huaweicloudsdkdli.v1 import DliClient

from helpers import create, create_settled, delete, expect_error, list_connections, show, unique_name

MODES = {
    "SDK-HMAC-SHA256": SigningAlgorithm.HMAC_SHA256,
    "SDK-HMAC-SM3": SigningAlgorithm.HMAC_SM3,
    "SDK-ECDSA-P256-SHA256": SigningAlgorithm.ECDSA_P256_SHA256,
    "SDK-SM2-SM3": SigningAlgorithm.SM2_SM3,
    "V11-HMAC-SHA256": None,
}


class ModeClient:
    """A DliClient signing in one mode, plus the raw responses it got (for expect_error)
    and the Authorization headers it sent."""

    def __init__(self, base_url, project_id, ak, sk, mode):
        self.responses = []
        self.authorizations = []
        handler = (HttpHandler()
                   .add_request_handler(lambda **kw: self.authorizations.append(
                       kw["request"].header_params.get("Authorization", "")))
                   .add_response_handler(lambda **kw: self.responses.append(kw["response"])))
        config = HttpConfig.get_default_config()
        config.timeout = (5, 10)
        credentials = BasicCredentials(ak, sk, project_id)
        builder = DliClient.new_builder().with_http_config(config).with_http_handler(handler)
        if MODES[mode] is None:
            # The SDK's default predicate: derive for every host but Huawei Cloud's own.
            credentials.with_derived_predicate(BasicCredentials.get_default_derived_predicate())
            builder = (builder.with_credentials(credentials)
                       .with_region(Region("cn-north-4", base_url))
                       ._with_derived_auth_service_name("dli"))
        else:
            config.signing_algorithm = MODES[mode]
            builder = builder.with_credentials(credentials).with_endpoints([base_url])
        self.sdk = builder.build()

    def __getattr__(self, name):
        return getattr(self.sdk, name)

    @property
    def last_response(self):
        assert self.responses, "the SDK did not receive any HTTP response"
        return self.responses[-1]


@pytest.fixture
def mode_client(server, project_id):
    made = []

    def make(mode, sk=None, credential=None):
        credential = credential or {"access_key": server.admin_ak, "secret_key": server.admin_sk}
        client = ModeClient(server.base_url, project_id, credential["access_key"],
                            sk or credential["secret_key"], mode)
        made.append(client)
        return client

    yield make
    for client in made:
        client.sdk.close()


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_creates_lists_shows_and_deletes(mode, mode_client, tcp_listener):
    dli = mode_client(mode)
    name = unique_name(mode.lower())

    conn = create_settled(dli, name, tcp_listener.address)
    assert conn.state == "ACTIVE"
    assert [c.connection_id for c in list_connections(dli).connections] == [conn.connection_id]
    assert show(dli, conn.connection_id).name == name
    assert delete(dli, conn.connection_id).is_success is True
    assert show(dli, conn.connection_id).state == "DELETED"

    assert dli.authorizations and all(a.startswith(f"{mode} ") for a in dli.authorizations), \
        dli.authorizations


@pytest.mark.parametrize("mode", MODES)
def test_a_wrong_secret_key_is_refused_in_each_mode(mode, server, project_id, mode_client,
                                                   tcp_listener):
    credential = server.new_credential(project_id)
    sk = credential["secret_key"]
    wrong = sk[::-1] if sk[::-1] != sk else "x" + sk[1:]
    intruder = mode_client(mode, sk=wrong, credential=credential)

    expect_error(intruder, lambda: create(intruder, unique_name("intruder"), tcp_listener.address),
                 401, "APIG.0301", never=(sk, wrong))

    assert list_connections(mode_client(mode, credential=credential)).connections == []
