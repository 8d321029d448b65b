// The web console end to end: a real dsconn server (started by ./run), headless Debian
// Chromium driven by playwright-core, loopback probe targets. One browser, one story:
// sign in, pick a project, create connections that become ACTIVE and FAILED, filter,
// sort, page, open details, test, bind, reactivate, delete; then AK/SK sign-in signed in
// the browser, a phone-width layout and an accessibility scan.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, test } from 'node:test';

import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const BASE = process.env.DSCONN_URL;
const TOKEN = process.env.E2E_TOKEN;
const PORT = process.env.E2E_TCP_PORT;
const AK = process.env.E2E_AK;
const SK = process.env.E2E_SK;
const ARTIFACTS = process.env.E2E_ARTIFACTS;
for (const [name, value] of Object.entries({ DSCONN_URL: BASE, E2E_TOKEN: TOKEN, E2E_TCP_PORT: PORT, E2E_AK: AK, E2E_SK: SK, E2E_ARTIFACTS: ARTIFACTS })) {
  if (!value) throw new Error(`${name} is not set: run tests/e2e/run`);
}

const PROJECT = 'demo-project';
const PAGING_PROJECT = 'paging-project';
const SIGNED_PROJECT = 'e2e-signed';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const WAIT = 20_000;

let context;
let userDataDir;
let page;
const problems = [];

/** Calls the API directly (seeding and checking), with the token. */
async function apiCall(method, apiPath, body) {
  const response = await fetch(`${BASE}${apiPath}`, {
    method,
    headers: { 'X-Auth-Token': TOKEN, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(`${method} ${apiPath}: ${response.status} ${data.error_msg}`);
  return data;
}

const collection = (project) => `/v2.0/${project}/datasource-connection`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function seed(project, definition) {
  const { connection_id: id } = await apiCall('POST', collection(project), {
    security_group_id: 'sg-0a1b2c', network_id: 'net-main', ...definition,
  });
  await sleep(3); // distinct creation times keep the expected order exact
  return id;
}

async function waitForState(project, id, state) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    const connection = await apiCall('GET', `${collection(project)}/${id}`);
    if (connection.state === state) return connection;
    if (Date.now() > deadline) throw new Error(`${id} stayed ${connection.state}, wanted ${state}`);
    await sleep(100);
  }
}

function watch(p) {
  p.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  p.on('console', (message) => {
    const text = message.text();
    // Refused API calls are expected (the story provokes some); anything else is not.
    if (message.type() === 'error' && !text.startsWith('Failed to load resource')) problems.push(`console: ${text}`);
  });
}

const rows = (p = page) => p.locator('#connections-table tbody tr[data-id]');
const row = (name, p = page) => p.locator('#connections-table tbody tr[data-id]', { has: p.locator(`a.conn-name:text-is("${name}")`) });
const rowNames = async (p = page) => rows(p).locator('a.conn-name').allTextContents();
const hashOf = (p = page) => new URL(p.url()).hash;
const sidewaysOverflow = (p = page) => p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);

async function screenshot(p, name) {
  await p.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
}

before(async () => {
  userDataDir = mkdtempSync(path.join(tmpdir(), 'dsconn-e2e-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'Europe/Amsterdam',
  });
  context.setDefaultTimeout(WAIT);
  page = context.pages()[0] ?? await context.newPage();
  watch(page);
});

// The page as each step left it: the first thing to look at when a step fails.
afterEach(async (t) => {
  const name = t.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
  await page?.screenshot({ path: path.join(ARTIFACTS, 'steps', `${name}.png`), fullPage: true }).catch(() => {});
});

