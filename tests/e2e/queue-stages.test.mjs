// The queues page's staged connection test (issue 26) end to end: its own dsconn server
// (the shared one runs --probe-mode tcp, which skips the protocol stage), headless
// Chromium, and the local MariaDB on 127.0.0.1:3306 as the source. MariaDB is no
// PostgreSQL, so DWS fails at `protocol` and RDS passes every stage; both need no
// password. Skipped when MariaDB is down, unless DSCONN_REQUIRE_SERVICES=1.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, test } from 'node:test';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const BIN = process.env.E2E_DSCONN_BIN;
const ARTIFACTS = process.env.E2E_ARTIFACTS;
for (const [name, value] of Object.entries({ E2E_DSCONN_BIN: BIN, E2E_ARTIFACTS: ARTIFACTS })) {
  if (!value) throw new Error(`${name} is not set: run tests/e2e/run`);
}

const MARIADB = '127.0.0.1:3306';
const PROJECT = 'stages-project';
const QUEUE = 'stage_queue';
const OLD_AGENT_QUEUE = 'old_agent_queue'; // served by an agent that reports no stages
const AUTH_INFO = 'e2e_login';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const WAIT = 20_000;

/** Whether something accepts TCP on 127.0.0.1:3306 (within a second). */
function mariadbListens() {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: 3306 });
    const done = (up) => { socket.destroy(); resolve(up); };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const mariadbUp = await mariadbListens();
if (!mariadbUp && process.env.DSCONN_REQUIRE_SERVICES === '1') {
  throw new Error(`MariaDB is not listening on ${MARIADB} and DSCONN_REQUIRE_SERVICES=1`);
}
const skip = mariadbUp ? false : `MariaDB is not listening on ${MARIADB}`;

let workDir;
let server;
let base;
let token;
let context;
let page;
const problems = [];

/** Starts `dsconn serve` on a free loopback port; resolves to its address. */
function startServer(dataDir) {
  server = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--check-timeout', '8s', '--queue', QUEUE], {
    env: { ...process.env, DSCONN_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`dsconn did not start:\n${log}`)), 15_000);
    server.stderr.on('data', (chunk) => {
      log += chunk;
      const line = log.split('\n').find((l) => l.includes('dsconn is serving'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line).listen);
      }
    });
    server.once('exit', (code) => reject(new Error(`dsconn exited (${code}):\n${log}`)));
  });
}

