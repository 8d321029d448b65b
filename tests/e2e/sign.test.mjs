// The console's SDK-HMAC-SHA256 implementation (console/js/sign.js) against the
// official SDK's test vectors from the API contract, in Node's WebCrypto.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { authorization, canonicalQuery, canonicalUri, sdkDate } from '../../console/js/sign.js';

const AK = 'HPUATESTAK0000000001';
const SK = 'testSecretKey0000000000000000000000000001';
const PROJECT = '5f0c1e2d3b4a49588776655443322110';
const HEADERS = {
  host: 'dli.cn-north-4.myhuaweicloud.com',
  'x-sdk-date': '20240315T081500Z',
  'content-type': 'application/json',
  'user-agent': 'huaweicloud-usdk-python/3.0',
  'x-project-id': PROJECT,
};
const SIGNED = 'content-type;host;user-agent;x-project-id;x-sdk-date';

test('a list with a tags filter signs to the SDK vector', async () => {
  const value = await authorization({
    method: 'GET',
    path: `/v2.0/${PROJECT}/datasource-connection`,
    query: [['tags', 'env=prod,team=data']],
    headers: HEADERS,
    accessKey: AK,
    secretKey: SK,
  });
  assert.equal(value, `SDK-HMAC-SHA256 Access=${AK}, SignedHeaders=${SIGNED}, `
    + 'Signature=d3321d87082e792c446df7ae1e62feafa35682037c90048a976b1ca38e987b84');
});

test('a delete signs to the SDK vector', async () => {
  const value = await authorization({
    method: 'DELETE',
    path: `/v2.0/${PROJECT}/datasource-connection/2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091`,
    headers: HEADERS,
    accessKey: AK,
    secretKey: SK,
  });
  assert.match(value, /Signature=04e3645468a8283f714ec1cf16523e3df8c85af815a97fe6b14709708cc345f3$/);
});

test('the query is sorted by UTF-8 bytes and encoded like the SDK', () => {
  assert.equal(
    canonicalQuery([['name', 'a b*'], ['state', 'ACTIVE,FAILED'], ['limit', '20'], ['tags', 'k=ü']]),
    'limit=20&name=a%20b%2A&state=ACTIVE%2CFAILED&tags=k%3D%C3%BC',
  );
  assert.equal(canonicalQuery([['k', '\u{1F600}'], ['k', '\uFFFD']]), 'k=%EF%BF%BD&k=%F0%9F%98%80');
});

test('the path gets a trailing slash and encoded segments', () => {
  assert.equal(canonicalUri('/v2.0/p_1/datasource-connection'), '/v2.0/p_1/datasource-connection/');
  assert.equal(canonicalUri('/a%20b/c'), '/a%20b/c/');
});

test('X-Sdk-Date is basic ISO 8601 in UTC', () => {
  assert.equal(sdkDate(new Date(Date.UTC(2024, 2, 15, 8, 15, 0, 123))), '20240315T081500Z');
});

test('V11-HMAC-SHA256 signs to the Python SDK derived-signer vectors; SM modes are refused', async () => {
  const { readFileSync } = await import('node:fs');
  const file = JSON.parse(readFileSync(new URL('../fixtures/signing-vectors/python.json', import.meta.url), 'utf8'));
  const vectors = file.vectors.filter((v) => v.mode === 'V11-HMAC-SHA256');
  assert.ok(vectors.length > 0);
  for (const v of vectors) {
    const query = v.query ? v.query.split('&').map((pair) => pair.split('=').map(decodeURIComponent)) : [];
    const value = await authorization({
      method: v.method, path: v.path, query, headers: v.headers, body: v.body,
      accessKey: file.access_key, secretKey: v.secret_key,
      algorithm: 'V11-HMAC-SHA256', region: 'cn-north-4', service: 'dli',
    });
    assert.equal(value, v.authorization, v.case);
  }
  await assert.rejects(authorization({
    method: 'GET', path: '/', headers: HEADERS, accessKey: AK, secretKey: SK, algorithm: 'SDK-SM2-SM3',
  }), /cannot sign with SDK-SM2-SM3/);
});