after(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

test('the console is served without credentials, with a strict policy', async () => {
  const redirect = await fetch(`${BASE}/console`, { redirect: 'manual' });
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.get('location'), '/console/');
  const index = await fetch(`${BASE}/console/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type'), /^text\/html/);
  const csp = index.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  assert.doesNotMatch(csp, /unsafe/);
  const script = await fetch(`${BASE}/console/js/main.js`);
  assert.match(script.headers.get('content-type'), /^text\/javascript/);
  assert.equal(script.headers.get('cache-control'), 'no-cache');
  const api = await fetch(`${BASE}${collection(PROJECT)}`);
  assert.equal(api.status, 401, 'the API itself still needs credentials');
});

test('seed: connections made through the API, to fill the list', async () => {
  const warehouse = await seed(PROJECT, {
    name: 'warehouse-dws', service: 'DWS', url: `127.0.0.1:${PORT}`,
    tags: [{ key: 'env', value: 'prod' }, { key: 'team', value: 'data' }], queues: ['etl_queue'],
  });
  const search = await seed(PROJECT, {
    name: 'search-css', service: 'CSS', url: `127.0.0.1:${PORT}`, tags: [{ key: 'env', value: 'staging' }],
  });
  const legacy = await seed(PROJECT, { name: 'legacy-zookeeper', service: 'CloudTable', url: `127.0.0.1:${PORT}` });
  await waitForState(PROJECT, warehouse, 'ACTIVE');
  await waitForState(PROJECT, search, 'ACTIVE');
  await waitForState(PROJECT, legacy, 'ACTIVE');
  await apiCall('DELETE', `${collection(PROJECT)}/${legacy}`);
  // Twelve failing connections in another project, for paging.
  for (let i = 1; i <= 12; i += 1) {
    await seed(PAGING_PROJECT, { name: `page-item-${String(i).padStart(2, '0')}`, service: 'RDS', url: '127.0.0.1:1' });
  }
});

test('signing in with a token, by keyboard, then picking a project', async () => {
  await page.goto(`${BASE}/console/`);
  await page.locator('h1', { hasText: 'Sign in' }).waitFor();
  // The token field has focus; wrong credentials are refused with the server's message.
  await page.keyboard.type('dsct_not-a-real-token');
  await page.keyboard.press('Enter');
  await page.locator('.alert-error', { hasText: 'Sign-in failed' }).waitFor();
  assert.match(await page.locator('.alert-error').textContent(), /token/i);

  await page.locator('input[name="token"]').fill(TOKEN);
  await page.locator('input[name="token"]').press('Enter');
  await page.locator('h1', { hasText: 'Choose a project' }).waitFor();
  assert.equal(hashOf(), '#/projects');
  assert.ok(!page.url().includes(TOKEN), 'the token is never in the URL');
  assert.match(await page.locator('#session-nav').textContent(), /token/);

  // An all-projects token is offered the projects that hold something on the server.
  const known = await page.locator('#known-projects a.project-choice').allTextContents();
  assert.ok(known.includes(PROJECT) && known.includes(PAGING_PROJECT), `offered: ${known}`);
  assert.equal(await page.locator(`#known-projects a[href="#/p/${PROJECT}"]`).count(), 1);
  // Any other project id is typed; the console checks it first.
  const projectInput = page.getByLabel('Project id');
  await projectInput.fill('not a project!');
  await projectInput.press('Enter');
  await page.locator('.field-error', { hasText: 'project_id must be 1 to 64 characters' }).waitFor();
  assert.equal(await projectInput.getAttribute('aria-invalid'), 'true');
  await projectInput.fill(PROJECT);
  await projectInput.press('Enter');
  await page.locator('h1', { hasText: 'Connections' }).waitFor();
  assert.equal(hashOf(), `#/p/${PROJECT}`);
  await row('warehouse-dws').waitFor();
  assert.deepEqual(await rowNames(), ['legacy-zookeeper', 'search-css', 'warehouse-dws']);
  assert.equal(await row('legacy-zookeeper').getAttribute('data-state'), 'DELETED');

  const stored = await page.evaluate(() => ({ session: sessionStorage.getItem('dsconn.console.session'), local: localStorage.length }));
  assert.ok(stored.session.includes(TOKEN), 'the token is kept in sessionStorage');
  assert.equal(stored.local, 0, 'nothing in localStorage');
});

test('an empty project says so once, with a link to create the first connection', async () => {
  await page.goto(`${BASE}/console/#/p/e2e-empty-project`);
  await page.locator('#list-empty', { hasText: 'This project has no connections yet.' }).waitFor();
  assert.equal(await page.locator('#empty-create').getAttribute('href'), '#/p/e2e-empty-project/new');
  const body = await page.locator('main').innerText();
  assert.equal(body.split('no connections').length - 1, 1, `said once: ${body}`);
  assert.ok(!body.includes('No connections match'), body);
  await page.goto(`${BASE}/console/#/p/${PROJECT}`);
  await row('warehouse-dws').waitFor();
});

test('the create form hints like the API, and the server refusal is shown', async () => {
  await page.locator('#new-connection').click();
  await page.locator('h1', { hasText: 'New connection' }).waitFor();
  await page.locator('#create-submit').click();
  await page.locator('.field-error', { hasText: 'name must not be empty' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.name), 'name', 'focus goes to the first field to fix');
  const fieldErrors = await page.locator('.field-error:not([hidden])').allTextContents();
  assert.deepEqual(fieldErrors, [
    'name must not be empty',
    'service must be one of CloudTable, CloudTable.OpenTSDB, MRS.OpenTSDB, DWS, RDS, CSS, got ""',
    'url must list at least one endpoint as host[:port]',
    'security_group_id must not be empty',
    'network_id must not be empty',
  ]);

  await page.getByLabel('Name').fill('orders db');
  await page.getByLabel('Service').selectOption('RDS');
  assert.match(await page.locator('[data-field="url"] .hint').textContent(), /Without a port, RDS uses 3306/);
  await page.getByLabel('Address (url)').fill('mysql://db.example.com');
  await page.getByLabel('Security group id').fill('sg-0a1b2c');
  await page.getByLabel('Network id').fill('net-main');
  await page.getByLabel('Tags (optional)').fill('env=prod\n_sys_x=1');
  await page.getByLabel('Queues to bind (optional)').fill('etl_queue');
  await page.locator('#create-submit').click();
  const shown = await page.locator('.field-error:not([hidden])').allTextContents();
  assert.deepEqual(shown, [
    'name may contain only letters, digits, \'_\' and \'-\', got "orders db"',
    'url endpoint "mysql://db.example.com" is invalid: give host:port without a scheme, e.g. db.example.com:3306',
    'tag key "_sys_x" is reserved: keys must not start with _sys_',
  ]);

  // Valid by the hints, refused by the server: the name is taken.
  await page.getByLabel('Name').fill('warehouse-dws');
  await page.getByLabel('Address (url)').fill(`127.0.0.1:${PORT}`);
  await page.getByLabel('Tags (optional)').fill('env=prod, team=orders');
  assert.equal(await page.locator('.field-error:not([hidden])').count(), 0, 'hints clear as fields are fixed');
  await page.locator('#create-submit').click();
  await page.locator('#create-error').waitFor();
  assert.match(await page.locator('#create-error').textContent(),
    /a connection named "warehouse-dws" already exists in this project/);

  // "Check reachability" tries the definition without saving it.
  await page.locator('#create-try').click();
  await page.locator('#definition-test .alert-ok', { hasText: 'Reachable' }).waitFor();
});

test('a connection to a listening port is CREATING, cannot be deleted yet, then turns ACTIVE by itself', async () => {
  await page.getByLabel('Name').fill('orders-db');
  // The slow name keeps the check running for a while (the test DNS server delays it).
  await page.getByLabel('Address (url)').fill(`slow-orders.e2e.test:${PORT}`);
  await page.locator('#create-submit').click();
  await page.locator('h1', { hasText: 'orders-db' }).waitFor();
  assert.match(hashOf(), new RegExp(`^#/p/${PROJECT}/c/[0-9a-f-]{36}$`));
  await page.locator('#detail-state .badge', { hasText: 'CREATING' }).waitFor();
  assert.equal(await page.locator('#action-delete').isDisabled(), true, 'delete is disabled while CREATING');
  assert.match(await page.locator(`#${await page.locator('#action-delete').getAttribute('aria-describedby')}`).textContent(),
    /cannot be deleted while it is being created/);
  assert.match(await page.locator('#flash').textContent(), /Created connection orders-db/);

  await page.evaluate(() => { window.e2eMarker = 'same page'; });
  await page.locator('#detail-state .badge', { hasText: 'ACTIVE' }).waitFor();
  assert.equal(await page.evaluate(() => window.e2eMarker), 'same page', 'refreshed in place, not reloaded');
  assert.equal(await page.locator('#action-delete').isDisabled(), false);
  assert.match(await page.locator('#overview').textContent(), new RegExp(`slow-orders\\.e2e\\.test:${PORT}`));
  await page.locator('#endpoints tr[data-outcome="REACHABLE"]', { hasText: `127.0.0.1:${PORT}` }).waitFor();
  await page.locator('#bindings tr[data-queue="etl_queue"] .badge', { hasText: 'ACTIVE' }).waitFor();
});

test('a connection to a closed port FAILS, with its reason', async () => {
  await page.locator('.breadcrumb a', { hasText: 'Connections' }).click();
  await page.locator('#new-connection').click();
  await page.getByLabel('Name').fill('metrics-tsdb');
  await page.getByLabel('Service').selectOption('MRS.OpenTSDB');
  await page.getByLabel('Address (url)').fill('127.0.0.1:1');
  await page.getByLabel('Security group id').fill('sg-0a1b2c');
  await page.getByLabel('Network id').fill('net-metrics');
  await page.getByLabel('Tags (optional)').fill('env=staging');
  await page.locator('#create-submit').click();
  await page.locator('#detail-state .badge', { hasText: 'FAILED' }).waitFor();
  const failure = await page.locator('#failure').textContent();
  assert.match(failure, /CONNECTION_REFUSED/);
  assert.match(failure, /127\.0\.0\.1:1: connection refused/);
  await page.locator('#endpoints tr[data-outcome="UNREACHABLE"]', { hasText: 'CONNECTION_REFUSED' }).waitFor();
  assert.equal(await page.locator('#action-reactivate').isDisabled(), false, 'a FAILED connection can be reactivated');
  assert.equal(await page.locator('#action-delete').isDisabled(), false);
});

test('the list shows CREATING with a progress bar and is updated live until ACTIVE', async () => {
  // Two endpoints, one answered at once and one slow: the check sits at 50 % a while.
  await seed(PROJECT, {
    name: 'reports-rds', service: 'RDS', url: `127.0.0.1:${PORT},slow-reports.e2e.test:${PORT}`,
    tags: [{ key: 'env', value: 'prod' }], queues: ['reporting'],
  });
  await page.goto(`${BASE}/console/#/p/${PROJECT}`);
  await row('reports-rds').waitFor();
  await page.evaluate(() => { window.e2eMarker = 'list'; });
  const creating = row('reports-rds');
  assert.equal(await creating.getAttribute('data-state'), 'CREATING');
  // The project's event stream brings the check's end (console-events.test.mjs counts the
  // requests; without the stream the list polls every 2 s).
  await page.locator('#list-summary', { hasText: 'live: changes show as they happen' }).waitFor();
  await creating.locator('progress').waitFor();
  await screenshot(page, 'console-list.png');
  await page.locator('#connections-table tr[data-state="ACTIVE"]', { has: page.locator('a.conn-name:text-is("reports-rds")') }).waitFor();
  assert.equal(await page.evaluate(() => window.e2eMarker), 'list', 'refreshed in place');
  assert.equal(await row('reports-rds').locator('progress').evaluate((bar) => bar.value), 1);
  assert.deepEqual(await rowNames(), ['reports-rds', 'metrics-tsdb', 'orders-db', 'legacy-zookeeper', 'search-css', 'warehouse-dws']);
  assert.ok(await sidewaysOverflow() <= 0, 'the list fits 1280 px');
  assert.ok(await page.locator('#list-region').evaluate((wrap) => wrap.scrollWidth <= wrap.clientWidth),
    'the table fits 1280 px without scrolling sideways');
  await screenshot(page, 'console-list-refreshed.png');
});

test('filters by state, service, name and tags; sorts by creation time', async () => {
  await page.getByLabel('State').selectOption('FAILED');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.waitForFunction(() => location.hash.includes('state=FAILED'));
  await page.locator('#list-summary', { hasText: '1 connection' }).waitFor();
  assert.deepEqual(await rowNames(), ['metrics-tsdb']);
  // The reason column: the failure code and the start of the message, without a click.
  const reason = await row('metrics-tsdb').locator('td[data-label="State"] .reason').innerText();
  assert.match(reason, /[A-Z_]{6,}/, `a reason code in ${reason}`);
  assert.ok(reason.length > 12, `and the start of the message: ${reason}`);

  await page.getByLabel('State').selectOption('CREATING,ACTIVE,FAILED');
  await page.getByLabel('Tags').fill('env=prod');
  await page.getByLabel('Tags').press('Enter');
  await page.locator('#list-summary', { hasText: '3 connections' }).waitFor();
  assert.deepEqual(await rowNames(), ['reports-rds', 'orders-db', 'warehouse-dws']);

  await page.getByLabel('Service').selectOption('DWS');
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await page.locator('#list-summary', { hasText: '1 connection' }).waitFor();
  assert.deepEqual(await rowNames(), ['warehouse-dws']);

  await page.getByRole('link', { name: 'Clear' }).click();
  await page.getByLabel('Name contains').fill('ORDERS');
  await page.getByLabel('Name contains').press('Enter');
  await page.locator('#list-summary', { hasText: '1 connection' }).waitFor();
  assert.deepEqual(await rowNames(), ['orders-db']);

  await page.getByLabel('Tags').fill('=prod');
  await page.getByLabel('Tags').press('Enter');
  await page.locator('.field-error', { hasText: 'has an empty key' }).waitFor();

  // A filter that matches nothing says so once, with a way back.
  await page.getByRole('link', { name: 'Clear' }).click();
  await page.getByLabel('Name contains').fill('no-such-connection');
  await page.getByLabel('Name contains').press('Enter');
  await page.locator('#list-empty', { hasText: 'Nothing matches these filters.' }).waitFor();
  assert.equal(await page.locator('#empty-clear').count(), 1);

  await page.getByRole('link', { name: 'Clear', exact: true }).click();
  await page.locator('#list-summary', { hasText: '6 connections' }).waitFor();
  const header = page.locator('th.col-created');
  assert.equal(await header.getAttribute('aria-sort'), 'descending');
  await page.locator('#sort-created').click();
  await page.waitForFunction(() => location.hash.includes('order=asc'));
  await page.locator('th.col-created[aria-sort="ascending"]').waitFor();
  await page.waitForFunction(() => document.querySelector('#connections-table tbody tr a.conn-name')?.textContent === 'warehouse-dws');
  assert.deepEqual(await rowNames(), ['warehouse-dws', 'search-css', 'legacy-zookeeper', 'orders-db', 'metrics-tsdb', 'reports-rds']);
  await page.locator('#sort-created').click();
  await page.locator('th.col-created[aria-sort="descending"]').waitFor();
});

test('pages through a longer list', async () => {
  await page.goto(`${BASE}/console/#/p/${PAGING_PROJECT}?size=10`);
  await page.locator('#list-summary', { hasText: '12 connections · showing 1–10' }).waitFor();
  assert.equal(await rows().count(), 10);
  assert.equal(await page.locator('#page-of').textContent(), 'Page 1 of 2');
  await page.getByRole('link', { name: 'Next ›' }).click();
  await page.locator('#list-summary', { hasText: 'showing 11–12' }).waitFor();
  assert.deepEqual(await rowNames(), ['page-item-02', 'page-item-01']);
  assert.equal(await page.locator('.pager [aria-disabled="true"]').textContent(), 'Next ›');
  await page.getByRole('link', { name: '‹ Previous' }).click();
  await page.locator('#list-summary', { hasText: 'showing 1–10' }).waitFor();

  // A hand-made link cannot steer the console to another API path.
  await page.goto(`${BASE}/console/#/p/${PAGING_PROJECT}/c/..`);
  await page.locator('h1', { hasText: 'Connection not available' }).waitFor();
  // An unknown id is answered by the server, and its error_msg shown.
  await page.goto(`${BASE}/console/#/p/${PAGING_PROJECT}/c/00000000-0000-4000-8000-000000000000`);
  await page.locator('.alert-error', { hasText: 'does not exist in this project' }).waitFor();
});

test('the detail page shows every field, tests now, binds and unbinds queues', async () => {
  await page.goto(`${BASE}/console/#/p/${PROJECT}`);
  // Keyboard: Tab from the sort control to the connection's link, then Enter.
  await row('orders-db').waitFor();
  await page.locator('#sort-created').focus();
  for (let i = 0; i < 20; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement?.textContent === 'orders-db')) break;
  }
  const focused = await page.evaluate(() => ({
    text: document.activeElement.textContent,
    outline: getComputedStyle(document.activeElement).outlineStyle,
    width: getComputedStyle(document.activeElement).outlineWidth,
  }));
  assert.equal(focused.text, 'orders-db', 'the link is reached with Tab');
  assert.notEqual(focused.outline, 'none', 'a focused link shows a focus ring');
  assert.equal(focused.width, '3px');
  await page.keyboard.press('Enter');
  await page.locator('h1', { hasText: 'orders-db' }).waitFor();
  await page.locator('#detail-state .badge', { hasText: 'ACTIVE' }).waitFor();

  const overview = await page.locator('#overview').innerText();
  for (const label of ['Connection id', 'State', 'Progress', 'Service', 'Destination', 'Connection address',
    'Connectivity', 'Last check', 'Failure reason', 'Message', 'Security group id', 'Network id', 'Tags', 'Queues',
    'Cluster name', 'Created', 'Updated']) {
    assert.ok(overview.includes(label), `overview shows ${label}`);
  }
  assert.match(overview, /sg-0a1b2c/);
  assert.match(overview, /net-main/);
  assert.match(overview, /env=prod/);
  assert.match(overview, /team=orders/);
  assert.match(overview, /REACHABLE/);
  // The connection-level connectivity is the server's view, and says so.
  assert.equal(await page.locator('#overview [data-checked-from="server"]').count(), 1);
  assert.match(overview, /checked from server/);

  await page.locator('#action-test').click();
  await page.locator('#test-result #test-connectivity', { hasText: 'REACHABLE' }).waitFor();
  await page.locator('#test-result tr[data-outcome="REACHABLE"]', { hasText: `127.0.0.1:${PORT}` }).waitFor();
  await page.locator('#test-result [data-checked-from="server"]').waitFor();

  // The bind field suggests the project's queues not bound yet.
  await page.locator('#bind-form datalist option[value="adhoc_queue"]').waitFor({ state: 'attached' });
  const offered = await page.locator('#bind-form datalist option').evaluateAll((options) => options.map((o) => o.value));
  assert.ok(offered.includes('reporting') && !offered.includes('etl_queue'), `offered ${offered}`);
  assert.equal(await page.locator('#bindings tr[data-queue="etl_queue"] td[data-label="Checked from"]').textContent(), 'server');

  const bind = page.getByLabel('Bind queues');
  await bind.fill('no_such_queue');
  await bind.press('Enter');
  await page.locator('#action-problems .alert-error', { hasText: 'There is no queue named no_such_queue' }).waitFor();
  await bind.fill('default');
  await bind.press('Enter');
  await page.locator('#bind-form .field-error', { hasText: 'the queue "default" is shared' }).waitFor();
  await bind.fill('Reporting');
  await bind.press('Enter');
  await page.locator('#bind-form .field-error', { hasText: 'queue name must be 1 to 128 lower-case letters' }).waitFor();
  await bind.fill('adhoc_queue');
  await bind.press('Enter');
  await page.locator('#flash', { hasText: 'associated 1 queue(s)' }).waitFor();
  await page.locator('#bindings tr[data-queue="adhoc_queue"] .badge', { hasText: 'ACTIVE' }).waitFor();
  assert.equal(await page.locator('#bindings tr[data-queue="adhoc_queue"] td[data-label="Checked from"]').textContent(), 'server',
    'the e2e server has no agents, so the server checked the binding');
  assert.ok(await sidewaysOverflow() <= 0, 'the detail page fits 1280 px');
  await screenshot(page, 'console-detail.png');

  await page.getByRole('button', { name: 'Unbind etl_queue' }).click();
  await page.locator('#flash', { hasText: 'disassociated 1 queue(s)' }).waitFor();
  await page.locator('#bindings tr[data-queue="etl_queue"]').waitFor({ state: 'detached' });
  assert.equal(await page.locator('#bindings tr[data-queue]').count(), 1);
});

