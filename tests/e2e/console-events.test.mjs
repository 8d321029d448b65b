// The console's live pages (issue 28): they follow the project's event stream instead of
// polling. Its own dsconn server (restarted once, to end a stream), its own loopback probe
// targets (a slow DNS name keeps a check running), headless Chromium. The console's
// fetch() is wrapped in the page, so every request its code makes is counted: while the
// stream is up a page makes no request but the reloads that events cause.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const BIN = process.env.E2E_DSCONN_BIN;
const ARTIFACTS = process.env.E2E_ARTIFACTS;
for (const [name, value] of Object.entries({ E2E_DSCONN_BIN: BIN, E2E_ARTIFACTS: ARTIFACTS })) {
  if (!value) throw new Error(`${name} is not set: run tests/e2e/run`);
}

const PROJECT = 'events-project';
const QUEUE = 'live_queue';
/** How long a name starting with "slow" takes to resolve: the check of one runs this long. */
const SLOW_DNS_MS = 7000;
/** A quiet spell longer than the pages' 2 s polling: a page that polled would ask in it. */
const QUIET_MS = 2500;
/** How soon a change must be on the page. */
const LIVE_WITHIN_MS = 1000;
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const WAIT = 20_000;

let workDir;
let dataDir;
let targets;
let tcpPort;
let dnsPort;
let server;
let listen;
let base;
/** The console signs in with one token; "another client" changes things with a second. */
let consoleToken;
let otherClient;
let context;
let page;
const problems = [];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const collection = `/v2.0/${PROJECT}/datasource-connection`;

/** Starts the loopback probe targets; resolves to their ports. */
function startTargets() {
  const script = fileURLToPath(new URL('./support/targets.mjs', import.meta.url));
  targets = spawn(process.execPath, [script], {
    env: { ...process.env, E2E_SLOW_DNS_MS: String(SLOW_DNS_MS) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    targets.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]));
    });
    targets.once('exit', (code) => reject(new Error(`the probe targets exited (${code})`)));
  });
}

/** Starts `dsconn serve` on `address`; resolves to the address it listens on. */
function startServer(address) {
  server = spawn(BIN, [
    'serve', '--listen', address, '--data-dir', dataDir, '--probe-mode', 'tcp', '--check-timeout', '15s',
    '--dns-server', `127.0.0.1:${dnsPort}`, '--queue', QUEUE,
  ], {
    env: { ...process.env, DSCONN_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const started = server;
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`dsconn did not start:\n${log}`)), 15_000);
    started.stderr.on('data', (chunk) => {
      log += chunk;
      const line = log.split('\n').find((l) => l.includes('dsconn is serving'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line).listen);
      }
    });
    started.once('exit', (code) => reject(new Error(`dsconn exited (${code}):\n${log}`)));
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  await exited;
}

function createToken() {
  return JSON.parse(execFileSync(BIN, ['token', 'create', '--project', PROJECT, '--ttl', '1h', '--output', 'json', '--data-dir', dataDir]));
}

