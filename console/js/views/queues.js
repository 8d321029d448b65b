// A project's DLI queues: their type, CU, pool and online agents (where the queue's
// checks run; none means the server), a create form, delete (confirmed; the server
// refuses a bound or declared queue), and per queue a connection test of one host:port.
// Below them, the project's elastic resource pools: list, create, delete, and moving a
// queue into a pool. The page reloads when the project's event stream tells of a change
// to a queue, a pool or an agent.

import { api } from '../api.js';
import {
  append, badge, clear, compactTime, errorBox, fieldError, fieldOfMessage, formatTime, h, refreshSince, refusal, since, text, uid,
} from '../dom.js';
import * as validate from '../validate.js';
import { rememberProject } from './projects.js';
import { testPanel } from './queue-test.js';

/** Relative "last seen" times are re-read this often (the table is not redrawn for it). */
const SINCE_TICK_MS = 10_000;
const DEFAULT_CU = '16';

function agentsCell(queue) {
  const agents = queue.agents ?? [];
  if (agents.length === 0) return h('span', { class: 'checked-by-server' }, 'server');
  return h('ul', { class: 'agents', 'aria-label': `Agents of ${queue.queue_name}` }, agents.map((agent) => h('li', { 'data-agent': agent.name },
    h('strong', { class: 'agent-name' }, agent.name), agent.version ? [' ', h('span', { class: 'muted' }, `version ${agent.version}`)] : null,
    h('br'), h('code', {}, agent.address || '—'), ' · last seen ', since(agent.last_seen))));
}

/**
 * The project's elastic resource pools: a table (name, status, CU range, CIDR, queues,
 * delete), a create form, and "move a queue into this pool". `reload` redraws the page.
 */
