// One connection: every field, its queue bindings (with each binding's stages when the
// connection names an auth info, the failing stage's message first), the last check per
// address, its history (who changed what, when, from where), and the actions delete
// (confirmed; not while CREATING), reactivate, test now, bind (offering the project's
// queues) and unbind. The page follows the project's event stream: an event about the
// connection or one of its bindings reloads it and joins the history.

import { api } from '../api.js';
import {
  append, badge, clear, compactTime, endpointList, errorBox, formatTime, h, messageOf, progress, tagList, text, time, uid,
} from '../dom.js';
import * as validate from '../validate.js';
import { stageTable } from './queue-test.js';

/** While the event stream is down, a connection with a check running is re-read this often. */
const REFRESH_MS = 2000;
/** The history shows this many of the newest events. */
const HISTORY_LIMIT = 50;
/** The history asks for the events of at most this many bindings (one request each). */
const HISTORY_BINDINGS = 20;
/** The stream's events kept to match against bindings that a reload reveals. */
const RECENT_EVENTS = 200;

function connectivity(value) {
  if (!value) return h('span', { class: 'muted' }, 'not checked yet');
  return badge(value);
}

/** A label saying where a result was checked: the server, or a queue's agent. */
function checkedFromLabel(where) {
  return h('span', { class: 'checked-from', 'data-checked-from': where }, 'checked from ', h('strong', {}, where));
}

function endpointsTable(endpoints, caption) {
  if (!endpoints || endpoints.length === 0) {
    return h('p', { class: 'muted' }, 'No check has finished yet.');
  }
  const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
  return h('div', { class: 'table-scroll' }, h('table', { class: 'results' },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, ['Endpoint', 'Address', 'Outcome', 'Reason', 'Message', 'Latency']
      .map((label) => h('th', { scope: 'col' }, label)))),
    h('tbody', {}, endpoints.map((e) => h('tr', { 'data-outcome': e.outcome },
      h('th', { scope: 'row', 'data-label': 'Endpoint' }, h('code', {}, e.endpoint)),
      cell('Address', e.address ? h('code', {}, e.address) : text('')),
      cell('Outcome', badge(e.outcome)),
      cell('Reason', e.reason ? h('code', {}, e.reason) : text('')),
      cell('Message', text(e.message)),
      cell('Latency', `${e.latency_ms} ms`))))));
}

/** Where a binding's last check ran: `server`, `agent:<name>`, or null before one ran. */
function checkedFrom(value) {
  if (typeof value !== 'string' || value === '') return text('');
  if (value.startsWith('agent:')) return ['agent ', h('strong', {}, value.slice('agent:'.length))];
  return value;
}

function field(label, ...value) {
  return [h('dt', {}, label), h('dd', {}, ...value)];
}

/** True when a binding of the connection was last checked by a queue's agent. */
function agentChecked(connection) {
  return (connection.available_queue_info ?? []).some((q) => String(q.checked_from ?? '').startsWith('agent:'));
}

/** Who made a change, as the history shows it. */
function actorLabel(actor) {
  const value = String(actor ?? '');
  const [kind, ...rest] = value.split(':');
  const name = rest.join(':');
  if (kind === 'ak' && name) return ['access key ', h('code', {}, name)];
  if (kind === 'token' && name) return ['token ', h('code', { title: name }, `${name.slice(0, 8)}…`)];
  if (kind === 'agent' && name) return ['agent ', h('strong', {}, name)];
  if (value === 'system') return 'dsconn itself';
  if (value === 'anonymous') return 'anonymous (no authentication)';
  return text(value);
}

/** A recorded value: text as it is, a list or a map (tags) as `a, b` or `k=v`, anything
 * else as JSON; a dash for none. */
function changeValue(value) {
  const none = h('span', { class: 'muted' }, '—');
  if (value === null || value === undefined || value === '') return none;
  if (Array.isArray(value) && value.every((item) => typeof item !== 'object' || item === null)) {
    return value.length === 0 ? none : h('code', {}, value.join(', '));
  }
  if (typeof value === 'object' && !Array.isArray(value)
    && Object.values(value).every((item) => typeof item !== 'object' || item === null)) {
    const pairs = Object.entries(value);
    return pairs.length === 0 ? none : h('code', {}, pairs.map(([key, item]) => (item === '' ? key : `${key}=${item}`)).join(', '));
  }
  return h('code', {}, typeof value === 'string' ? value : JSON.stringify(value));
}

