// Client-side hints that mirror the API's rules and messages (src/domain). The server
// stays the authority: whatever it refuses, the console shows its error_msg.

import { DEFAULT_PORTS, SERVICES } from './dom.js';

const chars = (text) => [...text].length;

/** A value quoted as the server quotes it: at most 80 characters, then "...". */
function quoted(value) {
  const shown = [...value].slice(0, 80).join('');
  const escaped = shown.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
  return `"${escaped}"${chars(value) > 80 ? '...' : ''}`;
}

const NAME_CHARS = /^[A-Za-z0-9_-]*$/;

export function connectionName(raw) {
  const length = chars(raw);
  if (length === 0) return 'name must not be empty';
  if (length > 64) return `name must be at most 64 characters, got ${length}`;
  if (!NAME_CHARS.test(raw)) return `name may contain only letters, digits, '_' and '-', got ${quoted(raw)}`;
  return null;
}

export function projectId(raw) {
  const length = chars(raw);
  if (length < 1 || length > 64 || !NAME_CHARS.test(raw)) {
    return `project_id must be 1 to 64 characters of letters, digits, '_' and '-', got ${quoted(raw)}`;
  }
  return null;
}

export function service(raw) {
  const found = SERVICES.find((known) => known.toLowerCase() === raw.trim().toLowerCase());
  return found ? null : `service must be one of ${SERVICES.join(', ')}, got ${quoted(raw)}`;
}

/** security_group_id and network_id. */
export function networkRef(field, raw) {
  if (raw.trim() === '') return `${field} must not be empty`;
  const length = chars(raw);
  if (length > 64) return `${field} must be at most 64 characters, got ${length}`;
  if (/\p{Cc}/u.test(raw)) return `${field} must not contain control characters`;
  return null;
}

function ipv4(host) {
  const parts = host.split('.');
  return parts.length === 4 && parts.every((part) => /^(0|[1-9][0-9]{0,2})$/.test(part) && Number(part) <= 255);
}

