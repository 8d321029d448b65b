"""The official Python SDK in each of its five signing modes against a real server (issue 18).

Four algorithms through `HttpConfig.signing_algorithm`, and the derived signer
(V11-HMAC-SHA256) through `credentials.with_derived_predicate(...)` with a region and the
derived auth service name, as the SDK's generated clients for such services set them.
Each mode creates, lists, shows and deletes a connection; a wrong SK is refused in each.
"""

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkcore.signer.algorithm import SigningAlgorithm

from helpers import create, create_settled, delete, expect_error, list_connections, show, unique_name

MODES = {
    "SDK-HMAC-SHA256": SigningAlgorithm.HMAC_SHA256,
    "SDK-HMAC-SM3": SigningAlgorithm.HMAC_SM3,
    "SDK-ECDSA-P256-SHA256": SigningAlgorithm.ECDSA_P256_SHA256,
    "SDK-SM2-SM3": SigningAlgorithm.SM2_SM3,
    "V11-HMAC-SHA256": None,
}


def signing_in(mode):
    """How a client signs in `mode`, for RecordingClient."""
    def configure(builder, credentials, config, base_url):
        if MODES[mode] is None:
            # The SDK's default predicate: derive for every host but Huawei Cloud's own.
            credentials.with_derived_predicate(BasicCredentials.get_default_derived_predicate())
            return (builder.with_credentials(credentials)
                    .with_region(Region("cn-north-4", base_url))
                    ._with_derived_auth_service_name("dli"))
        config.signing_algorithm = MODES[mode]
        return builder.with_credentials(credentials).with_endpoints([base_url])
    return configure


@pytest.fixture
def mode_client(server, project_id, client_for):
    """Factory: a client signing in one mode, with the Authorization headers it sent."""
    def make(mode, sk=None, credential=None):
        credential = credential or {"access_key": server.admin_ak, "secret_key": server.admin_sk}
        authorizations = []
        client = client_for(project_id, ak=credential["access_key"],
                            sk=sk or credential["secret_key"],
                            before_send=lambda request: authorizations.append(
                                request.header_params.get("Authorization", "")),
                            signing=signing_in(mode))
        client.authorizations = authorizations
        return client

    return make


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