function poolsSection(ctx, project, reload) {
  const problems = h('div', { class: 'problems', id: 'pool-problems' });
  const region = h('div', { class: 'table-wrap', id: 'pools-region' });
  const fail = (error, what) => {
    const box = errorBox(refusal(error), { title: what });
    clear(problems).append(box);
    box.focus();
  };
  const act = async (button, what, call, done) => {
    button.disabled = true;
    clear(problems);
    try {
      await call();
      if (ctx.signal.aborted) return;
      ctx.flash(done);
      await reload();
    } catch (error) {
      if (ctx.signal.aborted) return;
      button.disabled = false;
      fail(error, what);
    }
  };
  const HEADERS = ['Name', 'Status', 'CU', 'CIDR', 'Queues', 'Created', 'Actions'];
  function row(pool, movable) {
    const name = pool.elastic_resource_pool_name;
    const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-key': `delete-pool-${name}`, 'aria-label': `Delete pool ${name}` }, 'Delete');
    remove.addEventListener('click', () => act(remove, `Could not delete ${name}`, () => api.removePool(project, name), `Deleted pool ${name}.`));
    const selectId = uid('move-queue');
    const select = h('select', { id: selectId, 'aria-label': `Queue to move into ${name}` },
      h('option', { value: '' }, 'Move a queue here…'), movable.map((q) => h('option', { value: q }, q)));
    const move = h('button', { type: 'button', class: 'btn btn-small btn-secondary', 'data-key': `move-${name}`, 'aria-label': `Move the chosen queue into ${name}` }, 'Move');
    move.addEventListener('click', () => {
      if (!select.value) { select.focus(); return; }
      const queueName = select.value;
      act(move, `Could not move ${queueName} into ${name}`, () => api.addQueueToPool(project, name, queueName), `Queue ${queueName} is in pool ${name}.`);
    });
    const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
    return h('tr', { 'data-pool': name },
      h('th', { scope: 'row', 'data-label': 'Name' }, name),
      cell('Status', badge(pool.status)),
      cell('CU', `${pool.min_cu}–${pool.max_cu}`),
      cell('CIDR', h('code', {}, pool.cidr_in_vpc)),
      cell('Queues', (pool.queues ?? []).join(', ') || '—'),
      cell('Created', compactTime(pool.create_time)),
      cell('Actions', h('span', { class: 'row-actions' }, movable.length ? [select, ' ', move, ' '] : null, remove)));
  }
  async function load(movable) {
    let answer;
    try {
      answer = await api.listPools(project);
    } catch (error) {
      if (ctx.signal.aborted) return;
      fail(error, 'Could not list the elastic resource pools');
      return;
    }
    if (ctx.signal.aborted) return;
    const shown = answer.elastic_resource_pools ?? [];
    clear(region).append(h('table', { class: 'results pools', id: 'pools-table' },
      h('caption', { class: 'visually-hidden' }, `Elastic resource pools of project ${project}`),
      h('thead', {}, h('tr', {}, HEADERS.map((label) => h('th', { scope: 'col' }, label)))),
      h('tbody', {}, shown.length === 0
        ? h('tr', {}, h('td', { colspan: String(HEADERS.length), class: 'empty' }, 'This project has no elastic resource pools yet.'))
        : shown.map((pool) => row(pool, movable)))));
  }

  // Create: name, CU range and an optional CIDR; the server's rules decide.
  const field = (label, hint, attributes) => {
    const id = uid('pool-field');
    const input = h('input', { id, type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': `${id}-hint`, ...attributes });
    const error = fieldError(input);
    return {
      input,
      error,
      element: h('div', { class: 'field', 'data-field': attributes.name },
        h('label', { for: id }, label), h('p', { class: 'hint', id: `${id}-hint` }, hint), input, error.element),
    };
  };
  // Which field a server refusal is about, by the words its message uses.
  const POOL_MESSAGE_FIELDS = [
    { name: 'cidr_in_vpc', words: ['cidr', 'network'] },
    { name: 'min_cu', words: ['min_cu'] },
    { name: 'max_cu', words: ['max_cu'] },
    { name: 'elastic_resource_pool_name', words: ['name'] },
  ];
  const nameField = field('Pool name', 'The rules of a queue name.', { name: 'elastic_resource_pool_name' });
  const minField = field('Min CUs', '16 to 32000.', { name: 'min_cu', inputmode: 'numeric', value: '16' });
  const maxField = field('Max CUs', 'At least the minimum.', { name: 'max_cu', inputmode: 'numeric', value: '64' });
  const cidrField = field('Network (CIDR)', 'Optional; default 172.16.0.0/12. It must not overlap the networks it connects to.', { name: 'cidr_in_vpc', placeholder: '172.16.0.0/12' });
  const createButton = h('button', { type: 'submit', class: 'btn btn-primary', id: 'pool-create-submit' }, 'Create pool');
  const createProblems = h('div', { id: 'pool-create-error-slot' });
  const form = h('form', { class: 'queue-create', id: 'pool-create-form', novalidate: true, 'aria-labelledby': 'pool-create-title' },
    h('h2', { id: 'pool-create-title' }, 'New elastic resource pool'),
    h('div', { class: 'queue-create-fields' }, nameField.element, minField.element, maxField.element, cidrField.element,
      h('div', { class: 'filter-actions' }, createButton)),
    createProblems);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(createProblems);
    const poolFields = [nameField, minField, maxField, cidrField];
    for (const { error } of poolFields) error.show('');
    const name = nameField.input.value.trim();
    const body = {
      elastic_resource_pool_name: name,
      min_cu: Number(minField.input.value.trim()),
      max_cu: Number(maxField.input.value.trim()),
    };
    const cidr = cidrField.input.value.trim();
    if (cidr) body.cidr_in_vpc = cidr;
    createButton.disabled = true;
    try {
      const answer = await api.createPool(project, body);
      if (ctx.signal.aborted) return;
      nameField.input.value = '';
      cidrField.input.value = '';
      ctx.flash(`Created pool ${answer.elastic_resource_pool_name ?? name.toLowerCase()}.`);
      await reload();
    } catch (error) {
      if (ctx.signal.aborted) return;
      const message = refusal(error);
      const box = errorBox(message, { id: 'pool-create-error', title: 'The pool was not created' });
      createProblems.append(box);
      const about = fieldOfMessage(message, POOL_MESSAGE_FIELDS);
      const refused = poolFields.find(({ input }) => input.name === about);
      if (refused) refused.error.show(message);
      box.focus();
    } finally {
      createButton.disabled = false;
    }
  });
  const section = h('section', { class: 'pools', 'aria-labelledby': 'pools-title' },
    h('h2', { id: 'pools-title' }, 'Elastic resource pools'),
    h('p', { class: 'lead' }, 'Pools, like queues, must exist before an enhanced connection can bind them; a queue in a pool uses the pool’s network.'),
    problems, region, h('section', { class: 'card queue-create-card' }, form));
  return { section, load };
}

