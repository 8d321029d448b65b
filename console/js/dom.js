// Small DOM helpers. Everything is built with createElement and text nodes: no HTML
// strings, so names and messages from the server are always shown as text (the page's
// Content-Security-Policy also turns innerHTML and friends off).

/** Appends children: nodes, strings (as text), arrays of them; null/false are skipped. */
export function append(parent, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/**
 * `h('button', {class: 'btn', onclick: fn, disabled: true}, 'Save')`. Attributes that
 * are null, undefined or false are left out; `on*` functions become listeners; `value`
 * and `checked` are set as properties after the children (so a select finds its option).
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  const late = [];
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'value' || name === 'checked') {
      late.push([name, value]);
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  for (const [name, value] of late) element[name] = value;
  return element;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

let idCounter = 0;
/** A page-unique id for label/aria wiring. */
export function uid(prefix = 'id') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

export const STATES = ['CREATING', 'ACTIVE', 'FAILED', 'DELETED'];
export const SERVICES = ['CloudTable', 'CloudTable.OpenTSDB', 'MRS.OpenTSDB', 'DWS', 'RDS', 'CSS'];
export const DEFAULT_PORTS = {
  CloudTable: 2181, 'CloudTable.OpenTSDB': 4242, 'MRS.OpenTSDB': 4242, DWS: 8000, RDS: 3306, CSS: 9200,
};

/** A coloured state badge; the state is always written out, colour only adds to it. */
export function badge(state, extra = {}) {
  const known = typeof state === 'string' && state.length > 0;
  return h('span', { class: `badge badge-${known ? state.toLowerCase() : 'none'}`, ...extra }, known ? state : '—');
}

/** A progress bar for `process` (0.0-1.0), labelled with the percentage. */
export function progress(process, state, label) {
  const value = Math.max(0, Math.min(1, Number(process) || 0));
  const percent = `${Math.round(value * 100)} %`;
  return h('span', { class: 'progress' },
    h('progress', {
      class: `progress-${(state || 'none').toLowerCase()}`,
      max: '1',
      value: String(value),
      'aria-label': label ? `${label}: ${percent}` : percent,
    }),
    h('span', { class: 'progress-text', 'aria-hidden': 'true' }, percent));
}

/** Local date and time of epoch milliseconds, in a <time> element; "—" when unset. */
export function time(ms) {
  if (ms === null || ms === undefined || ms === 0) return h('span', { class: 'muted' }, '—');
  const date = new Date(ms);
  return h('time', { datetime: date.toISOString(), title: date.toISOString() }, formatTime(ms));
}

/** Like time(), as two unbreakable parts (date, then clock) that wrap between them. */
export function compactTime(ms) {
  if (!ms) return h('span', { class: 'muted' }, '—');
  const date = new Date(ms);
  return h('time', { datetime: date.toISOString(), title: date.toISOString(), class: 'when' },
    h('span', {}, date.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })), ' ',
    h('span', {}, date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' })));
}

/** How long ago epoch milliseconds `ms` were, at `now`: "just now", "42 s ago", "3 min ago". */
export function relativeTime(ms, now = Date.now()) {
  const seconds = Math.floor((now - ms) / 1000);
  if (seconds < 5) return 'just now'; // also a clock a little ahead of this browser's
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

/** A relative time in a <time> element with the exact time as its title; refresh() re-reads it. */
export function since(ms) {
  if (!ms) return h('span', { class: 'muted' }, '—');
  const date = new Date(ms);
  return h('time', {
    datetime: date.toISOString(), title: formatTime(ms), 'data-since': String(ms),
  }, relativeTime(ms));
}

/** Brings every since() under `root` up to date (they are not redrawn otherwise). */
export function refreshSince(root) {
  const now = Date.now();
  for (const element of root.querySelectorAll('time[data-since]')) {
    element.textContent = relativeTime(Number(element.dataset.since), now);
  }
}

export function formatTime(ms) {
  return new Date(ms).toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

/** Text, or a muted dash when empty. */
export function text(value) {
  if (value === null || value === undefined || value === '') return h('span', { class: 'muted' }, '—');
  return String(value);
}

/** The connection address list, one endpoint a line so long lists wrap readably. */
export function endpointList(value) {
  if (!value) return text(value);
  return h('span', { class: 'endpoints' }, value.split(',').map((endpoint, i, all) => [
    h('code', {}, endpoint.trim()), i < all.length - 1 ? h('span', { class: 'sep' }, ', ') : null,
  ]));
}

export function tagList(tags) {
  if (!tags || tags.length === 0) return text('');
  return h('ul', { class: 'tags', 'aria-label': 'Tags' },
    tags.map((tag) => h('li', { class: 'tag' }, tag.value === '' ? tag.key : `${tag.key}=${tag.value}`)));
}

/** An alert box for an error message (the server's error_msg). */
export function errorBox(message, { id, title = 'The request was refused' } = {}) {
  return h('div', { class: 'alert alert-error', role: 'alert', id, tabindex: '-1' },
    h('strong', {}, `${title}: `), message);
}

/** A readable message for anything thrown, preferring the server's error_msg. */
export function messageOf(error) {
  if (error && typeof error.message === 'string' && error.message) return error.message;
  return String(error);
}

/** The server's message, with its DLI code when it has one (it says which rule refused). */
export function refusal(error) {
  const message = messageOf(error);
  return typeof error?.code === 'string' && error.code.startsWith('DLI.') ? `${message} (${error.code})` : message;
}

/**
 * The error line under a form field: `show(message)` fills it and marks the input
 * invalid (screen readers read it with the hint), `show('')` clears both.
 */
export function fieldError(input) {
  const hintId = input.getAttribute('aria-describedby') ?? '';
  const element = h('p', { class: 'field-error', id: `${input.id}-error`, hidden: true });
  const show = (message) => {
    element.textContent = message ?? '';
    element.hidden = !message;
    if (message) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', `${hintId} ${element.id}`.trim());
    } else {
      input.removeAttribute('aria-invalid');
      if (hintId) input.setAttribute('aria-describedby', hintId); else input.removeAttribute('aria-describedby');
    }
  };
  return { element, show };
}

/** Which of `fields` a server message is about: the first whose words it mentions. */
export function fieldOfMessage(message, fields) {
  const lower = String(message ?? '').toLowerCase();
  const found = fields.find(({ words }) => words.some((word) => lower.includes(word)));
  return found ? found.name : null;
}