function ipv6(inside) {
  if (!/^[0-9A-Fa-f:.]+$/.test(inside) || !inside.includes(':')) return false;
  try {
    return new URL(`http://[${inside}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

function hostProblem(host) {
  if (host === '') return 'the host is empty';
  if (/^[0-9.]+$/.test(host)) return ipv4(host) ? null : 'not a valid IPv4 address';
  if (host.length > 253) return 'a host name has at most 253 characters';
  const labelsOk = host.split('.').every((label) => label.length >= 1 && label.length <= 63
    && /^[A-Za-z0-9-]+$/.test(label) && !label.startsWith('-') && !label.endsWith('-'));
  return labelsOk ? null
    : "a host name is dot-separated labels of 1 to 63 letters, digits and '-', not starting or ending with '-'";
}

function endpointProblem(raw) {
  const invalid = (why) => `url endpoint ${quoted(raw)} is invalid: ${why}`;
  if (raw.includes('://')) return invalid('give host:port without a scheme, e.g. db.example.com:3306');
  let port = null;
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close < 0) return invalid("an IPv6 address needs a closing ']'");
    if (!ipv6(raw.slice(1, close))) return invalid('not a valid IPv6 address');
    const after = raw.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) return invalid("expected ':port' after ']'");
      port = after.slice(1);
    }
  } else {
    const colon = raw.indexOf(':');
    const host = colon < 0 ? raw : raw.slice(0, colon);
    port = colon < 0 ? null : raw.slice(colon + 1);
    if (port !== null && port.includes(':')) return invalid('write an IPv6 address in brackets, e.g. [::1]:3306');
    const problem = hostProblem(host);
    if (problem) return invalid(problem);
  }
  if (port !== null && !(/^[0-9]+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
    return invalid('the port must be a number from 1 to 65535');
  }
  return null;
}

/** The url: comma-separated host[:port] endpoints, at most 512 characters. */
export function url(raw) {
  const length = chars(raw);
  if (length > 512) return `url must be at most 512 characters, got ${length}`;
  if (raw.trim() === '') return 'url must list at least one endpoint as host[:port]';
  for (const item of raw.split(',').map((part) => part.trim())) {
    if (item === '') return 'url has an empty endpoint: separate endpoints with single commas';
    const problem = endpointProblem(item);
    if (problem) return problem;
  }
  return null;
}

export function defaultPort(serviceName) {
  return DEFAULT_PORTS[serviceName];
}

const TAG_CHAR = /^[\p{Alphabetic}\p{N} _.:=+\-@]$/u;

function tagTextProblem(what, text, min, max) {
  const length = chars(text);
  if (length < min || length > max) return `${what} must be ${min} to ${max} characters, got ${length}`;
  const bad = [...text].find((c) => !TAG_CHAR.test(c));
  if (bad !== undefined) {
    return `${what} ${quoted(text)} contains '${bad}': use letters, digits, spaces and _ . : = + - @`;
  }
  if (text.startsWith(' ') || text.endsWith(' ')) return `${what} ${quoted(text)} must not start or end with a space`;
  return null;
}

/**
 * Parses the tags field: `key=value` items, one per line or separated by commas (a
 * tag never contains a comma). A bare `key` has the empty value. Returns
 * `{tags, error}`.
 */
export function tags(raw) {
  const items = raw.split(/[,\n]/).map((item) => item.trim()).filter((item) => item !== '');
  const parsed = items.map((item) => {
    const at = item.indexOf('=');
    return at < 0 ? { key: item, value: '' } : { key: item.slice(0, at).trim(), value: item.slice(at + 1).trim() };
  });
  if (parsed.length > 20) return { tags: parsed, error: `at most 20 tags are allowed, got ${parsed.length}` };
  const seen = new Set();
  for (const { key, value } of parsed) {
    const problem = tagTextProblem('tag key', key, 1, 128)
      ?? (key.startsWith('_sys_') ? `tag key ${quoted(key)} is reserved: keys must not start with _sys_` : null)
      ?? tagTextProblem('tag value', value, 0, 255);
    if (problem) return { tags: parsed, error: problem };
    if (seen.has(key)) return { tags: parsed, error: `tag key ${quoted(key)} appears more than once` };
    seen.add(key);
  }
  return { tags: parsed, error: null };
}

/** Queue names separated by commas or spaces. Returns `{queues, error}`. */
export function queues(raw, { required = false } = {}) {
  const names = [...new Set(raw.split(/[\s,]+/).filter((name) => name !== ''))];
  if (required && names.length === 0) return { queues: names, error: 'queues must list at least one queue name' };
  if (names.length > 100) return { queues: names, error: `at most 100 queues per request, got ${names.length}` };
  for (const name of names) {
    if (!/^[a-z0-9_]{1,128}$/.test(name)) {
      return { queues: names, error: `queue name must be 1 to 128 lower-case letters, digits and '_', got ${quoted(name)}` };
    }
    if (name === 'default') {
      return { queues: names, error: 'the queue "default" is shared and cannot be bound to a datasource connection' };
    }
  }
  return { queues: names, error: null };
}

/** A new queue's name, by DLI's rule (the server folds it to lower case). */
export function newQueueName(raw) {
  if (!/^[A-Za-z0-9_]{1,128}$/.test(raw)) return `queue_name must be 1 to 128 letters, digits and '_', got ${quoted(raw)}`;
  if (raw.startsWith('_') || /^[0-9]+$/.test(raw)) return `queue_name must not start with '_' or be only digits, got ${quoted(raw)}`;
  return null;
}

/** CreateQueue's cu_count: a whole number 1-32000. */
export function cuCount(raw) {
  const text = raw.trim();
  if (text === '') return 'cu_count is required';
  if (!/^[0-9]+$/.test(text) || Number(text) < 1 || Number(text) > 32000) return 'cu_count must be a whole number from 1 to 32000';
  return null;
}

/** A queue connection test's address: one host:port, the port required. */
export function testAddress(raw) {
  const text = raw.trim();
  if (text === '') return 'address must not be empty';
  if (text.includes(',')) return 'address is one host:port, not a list';
  const problem = endpointProblem(text);
  if (problem) return problem.replace(/^url endpoint/, 'address');
  const port = text.startsWith('[') ? text.slice(text.indexOf(']') + 1) : text.slice(text.lastIndexOf(':'));
  if (!/^:[0-9]+$/.test(port)) return 'address needs a port, as host:port (the test dials TCP and does not guess one)';
  return null;
}

/** A staged queue test's database, as the server's parse_database reads it. */
export function testDatabase(raw) {
  const fits = raw !== '' && chars(raw) <= 64 && !/[\p{Cc}'"`\\]/u.test(raw);
  return fits ? null : 'database must be 1-64 characters without quotes, backslashes or control characters';
}

/** The list's tags filter, `k1=v1,k2`: only what the server would refuse outright. */
export function tagFilter(raw) {
  if (raw.trim() === '') return null;
  const terms = raw.split(',');
  if (terms.some((term) => term.split('=')[0].trim() === '')) {
    return `tags filter ${quoted(raw)} has an empty key: write k1=v1,k2=v2 or k`;
  }
  if (terms.length > 20) return 'tags filter may have at most 20 terms';
  return null;
}