/** Calls the API as `who` (a token from createToken). */
async function apiCall(who, method, apiPath, body) {
  const response = await fetch(`${base}${apiPath}`, {
    method,
    headers: { 'X-Auth-Token': who.token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(`${method} ${apiPath}: ${response.status} ${data.error_msg}`);
  return data;
}

async function createConnection(name, url) {
  const { connection_id: id } = await apiCall(otherClient, 'POST', collection, {
    name, service: 'RDS', url, security_group_id: 'sg-1', network_id: 'net-1',
  });
  return id;
}

async function waitForState(id, state) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    const connection = await apiCall(otherClient, 'GET', `${collection}/${id}`);
    if (connection.state === state) return connection;
    if (Date.now() > deadline) throw new Error(`${id} stayed ${connection.state}, wanted ${state}`);
    await sleep(100);
  }
}

/** The newest event id of the project (0 for none). */
async function newestEventId() {
  const { events } = await apiCall(otherClient, 'GET', `/dsconn/v1/${PROJECT}/events?limit=1`);
  return events[0]?.id ?? 0;
}

/** The project's events after `id`, oldest first. */
async function eventsAfter(id) {
  return (await apiCall(otherClient, 'GET', `/dsconn/v1/${PROJECT}/events?after=${id}&order=asc&limit=1000`)).events;
}

/** The requests the console's code made since the last call: {method, path, search, lastEventId}. */
const takeRequests = () => page.evaluate(() => window.e2eRequests.splice(0));

const isStream = (request) => request.path.endsWith('/events/stream');
const isShow = (id) => (request) => request.method === 'GET' && request.path === `${collection}/${id}`;
const describe = (requests) => requests.map((r) => `${r.method} ${r.path}${r.search}`).join('\n  ');

/** Opens a page of the console in a fresh document (and so with a fresh event stream). */
async function open(hash) {
  await page.goto(`${base}/console/${hash}`);
  await page.reload();
}

before(async () => {
  workDir = mkdtempSync(path.join(tmpdir(), 'dsconn-e2e-events-'));
  mkdirSync(path.join(ARTIFACTS, 'steps'), { recursive: true });
  dataDir = path.join(workDir, 'data');
  ({ tcp_port: tcpPort, dns_port: dnsPort } = await startTargets());
  listen = await startServer('127.0.0.1:0');
  base = `http://${listen}`;
  consoleToken = createToken();
  otherClient = createToken();

  context = await chromium.launchPersistentContext(path.join(workDir, 'chromium'), {
    executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 }, locale: 'en-GB',
  });
  context.setDefaultTimeout(WAIT);
  // Every request the console's code makes goes through fetch(): record it.
  await context.addInitScript(() => {
    const original = window.fetch.bind(window);
    window.e2eRequests = [];
    window.fetch = (input, init = {}) => {
      const url = new URL(typeof input === 'string' ? input : input.url, location.href);
      const headers = new Headers(init.headers ?? {});
      window.e2eRequests.push({
        method: init.method ?? 'GET', path: url.pathname, search: url.search, lastEventId: headers.get('last-event-id'),
      });
      return original(input, init);
    };
  });
  page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
  });

  await page.goto(`${base}/console/`);
  await page.locator('input[name="token"]').fill(consoleToken.token);
  await page.locator('input[name="token"]').press('Enter');
  await page.locator('h1', { hasText: 'Connections' }).waitFor();
});

afterEach(async (t) => {
  const name = t.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
  await page?.screenshot({ path: path.join(ARTIFACTS, 'steps', `events-${name}.png`), fullPage: true }).catch(() => {});
});