test('the queues page lists queues and agents, creates and deletes a queue, and tests addresses from a queue', async () => {
  // A stored queue made through the API, bound so that its delete is refused.
  await apiCall('POST', `/v1.0/${PROJECT}/queues`, { queue_name: 'api_queue', cu_count: 32 });
  const { connections } = await apiCall('GET', `${collection(PROJECT)}?name=orders-db`);
  await apiCall('POST', `${collection(PROJECT)}/${connections[0].connection_id}/associate-queue`, { queues: ['api_queue'] });
  // An agent that registers and then stays idle: enough to list it (no check is sent to its queue).
  await apiCall('POST', `/v1.0/${PROJECT}/queues`, { queue_name: 'vpc_queue', cu_count: 16 });
  const { agent_id: agentId } = await apiCall('POST', `/dsconn/v1/${PROJECT}/agents`, { name: 'etl-vpc-1', version: '0.9.1', queues: ['vpc_queue'] });

  await page.goto(`${BASE}/console/#/p/${PROJECT}`);
  await page.locator('#queues-link').click();
  await page.locator('h1', { hasText: 'Queues' }).waitFor();
  assert.equal(hashOf(), `#/p/${PROJECT}/queues`);
  const queueRow = (name) => page.locator(`#queues-table tr[data-queue="${name}"]`);
  await queueRow('api_queue').waitFor();
  const names = await page.locator('#queues-table tr[data-queue]').evaluateAll((trs) => trs.map((tr) => tr.dataset.queue));
  assert.deepEqual(names, ['etl_queue', 'reporting', 'adhoc_queue', 'api_queue', 'vpc_queue'], 'declared queues first, then stored ones');
  const agent = queueRow('vpc_queue').locator('li[data-agent="etl-vpc-1"]');
  assert.match(await agent.textContent(), /^etl-vpc-1 version 0\.9\.1127\.0\.0\.1 · last seen (just now|\d+ s ago)$/);
  assert.match(await agent.locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/);
  await apiCall('DELETE', `/dsconn/v1/${PROJECT}/agents/${agentId}`);
  assert.equal(await queueRow('api_queue').locator('td[data-label="CU"]').textContent(), '32');
  assert.equal(await queueRow('api_queue').locator('td[data-label="Declared"]').textContent(), 'no');
  assert.equal(await queueRow('etl_queue').locator('td[data-label="Declared"]').textContent(), 'yes (--queue)');
  assert.equal(await queueRow('etl_queue').locator('td[data-label="Agents"]').textContent(), 'server', 'no agent: the server checks it');
  assert.equal(await page.getByRole('button', { name: 'Delete queue etl_queue' }).isDisabled(), true, 'a declared queue cannot be deleted');

  // Create through the form: hints first, then the server's answer.
  await page.getByLabel('Queue name').fill('_scratch');
  await page.locator('#queue-create-submit').click();
  await page.locator('#queue-create-form .field-error', { hasText: "queue_name must not start with '_'" }).waitFor();
  await page.getByLabel('Queue name').fill('api_queue');
  await page.locator('#queue-create-submit').click();
  await page.locator('#queue-create-error', { hasText: 'DLI.0006' }).waitFor();
  await page.getByLabel('Queue name').fill('Scratch_Queue');
  await page.getByLabel('CU count').fill('8');
  await page.locator('#queue-create-submit').click();
  await page.locator('#flash', { hasText: 'Created queue scratch_queue.' }).waitFor();
  assert.equal(await queueRow('scratch_queue').locator('td[data-label="CU"]').textContent(), '8');

  // A pool the server refuses: the message is in the box and under the field it is about.
  await page.getByLabel('Pool name').fill('scratch_pool');
  await page.getByLabel('Min CUs').fill('64');
  await page.getByLabel('Max CUs').fill('16');
  await page.locator('#pool-create-submit').click();
  await page.locator('#pool-create-error', { hasText: 'min_cu must not be more than max_cu' }).waitFor();
  await page.locator('#pool-create-form [data-field="min_cu"] .field-error', { hasText: 'min_cu must not be more than max_cu' }).waitFor();
  assert.equal(await page.getByLabel('Min CUs').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('#pool-create-form .field-error:not([hidden])').count(), 1, 'only the field it is about');

  // Delete, confirmed: refused for the bound queue (the DLI error shown), done for the other.
  await page.getByRole('button', { name: 'Delete queue api_queue' }).click();
  await page.locator('#queue-confirm-dialog').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), 'queue-confirm-cancel', 'Cancel has focus first');
  await page.locator('#queue-confirm-delete').click();
  await page.locator('#queue-problems .alert-error', { hasText: 'is bound to 1 connection(s)' }).waitFor();
  assert.match(await page.locator('#queue-problems').textContent(), /DLI\.0007/);
  await queueRow('api_queue').waitFor();
  await page.getByRole('button', { name: 'Delete queue scratch_queue' }).click();
  await page.locator('#queue-confirm-delete').click();
  await page.locator('#flash', { hasText: 'Deleted queue scratch_queue.' }).waitFor();
  await queueRow('scratch_queue').waitFor({ state: 'detached' });
  assert.equal((await apiCall('GET', `/v1.0/${PROJECT}/queues?queue_type=all`)).queues.some((q) => q.queue_name === 'scratch_queue'), false);

  // The queue connection test of a listening and of a closed loopback port, from the server.
  await page.getByRole('button', { name: 'Test address from reporting' }).click();
  const address = page.getByLabel('Address to test from reporting');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'address', 'the opened form has focus');
  await address.fill('127.0.0.1');
  await address.press('Enter');
  await page.locator('tr[data-test-for="reporting"] .field-error', { hasText: 'needs a port' }).waitFor();
  const outcome = page.locator('tr[data-test-for="reporting"] .test-outcome');
  await address.fill(`127.0.0.1:${PORT}`);
  await address.press('Enter');
  await outcome.locator('[data-connectivity="REACHABLE"]').waitFor();
  assert.equal(await outcome.locator('.test-checked-from').textContent(), 'server');
  await address.fill('127.0.0.1:1');
  await address.press('Enter');
  await outcome.locator('[data-connectivity="UNREACHABLE"]').waitFor();
  assert.match(await outcome.textContent(), /127\.0\.0\.1:1/);
  assert.equal(await outcome.locator('.test-checked-from').textContent(), 'server');
  assert.ok(await sidewaysOverflow() <= 0, 'the queues page fits 1280 px');
  await screenshot(page, 'console-queues.png');

  await page.locator('#queues-back').click();
  await page.locator('h1', { hasText: 'Connections' }).waitFor();
});

