// A project's enhanced connections (DLI's current connection API): the list with a
// status filter (ACTIVE, as DLI's console shows, or DELETED), and the create form (name,
// VPC, subnet, the project's queues and pools to bind, host entries). The list reloads
// when the project's event stream tells of a change to an enhanced connection or binding.

import { api } from '../api.js';
import {
  append, badge, clear, compactTime, errorBox, fieldError, fieldOfMessage, h, messageOf, text, uid,
} from '../dom.js';
import { rememberProject } from './projects.js';

const STATUSES = ['ACTIVE', 'DELETED'];
const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The server's message, with its DLI code when it has one. */
export function refusal(error) {
  const message = messageOf(error);
  return typeof error?.code === 'string' && error.code.startsWith('DLI.') ? `${message} (${error.code})` : message;
}

/** Bindings as `name` + status badge, one a line; a muted dash for none. */
function bindingList(bindings, what) {
  if (!bindings || bindings.length === 0) return text('');
  return h('ul', { class: 'bindings-inline', 'aria-label': what },
    bindings.map((binding) => h('li', { 'data-binding': binding.name }, binding.name, ' ', badge(binding.status))));
}

/**
 * Host entries typed one a line as `name ip` or `name=ip`; blank lines are skipped.
 * Returns {hosts} or {problem}. The server checks names and addresses.
 */
export function parseHosts(raw) {
  const hosts = [];
  const lines = String(raw ?? '').split('\n');
  for (const [index, line] of lines.entries()) {
    const entry = line.trim();
    if (entry === '') continue;
    const parts = entry.split(/[\s=]+/);
    if (parts.length !== 2) return { problem: `line ${index + 1}: write one host a line as “name ip”` };
    hosts.push({ name: parts[0], ip: parts[1] });
  }
  return { hosts };
}

/** A fieldset of checkboxes, one per name; `none` is shown when there are none. */
function checkboxes(legend, names, field, none) {
  const set = h('fieldset', { class: 'field choices', 'data-field': field }, h('legend', {}, legend));
  if (names.length === 0) append(set, h('p', { class: 'hint' }, none));
  for (const name of names) {
    const id = uid(field);
    append(set, h('label', { class: 'choice', for: id },
      h('input', { type: 'checkbox', id, name: field, value: name }), ' ', name));
  }
  return set;
}

function createForm(ctx, project, queueNames, poolNames) {
  const nameId = uid('enhanced-name');
  const vpcId = uid('enhanced-vpc');
  const subnetId = uid('enhanced-subnet');
  const hostsId = uid('enhanced-hosts');
  // Each field's error line sits under it; the refusal's box stays above the button.
  const errors = {};
  const field = (id, label, hint, input) => {
    errors[input.name] = fieldError(input);
    return h('div', { class: 'field', 'data-field': input.name },
      h('label', { for: id }, label), h('p', { class: 'hint', id: `${id}-hint` }, hint), input, errors[input.name].element);
  };
  const input = (id, name) => h('input', {
    id, name, type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': `${id}-hint`,
  });
  const nameInput = input(nameId, 'name');
  const vpcInput = input(vpcId, 'dest_vpc_id');
  const subnetInput = input(subnetId, 'dest_network_id');
  const hostsInput = h('textarea', { id: hostsId, name: 'hosts', rows: '3', spellcheck: 'false', 'aria-describedby': `${hostsId}-hint` });
  const problems = h('div', { id: 'enhanced-create-error-slot' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'enhanced-create-submit' }, 'Create enhanced connection');
  const form = h('form', { id: 'enhanced-create-form', novalidate: true, 'aria-labelledby': 'enhanced-create-title' },
    h('h2', { id: 'enhanced-create-title' }, 'New enhanced connection'),
    field(nameId, 'Name', '1-64 letters, digits, ‘_’ and ‘-’; unique among the project’s live ones.', nameInput),
    field(vpcId, 'VPC id', 'The data source’s VPC.', vpcInput),
    field(subnetId, 'Subnet id', 'The data source’s subnet.', subnetInput),
    checkboxes('Queues to bind', queueNames, 'queues', 'The project has no queue that can be bound.'),
    checkboxes('Elastic resource pools to bind', poolNames, 'pools', 'The project has no elastic resource pools.'),
    field(hostsId, 'Host entries', 'Optional: one a line, “name ip” (e.g. db-primary 192.168.0.10).', hostsInput),
    h('div', { class: 'filter-actions' }, submit),
    problems);

  // Which field a server refusal is about, by the words its message uses.
  const MESSAGE_FIELDS = [
    { name: 'hosts', words: ['host'] },
    { name: 'dest_vpc_id', words: ['dest_vpc_id', 'vpc'] },
    { name: 'dest_network_id', words: ['dest_network_id', 'subnet'] },
    // Bindings are checkboxes: their refusal stays in the box (and must not go to the name).
    { name: 'queues', words: ['queue', 'pool'] },
    { name: 'name', words: ['name'] },
  ];
  const refuse = (message, focus) => {
    const box = errorBox(message, { id: 'enhanced-create-error', title: 'The connection was not created' });
    clear(problems).append(box);
    const about = focus?.name ?? fieldOfMessage(message, MESSAGE_FIELDS);
    if (errors[about]) errors[about].show(message);
    (focus ?? box).focus();
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(problems);
    for (const error of Object.values(errors)) error.show('');
    const name = nameInput.value.trim();
    if (!NAME_PATTERN.test(name)) { refuse('the name must be 1-64 letters, digits, ‘_’ or ‘-’', nameInput); return; }
    const parsed = parseHosts(hostsInput.value);
    if (parsed.problem) { refuse(`host entries: ${parsed.problem}`, hostsInput); return; }
    const checked = (group) => [...form.querySelectorAll(`input[name="${group}"]:checked`)].map((box) => box.value);
    const body = {
      name,
      dest_vpc_id: vpcInput.value.trim(),
      dest_network_id: subnetInput.value.trim(),
      queues: checked('queues'),
      elastic_resource_pools: checked('pools'),
      hosts: parsed.hosts,
    };
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    try {
      const { connection_id: id } = await api.createEnhanced(project, body);
      if (ctx.signal.aborted) return;
      ctx.flash(`Created enhanced connection ${name}.`);
      ctx.navigate(`#/p/${encodeURIComponent(project)}/enhanced/${encodeURIComponent(id)}`);
    } catch (error) {
      if (ctx.signal.aborted) return;
      refuse(refusal(error));
    } finally {
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
    }
  });
  return form;
}

