// The create form. Hints and messages mirror the API's rules; the server decides, and
// its error_msg is shown when it refuses.

import { api } from '../api.js';
import { append, clear, errorBox, h, messageOf, SERVICES, uid } from '../dom.js';
import * as validate from '../validate.js';

const FIELDS = [
  {
    name: 'name', label: 'Name', hint: '1 to 64 letters, digits, ‘_’ and ‘-’; unique among the project’s connections.',
    check: (v) => validate.connectionName(v),
  },
  {
    name: 'service', label: 'Service', kind: 'select', hint: 'The kind of data source the connection leads to.',
    check: (v) => validate.service(v),
  },
  {
    name: 'url', label: 'Address (url)', hint: '',
    check: (v) => validate.url(v),
  },
  {
    name: 'security_group_id', label: 'Security group id', hint: 'Required, at most 64 characters.',
    check: (v) => validate.networkRef('security_group_id', v),
  },
  {
    name: 'network_id', label: 'Network id', hint: 'Required, at most 64 characters.',
    check: (v) => validate.networkRef('network_id', v),
  },
  {
    name: 'tags', label: 'Tags (optional)', kind: 'textarea',
    hint: 'key=value, one per line or separated by commas; at most 20. Letters, digits, spaces and _ . : = + - @.',
    check: (v) => validate.tags(v).error,
  },
  {
    name: 'queues', label: 'Queues to bind (optional)',
    hint: 'Queue names of lower-case letters, digits and ‘_’, separated by commas or spaces; not “default”.',
    check: (v) => validate.queues(v).error,
  },
];

/** Which field a server message is about, from how it starts. */
function fieldOfMessage(message) {
  const prefixes = [['name', 'name'], ['service', 'service'], ['url', 'url'], ['security_group_id', 'security_group_id'],
    ['network_id', 'network_id'], ['tag', 'tags'], ['at most 20 tags', 'tags'], ['queue', 'queues'], ['the queue', 'queues'],
    ['a connection named', 'name']];
  const found = prefixes.find(([prefix]) => message.toLowerCase().startsWith(prefix));
  return found ? found[1] : null;
}