test('the enhanced connections page lists, creates, and the detail page binds, unbinds, adds and deletes routes', async () => {
  await apiCall('POST', `/v1.0/${PROJECT}/queues`, { queue_name: 'enh_queue', cu_count: 16 });
  await apiCall('POST', `/v3/${PROJECT}/elastic-resource-pools`, { elastic_resource_pool_name: 'enh_pool', min_cu: 64, max_cu: 64 });
  await page.goto(`${BASE}/console/#/p/${PROJECT}`);
  await page.locator('#enhanced-link').click();
  await page.locator('h1', { hasText: 'Enhanced connections' }).waitFor();
  assert.equal(hashOf(), `#/p/${PROJECT}/enhanced`);
  await page.locator('#enhanced-table td.empty', { hasText: 'No ACTIVE enhanced connections.' }).waitFor();
  const gap = await page.evaluate(() => document.querySelector('#enhanced-create-card').getBoundingClientRect().top
    - document.querySelector('#enhanced-region').getBoundingClientRect().bottom);
  assert.ok(gap >= 8, `the list and the create card do not touch (gap ${gap}px)`);

  const form = page.locator('#enhanced-create-form');
  await form.locator('input[name="queues"][value="api_queue"]').waitFor();
  const offered = await form.locator('input[name="queues"]').evaluateAll((boxes) => boxes.map((b) => b.value));
  assert.ok(offered.includes('enh_queue') && !offered.includes('default'), `offered ${offered}`);
  // A mistake the page sees is shown under its field, before anything is sent.
  await form.getByLabel('Name', { exact: true }).fill('orders vpc!');
  await page.locator('#enhanced-create-submit').click();
  await form.locator('[data-field="name"] .field-error', { hasText: 'the name must be 1-64 letters' }).waitFor();
  await form.getByLabel('Name', { exact: true }).fill('orders_vpc');
  await form.getByLabel('VPC id').fill('vpc-e2e');
  await form.getByLabel('Subnet id').fill('subnet-e2e');
  await form.getByLabel('api_queue').check();
  await form.getByLabel('enh_pool').check();
  // The server is the authority on host entries: its refusal is shown with its code.
  await form.getByLabel('Host entries').fill('db-primary 300.1.1.1');
  await page.locator('#enhanced-create-submit').click();
  await page.locator('#enhanced-create-error', { hasText: 'DLI.0001' }).waitFor();
  await form.locator('[data-field="hosts"] .field-error', { hasText: 'must be an IPv4 address' }).waitFor();
  assert.equal(await form.locator('.field-error:not([hidden])').count(), 1, 'the name error cleared, the hosts one shown');
  assert.equal((await apiCall('GET', `/v2.0/${PROJECT}/datasource/enhanced-connections`)).count, 0, 'nothing was created');
  await form.getByLabel('Host entries').fill('db-primary 192.168.0.10\n\ncache=192.168.0.11');
  await page.locator('#enhanced-create-submit').click();

  // The detail page: bindings, where the set-up ran, hosts.
  await page.locator('#flash', { hasText: 'Created enhanced connection orders_vpc.' }).waitFor();
  await page.locator('h1', { hasText: 'orders_vpc' }).waitFor();
  const id = hashOf().split('/').pop();
  const binding = (name) => page.locator(`#enhanced-bindings-table tr[data-binding="${name}"]`);
  await binding('api_queue').locator('.badge', { hasText: 'ACTIVE' }).waitFor();
  assert.equal(await binding('api_queue').locator('td[data-label="Checked from"]').textContent(), 'server',
    'the e2e server has no agent for api_queue, so the server set the binding up');
  assert.equal(await binding('enh_pool').getAttribute('data-kind'), 'pool');
  assert.equal(await binding('enh_pool').locator('td[data-label="Kind"]').evaluate((cell) => getComputedStyle(cell).whiteSpace), 'nowrap',
    'the kind never wraps');
  assert.deepEqual(await page.locator('#enhanced-hosts-table tr[data-host]').evaluateAll((trs) => trs.map((tr) => tr.dataset.host)),
    ['db-primary', 'cache']);

  // Routes: add, a refusal, delete.
  await page.getByLabel('Route name').fill('r1');
  await page.getByLabel('CIDR').fill('10.169.0.0/24');
  await page.locator('#enhanced-route-submit').click();
  await page.locator('#enhanced-routes-table tr[data-route="r1"]', { hasText: '10.169.0.0/24' }).waitFor();
  await page.getByLabel('Route name').fill('r2');
  await page.getByLabel('CIDR').fill('10.169.0.0/24');
  await page.locator('#enhanced-route-submit').click();
  await page.locator('#enhanced-detail-error', { hasText: 'DLI.0006' }).waitFor();
  await page.getByRole('button', { name: 'Delete route r1' }).click();
  await page.locator('#enhanced-routes-table tr[data-route="r1"]').waitFor({ state: 'detached' });
  assert.deepEqual((await apiCall('GET', `/v2.0/${PROJECT}/datasource/enhanced-connections/${id}`)).routes, []);

  // Bind and unbind a queue.
  await page.getByLabel('Bind a queue').fill('no_such_queue');
  await page.locator('#enhanced-bind-submit').click();
  await page.locator('#enhanced-detail-error', { hasText: 'There is no queue named no_such_queue' }).waitFor();
  await page.getByLabel('Bind a queue').fill('enh_queue');
  await page.locator('#enhanced-bind-submit').click();
  await binding('enh_queue').locator('.badge', { hasText: 'ACTIVE' }).waitFor();
  await page.getByRole('button', { name: 'Unbind queue api_queue' }).click();
  await binding('api_queue').waitFor({ state: 'detached' });
  const shown = await apiCall('GET', `/v2.0/${PROJECT}/datasource/enhanced-connections/${id}`);
  assert.deepEqual(shown.available_queue_info.map((b) => b.name), ['enh_queue']);
  assert.ok(await sidewaysOverflow() <= 0, 'the enhanced detail page fits 1280 px');
  await screenshot(page, 'console-enhanced-detail.png');
  await accessibilityScan('enhanced detail');

  // The list, then the status filter once it is deleted.
  await page.locator('#enhanced-detail-back').click();
  const listed = page.locator(`#enhanced-table tr[data-id="${id}"]`);
  await listed.waitFor();
  assert.match(await listed.locator('td[data-label="Queues"]').textContent(), /enh_queue/);
  assert.equal(await listed.locator('td[data-label="Hosts"]').textContent(), '2');
  await screenshot(page, 'console-enhanced-list.png');
  await accessibilityScan('enhanced list');
  await apiCall('DELETE', `/v2.0/${PROJECT}/datasource/enhanced-connections/${id}`);
  await page.getByLabel('Status').selectOption('DELETED');
  await page.locator(`#enhanced-table tr[data-id="${id}"] .badge`, { hasText: 'DELETED' }).waitFor();
  assert.equal(hashOf(), `#/p/${PROJECT}/enhanced?status=DELETED`);
});