/** `field: before → after` per changed field; a create has no before, a delete no after. */
function changeList(changes) {
  const entries = Object.entries(changes && typeof changes === 'object' ? changes : {});
  if (entries.length === 0) return text('');
  return h('ul', { class: 'changes' }, entries.map(([name, change]) => {
    const sides = change && typeof change === 'object' ? change : { after: change };
    return h('li', { 'data-field': name }, `${name}: `,
      'before' in sides ? [changeValue(sides.before), ' → '] : null,
      'after' in sides ? changeValue(sides.after) : changeValue(null));
  }));
}

/** What an event changed: the connection, or one of its bindings (`<id>/<queue>`). */
function subjectLabel(event, id) {
  if (event.resource_id === id) return event.action;
  const queue = event.resource_id.split('/').pop();
  return [`${event.action} of binding `, h('strong', {}, queue)];
}

export async function render(ctx) {
  const { project, id } = ctx.params;
  const listHref = `#/p/${encodeURIComponent(project)}`;
  ctx.title('Connection');

  let connection = null;
  /** Whether a check is running, so that the page polls while the event stream is down. */
  let pending = false;
  /** The events shown in the history, newest first; null until they are loaded. */
  let history = null;
  /** The stream's recent connection and binding events: one that names a binding the page
   * did not know yet joins the history once a reload shows the binding. */
  let recent = [];
  /** Whether an event is about the connection or one of its bindings. A binding is
   * `<connection id>/<queue>`, but some of the server's binding events name it by its
   * peer_id instead (`<peer_id>/<queue>`), so those count too. */
  const about = (event) => event.resource_id === id || event.resource_id.startsWith(`${id}/`)
    || (connection?.available_queue_info ?? []).some((q) => q.peer_id && event.resource_id === `${q.peer_id}/${q.name}`);

  // The parts that each refresh redraws.
  const title = h('span', { class: 'title-text' }, 'Connection');
  const stateSlot = h('span', { class: 'title-badge', id: 'detail-state' });
  const failureSlot = h('div');
  const overview = h('dl', { class: 'fields', id: 'overview' });
  const bindingsSlot = h('div', { id: 'bindings' });
  const endpointsSlot = h('div', { id: 'endpoints' });
  const problems = h('div', { class: 'problems', id: 'action-problems' });
  const refreshNote = h('p', { class: 'summary', id: 'detail-summary', 'aria-live': 'polite' });
  const testSlot = h('section', { class: 'card test-result', id: 'test-result', hidden: true, 'aria-labelledby': 'test-result-title' });
  const historySlot = h('div', { id: 'history' }, h('p', { class: 'muted' }, 'Loading…'));

  // Actions.
  const deleteWhyId = uid('delete-why');
  const deleteWhy = h('p', { class: 'hint', id: deleteWhyId, hidden: true });
  const reactivateWhyId = uid('reactivate-why');
  const reactivateWhy = h('p', { class: 'hint', id: reactivateWhyId, hidden: true });
  const testButton = h('button', { type: 'button', class: 'btn btn-secondary', id: 'action-test' }, 'Test now');
  const reactivateButton = h('button', { type: 'button', class: 'btn btn-secondary', id: 'action-reactivate', 'aria-describedby': reactivateWhyId }, 'Reactivate');
  const deleteButton = h('button', { type: 'button', class: 'btn btn-danger', id: 'action-delete', 'aria-describedby': deleteWhyId }, 'Delete…');

  const fail = (error, what) => {
    const box = errorBox(messageOf(error), { title: what });
    clear(problems).append(box);
    box.focus();
  };
  const busy = async (button, label, work) => {
    const original = button.textContent;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.textContent = label;
    clear(problems);
    try {
      await work();
    } finally {
      button.removeAttribute('aria-busy');
      button.textContent = original;
      updateButtons();
    }
  };

  testButton.addEventListener('click', () => busy(testButton, 'Testing…', async () => {
    try {
      const result = await api.test(project, id);
      if (ctx.signal.aborted) return;
      clear(testSlot).append(
        h('h2', { id: 'test-result-title', tabindex: '-1' }, 'Test result'),
        h('p', {}, 'Checked at ', time(Date.now()), ': ', badge(result.connectivity, { id: 'test-connectivity' }),
          result.failure_reason ? [' ', h('code', {}, result.failure_reason)] : null, ' · ', checkedFromLabel('server')),
        endpointsTable(result.endpoints, 'Result of the test, per address'));
      testSlot.hidden = false;
      testSlot.querySelector('h2').focus();
      await fresh.refresh();
    } catch (error) {
      fail(error, 'The test was refused');
    }
  }));

  reactivateButton.addEventListener('click', () => busy(reactivateButton, 'Reactivating…', async () => {
    try {
      await api.reactivate(project, id);
      await fresh.refresh();
      ctx.flash(`Reactivated ${connection?.name ?? 'the connection'}: checking it again.`);
    } catch (error) {
      fail(error, 'Reactivation was refused');
    }
  }));

  // The delete confirmation: a modal dialog, Cancel focused first, Escape cancels.
  const dialogTitleId = uid('confirm-title');
  const dialogText = h('p', { id: `${dialogTitleId}-text` });
  const cancelButton = h('button', { type: 'button', class: 'btn btn-secondary', id: 'confirm-cancel', autofocus: true }, 'Cancel');
  const confirmButton = h('button', { type: 'button', class: 'btn btn-danger', id: 'confirm-delete' }, 'Delete connection');
  const dialog = h('dialog', { class: 'confirm', id: 'confirm-dialog', 'aria-labelledby': dialogTitleId, 'aria-describedby': dialogText.id },
    h('h2', { id: dialogTitleId }, 'Delete this connection?'),
    dialogText,
    h('div', { class: 'actions' }, cancelButton, confirmButton));
  cancelButton.addEventListener('click', () => dialog.close('cancel'));
  confirmButton.addEventListener('click', () => dialog.close('confirm'));
  dialog.addEventListener('close', async () => {
    if (dialog.returnValue !== 'confirm') {
      deleteButton.focus();
      return;
    }
    await busy(deleteButton, 'Deleting…', async () => {
      try {
        await api.remove(project, id);
        ctx.flash(`Deleted connection ${connection?.name ?? id}.`);
        ctx.navigate(listHref);
      } catch (error) {
        fail(error, 'The delete was refused');
      }
    });
  });
  deleteButton.addEventListener('click', () => {
    dialogText.textContent = `“${connection.name}” becomes DELETED: its queue bindings are removed and `
      + 'clients can no longer use its connection address. This cannot be undone.';
    dialog.returnValue = '';
    dialog.showModal();
  });

  // Bind queues.
  const bindId = uid('bind');
  const bindHint = `${bindId}-hint`;
  // The project's queues, offered as suggestions: only existing queues can be bound.
  let projectQueues = [];
  const queueOptions = h('datalist', { id: `${bindId}-queues` });
  const bindInput = h('input', {
    id: bindId, name: 'queues', type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': bindHint,
    list: queueOptions.id,
  });
  const bindError = h('p', { class: 'field-error', id: `${bindId}-error`, hidden: true });
  const bindButton = h('button', { type: 'submit', class: 'btn btn-primary', id: 'bind-submit' }, 'Bind');
  const bindForm = h('form', { class: 'inline-form', novalidate: true, id: 'bind-form' },
    h('div', { class: 'field' },
      h('label', { for: bindId }, 'Bind queues'),
      h('p', { class: 'hint', id: bindHint }, 'Names of this project’s queues (see ',
        h('a', { href: `${listHref}/queues`, id: 'bind-queues-link' }, 'Queues'),
        '), separated by commas or spaces. The queue “default” cannot be bound.'),
      h('div', { class: 'input-row' }, bindInput, bindButton),
      queueOptions,
      bindError));
  bindForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const { queues, error } = validate.queues(bindInput.value, { required: true });
    if (error) {
      bindError.textContent = error;
      bindError.hidden = false;
      bindInput.setAttribute('aria-invalid', 'true');
      bindInput.setAttribute('aria-describedby', `${bindHint} ${bindError.id}`);
      bindInput.focus();
      return;
    }
    bindError.hidden = true;
    bindInput.removeAttribute('aria-invalid');
    bindInput.setAttribute('aria-describedby', bindHint);
    busy(bindButton, 'Binding…', async () => {
      try {
        const answer = await api.associate(project, id, queues);
        bindInput.value = '';
        await fresh.refresh();
        ctx.flash(`Bound: ${answer.message}.`);
      } catch (error) {
        fail(error, 'Binding was refused');
      }
    });
  });

  // The auth info the checks from the queues log in with (issue 26).
  const loginId = uid('login');
  const databaseId = uid('login-database');
  const loginSelect = h('select', { id: loginId, name: 'auth_info_name', 'aria-describedby': `${loginId}-hint` },
    h('option', { value: '' }, 'none'));
  const databaseInput = h('input', {
    id: databaseId, name: 'database', type: 'text', autocomplete: 'off', spellcheck: 'false', maxlength: '64',
  });
  const loginButton = h('button', { type: 'submit', class: 'btn btn-secondary', id: 'login-submit' }, 'Save');
  const loginForm = h('form', { class: 'inline-form', novalidate: true, id: 'login-form' },
    h('div', { class: 'field' },
      h('label', { for: loginId }, 'Log in from the queues with'),
      h('p', { class: 'hint', id: `${loginId}-hint` },
        'An auth info of the project: every check from the bound queues then logs in, and a binding whose login, ',
        'query or privileges fail is FAILED. None: the checks prove reachability only.'),
      h('div', { class: 'input-row' }, loginSelect)),
    h('div', { class: 'field' },
      h('label', { for: databaseId }, 'Database'),
      h('div', { class: 'input-row' }, databaseInput, loginButton)));
  loginForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = loginSelect.value;
    const database = databaseInput.value.trim();
    busy(loginButton, 'Saving…', async () => {
      try {
        await api.setAuthInfo(project, id, { auth_info_name: name || null, database: name && database ? database : null });
        await fresh.refresh();
        ctx.flash(name ? `The checks from the queues now log in with ${name}.` : 'The checks from the queues no longer log in.');
      } catch (error) {
        fail(error, 'Setting the auth info was refused');
      }
    });
  });

  /** The form shows the connection's auth info, unless someone is editing it. */
  function showLogin(c) {
    if (loginForm.contains(document.activeElement)) return;
    const name = c.auth_info_name ?? '';
    if (name && ![...loginSelect.options].some((option) => option.value === name)) {
      loginSelect.append(h('option', { value: name }, name));
    }
    loginSelect.value = name;
    databaseInput.value = c.database ?? '';
  }

  async function loadAuthInfos() {
    try {
      const answer = await api.listAuthInfos(project);
      if (ctx.signal.aborted) return;
      const chosen = loginSelect.value;
      append(clear(loginSelect), h('option', { value: '' }, 'none'),
        (answer.auth_infos ?? []).map((item) => h('option', { value: item.auth_info_name }, item.auth_info_name)));
      if (connection) showLogin(connection);
      else loginSelect.value = chosen;
    } catch {
      // Only the choices are missing; the connection's own auth info is still shown.
    }
  }

  const unbind = (queue, button) => busy(button, 'Unbinding…', async () => {
    try {
      const answer = await api.disassociate(project, id, [queue]);
      await fresh.refresh();
      ctx.flash(`Unbound ${queue}: ${answer.message}.`);
    } catch (error) {
      fail(error, 'Unbinding was refused');
    }
  });

  /** Suggests the project's queues that this connection has not bound yet. */
  function offerQueues() {
    const bound = new Set((connection?.available_queue_info ?? []).map((q) => q.name));
    append(clear(queueOptions), projectQueues
      .filter((name) => !bound.has(name) && name !== 'default')
      .map((name) => h('option', { value: name })));
  }

  async function loadQueues() {
    try {
      const answer = await api.listQueues(project);
      if (ctx.signal.aborted) return;
      projectQueues = (answer.queues ?? []).map((q) => q.queue_name);
      offerQueues();
    } catch {
      // Only the suggestions are missing; binding still works and the server still decides.
    }
  }

  function updateButtons() {
    if (!connection) return;
    const state = connection.state;
    const pending = (b) => b.getAttribute('aria-busy') === 'true';
    if (!pending(deleteButton)) deleteButton.disabled = state === 'CREATING' || state === 'DELETED';
    deleteWhy.hidden = !(state === 'CREATING' || state === 'DELETED');
    deleteWhy.textContent = state === 'CREATING'
      ? 'Delete is available once the check finishes: a connection cannot be deleted while it is being created.'
      : 'This connection is already deleted.';
    if (!pending(reactivateButton)) reactivateButton.disabled = state !== 'FAILED';
    reactivateWhy.hidden = state === 'FAILED' || state === 'DELETED';
    reactivateWhy.textContent = 'Only a FAILED connection can be reactivated.';
    if (!pending(testButton)) testButton.disabled = state === 'DELETED';
    if (!pending(bindButton)) bindButton.disabled = state === 'DELETED';
    if (!pending(loginButton)) loginButton.disabled = state === 'DELETED';
    bindInput.disabled = state === 'DELETED';
  }

  function bindingsTable(c) {
    const bindings = c.available_queue_info ?? [];
    if (bindings.length === 0) return h('p', { class: 'muted', id: 'no-bindings' }, 'No queue is bound.');
    const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
    return h('div', { class: 'table-scroll' }, h('table', { class: 'results bindings' },
      h('caption', { class: 'visually-hidden' }, 'Queue bindings'),
      h('thead', {}, h('tr', {}, ['Queue', 'Status', 'Connectivity', 'Checked from', 'Error', 'Last check', 'Updated', 'Action']
        .map((label) => h('th', { scope: 'col' }, label)))),
      h('tbody', {}, bindings.map((q) => {
        const button = h('button', {
          type: 'button', class: 'btn btn-small btn-secondary', 'data-key': `unbind-${q.name}`,
          'aria-label': `Unbind ${q.name}`, disabled: c.state === 'DELETED',
        }, 'Unbind');
        button.addEventListener('click', () => unbind(q.name, button));
        return h('tr', { 'data-queue': q.name },
          h('th', { scope: 'row', 'data-label': 'Queue' }, q.name),
          cell('Status', badge(q.status)),
          cell('Connectivity', connectivity(q.connectivity)),
          cell('Checked from', checkedFrom(q.checked_from)),
          cell('Error', q.err_msg ? [q.failure_reason ? [h('code', {}, q.failure_reason), ': '] : null, q.err_msg] : text('')),
          cell('Last check', time(q.last_checked_at)),
          cell('Updated', time(q.update_time)),
          cell('Action', button));
      }))));
  }

  /** Each binding's last stages (a connection that names an auth info), failure first. */
  function bindingStages(c) {
    return (c.available_queue_info ?? []).filter((q) => Array.isArray(q.stages) && q.stages.length > 0)
      .map((q) => {
        const failed = q.stages.find((stage) => stage.verdict === 'FAILED')
          ?? q.stages.find((stage) => stage.reason === 'LAST_LOGIN_FAILED');
        return h('section', { class: 'binding-stages', 'data-queue': q.name },
          h('h3', {}, `Stages from queue ${q.name}`,
            h('span', { class: 'muted' }, `, checked from ${q.checked_from ?? '—'}`)),
          failed ? h('p', { class: 'alert alert-error stage-failure', 'data-stage': failed.stage },
            h('strong', {}, `${failed.stage} ${failed.verdict === 'FAILED' ? 'failed' : 'skipped'}: `),
            failed.message || failed.reason) : null,
          stageTable(`Stages of the last check from ${q.name}`, q.stages));
      });
  }

  /** The auth info the checks from queues log in with, and what they ask for. */
  function authInfoField(c) {
    if (!c.auth_info_name) return text('none: the checks prove reachability only');
    const asked = [
      c.database ? `database ${c.database}` : null,
      ...(c.privileges ?? []).map((p) => (p.table ? `${p.privilege} on ${p.table}` : p.privilege)),
    ].filter(Boolean);
    return [h('code', { id: 'auth-info-name' }, c.auth_info_name), asked.length > 0 ? ` (${asked.join(', ')})` : null];
  }

  function draw(c) {
    ctx.title(c.name);
    title.textContent = c.name;
    clear(stateSlot).append(badge(c.state));
    clear(failureSlot);
    if (c.state === 'FAILED') {
      failureSlot.append(h('div', { class: 'alert alert-error', id: 'failure' },
        h('strong', {}, 'The check failed'), c.failure_reason ? [' (', h('code', {}, c.failure_reason), ')'] : null,
        ': ', c.message || 'no reason was recorded'));
    }
    const focusedKey = bindingsSlot.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    append(clear(overview),
      field('Connection id', h('code', {}, c.connection_id)),
      field('State', badge(c.state)),
      field('Progress', progress(c.process, c.state, 'Check progress')),
      field('Service', c.service),
      field('Destination', endpointList(c.destination)),
      field('Connection address', endpointList(c.connection_url)),
      field('Connectivity', connectivity(c.connectivity), ' ', checkedFromLabel('server'),
        agentChecked(c) ? h('p', { class: 'hint', id: 'connectivity-note' },
          "This is the server's own view. A queue with an agent is checked from the agent's network: see each binding's ‘Checked from’ below.")
          : null),
      field('Last check', time(c.last_checked_at)),
      field('Failure reason', c.failure_reason ? h('code', {}, c.failure_reason) : text('')),
      field('Auth info', authInfoField(c)),
      field('Message', text(c.message)),
      field('Security group id', text(c.security_group_id)),
      field('Network id', text(c.network_id)),
      field('Tags', tagList(c.tags)),
      field('Queues', text((c.queue_list ?? []).join(', '))),
      field('Cluster name', text(c.cluster_name)),
      field('Created', time(c.create_time)),
      field('Updated', time(c.update_time)));
    append(clear(bindingsSlot), bindingsTable(c), ...bindingStages(c));
    showLogin(c);
    offerQueues();
    if (focusedKey) bindingsSlot.querySelector(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
    append(clear(endpointsSlot),
      c.endpoints && c.endpoints.length > 0 ? h('p', { class: 'hint' }, 'The server\'s own check, ', checkedFromLabel('server'), '.') : null,
      endpointsTable(c.endpoints, 'Last check, per address, checked from the server'));
    updateButtons();
  }

  /** Says when the page was updated, and how it keeps up: live, or polling while a check runs. */
  let updatedAt = null;
  function showRefreshNote() {
    if (updatedAt === null) return;
    const how = fresh.live ? ' · live: changes show as they happen'
      : pending ? ' · refreshing every 2 s while a check runs' : '';
    refreshNote.textContent = `Updated ${formatTime(updatedAt)}${how}`;
  }

  async function load() {
    try {
      const c = await api.show(project, id);
      if (ctx.signal.aborted) return;
      connection = c;
      draw(c);
      if (history !== null) remember(recent.filter(about));
      // An ACTIVE binding not yet checked with the connection's auth info is re-checked
      // with it at once (a FAILED one for reachability is not re-checked at all).
      const unchecked = (q) => q.status === 'ACTIVE' && c.auth_info_name && c.state !== 'DELETED'
        && !(Array.isArray(q.stages) && q.stages.length > 0);
      pending = c.state === 'CREATING'
        || (c.available_queue_info ?? []).some((q) => q.status === 'CREATING' || unchecked(q));
      updatedAt = Date.now();
      showRefreshNote();
    } catch (error) {
      if (ctx.signal.aborted) return;
      if (!connection) throw error;
      fail(error, 'Could not refresh the connection');
      if (error.status === 0 || error.status === 429 || error.status >= 500) ctx.later(REFRESH_MS * 2, () => fresh.refresh());
    }
  }

  function drawHistory() {
    if (history === null) return;
    if (history.length === 0) {
      clear(historySlot).append(h('p', { class: 'muted', id: 'history-empty' }, 'No change is recorded yet.'));
      return;
    }
    const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
    clear(historySlot).append(h('div', { class: 'table-scroll' }, h('table', { class: 'results history', id: 'history-table' },
      h('caption', { class: 'visually-hidden' }, 'History of the connection and its bindings, newest first'),
      h('thead', {}, h('tr', {}, ['When', 'Who', 'From', 'What', 'Changes'].map((label) => h('th', { scope: 'col' }, label)))),
      h('tbody', {}, history.map((event) => h('tr', {
        'data-event-id': String(event.id), 'data-actor': event.actor, 'data-action': event.action, 'data-resource': event.resource_id,
      },
      h('th', { scope: 'row', 'data-label': 'When' }, compactTime(event.time)),
      cell('Who', actorLabel(event.actor)),
      cell('From', event.client ? h('code', { title: event.request_id ? `request ${event.request_id}` : null }, event.client) : text('')),
      cell('What', subjectLabel(event, id)),
      cell('Changes', changeList(event.changes))))))));
  }

  /** Adds events to the history (each once), keeping the newest HISTORY_LIMIT. */
  function remember(events) {
    const byId = new Map((history ?? []).map((event) => [event.id, event]));
    const known = byId.size;
    for (const event of events) byId.set(event.id, event);
    if (history !== null && byId.size === known) return;
    history = [...byId.values()].sort((a, b) => b.id - a.id).slice(0, HISTORY_LIMIT);
    drawHistory();
  }

  /** The connection's own events and its bindings' (a query each: ids match exactly). */
  async function loadHistory() {
    const bindings = (connection?.available_queue_info ?? []).slice(0, HISTORY_BINDINGS);
    const subjects = [id, ...bindings.map((q) => `${id}/${q.name}`)];
    const pages = await Promise.all(subjects.map((subject) => api.events(project, [
      ['resource_id', subject], ['order', 'desc'], ['limit', String(HISTORY_LIMIT)],
    ]).catch((error) => ({ error }))));
    if (ctx.signal.aborted) return;
    if (history === null && pages.every((page) => page.error)) {
      clear(historySlot).append(h('p', { class: 'muted', id: 'history-unavailable' },
        `The history is not available: ${messageOf(pages[0].error)}`));
      return;
    }
    remember([...pages.flatMap((page) => page.events ?? []), ...recent.filter(about)]);
  }

  // One watcher for the connection, one for its history: an event about either reloads
  // the connection and joins the history as it is (no request for that).
  const fresh = ctx.live({
    load,
    relevant: about,
    pending: () => pending,
    pollMs: REFRESH_MS,
    onLive: showRefreshNote,
  });
  const freshHistory = ctx.live({
    load: loadHistory,
    pending: () => pending,
    pollMs: REFRESH_MS,
    onEvent: (event) => {
      if (event.resource_type !== 'connection' && event.resource_type !== 'binding') return;
      recent = [...recent.slice(-(RECENT_EVENTS - 1)), event];
      if (history !== null && about(event)) remember([event]);
    },
  });
  // The bind suggestions and the auth info choices follow the project's queues and auth infos.
  ctx.live({ load: loadQueues, relevant: (event) => event.resource_type === 'queue' });
  ctx.live({ load: loadAuthInfos, relevant: (event) => event.resource_type === 'auth_info' });

  append(ctx.main,
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' },
      h('a', { href: listHref }, 'Connections'), h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { 'aria-current': 'page' }, 'Details')),
    h('div', { class: 'page-head' },
      h('h1', { tabindex: '-1' }, title, ' ', stateSlot)),
    refreshNote,
    h('div', { class: 'toolbar', role: 'group', 'aria-label': 'Actions' }, testButton, reactivateButton, deleteButton),
    deleteWhy,
    reactivateWhy,
    problems,
    failureSlot,
    testSlot,
    h('div', { class: 'detail-grid' },
      h('section', { class: 'card', 'aria-labelledby': 'overview-title' },
        h('h2', { id: 'overview-title' }, 'Overview'),
        overview),
      h('div', { class: 'stack' },
        h('section', { class: 'card', 'aria-labelledby': 'bindings-title' },
          h('h2', { id: 'bindings-title' }, 'Queue bindings'),
          bindingsSlot,
          bindForm,
          loginForm),
        h('section', { class: 'card', 'aria-labelledby': 'endpoints-title' },
          h('h2', { id: 'endpoints-title' }, 'Last check, per address'),
          endpointsSlot))),
    h('section', { class: 'card history-card', 'aria-labelledby': 'history-title' },
      h('h2', { id: 'history-title' }, 'History'),
      h('p', { class: 'hint' }, 'Who changed the connection and its bindings, from where, and what changed; newest first.'),
      historySlot),
    dialog);

  try {
    await Promise.all([
      fresh.refresh().then(() => freshHistory.refresh()),
      loadQueues(),
      loadAuthInfos(),
    ]);
  } catch (error) {
    clear(ctx.main).append(
      h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: listHref }, 'Connections')),
      h('h1', { tabindex: '-1' }, 'Connection not available'),
      errorBox(messageOf(error), { title: 'Could not load the connection' }));
  }
}