async function apiCall(method, apiPath, body) {
  const response = await fetch(`${base}${apiPath}`, {
    method,
    headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(`${method} ${apiPath}: ${response.status} ${data.error_msg}`);
  return data;
}

before(async () => {
  if (skip) return;
  workDir = mkdtempSync(path.join(tmpdir(), 'dsconn-e2e-stages-'));
  mkdirSync(path.join(ARTIFACTS, 'steps'), { recursive: true });
  const dataDir = path.join(workDir, 'data');
  base = `http://${await startServer(dataDir)}`;
  token = JSON.parse(execFileSync(BIN, ['token', 'create', '--all-projects', '--ttl', '1h', '--output', 'json', '--data-dir', dataDir])).token;
  await apiCall('POST', `/v1.0/${PROJECT}/queues`, { queue_name: OLD_AGENT_QUEUE, cu_count: 16 });
  // A login that is never tried with a real password: the user does not exist.
  await apiCall('POST', `/v3/${PROJECT}/datasource/auth-infos`, {
    auth_info_name: AUTH_INFO, datasource_type: 'passwd', user_name: 'dsconn_e2e_nobody', password: 'Not-a-real-1',
  });
  context = await chromium.launchPersistentContext(path.join(workDir, 'chromium'), {
    executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 }, locale: 'en-GB',
  });
  context.setDefaultTimeout(WAIT);
  page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`);
  });
});

afterEach(async (t) => {
  const name = t.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
  await page?.screenshot({ path: path.join(ARTIFACTS, 'steps', `stages-${name}.png`), fullPage: true }).catch(() => {});
});

after(async () => {
  await context?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const panel = (queue = QUEUE) => page.locator(`tr[data-test-for="${queue}"]`);
const field = (name, queue = QUEUE) => panel(queue).locator(`[data-field="${name}"]`);
const result = (queue = QUEUE) => panel(queue).locator('.queue-test-result');

/** Fills the test form and runs it; resolves when the test has an outcome (or was refused). */
async function runTest({ queue = QUEUE, address = MARIADB, service = '', authInfo = '', database = '' }) {
  await field('address', queue).locator('input').fill(address);
  await field('service', queue).locator('select').selectOption(service);
  await field('auth_info_name', queue).locator('select').selectOption(authInfo);
  await field('database', queue).locator('input').fill(database);
  await panel(queue).getByRole('button', { name: 'Test' }).click();
  await panel(queue).locator('button[aria-busy="true"]').waitFor({ state: 'detached' });
}

test('signing in and opening a queue\'s test form', { skip }, async () => {
  await page.goto(`${base}/console/`);
  await page.locator('input[name="token"]').fill(token);
  await page.locator('input[name="token"]').press('Enter');
  await page.getByLabel('Project id').fill(PROJECT);
  await page.getByLabel('Project id').press('Enter');
  await page.locator('h1', { hasText: 'Connections' }).waitFor();
  await page.goto(`${base}/console/#/p/${PROJECT}/queues`);
  await page.getByRole('button', { name: `Test address from ${QUEUE}` }).click();
  await field('auth_info_name').locator(`option[value="${AUTH_INFO}"]`).waitFor({ state: 'attached' });
  const offered = await field('auth_info_name').locator('option').allTextContents();
  assert.deepEqual(offered, ['none', `${AUTH_INFO} (user dsconn_e2e_nobody)`], 'the project\'s auth infos, and none');
  const services = await field('service').locator('option').evaluateAll((options) => options.map((o) => o.value));
  assert.deepEqual(services, ['', 'RDS', 'DWS', 'CSS', 'CloudTable', 'CloudTable.OpenTSDB', 'MRS.OpenTSDB']);
  assert.equal(await panel().locator('input[type="password"]').count(), 0, 'no password field');
});

test('an auth info without a service, or a database without an auth info, is refused under its field before sending', { skip }, async () => {
  let sent = 0;
  const count = (request) => { if (request.method() === 'POST' && request.url().includes('/connection-test')) sent += 1; };
  page.on('request', count);
  await runTest({ authInfo: AUTH_INFO });
  await field('service').locator('.field-error', { hasText: 'choose the service' }).waitFor();
  assert.equal(await field('service').locator('select').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'service', 'the field at fault has focus');
  await runTest({ database: 'shop' });
  await field('auth_info_name').locator('.field-error', { hasText: 'choose an auth info' }).waitFor();
  assert.equal(await field('service').locator('.field-error').isHidden(), true, 'a fixed field loses its error');
  page.off('request', count);
  assert.equal(sent, 0, 'nothing was sent');
});

test('DWS against MariaDB: protocol FAILED, its message first, not verified', { skip }, async () => {
  await runTest({ service: 'DWS' });
  const table = result().locator('table.stages');
  await table.waitFor();
  const failure = result().locator('.test-failure');
  assert.equal(await failure.getAttribute('data-stage'), 'protocol');
  assert.match(await failure.textContent(), /^protocol failed: .*PostgreSQL.*MariaDB/);
  const order = await result().locator(':scope > *').evaluateAll((nodes) => nodes.map((n) => n.className));
  assert.deepEqual(order, ['alert alert-error test-failure', 'test-outcome', 'table-scroll'], 'the failure leads, then the outcome, then the stages');
  const stages = await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => `${r.dataset.stage}:${r.dataset.verdict}`));
  assert.deepEqual(stages, ['resolve:PASSED', 'connect:PASSED', 'protocol:FAILED']);
  assert.equal(await table.locator('tr[data-stage="protocol"] td[data-label="Reason"]').textContent(), 'PROTOCOL_MISMATCH');
  assert.match(await table.locator('tr[data-stage="connect"] td[data-label="Took"]').textContent(), /^\d+(\.\d)? (ms|s)$/);
  const outcome = result().locator('.test-outcome');
  await outcome.locator('[data-connectivity="REACHABLE"]').waitFor();
  assert.equal(await outcome.locator('[data-verified]').textContent(), 'not verified');
  assert.equal(await outcome.locator('.test-checked-from').textContent(), 'server');
  const headers = await table.locator('thead th').allTextContents();
  assert.deepEqual(headers, ['Stage', 'Verdict', 'Reason', 'Took', 'Message']);
});