test('a FAILED connection is reactivated, then deleted after confirming', async () => {
  await page.goto(`${BASE}/console/#/p/${PROJECT}?state=FAILED`);
  await row('metrics-tsdb').locator('a.conn-name').click();
  await page.locator('#detail-state .badge', { hasText: 'FAILED' }).waitFor();
  await page.locator('#action-reactivate').click();
  await page.locator('#flash', { hasText: 'Reactivated metrics-tsdb' }).waitFor();
  // Port 1 is still closed: the new check fails again.
  await page.locator('#detail-state .badge', { hasText: 'FAILED' }).waitFor();
  await page.locator('#action-delete:not([disabled])').waitFor();

  // Escape cancels.
  await page.locator('#action-delete').click();
  const dialog = page.locator('#confirm-dialog');
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /“metrics-tsdb” becomes DELETED/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'confirm-cancel', 'Cancel has focus first');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'action-delete', 'focus returns to Delete');
  const id = hashOf().split('/').pop();
  assert.equal((await apiCall('GET', `${collection(PROJECT)}/${id}`)).state, 'FAILED', 'nothing was deleted');

  await page.locator('#action-delete').click();
  await page.locator('#confirm-delete').click();
  await page.locator('h1', { hasText: 'Connections' }).waitFor();
  await page.locator('#flash', { hasText: 'Deleted connection metrics-tsdb.' }).waitFor();
  assert.equal((await apiCall('GET', `${collection(PROJECT)}/${id}`)).state, 'DELETED');
});