export async function render(ctx) {
  const { project } = ctx.params;
  const listHref = `#/p/${encodeURIComponent(project)}`;
  ctx.title('New connection');

  const controls = {};
  const errors = {};
  const hints = {};
  const rows = FIELDS.map((spec) => {
    const id = uid(`create-${spec.name}`);
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    const common = {
      id, name: spec.name, 'aria-describedby': hintId, autocomplete: 'off', spellcheck: 'false',
      required: spec.label.includes('optional') ? null : true,
    };
    let control;
    if (spec.kind === 'select') {
      control = h('select', common,
        h('option', { value: '' }, 'Choose a service'),
        SERVICES.map((service) => h('option', { value: service }, service)));
    } else if (spec.kind === 'textarea') {
      control = h('textarea', { ...common, rows: '3', placeholder: 'env=prod\nteam=data' });
    } else {
      control = h('input', { ...common, type: 'text' });
    }
    controls[spec.name] = control;
    errors[spec.name] = h('p', { class: 'field-error', id: errorId, hidden: true });
    hints[spec.name] = h('p', { class: 'hint', id: hintId }, spec.hint);
    return h('div', { class: 'field', 'data-field': spec.name },
      h('label', { for: id }, spec.label), hints[spec.name], control, errors[spec.name]);
  });

  const showError = (name, message) => {
    const control = controls[name];
    const error = errors[name];
    const hintId = hints[name].id;
    if (message) {
      error.textContent = message;
      error.hidden = false;
      control.setAttribute('aria-invalid', 'true');
      control.setAttribute('aria-describedby', `${hintId} ${error.id}`);
    } else {
      error.textContent = '';
      error.hidden = true;
      control.removeAttribute('aria-invalid');
      control.setAttribute('aria-describedby', hintId);
    }
  };
  const check = (spec) => {
    const message = spec.check(controls[spec.name].value);
    showError(spec.name, message);
    return message;
  };

  const urlHint = () => {
    const service = controls.service.value;
    const port = validate.defaultPort(service);
    hints.url.textContent = `Endpoints as host[:port] (DNS name, IPv4 or [IPv6]), separated by commas; at most 512 characters. `
      + (port ? `Without a port, ${service} uses ${port}.` : 'Without a port, the service’s default port is used.');
  };
  urlHint();
  controls.service.addEventListener('change', () => {
    urlHint();
    if (controls.service.getAttribute('aria-invalid')) check(FIELDS[1]);
  });
  for (const spec of FIELDS) {
    // Hints appear once a field is left, and clear as soon as it is fixed.
    controls[spec.name].addEventListener('blur', () => {
      if (controls[spec.name].value !== '' || controls[spec.name].getAttribute('aria-invalid')) check(spec);
    });
    controls[spec.name].addEventListener('input', () => {
      if (controls[spec.name].getAttribute('aria-invalid')) check(spec);
    });
  }

  const status = h('div', { class: 'form-status', id: 'create-status' });
  const testOutput = h('div', { id: 'definition-test', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'create-submit' }, 'Create connection');
  const tryButton = h('button', { type: 'button', class: 'btn btn-secondary', id: 'create-try' }, 'Check reachability');
  const form = h('form', { class: 'card create-form', novalidate: true, 'aria-labelledby': 'create-title' },
    status, rows, testOutput,
    h('div', { class: 'actions' }, submit, tryButton, h('a', { href: listHref, class: 'btn btn-link' }, 'Cancel')));

  const firstInvalid = () => {
    let first = null;
    for (const spec of FIELDS) if (check(spec) && !first) first = controls[spec.name];
    return first;
  };

  tryButton.addEventListener('click', async () => {
    clear(status);
    clear(testOutput);
    const invalid = [FIELDS[1], FIELDS[2]].find((spec) => check(spec));
    if (invalid) {
      controls[invalid.name].focus();
      return;
    }
    tryButton.disabled = true;
    tryButton.textContent = 'Checking…';
    try {
      const result = await api.testDefinition(project, { service: controls.service.value, url: controls.url.value });
      const lines = result.endpoints.map((e) => h('li', {}, h('code', {}, e.address ?? e.endpoint), ': ',
        e.outcome === 'REACHABLE' ? `reachable in ${e.latency_ms} ms` : `${e.reason ?? 'unreachable'}: ${e.message}`));
      testOutput.append(h('div', { class: `alert ${result.connectivity === 'REACHABLE' ? 'alert-ok' : 'alert-warn'}` },
        h('strong', {}, result.connectivity === 'REACHABLE' ? 'Reachable' : 'Not reachable'), ' (nothing was saved)',
        h('ul', {}, lines)));
    } catch (error) {
      status.append(errorBox(messageOf(error), { title: 'The check was refused' }));
    } finally {
      tryButton.disabled = false;
      tryButton.textContent = 'Check reachability';
    }
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(status);
    const invalid = firstInvalid();
    if (invalid) {
      status.append(h('p', { class: 'alert alert-error', role: 'alert' }, 'Some fields need attention; see the messages below them.'));
      invalid.focus();
      return;
    }
    const value = (name) => controls[name].value;
    const body = {
      name: value('name'),
      service: value('service'),
      url: value('url'),
      security_group_id: value('security_group_id'),
      network_id: value('network_id'),
    };
    const { tags } = validate.tags(value('tags'));
    if (tags.length > 0) body.tags = tags;
    const { queues } = validate.queues(value('queues'));
    if (queues.length > 0) body.queues = queues;
    submit.disabled = true;
    submit.textContent = 'Creating…';
    try {
      const answer = await api.create(project, body);
      ctx.flash(`Created connection ${body.name}; checking that its address is reachable.`);
      ctx.navigate(`#/p/${encodeURIComponent(project)}/c/${encodeURIComponent(answer.connection_id)}`);
    } catch (error) {
      submit.disabled = false;
      submit.textContent = 'Create connection';
      const message = messageOf(error);
      const box = errorBox(message, { title: 'The server refused the connection', id: 'create-error' });
      status.append(box);
      const name = fieldOfMessage(message);
      if (name) showError(name, message);
      box.focus();
    }
  });

  append(ctx.main,
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' },
      h('a', { href: listHref }, 'Connections'), h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { 'aria-current': 'page' }, 'New')),
    h('h1', { id: 'create-title', tabindex: '-1' }, 'New connection'),
    h('p', { class: 'lead' }, 'The connection is created at once and checked in the background: it becomes ACTIVE when one of its addresses answers, FAILED otherwise.'),
    form);
  controls.name.focus();
}
