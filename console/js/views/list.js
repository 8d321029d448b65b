// The connection list: filters (state, service, name, tags), sorting by creation time,
// paging. It reloads when the project's event stream tells of a change to a connection or
// a binding; while the stream is down, every two seconds while anything shown is being
// created.

import { api } from '../api.js';
import {
  append, badge, clear, compactTime, endpointList, errorBox, formatTime, h, messageOf, progress, SERVICES, STATES, text, uid,
} from '../dom.js';
import * as validate from '../validate.js';
import { rememberProject } from './projects.js';

export const REFRESH_MS = 2000;
const PAGE_SIZES = [10, 20, 50, 100];
const DEFAULT_SIZE = 20;
const LIVE = 'CREATING,ACTIVE,FAILED';

function readFilters(query) {
  const size = Number(query.get('size'));
  const page = Number(query.get('page'));
  return {
    name: query.get('name') ?? '',
    state: query.get('state') ?? '',
    service: query.get('service') ?? '',
    tags: query.get('tags') ?? '',
    order: query.get('order') === 'asc' ? 'asc' : 'desc',
    size: PAGE_SIZES.includes(size) ? size : DEFAULT_SIZE,
    page: Number.isInteger(page) && page > 1 ? page : 1,
  };
}

function listHref(project, filters) {
  const query = new URLSearchParams();
  for (const key of ['name', 'state', 'service', 'tags']) if (filters[key]) query.set(key, filters[key]);
  if (filters.order === 'asc') query.set('order', 'asc');
  if (filters.size !== DEFAULT_SIZE) query.set('size', String(filters.size));
  if (filters.page > 1) query.set('page', String(filters.page));
  const search = query.toString();
  return `#/p/${encodeURIComponent(project)}${search ? `?${search}` : ''}`;
}

function select(id, name, options, value) {
  return h('select', { id, name, value },
    options.map(([optionValue, label]) => h('option', { value: optionValue }, label)));
}

function filterForm(ctx, project, filters) {
  const ids = { name: uid('f-name'), state: uid('f-state'), service: uid('f-service'), tags: uid('f-tags'), size: uid('f-size') };
  const tagsHint = `${ids.tags}-hint`;
  const tagsError = h('p', { class: 'field-error', id: `${ids.tags}-error`, hidden: true });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter connections', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: ids.name }, 'Name contains'),
      h('input', { id: ids.name, name: 'name', type: 'search', value: filters.name, autocomplete: 'off', spellcheck: 'false' })),
    h('div', { class: 'field' },
      h('label', { for: ids.state }, 'State'),
      select(ids.state, 'state', [['', 'Any state'], [LIVE, 'Not deleted'], ...STATES.map((s) => [s, s])], filters.state)),
    h('div', { class: 'field' },
      h('label', { for: ids.service }, 'Service'),
      select(ids.service, 'service', [['', 'Any service'], ...SERVICES.map((s) => [s, s])], filters.service)),
    h('div', { class: 'field' },
      h('label', { for: ids.tags }, 'Tags'),
      h('input', {
        id: ids.tags, name: 'tags', type: 'text', value: filters.tags, placeholder: 'env=prod,team',
        autocomplete: 'off', spellcheck: 'false', 'aria-describedby': tagsHint,
      }),
      h('p', { class: 'hint', id: tagsHint }, 'key=value or key, comma-separated; all must match'),
      tagsError),
    h('div', { class: 'field field-narrow' },
      h('label', { for: ids.size }, 'Per page'),
      select(ids.size, 'size', PAGE_SIZES.map((n) => [String(n), String(n)]), String(filters.size))),
    h('div', { class: 'filter-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply filters'),
      h('a', { class: 'btn btn-secondary', href: listHref(project, { ...readFilters(new URLSearchParams()), order: filters.order }) }, 'Clear')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const tags = String(data.get('tags') ?? '').trim();
    const problem = validate.tagFilter(tags);
    const tagsInput = form.elements.namedItem('tags');
    if (problem) {
      tagsError.textContent = problem;
      tagsError.hidden = false;
      tagsInput.setAttribute('aria-invalid', 'true');
      tagsInput.setAttribute('aria-describedby', `${tagsHint} ${tagsError.id}`);
      tagsInput.focus();
      return;
    }
    ctx.navigate(listHref(project, {
      name: String(data.get('name') ?? '').trim(),
      state: String(data.get('state') ?? ''),
      service: String(data.get('service') ?? ''),
      tags,
      order: filters.order,
      size: Number(data.get('size')) || DEFAULT_SIZE,
      page: 1,
    }));
  });
  return form;
}