test('readable at a phone width', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${BASE}/console/#/p/${PROJECT}`);
  await row('orders-db').waitFor();
  const overflow = await sidewaysOverflow();
  assert.ok(overflow <= 0, `no sideways scrolling on the list (${overflow}px too wide)`);
  await screenshot(page, 'console-list-phone.png');
  await row('orders-db').locator('a.conn-name').click();
  await page.locator('#detail-state .badge', { hasText: 'ACTIVE' }).waitFor();
  const detailOverflow = await sidewaysOverflow();
  assert.ok(detailOverflow <= 0, `no sideways scrolling on the detail page (${detailOverflow}px too wide)`);
  await screenshot(page, 'console-detail-phone.png');
  await page.goto(`${BASE}/console/#/p/${PROJECT}/queues`);
  await page.locator('#queues-table tr[data-queue="api_queue"]').waitFor();
  await page.getByRole('button', { name: 'Test address from reporting' }).click();
  assert.equal(await page.locator('tr[data-test-for="etl_queue"]').isVisible(), false, 'closed test rows stay hidden');
  assert.equal(await page.getByLabel('Address to test from reporting').isVisible(), true);
  const queuesOverflow = await sidewaysOverflow();
  assert.ok(queuesOverflow <= 0, `no sideways scrolling on the queues page (${queuesOverflow}px too wide)`);
  await screenshot(page, 'console-queues-phone.png');
  await page.setViewportSize({ width: 1280, height: 900 });
});