test('RDS against MariaDB: every stage PASSED, verified', { skip }, async () => {
  await runTest({ service: 'RDS' });
  await result().locator('[data-verified="true"]').waitFor();
  assert.equal(await result().locator('[data-verified]').textContent(), 'verified');
  assert.equal(await result().locator('.test-failure').count(), 0, 'no failure to show');
  assert.match(await result().textContent(), /^REACHABLE 127\.0\.0\.1:3306 verified: every stage passed/, 'the outcome line leads');
  const stages = await result().locator('table.stages tbody tr').evaluateAll((rows) => rows.map((r) => `${r.dataset.stage}:${r.dataset.verdict}`));
  assert.deepEqual(stages, ['resolve:PASSED', 'connect:PASSED', 'protocol:PASSED']);
  assert.match(await result().locator('tr[data-stage="protocol"] td[data-label="Message"]').textContent(), /MariaDB/);
  const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(sideways <= 0, `the queues page fits 1280 px (${sideways}px too wide)`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'console-queue-stages.png'), fullPage: true });
});

test('with an auth info the test asks for a login, and is not verified without one', { skip }, async () => {
  // The login itself is not asserted: whether it runs depends on the session engines.
  await runTest({ service: 'RDS', authInfo: AUTH_INFO, database: 'mysql' });
  await result().locator('table.stages tr[data-stage="login"]').waitFor();
  assert.equal(await result().locator('[data-verified]').textContent(), 'not verified');
  const task = await page.evaluate(() => document.querySelector('.queue-test-result').textContent);
  assert.ok(!task.includes('Not-a-real-1'), 'no password on the page');
});

test('a plain test (no service) answers its resolve and connect stages', { skip }, async () => {
  await runTest({});
  await result().locator('[data-verified="true"]').waitFor();
  const stages = await result().locator('table.stages tbody tr').evaluateAll((rows) => rows.map((r) => `${r.dataset.stage}:${r.dataset.verdict}`));
  assert.deepEqual(stages, ['resolve:PASSED', 'connect:PASSED']);
});

test('an agent from before stages: the server reads its report into stages', { skip }, async () => {
  const agents = `/dsconn/v1/${PROJECT}/agents`;
  const { agent_id: agentId } = await apiCall('POST', agents, { name: 'old-agent', version: '0.8.0', queues: [OLD_AGENT_QUEUE] });
  try {
    const claimed = apiCall('POST', `${agents}/${agentId}/claim`, { max: 1, wait_ms: 15_000 });
    await page.getByRole('button', { name: `Test address from ${OLD_AGENT_QUEUE}` }).click();
    await field('address', OLD_AGENT_QUEUE).locator('input').fill(MARIADB);
    await panel(OLD_AGENT_QUEUE).getByRole('button', { name: 'Test' }).click();
    const [work] = (await claimed).work;
    assert.equal(work?.kind, 'test');
    // An old report: no `connected` field, no stages.
    await apiCall('POST', `${agents}/${agentId}/results`, {
      work_id: work.work_id,
      queue: OLD_AGENT_QUEUE,
      report: { checks: [{ endpoint: MARIADB, address: MARIADB, reachable: true, reason: null, detail: 'TCP connect succeeded', latency_ms: 1 }] },
    });
    const outcome = result(OLD_AGENT_QUEUE).locator('.test-outcome');
    await outcome.locator('[data-connectivity="REACHABLE"]').waitFor();
    assert.equal(await outcome.locator('.test-checked-from').textContent(), 'agent:old-agent');
    const stages = await result(OLD_AGENT_QUEUE).locator('table.stages tbody tr').evaluateAll((rows) => rows.map((r) => `${r.dataset.stage}:${r.dataset.verdict}`));
    assert.deepEqual(stages, ['resolve:PASSED', 'connect:PASSED']);
  } finally {
    await apiCall('DELETE', `${agents}/${agentId}`);
  }
});

