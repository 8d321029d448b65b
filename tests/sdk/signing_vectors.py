"""Signing test vectors made by the pinned official Python SDK, one set per signing mode.

    python tests/sdk/signing_vectors.py   # (in the SDK venv) rewrites the committed file

writes tests/fixtures/signing-vectors/python.json; dsconn's Rust test
(tests/it/signing_vectors.rs) verifies each vector and refuses its wrong-key twin, and
tests/sdk/test_sdk_signing_vectors.py checks that the pinned SDK still makes them.

ECDSA and SM2 signatures are randomized: for those modes a vector is a signature that
must verify, and regenerating gives a different (equally valid) one.
"""

import json
import sys
from pathlib import Path

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import (DerivationAKSKSigner, P256SHA256Signer, SM2SM3Signer,
                                              SM3Signer, Signer)

OUTPUT = Path(__file__).resolve().parents[1] / "fixtures" / "signing-vectors" / "python.json"
SDK = "huaweicloudsdkcore==3.1.219"

AK = "HPUATESTAK0000000001"
SK = "testSecretKey0000000000000000000000000001"
WRONG_SK = "testSecretKey0000000000000000000000000002"
# An SK whose SM2 public key has a y coordinate below 2^248: the SDK hashes it into Z
# without its leading zero byte (GB/T 32918 pads it), and dsconn must do the same.
SM2_SHORT_Y_SK = "testSecretKeySm2Short00000000000000000217"
PROJECT = "5f0c1e2d3b4a49588776655443322110"
HOST = "dli.cn-north-4.myhuaweicloud.com"
SDK_DATE = "20240315T081500Z"
REGION = "cn-north-4"
SERVICE = "dli"

# mode name -> (signer class, randomized signature)
MODES = {
    "SDK-HMAC-SHA256": (Signer, False),
    "SDK-HMAC-SM3": (SM3Signer, False),
    "SDK-ECDSA-P256-SHA256": (P256SHA256Signer, True),
    "SDK-SM2-SM3": (SM2SM3Signer, True),
    "V11-HMAC-SHA256": (DerivationAKSKSigner, False),
}

CASES = {
    "create": ("POST", f"/v2.0/{PROJECT}/datasource-connection", [],
               '{"name":"rds-orders","dest":"192.168.0.12:3306","queues":["q1"],'
               '"tags":[{"key":"env","value":"prod"}]}'),
    "list-with-tags": ("GET", f"/v2.0/{PROJECT}/datasource-connection",
                       [("tags", "env=prod,team=data"), ("limit", "10")], ""),
}


def new_request(case):
    method, path, query, body = CASES[case]
    headers = {"Content-Type": "application/json", "User-Agent": "huaweicloud-usdk-python/3.0",
               "X-Project-Id": PROJECT, "X-Sdk-Date": SDK_DATE, "Host": HOST}
    return SdkRequest(method=method, schema="https", host=HOST, resource_path=path,
                      query_params=list(query), header_params=headers, body=body)


def sign(mode, case, sk):
    """The SDK-signed request: (wire headers without Authorization, Authorization, uri)."""
    signer_class, _ = MODES[mode]
    request = new_request(case)
    signer = signer_class(BasicCredentials(AK, sk, PROJECT))
    if signer_class is DerivationAKSKSigner:
        signer.sign(request, SERVICE, REGION)
    else:
        signer.sign(request)
    headers = {name.lower(): value for name, value in request.header_params.items()}
    authorization = headers.pop("authorization")
    return headers, authorization, request


def vector(mode, case, sk=SK):
    headers, authorization, request = sign(mode, case, sk)
    _, wrong_key_authorization, _ = sign(mode, case, WRONG_SK)
    path, _, query = request.uri.partition("?")
    body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
    return {
        "mode": mode,
        "case": case,
        "secret_key": sk,
        "randomized": MODES[mode][1],
        "method": request.method,
        "path": path,
        "query": query,
        "headers": dict(sorted(headers.items())),
        "body": body,
        "authorization": authorization,
        "wrong_key_authorization": wrong_key_authorization,
    }


def all_vectors():
    return {
        "sdk": SDK,
        "access_key": AK,
        "wrong_secret_key": WRONG_SK,
        "vectors": [vector(mode, case) for mode in MODES for case in CASES]
        + [vector("SDK-SM2-SM3", "create", SM2_SHORT_Y_SK)],
    }


def main():
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(all_vectors(), indent=2) + "\n")
    print(f"wrote {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