/** Runs axe-core in the page; fails on serious or critical findings (contrast, labels, ARIA). */
async function accessibilityScan(label, p = page) {
  const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await p.evaluate(axeSource);
  const result = await p.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const { violations } = await axe.run(document, { resultTypes: ['violations'] });
    return violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  const serious = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], `${label}: ${JSON.stringify(serious)}`);
}

test('no serious accessibility problems (axe-core) on the list, detail, queues and create pages', async () => {
  const scan = (label) => accessibilityScan(label);
  await page.goto(`${BASE}/console/#/p/${PROJECT}`);
  await row('orders-db').waitFor();
  await scan('list');
  await row('orders-db').locator('a.conn-name').click();
  await page.locator('#detail-state .badge', { hasText: 'ACTIVE' }).waitFor();
  await scan('detail');
  await page.goto(`${BASE}/console/#/p/${PROJECT}/queues`);
  await page.locator('#queues-table tr[data-queue="api_queue"]').waitFor();
  await page.getByRole('button', { name: 'Test address from reporting' }).click();
  await scan('queues');
  await page.goto(`${BASE}/console/#/p/${PROJECT}/new`);
  await page.locator('#create-submit').click();
  await page.locator('.field-error:not([hidden])').first().waitFor();
  await scan('create with errors');
});

