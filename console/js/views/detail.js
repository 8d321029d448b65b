// One connection: every field, its queue bindings (with each binding's stages when the
// connection names an auth info, the failing stage's message first), the last check per
// address, and the actions delete (confirmed; not while CREATING), reactivate, test now,
// bind (offering the project's queues) and unbind.

import { api } from '../api.js';
import {
  append, badge, clear, endpointList, errorBox, formatTime, h, messageOf, progress, tagList, text, time, uid,
} from '../dom.js';
import * as validate from '../validate.js';
import { stageTable } from './queue-test.js';

const REFRESH_MS = 2000;

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

export async function render(ctx) {
  const { project, id } = ctx.params;
  const listHref = `#/p/${encodeURIComponent(project)}`;
  ctx.title('Connection');

  let connection = null;
  let timer = null;
  const schedule = (ms) => {
    clearTimeout(timer);
    timer = setTimeout(() => { if (!ctx.signal.aborted) load(); }, ms);
  };
  ctx.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });

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
      await load();
    } catch (error) {
      fail(error, 'The test was refused');
    }
  }));

  reactivateButton.addEventListener('click', () => busy(reactivateButton, 'Reactivating…', async () => {
    try {
      await api.reactivate(project, id);
      await load();
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
        await load();
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
        await load();
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
      await load();
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

  async function load() {
    try {
      const c = await api.show(project, id);
      if (ctx.signal.aborted) return;
      connection = c;
      draw(c);
      // An ACTIVE binding not yet checked with the connection's auth info is re-checked
      // with it at once (a FAILED one for reachability is not re-checked at all).
      const unchecked = (q) => q.status === 'ACTIVE' && c.auth_info_name && c.state !== 'DELETED'
        && !(Array.isArray(q.stages) && q.stages.length > 0);
      const pending = c.state === 'CREATING'
        || (c.available_queue_info ?? []).some((q) => q.status === 'CREATING' || unchecked(q));
      refreshNote.textContent = `Updated ${formatTime(Date.now())}${pending ? ' · refreshing every 2 s while a check runs' : ''}`;
      if (pending) schedule(REFRESH_MS);
    } catch (error) {
      if (ctx.signal.aborted) return;
      if (!connection) throw error;
      fail(error, 'Could not refresh the connection');
      if (error.status === 0 || error.status === 429 || error.status >= 500) schedule(REFRESH_MS * 2);
    }
  }

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
    dialog);

  try {
    await Promise.all([load(), loadQueues(), loadAuthInfos()]);
  } catch (error) {
    clear(ctx.main).append(
      h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: listHref }, 'Connections')),
      h('h1', { tabindex: '-1' }, 'Connection not available'),
      errorBox(messageOf(error), { title: 'Could not load the connection' }));
  }
}