after(async () => {
  await context?.close();
  await stopServer();
  targets?.kill('SIGTERM');
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

test('a change by another client is on the detail page within a second, and in its history: who, what, when, from where', async () => {
  const id = await createConnection('live-orders', `127.0.0.1:${tcpPort}`);
  await waitForState(id, 'ACTIVE');
  await open(`#/p/${PROJECT}/c/${id}`);
  await page.locator('#detail-summary', { hasText: 'live: changes show as they happen' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.eventStream), 'up');

  // The history so far: the other client's create, then the server's own check.
  const row = (action, resource = id) => page.locator(`#history-table tr[data-action="${action}"][data-resource="${resource}"]`);
  await row('create').waitFor();
  assert.equal(await row('create').getAttribute('data-actor'), `token:${otherClient.id}`);
  assert.equal(await row('create').locator('td[data-label="Who"]').textContent(), `token ${otherClient.id.slice(0, 8)}…`);
  assert.equal(await row('create').locator('td[data-label="From"]').textContent(), '127.0.0.1');
  assert.match(await row('create').locator('td[data-label="Changes"]').textContent(), /name: live-orders/);
  assert.match(await row('create').locator('th[data-label="When"] time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/);
  assert.equal(await row('state').getAttribute('data-actor'), 'system');
  assert.match(await row('state').locator('td[data-label="Changes"]').textContent(), /state: CREATING → ACTIVE/);

  const before = await newestEventId();
  await takeRequests();
  await apiCall(otherClient, 'POST', `${collection}/${id}/associate-queue`, { queues: [QUEUE] });
  const committed = Date.now();
  await page.locator(`#bindings tr[data-queue="${QUEUE}"]`).waitFor({ timeout: LIVE_WITHIN_MS });
  await row('bind').waitFor({ timeout: Math.max(1, LIVE_WITHIN_MS - (Date.now() - committed)) });
  const took = Date.now() - committed;
  assert.ok(took < LIVE_WITHIN_MS, `on the page ${took} ms after the change`);
  assert.equal(await row('bind').getAttribute('data-actor'), `token:${otherClient.id}`);
  assert.equal(await row('bind').locator('td[data-label="From"]').textContent(), '127.0.0.1');
  assert.match(await row('bind').locator('td[data-label="Changes"]').textContent(), new RegExp(`queues: .*${QUEUE}`));
  const order = await page.locator('#history-table tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.eventId)));
  assert.deepEqual(order, [...order].sort((a, b) => b - a), 'newest first');
  // The binding's own check, by the server, joins the history as it happens.
  const binding = row('status', `${id}/${QUEUE}`);
  await binding.waitFor();
  assert.match(await binding.locator('td[data-label="Changes"]').textContent(), /status: CREATING → ACTIVE/);
  assert.match(await binding.locator('td[data-label="What"]').textContent(), new RegExp(`status of binding ${QUEUE}`));
  await page.locator(`#bindings tr[data-queue="${QUEUE}"] .badge`, { hasText: 'ACTIVE' }).waitFor();

  // Nothing but reloads of the connection, at most one per event about it; the history
  // took the events from the stream as they are.
  await sleep(300);
  const sent = await takeRequests();
  const about = (await eventsAfter(before)).filter((e) => e.resource_id === id || e.resource_id.startsWith(`${id}/`));
  assert.ok(sent.length >= 1 && sent.every(isShow(id)), `only reloads of the connection:\n  ${describe(sent)}`);
  assert.ok(sent.length <= about.length, `${sent.length} reloads for ${about.length} events:\n  ${describe(sent)}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'console-connection-history.png'), fullPage: true });
});

test('while a check runs and the stream is up, the detail page and the list make no request until the result\'s event', async () => {
  const id = await createConnection('slow-detail', `slow-detail.e2e.test:${tcpPort}`);
  await open(`#/p/${PROJECT}/c/${id}`);
  await page.locator('#detail-state .badge', { hasText: 'CREATING' }).waitFor();
  await page.locator('#detail-summary', { hasText: 'live: changes show as they happen' }).waitFor();
  await takeRequests();
  await sleep(QUIET_MS);
  const quiet = await takeRequests();
  assert.equal((await apiCall(otherClient, 'GET', `${collection}/${id}`)).state, 'CREATING', 'the quiet spell fell inside the check');
  assert.deepEqual(quiet, [], `no polling while the stream is up:\n  ${describe(quiet)}`);
  await page.locator('#detail-state .badge', { hasText: 'ACTIVE' }).waitFor();
  await page.locator('#history-table tr[data-action="state"]', { hasText: 'state: CREATING → ACTIVE' }).waitFor();
  const woken = await takeRequests();
  assert.ok(woken.length >= 1 && woken.every(isShow(id)), `reloaded by the event only:\n  ${describe(woken)}`);

  const listed = await createConnection('slow-list', `slow-list.e2e.test:${tcpPort}`);
  await open(`#/p/${PROJECT}`);
  const listRow = page.locator(`#connections-table tr[data-id="${listed}"]`);
  await listRow.waitFor();
  assert.equal(await listRow.getAttribute('data-state'), 'CREATING');
  await page.locator('#list-summary', { hasText: 'live: changes show as they happen' }).waitFor();
  await takeRequests();
  await sleep(QUIET_MS);
  const listQuiet = await takeRequests();
  assert.equal((await apiCall(otherClient, 'GET', `${collection}/${listed}`)).state, 'CREATING', 'the quiet spell fell inside the check');
  assert.deepEqual(listQuiet, [], `no polling of the list while the stream is up:\n  ${describe(listQuiet)}`);
  await page.locator(`#connections-table tr[data-id="${listed}"][data-state="ACTIVE"]`).waitFor();
  const listWoken = await takeRequests();
  assert.ok(listWoken.length >= 1 && listWoken.every((r) => r.method === 'GET' && r.path === collection),
    `the list reloaded by the event only:\n  ${describe(listWoken)}`);
});

test('a queue\'s connection test is read again when its result\'s event arrives, not every half second', async () => {
  await open(`#/p/${PROJECT}/queues`);
  await page.locator(`#queues-table tr[data-queue="${QUEUE}"]`).waitFor();
  await page.waitForFunction(() => document.documentElement.dataset.eventStream === 'up');
  await page.getByRole('button', { name: `Test address from ${QUEUE}` }).click();
  await page.getByLabel(`Address to test from ${QUEUE}`).fill(`slow-test.e2e.test:${tcpPort}`);
  await takeRequests();
  await page.getByLabel(`Address to test from ${QUEUE}`).press('Enter');
  const outcome = page.locator(`tr[data-test-for="${QUEUE}"] .test-outcome [data-connectivity="REACHABLE"]`);
  await outcome.waitFor();
  const sent = await takeRequests();
  const reads = sent.filter((r) => r.method === 'GET' && r.path.includes(`/queues/${QUEUE}/connection-test/`));
  assert.ok(reads.length <= 2, `the first read, then one for the result's event (not one per 500 ms):\n  ${describe(sent)}`);
  assert.ok(sent.every((r) => r.path.includes('/connection-test')), `nothing else:\n  ${describe(sent)}`);
});

test('without the stream (a server that answers 404) the page polls while a check runs, then the stream is retried', async () => {
  let refused = 0;
  const refuse = (route) => {
    refused += 1;
    return route.fulfill({ status: 404, contentType: 'application/json', body: JSON.stringify({ error_code: 'DLI.0404', error_msg: 'no such route' }) });
  };
  await page.route('**/events/stream', refuse);
  const id = await createConnection('slow-fallback', `slow-fallback.e2e.test:${tcpPort}`);
  await open(`#/p/${PROJECT}/c/${id}`);
  await page.locator('#detail-state .badge', { hasText: 'CREATING' }).waitFor();
  await page.locator('#detail-summary', { hasText: 'refreshing every 2 s' }).waitFor();
  await takeRequests();
  await sleep(QUIET_MS * 2);
  const polled = (await takeRequests()).filter(isShow(id));
  assert.ok(polled.length >= 2, `polled every 2 s while the stream is refused (${polled.length} reads)`);
  assert.ok(refused >= 2, `the stream was tried again (${refused} tries)`);
  await page.unroute('**/events/stream', refuse);
  await page.locator('#detail-summary', { hasText: 'live: changes show as they happen' }).waitFor();
  await page.locator('#detail-state .badge', { hasText: 'ACTIVE' }).waitFor();
});

test('a stream that ends is resumed with Last-Event-ID: a change made meanwhile still arrives', async () => {
  const id = await createConnection('resumed', `127.0.0.1:${tcpPort}`);
  await waitForState(id, 'ACTIVE');
  await open(`#/p/${PROJECT}/c/${id}`);
  await page.locator('#detail-summary', { hasText: 'live: changes show as they happen' }).waitFor();
  const seen = await newestEventId();

  // The server goes away (the stream ends) and comes back on the same address; the
  // console is kept from reconnecting until a change has been made without it.
  const blocked = (route) => route.abort('connectionrefused');
  await page.route('**/events/stream', blocked);
  await stopServer();
  await page.waitForFunction(() => document.documentElement.dataset.eventStream === 'down');
  await startServer(listen);
  await apiCall(otherClient, 'POST', `${collection}/${id}/associate-queue`, { queues: [QUEUE] });
  const bound = (await eventsAfter(seen)).find((e) => e.resource_id === id && e.action === 'bind');
  await takeRequests();
  await page.unroute('**/events/stream', blocked);

  await page.locator(`#history-table tr[data-action="bind"][data-resource="${id}"]`).waitFor();
  await page.locator(`#bindings tr[data-queue="${QUEUE}"]`).waitFor();
  const streams = (await takeRequests()).filter(isStream);
  assert.ok(streams.length >= 1, 'the stream was opened again');
  // After the last event it had: at most the newest before the restart (one still on its
  // way then is sent again), and before the change made while it was away.
  const resumedAfter = streams.at(-1).lastEventId;
  assert.ok(resumedAfter !== null && Number(resumedAfter) <= seen && Number(resumedAfter) < bound.id,
    `resumed with Last-Event-ID ${resumedAfter}: the newest event before was ${seen}, the change is ${bound.id}`);
  assert.deepEqual(problems, []);
});