test('signing in with AK/SK signs every request in the browser', async () => {
  const signedPage = await context.newPage(); // a new tab: its own, empty sessionStorage
  watch(signedPage);
  const sent = [];
  signedPage.on('request', (request) => {
    if (request.url().includes('/v2.0/') || request.url().includes('/dsconn/v1/')) sent.push(request.headers());
  });
  await signedPage.goto(`${BASE}/console/`);
  await signedPage.locator('h1', { hasText: 'Sign in' }).waitFor();
  await accessibilityScan('sign-in', signedPage);
  await signedPage.getByLabel('Access key and secret key').check();
  await signedPage.getByLabel('Access key (AK)').fill(AK);
  await signedPage.getByLabel('Secret key (SK)').fill('wrong-secret-key-0000000000000000000000');
  await signedPage.getByRole('button', { name: 'Sign in' }).click();
  await signedPage.locator('.alert-error', { hasText: 'signature does not match' }).waitFor();

  await signedPage.getByLabel('Secret key (SK)').fill(SK);
  await signedPage.getByRole('button', { name: 'Sign in' }).click();
  // The credential has one project: the picker goes straight to it.
  await signedPage.locator('h1', { hasText: 'Connections' }).waitFor();
  assert.equal(hashOf(signedPage), `#/p/${SIGNED_PROJECT}`);
  assert.match(await signedPage.locator('#session-nav').textContent(), new RegExp(`access key ${AK}`));

  // A signed POST with a body, then signed GETs of the detail page and the list.
  await signedPage.locator('#new-connection').click();
  await signedPage.getByLabel('Name').fill('signed-conn');
  await signedPage.getByLabel('Service').selectOption('CSS');
  await signedPage.getByLabel('Address (url)').fill(`127.0.0.1:${PORT}`);
  await signedPage.getByLabel('Security group id').fill('sg-1');
  await signedPage.getByLabel('Network id').fill('net-1');
  await signedPage.getByLabel('Tags (optional)').fill('owner=ünïcode team');
  await signedPage.locator('#create-submit').click();
  await signedPage.locator('#detail-state .badge', { hasText: 'ACTIVE' }).waitFor();
  await signedPage.locator('.breadcrumb a', { hasText: 'Connections' }).click();
  await signedPage.getByLabel('Tags').fill('owner=ünïcode team');
  await signedPage.getByLabel('Tags').press('Enter');
  await signedPage.locator('#list-summary', { hasText: '1 connection' }).waitFor();

  const signed = sent.filter((headers) => headers.authorization);
  assert.ok(signed.length >= 5, `requests were signed (${signed.length})`);
  for (const headers of sent) {
    assert.equal(headers['x-auth-token'], undefined, 'no token header on an AK/SK session');
  }
  for (const headers of signed) {
    assert.match(headers.authorization, new RegExp(`^SDK-HMAC-SHA256 Access=${AK}, SignedHeaders=content-type;host;x-sdk-date, Signature=[0-9a-f]{64}$`));
    assert.match(headers['x-sdk-date'], /^\d{8}T\d{6}Z$/);
  }
  const kept = await signedPage.evaluate(() => JSON.parse(sessionStorage.getItem('dsconn.console.session')));
  assert.equal(kept.kind, 'aksk');
  assert.ok(!signedPage.url().includes(SK));

  // Signing out forgets the credentials.
  await signedPage.getByRole('button', { name: 'Sign out' }).click();
  await signedPage.locator('h1', { hasText: 'Sign in' }).waitFor();
  assert.equal(await signedPage.evaluate(() => sessionStorage.getItem('dsconn.console.session')), null);

  // The derived signer (V11-HMAC-SHA256), chosen at sign-in, signs every request as well.
  const before = sent.length;
  await signedPage.getByLabel('Access key and secret key').check();
  await signedPage.getByLabel('Access key (AK)').fill(AK);
  await signedPage.getByLabel('Secret key (SK)').fill(SK);
  await signedPage.getByLabel('Signing algorithm').selectOption('V11-HMAC-SHA256');
  await signedPage.getByRole('button', { name: 'Sign in' }).click();
  await signedPage.locator('h1', { hasText: 'Connections' }).waitFor();
  await signedPage.locator('#list-summary', { hasText: '1 connection' }).waitFor();
  const derived = sent.slice(before).filter((headers) => headers.authorization);
  assert.ok(derived.length >= 2, `requests were signed with V11 (${derived.length})`);
  for (const headers of derived) {
    assert.match(headers.authorization, new RegExp(`^V11-HMAC-SHA256 Credential=${AK}/\\d{8}/local/dli, SignedHeaders=[a-z;-]+, Signature=[0-9a-f]{64}$`));
  }
  await signedPage.getByRole('button', { name: 'Sign out' }).click();
  await signedPage.locator('h1', { hasText: 'Sign in' }).waitFor();
  await signedPage.close();
});

test('no script errors or policy violations in the browser', () => {
  assert.deepEqual(problems, []);
});