test('no serious accessibility problems on the staged result, it fits a phone; no script errors', { skip }, async () => {
  await runTest({ service: 'DWS' });
  await result().locator('.test-failure').waitFor();
  await page.evaluate(readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const found = await axe.run(document, { resultTypes: ['violations'] });
    return found.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  assert.deepEqual(violations, []);
  // At a phone's width the stages become one card each, without sideways scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(sideways <= 0, `the staged result fits a phone (${sideways}px too wide)`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'console-queue-stages-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  assert.deepEqual(problems, []);
});

test('a connection that names an auth info shows each binding\'s stages, the failing one first', { skip }, async () => {
  const created = await apiCall('POST', `/v2.0/${PROJECT}/datasource-connection`, {
    name: 'with_login', service: 'RDS', url: MARIADB, security_group_id: 'sg-1', network_id: 'net-1',
    queues: [QUEUE], auth_info_name: AUTH_INFO, database: 'mysql',
  });
  const id = created.connection_id;
  await page.goto(`${base}/console/#/p/${PROJECT}/c/${id}`);
  const section = page.locator(`section.binding-stages[data-queue="${QUEUE}"]`);
  await section.locator('tr[data-stage="login"][data-verdict="FAILED"]').waitFor();
  // The user does not exist: the login FAILED, so the binding is FAILED though reached.
  const row = page.locator(`tr[data-queue="${QUEUE}"]`);
  await row.locator('td[data-label="Status"]', { hasText: 'FAILED' }).waitFor();
  assert.match(await row.locator('td[data-label="Connectivity"]').textContent(), /REACHABLE/);
  const failure = section.locator('.stage-failure');
  assert.equal(await failure.getAttribute('data-stage'), 'login');
  assert.match(await failure.textContent(), /^login failed: /);
  const order = await section.locator(':scope > *').evaluateAll((nodes) => nodes.map((n) => n.tagName.toLowerCase()));
  assert.deepEqual(order, ['h3', 'p', 'div'], 'the failure leads, then the stages');
  assert.match(await page.locator('#auth-info-name').textContent(), new RegExp(`^${AUTH_INFO}$`));
  assert.ok(!(await page.locator('main').textContent()).includes('Not-a-real-1'), 'no password on the page');
  await page.screenshot({ path: path.join(ARTIFACTS, 'console-connection-stages.png'), fullPage: true });

  // The form below the bindings names no auth info any more, then this one again.
  const form = page.locator('#login-form');
  assert.equal(await form.locator('select[name="auth_info_name"]').inputValue(), AUTH_INFO);
  assert.equal(await form.locator('input[name="database"]').inputValue(), 'mysql');
  await form.locator('select[name="auth_info_name"]').selectOption('');
  await form.getByRole('button', { name: 'Save' }).click();
  await page.locator('#auth-info-name').waitFor({ state: 'detached' });
  await section.waitFor({ state: 'detached' });
  await form.locator('select[name="auth_info_name"]').selectOption(AUTH_INFO);
  await form.locator('input[name="database"]').fill('mysql');
  await form.getByRole('button', { name: 'Save' }).click();
  await page.locator('#auth-info-name', { hasText: AUTH_INFO }).waitFor();
  await section.locator('tr[data-stage="login"][data-verdict="FAILED"]').waitFor();
  assert.deepEqual(problems, []);
});