export async function render(ctx) {
  const { project } = ctx.params;
  rememberProject(project);
  ctx.title(`Enhanced connections · ${project}`);
  const base = `#/p/${encodeURIComponent(project)}/enhanced`;
  const asked = (ctx.params.query?.get('status') ?? 'ACTIVE').toUpperCase();
  const status = STATUSES.includes(asked) ? asked : 'ACTIVE';

  const statusId = uid('enhanced-status');
  const select = h('select', { id: statusId, name: 'status' },
    STATUSES.map((value) => h('option', { value }, value)));
  select.value = status;
  select.addEventListener('change', () => ctx.navigate(`${base}?status=${select.value}`));
  const filter = h('form', { class: 'filters', id: 'enhanced-filter', role: 'search', 'aria-label': 'Filter enhanced connections' },
    h('div', { class: 'field field-narrow' }, h('label', { for: statusId }, 'Status'), select));
  filter.addEventListener('submit', (event) => event.preventDefault());

  const summary = h('p', { class: 'summary', id: 'enhanced-summary', 'aria-live': 'polite' }, 'Loading…');
  const problems = h('div', { class: 'problems', id: 'enhanced-problems' });
  const region = h('div', { class: 'table-wrap', id: 'enhanced-region' });
  const formSlot = h('section', { class: 'card', id: 'enhanced-create-card' });

  append(ctx.main,
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' },
      h('a', { href: `#/p/${encodeURIComponent(project)}`, id: 'enhanced-back' }, 'Connections'),
      h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { 'aria-current': 'page' }, 'Enhanced connections')),
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Enhanced connections')),
    h('p', { class: 'lead' }, 'A connection to a VPC and subnet that queues and elastic resource pools bind; each binding is set up where its queue’s checks run.'),
    filter, summary, problems, region, formSlot);

  const HEADERS = ['Name', 'Status', 'Queues', 'Pools', 'Hosts', 'Routes', 'Created'];
  const load = async () => {
    let answer;
    try {
      answer = await api.listEnhanced(project, [['status', status], ['limit', '0']]);
    } catch (error) {
      if (ctx.signal.aborted) return;
      summary.textContent = '';
      clear(problems).append(errorBox(refusal(error), { title: 'Could not list the enhanced connections' }));
      return;
    }
    if (ctx.signal.aborted) return;
    clear(problems);
    const connections = answer.connections ?? [];
    const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
    clear(region).append(h('table', { class: 'results', id: 'enhanced-table' },
      h('caption', { class: 'visually-hidden' }, `${status} enhanced connections of project ${project}`),
      h('thead', {}, h('tr', {}, HEADERS.map((label) => h('th', { scope: 'col' }, label)))),
      h('tbody', {}, connections.length === 0
        ? h('tr', {}, h('td', { colspan: String(HEADERS.length), class: 'empty' }, `No ${status} enhanced connections.`))
        : connections.map((connection) => h('tr', { 'data-id': connection.id, 'data-name': connection.name },
          h('th', { scope: 'row', 'data-label': 'Name' },
            h('a', { href: `${base}/${encodeURIComponent(connection.id)}` }, connection.name)),
          cell('Status', badge(connection.status)),
          cell('Queues', bindingList(connection.available_queue_info, `Queues of ${connection.name}`)),
          cell('Pools', bindingList(connection.elastic_resource_pools, `Pools of ${connection.name}`)),
          cell('Hosts', String(connection.hosts?.length ?? 0)),
          cell('Routes', String(connection.routes?.length ?? 0)),
          cell('Created', compactTime(connection.create_time)))))));
    summary.textContent = `${connections.length} ${status} enhanced connection${connections.length === 1 ? '' : 's'}`;
  };
  const fresh = ctx.live({
    load,
    relevant: (event) => event.resource_type === 'enhanced_connection' || event.resource_type === 'enhanced_binding',
  });
  await fresh.refresh();

  // The form offers the project's queues (not `default`, which cannot be bound) and pools;
  // if either list fails, that group is only empty: the server stays the authority.
  const [queues, pools] = await Promise.all([
    api.listQueues(project).then((a) => (a.queues ?? []).map((q) => q.queue_name).filter((n) => n !== 'default'), () => []),
    api.listPools(project).then((a) => (a.elastic_resource_pools ?? []).map((p) => p.elastic_resource_pool_name), () => []),
  ]);
  if (ctx.signal.aborted) return;
  formSlot.append(createForm(ctx, project, queues, pools));
}