function queuesCell(connection) {
  if (!connection.queue_list || connection.queue_list.length === 0) return text('');
  return h('ul', { class: 'queue-names' }, connection.queue_list.map((name) => h('li', {}, name)));
}

/** How much of a FAILED connection's message the list shows (the detail page has all). */
const REASON_CHARS = 48;

/** The failure reason and the start of the message, under a FAILED row's state (a column
 * of its own would not fit 1280 px beside the addresses); empty otherwise. */
function reasonCell(connection) {
  if (connection.state !== 'FAILED' && !connection.failure_reason) return text('');
  const message = String(connection.message ?? '');
  const start = message.length > REASON_CHARS ? `${message.slice(0, REASON_CHARS - 1)}…` : message;
  return h('span', { class: 'reason', title: message },
    connection.failure_reason ? h('code', {}, connection.failure_reason) : null,
    start ? h('span', { class: 'reason-message' }, start) : null);
}

/** True when any filter narrows the list (then an empty list is "no match", not "none"). */
function filtered(filters) {
  return Boolean(filters.name || filters.state || filters.service || filters.tags);
}

/** The empty table's one row: what to do next. */
function emptyRow(project, filters, columns) {
  const content = filtered(filters)
    ? ['Nothing matches these filters. ',
      h('a', { href: listHref(project, { ...readFilters(new URLSearchParams()), order: filters.order }), id: 'empty-clear' }, 'Clear the filters'),
      ' to see every connection.']
    : ['This project has no connections yet. ',
      h('a', { href: `#/p/${encodeURIComponent(project)}/new`, id: 'empty-create' }, 'Create the first one'),
      ': a name, a service and the addresses to check.'];
  return h('tr', {}, h('td', { colspan: String(columns), class: 'empty', id: 'list-empty' }, ...content));
}

function table(project, filters, connections) {
  const nextOrder = filters.order === 'desc' ? 'asc' : 'desc';
  const sortHref = listHref(project, { ...filters, order: nextOrder, page: 1 });
  const headers = ['Name', 'State', 'Service', 'Connection address', 'Destination', 'Queues', 'Created', 'Progress'];
  const detailHref = (c) => `#/p/${encodeURIComponent(project)}/c/${encodeURIComponent(c.connection_id)}`;
  const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
  return h('table', { class: 'connections', id: 'connections-table' },
    h('caption', { class: 'visually-hidden' },
      `Datasource connections of project ${project}, ${filters.order === 'desc' ? 'newest' : 'oldest'} first`),
    h('thead', {}, h('tr', {}, headers.map((label) => (label === 'Created'
      ? h('th', { scope: 'col', 'aria-sort': filters.order === 'desc' ? 'descending' : 'ascending', class: 'col-created' },
        h('a', {
          href: sortHref,
          class: 'sort',
          id: 'sort-created',
          'aria-label': `Created, sorted ${filters.order === 'desc' ? 'newest' : 'oldest'} first; sort ${nextOrder === 'desc' ? 'newest' : 'oldest'} first`,
        }, 'Created', h('span', { class: 'sort-arrow', 'aria-hidden': 'true' }, filters.order === 'desc' ? ' ▼' : ' ▲')))
      : h('th', { scope: 'col' }, label))))),
    h('tbody', {}, connections.length === 0
      ? emptyRow(project, filters, headers.length)
      : connections.map((c) => h('tr', { 'data-id': c.connection_id, 'data-state': c.state, class: `row-${c.state.toLowerCase()}` },
        h('th', { scope: 'row', 'data-label': 'Name' },
          h('a', { href: detailHref(c), 'data-key': `open-${c.connection_id}`, class: 'conn-name' }, c.name)),
        cell('State', badge(c.state), reasonCell(c)),
        cell('Service', c.service),
        cell('Connection address', endpointList(c.connection_url)),
        cell('Destination', endpointList(c.destination)),
        cell('Queues', queuesCell(c)),
        cell('Created', compactTime(c.create_time)),
        cell('Progress', progress(c.process, c.state, `Progress of ${c.name}`))))));
}

