// The official Node.js core SDK drives the four classic operations against a real dsconn
// server (tests/node-sdk/run starts it) with each of its signers, and a wrong SK is
// refused in each.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { dliClient } from './dli-client.mjs';

const endpoint = process.env.DSCONN_URL;
const ak = process.env.NODE_SDK_AK;
const sk = process.env.NODE_SDK_SK;
const MODES = [
  { name: 'AKSKSigner (SDK-HMAC-SHA256)', derived: false },
  { name: 'DerivedAKSKSigner (V11-HMAC-SHA256)', derived: true },
];

let target;
before(async () => {
  assert.ok(endpoint && ak && sk, 'run through tests/node-sdk/run');
  // A destination that accepts and closes, so connections have somewhere to point.
  target = net.createServer((socket) => socket.destroy());
  await new Promise((resolve) => target.listen(0, '127.0.0.1', resolve));
});
after(() => target?.close());

const SECURITY_GROUP = 'a07ab107-a4ad-4835-ad09-08a2f2efccdb';
const NETWORK = 'e83ba67d-e812-42d3-908d-6ea0b2cc5ecb';
// Polls show until the first reachability check is done (a CREATING one cannot be deleted).
async function settled(dli, id) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const shown = await dli.showDatasourceConnection(id);
    if (shown.state !== 'CREATING' || Date.now() > deadline) return shown;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const projectId = () => randomBytes(16).toString('hex');
const wrong = (secret) => secret.split('').reverse().join('');

for (const mode of MODES) {
  describe(mode.name, () => {
    test('creates, lists, shows and deletes a connection', async () => {
      const project = projectId();
      const dli = dliClient({ endpoint, projectId: project, ak, sk, derived: mode.derived });
      const name = `node-${randomBytes(6).toString('hex')}`;
      const dest = `127.0.0.1:${target.address().port}`;

      const created = await dli.createDatasourceConnection({
        name, service: 'RDS', url: dest, security_group_id: SECURITY_GROUP, network_id: NETWORK,
        tags: [{ key: 'env', value: 'prod' }],
      });
      assert.equal(created.httpStatusCode, 201);
      assert.equal(created.is_success, true);
      const id = created.connection_id;
      assert.match(id, /^[0-9a-f-]{36}$/);

      const listed = await dli.listDatasourceConnections({ tags: 'env=prod', limit: 10 });
      assert.equal(listed.httpStatusCode, 200);
      assert.deepEqual(listed.connections.map((c) => c.connection_id), [id]);

      const shown = await settled(dli, id);
      assert.equal(shown.httpStatusCode, 200);
      assert.equal(shown.state, 'ACTIVE');
      assert.equal(shown.connection_id, id);
      assert.equal(shown.name, name);
      assert.equal(shown.destination, dest);

      const deleted = await dli.deleteDatasourceConnection(id);
      assert.equal(deleted.httpStatusCode, 200);
      assert.equal(deleted.is_success, true);

      // DLI keeps a deleted classic connection listed, in state DELETED.
      const after = await dli.listDatasourceConnections();
      assert.deepEqual(after.connections.map((c) => [c.connection_id, c.state]), [[id, 'DELETED']]);
    });

    test('a wrong secret key is refused with 401 APIG.0301 and creates nothing', async () => {
      const project = projectId();
      const intruder = dliClient({ endpoint, projectId: project, ak, sk: wrong(sk), derived: mode.derived });
      const error = await intruder
        .createDatasourceConnection({
          name: 'intruder', service: 'RDS', url: '127.0.0.1:1', security_group_id: SECURITY_GROUP,
          network_id: NETWORK,
        })
        .then(() => assert.fail('the wrong key was accepted'), (e) => e);
      assert.equal(error.httpStatusCode, 401, String(error.errorMsg));
      assert.equal(error.errorCode, 'APIG.0301');
      assert.ok(!error.errorMsg.includes(sk) && !error.errorMsg.includes(wrong(sk)));

      const owner = dliClient({ endpoint, projectId: project, ak, sk, derived: mode.derived });
      assert.deepEqual((await owner.listDatasourceConnections()).connections, []);
    });
  });
}