export async function render(ctx) {
  const { project } = ctx.params;
  const listHref = `#/p/${encodeURIComponent(project)}`;
  rememberProject(project);
  ctx.title(`Queues · ${project}`);

  const summary = h('p', { class: 'summary', id: 'queues-summary', 'aria-live': 'polite' }, 'Loading…');
  const problems = h('div', { class: 'problems', id: 'queue-problems' });
  const region = h('div', { class: 'table-wrap', id: 'queues-region' });
  const panels = new Map(); // queue name -> its test row, kept across redraws

  const fail = (error, what) => {
    const box = errorBox(refusal(error), { title: what });
    clear(problems).append(box);
    box.focus();
  };

  // Delete: a modal dialog like the connection's, Cancel focused first.
  const dialogTitleId = uid('queue-confirm-title');
  const dialogTitle = h('h2', { id: dialogTitleId }, 'Delete this queue?');
  const dialogText = h('p', { id: `${dialogTitleId}-text` });
  const cancelButton = h('button', { type: 'button', class: 'btn btn-secondary', id: 'queue-confirm-cancel', autofocus: true }, 'Cancel');
  const confirmButton = h('button', { type: 'button', class: 'btn btn-danger', id: 'queue-confirm-delete' }, 'Delete queue');
  const dialog = h('dialog', { class: 'confirm', id: 'queue-confirm-dialog', 'aria-labelledby': dialogTitleId, 'aria-describedby': dialogText.id },
    dialogTitle, dialogText, h('div', { class: 'actions' }, cancelButton, confirmButton));
  let deleting = null; // {name, button}
  cancelButton.addEventListener('click', () => dialog.close('cancel'));
  confirmButton.addEventListener('click', () => dialog.close('confirm'));
  dialog.addEventListener('close', async () => {
    const target = deleting;
    deleting = null;
    if (!target) return;
    if (dialog.returnValue !== 'confirm') {
      target.button.focus();
      return;
    }
    target.button.disabled = true;
    clear(problems);
    try {
      await api.removeQueue(project, target.name);
      if (ctx.signal.aborted) return;
      panels.delete(target.name);
      ctx.flash(`Deleted queue ${target.name}.`);
      await load();
      ctx.main.querySelector('h1')?.focus();
    } catch (error) {
      if (ctx.signal.aborted) return;
      target.button.disabled = false;
      fail(error, `Could not delete ${target.name}`);
    }
  });
  const confirmDelete = (name, button) => {
    dialogTitle.textContent = `Delete the queue ${name}?`;
    dialogText.textContent = `Connections can no longer bind “${name}”. A queue that a connection has bound cannot be deleted: unbind it first.`;
    deleting = { name, button };
    dialog.returnValue = '';
    dialog.showModal();
  };

  const HEADERS = ['Name', 'Type', 'CU', 'Pool', 'Declared', 'Agents (where checks run)', 'Created', 'Actions'];

  function queueRows(queue) {
    const name = queue.queue_name;
    let panel = panels.get(name);
    if (!panel) {
      panel = testPanel(ctx, project, name, HEADERS.length);
      panels.set(name, panel);
    }
    const panelId = `test-panel-${name}`;
    panel.row.id = panelId;
    const toggle = h('button', {
      type: 'button', class: 'btn btn-small btn-secondary', 'data-key': `test-${name}`,
      'aria-expanded': panel.row.hidden ? 'false' : 'true', 'aria-controls': panelId, 'aria-label': `Test address from ${name}`,
    }, 'Test address');
    toggle.addEventListener('click', () => {
      panel.row.hidden = !panel.row.hidden;
      toggle.setAttribute('aria-expanded', panel.row.hidden ? 'false' : 'true');
      if (!panel.row.hidden) panel.input.focus();
    });
    const whyId = uid('declared-why');
    const remove = h('button', {
      type: 'button', class: 'btn btn-small btn-danger', 'data-key': `delete-${name}`, 'aria-label': `Delete queue ${name}`,
      disabled: queue.declared, 'aria-describedby': queue.declared ? whyId : null,
    }, 'Delete…');
    remove.addEventListener('click', () => confirmDelete(name, remove));
    const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
    return [
      h('tr', { 'data-queue': name, 'data-declared': queue.declared ? 'true' : 'false' },
        h('th', { scope: 'row', 'data-label': 'Name' }, h('span', { class: 'queue-name' }, name)),
        cell('Type', queue.queue_type),
        cell('CU', text(queue.cu_count)),
        cell('Pool', text(queue.elastic_resource_pool_name)),
        cell('Declared', queue.declared ? 'yes (--queue)' : 'no'),
        cell('Agents', agentsCell(queue)),
        cell('Created', compactTime(queue.create_time)),
        cell('Actions', h('span', { class: 'row-actions' }, toggle, ' ', remove),
          queue.declared ? h('span', { class: 'visually-hidden', id: whyId }, 'A queue declared with --queue cannot be deleted.') : null)),
      panel.row,
    ];
  }

  function table(queues) {
    return h('table', { class: 'results queues', id: 'queues-table' },
      h('caption', { class: 'visually-hidden' }, `Queues of project ${project}`),
      h('thead', {}, h('tr', {}, HEADERS.map((label) => h('th', { scope: 'col' }, label)))),
      h('tbody', {}, queues.length === 0
        ? h('tr', {}, h('td', { colspan: String(HEADERS.length), class: 'empty' }, 'This project has no queues yet.'))
        : queues.map(queueRows)));
  }

  async function load() {
    let answer;
    let authInfos; // for the tests' auth info choice; null when they could not be listed
    try {
      [answer, authInfos] = await Promise.all([
        api.listQueues(project),
        api.listAuthInfos(project).then((list) => list.auth_infos ?? [], () => null),
      ]);
    } catch (error) {
      if (ctx.signal.aborted) return;
      fail(error, 'Could not list the queues');
      summary.textContent = '';
      return;
    }
    if (ctx.signal.aborted) return;
    const shown = answer.queues ?? [];
    const names = new Set(shown.map((q) => q.queue_name));
    for (const name of panels.keys()) if (!names.has(name)) panels.delete(name);
    const focusedKey = region.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    clear(region).append(table(shown));
    for (const panel of panels.values()) panel.setAuthInfos(authInfos);
    if (focusedKey) region.querySelector(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
    const withAgents = shown.filter((q) => (q.agents ?? []).length > 0).length;
    summary.textContent = `${shown.length} queue${shown.length === 1 ? '' : 's'}`
      + ` · ${withAgents} with an online agent · updated ${formatTime(Date.now())}`;
    await pools.load(shown.filter((q) => !q.declared && !q.elastic_resource_pool_name).map((q) => q.queue_name));
  }

  const pools = poolsSection(ctx, project, () => load());

  // Create.
  const nameId = uid('queue-name');
  const cuId = uid('queue-cu');
  const nameError = h('p', { class: 'field-error', id: `${nameId}-error`, hidden: true });
  const cuError = h('p', { class: 'field-error', id: `${cuId}-error`, hidden: true });
  const nameInput = h('input', { id: nameId, name: 'queue_name', type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': `${nameId}-hint` });
  const cuInput = h('input', { id: cuId, name: 'cu_count', type: 'text', inputmode: 'numeric', value: DEFAULT_CU, autocomplete: 'off', 'aria-describedby': `${cuId}-hint` });
  const createButton = h('button', { type: 'submit', class: 'btn btn-primary', id: 'queue-create-submit' }, 'Create queue');
  const createProblems = h('div', { id: 'queue-create-error-slot' });
  const createForm = h('form', { class: 'queue-create', id: 'queue-create-form', novalidate: true, 'aria-labelledby': 'queue-create-title' },
    h('h2', { id: 'queue-create-title' }, 'New queue'),
    h('div', { class: 'queue-create-fields' },
      h('div', { class: 'field' },
        h('label', { for: nameId }, 'Queue name'),
        h('p', { class: 'hint', id: `${nameId}-hint` }, 'Letters, digits and ‘_’ (stored in lower case); not only digits, not starting with ‘_’.'),
        nameInput, nameError),
      h('div', { class: 'field field-narrow' },
        h('label', { for: cuId }, 'CU count'),
        h('p', { class: 'hint', id: `${cuId}-hint` }, '1 to 32000.'),
        cuInput, cuError),
      h('div', { class: 'filter-actions' }, createButton)),
    createProblems);
  const mark = (input, errorElement, problem) => {
    const hint = input.getAttribute('aria-describedby').split(' ')[0];
    errorElement.textContent = problem ?? '';
    errorElement.hidden = !problem;
    if (problem) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', `${hint} ${errorElement.id}`);
    } else {
      input.removeAttribute('aria-invalid');
      input.setAttribute('aria-describedby', hint);
    }
    return problem;
  };
  createForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(createProblems);
    const name = nameInput.value.trim();
    const nameProblem = mark(nameInput, nameError, validate.newQueueName(name));
    const cuProblem = mark(cuInput, cuError, validate.cuCount(cuInput.value));
    if (nameProblem || cuProblem) {
      (nameProblem ? nameInput : cuInput).focus();
      return;
    }
    createButton.disabled = true;
    createButton.setAttribute('aria-busy', 'true');
    try {
      const answer = await api.createQueue(project, { queue_name: name, cu_count: Number(cuInput.value.trim()) });
      if (ctx.signal.aborted) return;
      nameInput.value = '';
      cuInput.value = DEFAULT_CU;
      ctx.flash(`Created queue ${answer.queue_name ?? name.toLowerCase()}.`);
      await load();
    } catch (error) {
      if (ctx.signal.aborted) return;
      const box = errorBox(refusal(error), { id: 'queue-create-error', title: 'The queue was not created' });
      createProblems.append(box);
      box.focus();
    } finally {
      createButton.disabled = false;
      createButton.removeAttribute('aria-busy');
    }
  });

  const refreshButton = h('button', { type: 'button', class: 'btn btn-secondary', id: 'queues-refresh' }, 'Refresh');
  refreshButton.addEventListener('click', async () => {
    refreshButton.disabled = true;
    clear(problems);
    try {
      await load();
    } finally {
      refreshButton.disabled = false;
    }
  });

  append(ctx.main,
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' },
      h('a', { href: listHref, id: 'queues-back' }, 'Connections'), h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { 'aria-current': 'page' }, 'Queues')),
    h('div', { class: 'page-head' },
      h('h1', { tabindex: '-1' }, 'Queues'),
      refreshButton),
    h('p', { class: 'lead' }, 'A queue’s checks (its bindings’ checks and its connection tests) run on one of its online agents; “server” means none is online, so the server checks it.'),
    summary,
    problems,
    region,
    h('section', { class: 'card queue-create-card' }, createForm),
    pools.section,
    dialog);

  const tick = () => {
    refreshSince(region);
    ctx.later(SINCE_TICK_MS, tick);
  };
  ctx.later(SINCE_TICK_MS, tick);
  const fresh = ctx.live({
    load,
    relevant: (event) => ['queue', 'pool', 'agent'].includes(event.resource_type),
  });
  await fresh.refresh();
}
