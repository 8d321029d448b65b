"""The AK/SK test vectors in the API contract are what the pinned official SDK produces.

No server involved: this pins the vectors that dsconn's own signature tests use
to the real signer, so an SDK upgrade that changes signing shows up here.
"""

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

AK = "HPUATESTAK0000000001"
SK = "testSecretKey0000000000000000000000000001"
PROJECT = "5f0c1e2d3b4a49588776655443322110"
HOST = "dli.cn-north-4.myhuaweicloud.com"
SIGNED = "content-type;host;user-agent;x-project-id;x-sdk-date"


def sign(method, path, query):
    headers = {"Content-Type": "application/json", "User-Agent": "huaweicloud-usdk-python/3.0",
               "X-Project-Id": PROJECT, "X-Sdk-Date": "20240315T081500Z", "Host": HOST}
    request = SdkRequest(method=method, schema="https", host=HOST, resource_path=path,
                         query_params=query, header_params=headers, body="")
    Signer(BasicCredentials(AK, SK, PROJECT)).sign(request)
    return request.header_params["Authorization"], request.uri


@pytest.mark.parametrize("method,path,query,uri,signature", [
    ("GET", f"/v2.0/{PROJECT}/datasource-connection", [("tags", "env=prod,team=data")],
     f"/v2.0/{PROJECT}/datasource-connection?tags=env%3Dprod%2Cteam%3Ddata",
     "d3321d87082e792c446df7ae1e62feafa35682037c90048a976b1ca38e987b84"),
    ("DELETE", f"/v2.0/{PROJECT}/datasource-connection/2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091", [],
     f"/v2.0/{PROJECT}/datasource-connection/2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091",
     "04e3645468a8283f714ec1cf16523e3df8c85af815a97fe6b14709708cc345f3"),
], ids=["list-with-tags", "delete"])
def test_the_contract_signature_vectors_match_the_official_signer(method, path, query, uri, signature):
    authorization, sent_uri = sign(method, path, query)

    assert authorization == f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders={SIGNED}, Signature={signature}"
    assert sent_uri == uri
