// One enhanced connection: its fields, its bindings (status, where they were set up, why
// one FAILED) with bind/unbind, its host entries and its routes with add/delete. While a
// binding is CREATING the page waits for the set-up's event on the project's event stream
// (or, while the stream is down, re-reads the connection every second).

import { api } from '../api.js';
import { append, badge, clear, errorBox, h, text, time, uid } from '../dom.js';
import { refusal } from './enhanced.js';
import { rememberProject } from './projects.js';

/** How often the page re-reads a connection with a CREATING binding while the stream is down. */
const CREATING_POLL_MS = 1000;

/** Where a binding was set up: `server`, `agent:<name>`, or null before that. */
function checkedFrom(value) {
  if (!value) return text('');
  if (value.startsWith('agent:')) return ['agent ', h('strong', {}, value.slice('agent:'.length))];
  return value;
}

export async function render(ctx) {
  const { project, id } = ctx.params;
  rememberProject(project);
  const listHref = `#/p/${encodeURIComponent(project)}/enhanced`;
  const heading = h('h1', { tabindex: '-1' }, 'Enhanced connection');
  const fields = h('div', { id: 'enhanced-fields' });
  const problems = h('div', { class: 'problems', id: 'enhanced-detail-problems' });
  const bindingsRegion = h('div', { class: 'table-wrap', id: 'enhanced-bindings' });
  const hostsRegion = h('div', { class: 'table-wrap', id: 'enhanced-hosts' });
  const routesRegion = h('div', { class: 'table-wrap', id: 'enhanced-routes' });
  let creating = false;
  let shown = null; // the connection as last loaded

  const fail = (error, what) => {
    const box = errorBox(refusal(error), { id: 'enhanced-detail-error', title: what });
    clear(problems).append(box);
    box.focus();
  };
  /** Runs a change, then re-reads the connection; a refusal is shown above the tables. */
  const change = async (button, what, call) => {
    button.disabled = true;
    clear(problems);
    try {
      await call();
      if (ctx.signal.aborted) return true;
      await fresh.refresh();
      return true;
    } catch (error) {
      if (ctx.signal.aborted) return false;
      fail(error, what);
      return false;
    } finally {
      button.disabled = false;
    }
  };

  const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
  const table = (tableId, caption, headers, rows, empty) => h('table', { class: 'results', id: tableId },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, headers.map((label) => h('th', { scope: 'col' }, label)))),
    h('tbody', {}, rows.length === 0
      ? h('tr', {}, h('td', { colspan: String(headers.length), class: 'empty' }, empty))
      : rows));

  function bindingRows(connection) {
    const kinds = [['queue', connection.available_queue_info ?? []], ['pool', connection.elastic_resource_pools ?? []]];
    return kinds.flatMap(([kind, bindings]) => bindings.map((binding) => {
      const unbind = h('button', {
        type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Unbind ${kind} ${binding.name}`, 'data-unbind': binding.name,
      }, 'Unbind');
      unbind.addEventListener('click', () => change(unbind, `Could not unbind ${binding.name}`, async () => {
        await api.unbindEnhanced(project, id, kind === 'queue' ? { queues: [binding.name] } : { elastic_resource_pools: [binding.name] });
        ctx.flash(`Unbound ${kind} ${binding.name}.`);
      }));
      return h('tr', { 'data-kind': kind, 'data-binding': binding.name, 'data-status': binding.status },
        h('td', { 'data-label': 'Kind', class: 'nowrap' }, kind),
        h('th', { scope: 'row', 'data-label': 'Name' }, binding.name),
        cell('Status', badge(binding.status)),
        cell('Checked from', h('span', { class: 'binding-checked-from' }, checkedFrom(binding.checked_from))),
        cell('Error', text(binding.err_msg)),
        cell('Actions', connection.status === 'DELETED' ? text('') : unbind));
    }));
  }

  function routeRows(connection) {
    return (connection.routes ?? []).map((route) => {
      const remove = h('button', {
        type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Delete route ${route.name}`, 'data-route-delete': route.name,
      }, 'Delete');
      remove.addEventListener('click', () => change(remove, `Could not delete route ${route.name}`, async () => {
        await api.removeEnhancedRoute(project, id, route.name);
        ctx.flash(`Deleted route ${route.name}.`);
      }));
      return h('tr', { 'data-route': route.name },
        h('th', { scope: 'row', 'data-label': 'Route' }, route.name),
        cell('CIDR', h('code', {}, route.cidr)),
        cell('Created', time(route.create_time)),
        cell('Actions', remove));
    });
  }

  async function load() {
    let connection;
    try {
      connection = await api.showEnhanced(project, id);
    } catch (error) {
      if (ctx.signal.aborted) return;
      fail(error, 'Could not show the connection');
      return;
    }
    if (ctx.signal.aborted) return;
    shown = connection;
    ctx.title(`${connection.name} · enhanced connections · ${project}`);
    clear(heading).append(connection.name, ' ', badge(connection.status, { id: 'enhanced-status' }));
    const shared = connection.isPrivis === undefined ? '—' : connection.isPrivis ? 'no' : 'yes, with other projects';
    const item = (label, value) => [h('dt', {}, label), h('dd', {}, value)];
    clear(fields).append(h('dl', { class: 'fields' },
      item('ID', h('code', {}, connection.id)),
      item('VPC', text(connection.dest_vpc_id)),
      item('Subnet', text(connection.dest_network_id)),
      item('Shared', shared),
      item('Created', time(connection.create_time))));
    clear(bindingsRegion).append(table('enhanced-bindings-table', 'Bound queues and pools',
      ['Kind', 'Name', 'Status', 'Checked from', 'Error', 'Actions'], bindingRows(connection), 'No queue or pool is bound.'));
    clear(hostsRegion).append(table('enhanced-hosts-table', 'Host entries', ['Host', 'IP'],
      (connection.hosts ?? []).map((host) => h('tr', { 'data-host': host.name },
        h('th', { scope: 'row', 'data-label': 'Host' }, host.name), cell('IP', h('code', {}, host.ip)))),
      'No host entries.'));
    clear(routesRegion).append(table('enhanced-routes-table', 'Routes', ['Route', 'CIDR', 'Created', 'Actions'],
      routeRows(connection), 'No routes.'));
    creating = [...(connection.available_queue_info ?? []), ...(connection.elastic_resource_pools ?? [])]
      .some((binding) => binding.status === 'CREATING');
  }

  const fresh = ctx.live({
    load,
    // A binding's set-up event names it by its peer_id: `<peer_id>/<queue or pool>`.
    relevant: (event) => event.resource_id === id || event.resource_id.startsWith(`${id}/`)
      || [...(shown?.available_queue_info ?? []), ...(shown?.elastic_resource_pools ?? [])]
        .some((binding) => binding.peer_id && event.resource_id === `${binding.peer_id}/${binding.name}`),
    pending: () => creating,
    pollMs: CREATING_POLL_MS,
  });

  // Bind a queue (by name; the server answers an unknown one with DLI.0002).
  const bindId = uid('enhanced-bind');
  const bindInput = h('input', { id: bindId, name: 'queue', type: 'text', autocomplete: 'off', spellcheck: 'false', list: `${bindId}-list`, 'aria-describedby': `${bindId}-hint` });
  const suggestions = h('datalist', { id: `${bindId}-list` });
  const bindButton = h('button', { type: 'submit', class: 'btn btn-primary', id: 'enhanced-bind-submit' }, 'Bind');
  const bindForm = h('form', { id: 'enhanced-bind-form', class: 'inline-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: bindId }, 'Bind a queue'),
      h('p', { class: 'hint', id: `${bindId}-hint` }, 'A queue of this project (not default).'),
      h('div', { class: 'input-row' }, bindInput, bindButton), suggestions));
  bindForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const queue = bindInput.value.trim();
    if (queue === '') { bindInput.focus(); return; }
    if (await change(bindButton, `Could not bind ${queue}`, async () => {
      await api.bindEnhanced(project, id, { queues: [queue] });
      ctx.flash(`Bound queue ${queue}.`);
    })) bindInput.value = '';
  });

  // Add a route.
  const routeNameId = uid('route-name');
  const routeCidrId = uid('route-cidr');
  const routeName = h('input', { id: routeNameId, name: 'name', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const routeCidr = h('input', { id: routeCidrId, name: 'cidr', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: '10.169.0.0/24' });
  const routeButton = h('button', { type: 'submit', class: 'btn btn-primary', id: 'enhanced-route-submit' }, 'Add route');
  const routeForm = h('form', { id: 'enhanced-route-form', class: 'inline-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: routeNameId }, 'Route name'), routeName),
    h('div', { class: 'field' }, h('label', { for: routeCidrId }, 'CIDR'), routeCidr),
    h('div', { class: 'filter-actions' }, routeButton));
  routeForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const route = { name: routeName.value.trim(), cidr: routeCidr.value.trim() };
    if (await change(routeButton, `Could not add route ${route.name}`, async () => {
      await api.addEnhancedRoute(project, id, route);
      ctx.flash(`Added route ${route.name}.`);
    })) {
      routeName.value = '';
      routeCidr.value = '';
    }
  });

  append(ctx.main,
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' },
      h('a', { href: listHref, id: 'enhanced-detail-back' }, 'Enhanced connections'),
      h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { 'aria-current': 'page' }, id)),
    h('div', { class: 'page-head' }, heading),
    fields,
    problems,
    h('section', { class: 'enhanced-section', 'aria-labelledby': 'enhanced-bindings-title' },
      h('h2', { id: 'enhanced-bindings-title' }, 'Bindings'), bindingsRegion, bindForm),
    h('section', { class: 'enhanced-section', 'aria-labelledby': 'enhanced-hosts-title' },
      h('h2', { id: 'enhanced-hosts-title' }, 'Host entries'), hostsRegion),
    h('section', { class: 'enhanced-section', 'aria-labelledby': 'enhanced-routes-title' },
      h('h2', { id: 'enhanced-routes-title' }, 'Routes'), routesRegion, routeForm));

  await fresh.refresh();
  api.listQueues(project).then((answer) => {
    if (ctx.signal.aborted) return;
    for (const queue of answer.queues ?? []) {
      if (queue.queue_name !== 'default') suggestions.append(h('option', { value: queue.queue_name }));
    }
  }, () => {});
}