function pager(project, filters, count) {
  const pages = Math.max(1, Math.ceil(count / filters.size));
  const page = Math.min(filters.page, pages);
  const link = (label, target, rel, disabled) => (disabled
    ? h('span', { class: 'btn btn-secondary', 'aria-disabled': 'true' }, label)
    : h('a', { class: 'btn btn-secondary', href: listHref(project, { ...filters, page: target }), rel }, label));
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    link('‹ Previous', page - 1, 'prev', page <= 1),
    h('span', { class: 'page-of', id: 'page-of' }, `Page ${page} of ${pages}`),
    link('Next ›', page + 1, 'next', page >= pages));
}

export async function render(ctx) {
  const { project } = ctx.params;
  const filters = readFilters(ctx.params.query ?? new URLSearchParams());
  rememberProject(project);
  ctx.title(`Connections · ${project}`);

  const summary = h('p', { class: 'summary', id: 'list-summary', 'aria-live': 'polite' }, 'Loading…');
  const problems = h('div', { class: 'problems' });
  const region = h('div', { class: 'table-wrap', id: 'list-region' });
  const pagerSlot = h('div');
  append(ctx.main,
    h('div', { class: 'page-head' },
      h('h1', { tabindex: '-1' }, 'Connections'),
      h('span', { class: 'head-actions' },
        h('a', { class: 'btn btn-secondary', href: `#/p/${encodeURIComponent(project)}/queues`, id: 'queues-link' }, 'Queues'),
        h('a', { class: 'btn btn-secondary', href: `#/p/${encodeURIComponent(project)}/enhanced`, id: 'enhanced-link' }, 'Enhanced connections'),
        h('a', { class: 'btn btn-primary', href: `#/p/${encodeURIComponent(project)}/new`, id: 'new-connection' }, '+ New connection'))),
    filterForm(ctx, project, filters),
    summary,
    problems,
    region,
    pagerSlot);

  let busy = false;
  let updatedAt = null;
  let shown = null; // {count, first, last}
  const showSummary = () => {
    if (!shown) return;
    const how = fresh.live ? ' · live: changes show as they happen'
      : busy ? ' · refreshing every 2 s while one is being created' : '';
    summary.textContent = shown.count === 0
      ? ''
      : `${shown.count} connection${shown.count === 1 ? '' : 's'} · showing ${shown.first}–${shown.last}`
        + ` · updated ${formatTime(updatedAt)}${how}`;
  };
  const load = async () => {
    let answer;
    try {
      answer = await api.list(project, [
        ['limit', String(filters.size)],
        ['offset', String((filters.page - 1) * filters.size)],
        ['order', filters.order],
        ['name', filters.name],
        ['state', filters.state],
        ['service', filters.service],
        ['tags', filters.tags],
      ]);
    } catch (error) {
      if (ctx.signal.aborted) return;
      clear(problems).append(errorBox(messageOf(error), { title: 'Could not list connections' }));
      summary.textContent = '';
      shown = null;
      if (error.status === 0 || error.status === 429 || error.status >= 500) ctx.later(REFRESH_MS * 2, () => fresh.refresh());
      return;
    }
    if (ctx.signal.aborted) return;
    clear(problems);
    const { count, connections } = answer;
    if (connections.length === 0 && count > 0 && filters.page > 1) {
      // Past the end (connections were deleted meanwhile): show the last page instead.
      ctx.navigate(listHref(project, { ...filters, page: Math.ceil(count / filters.size) }), { replace: true });
      return;
    }
    busy = connections.some((c) => c.state === 'CREATING'
      || (c.available_queue_info ?? []).some((q) => q.status === 'CREATING'));
    shown = {
      count,
      first: count === 0 ? 0 : (filters.page - 1) * filters.size + 1,
      last: (filters.page - 1) * filters.size + connections.length,
    };
    updatedAt = Date.now();
    showSummary();
    const focusedKey = region.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    clear(region).append(table(project, filters, connections));
    if (focusedKey) region.querySelector(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
    clear(pagerSlot).append(pager(project, filters, count));
    region.dataset.busy = busy ? 'true' : 'false';
  };
  const fresh = ctx.live({
    load,
    relevant: (event) => event.resource_type === 'connection' || event.resource_type === 'binding',
    pending: () => busy,
    pollMs: REFRESH_MS,
    onLive: showSummary,
  });
  await fresh.refresh();
}
