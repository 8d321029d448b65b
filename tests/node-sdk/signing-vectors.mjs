// Signing test vectors made by the pinned official Node.js core SDK, one set per signer:
//   node signing-vectors.mjs           rewrites tests/fixtures/signing-vectors/node.json
//   node signing-vectors.mjs --check   fails if the SDK no longer makes the committed ones
// dsconn's Rust test (tests/it/signing_vectors.rs) verifies each vector and refuses its
// wrong-key twin. The requests are the Python generator's (tests/sdk/signing_vectors.py).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { AKSKSigner } = require('@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner');
const { DerivedAKSKSigner } = require('@huaweicloud/huaweicloud-sdk-core/auth/DerivedAKSKSigner');
const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core/auth/BasicCredentials');
const sdkVersion = require('@huaweicloud/huaweicloud-sdk-core/package.json').version;

const OUTPUT = new URL('../fixtures/signing-vectors/node.json', import.meta.url);
const AK = 'HPUATESTAK0000000001';
const SK = 'testSecretKey0000000000000000000000000001';
const WRONG_SK = 'testSecretKey0000000000000000000000000002';
const PROJECT = '5f0c1e2d3b4a49588776655443322110';
const HOST = 'dli.cn-north-4.myhuaweicloud.com';
const SDK_DATE = '20240315T081500Z';
const REGION = 'cn-north-4';
const SERVICE = 'dli';

const MODES = { 'SDK-HMAC-SHA256': AKSKSigner, 'V11-HMAC-SHA256': DerivedAKSKSigner };
const CASES = {
  create: {
    method: 'POST', path: `/v2.0/${PROJECT}/datasource-connection`, queryParams: {},
    data: { name: 'rds-orders', dest: '192.168.0.12:3306', queues: ['q1'], tags: [{ key: 'env', value: 'prod' }] },
  },
  'list-with-tags': {
    method: 'GET', path: `/v2.0/${PROJECT}/datasource-connection`,
    queryParams: { tags: 'env=prod,team=data', limit: '10' },
  },
};

function sign(mode, name, sk) {
  const { method, path, queryParams, data } = CASES[name];
  const credentials = new BasicCredentials().withAk(AK).withSk(sk).withProjectId(PROJECT)
    .withRegionId(REGION);
  credentials.processDerivedAuthParams(SERVICE, REGION);
  const request = {
    method, endpoint: `https://${HOST}${path}`, queryParams, data,
    headers: {
      'content-type': 'application/json', 'User-Agent': 'huaweicloud-usdk-nodejs/3.0',
      'X-Project-Id': PROJECT, 'X-Sdk-Date': SDK_DATE,
    },
  };
  const signed = MODES[mode].sign(request, credentials);
  const headers = Object.fromEntries(Object.entries(signed).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const authorization = headers.authorization;
  delete headers.authorization;
  const query = AKSKSigner.CanonicalQueryString(request);
  return { method, path, query, headers, body: data ? JSON.stringify(data) : '', authorization };
}

function vector(mode, name) {
  const { authorization, headers, ...request } = sign(mode, name, SK);
  return {
    mode, case: name, secret_key: SK, randomized: false, ...request,
    headers: Object.fromEntries(Object.entries(headers).sort()),
    authorization,
    wrong_key_authorization: sign(mode, name, WRONG_SK).authorization,
  };
}

const vectors = {
  sdk: `@huaweicloud/huaweicloud-sdk-core@${sdkVersion}`,
  access_key: AK,
  wrong_secret_key: WRONG_SK,
  vectors: Object.keys(MODES).flatMap((mode) => Object.keys(CASES).map((name) => vector(mode, name))),
};
const text = `${JSON.stringify(vectors, null, 2)}\n`;
if (process.argv.includes('--check')) {
  assert.equal(text, readFileSync(OUTPUT, 'utf8'), 'the Node SDK no longer makes the committed vectors');
  console.log(`${vectors.vectors.length} passed, 0 failed`);
} else {
  writeFileSync(OUTPUT, text);
  console.error(`wrote ${OUTPUT.pathname}`);
}
