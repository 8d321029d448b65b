// The dsconn API as the console uses it. Credentials live in this tab's sessionStorage
// only: never in a URL, a cookie, localStorage or a log line.

import { authorization, canonicalQuery, sdkDate, signingAvailable, encode } from './sign.js';

const SESSION_KEY = 'dsconn.console.session';

/**
 * `{kind: 'token', token}`, `{kind: 'aksk', accessKey, secretKey}` or, on a server run
 * with `--auth none`, `{kind: 'none'}`; plus `who`, the server's whoami answer.
 */
export function loadSession() {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

/** A refusal by the server (its error_code and error_msg) or a failure to reach it. */
export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

async function credentialHeaders(credentials, method, path, query, body, baseHeaders) {
  if (credentials.kind === 'token') return { 'X-Auth-Token': credentials.token };
  if (credentials.kind === 'none') return {};
  if (!signingAvailable()) {
    throw new ApiError(0, 'CONSOLE', 'this browser cannot sign requests here: AK/SK signing needs '
      + 'WebCrypto, which browsers offer only on HTTPS or localhost pages. Use a token, or serve '
      + 'dsconn behind HTTPS.');
  }
  const date = sdkDate();
  // The browser sends Host itself; it is the page's host, since the API is same-origin.
  const signed = { host: location.host, 'x-sdk-date': date };
  for (const [name, value] of Object.entries(baseHeaders)) signed[name.toLowerCase()] = value;
  return {
    'X-Sdk-Date': date,
    Authorization: await authorization({
      method, path, query, headers: signed, body, accessKey: credentials.accessKey, secretKey: credentials.secretKey,
      ...(credentials.algorithm ? { algorithm: credentials.algorithm } : {}),
    }),
  };
}

/**
 * Signs and sends one call; resolves to the response, whatever its status. Rejects with
 * an ApiError only when the server cannot be reached (or `signal` aborted the call).
 */
async function send(method, path, { query = [], body, credentials, accept = 'application/json', headers: extra = {}, signal } = {}) {
  const creds = credentials ?? loadSession();
  if (!creds) throw new ApiError(401, 'CONSOLE', 'not signed in');
  const pairs = query.filter(([, value]) => value !== undefined && value !== null && value !== '');
  const text = body === undefined ? '' : JSON.stringify(body);
  const base = { 'Content-Type': 'application/json' };
  const headers = {
    Accept: accept,
    ...extra,
    ...base,
    ...(await credentialHeaders(creds, method, path, pairs, text, base)),
  };
  const search = canonicalQuery(pairs);
  try {
    return await fetch(search ? `${path}?${search}` : path, {
      method,
      headers,
      body: text === '' ? undefined : text,
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
      signal,
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'the dsconn server could not be reached; check that it is running, then try again');
  }
}

/**
 * The ApiError of a refused call, with the server's error_msg when its body (`data`)
 * has one. A 401 with the stored session also fires `dsconn:unauthorized`.
 */
function refusalOf(response, data, stored) {
  const requestId = response.headers.get('x-request-id');
  let message = data && typeof data.error_msg === 'string' && data.error_msg
    ? data.error_msg
    : `the server answered ${response.status} ${response.statusText}`.trim();
  const retry = response.headers.get('retry-after');
  if (response.status === 429 && retry) message += ` (retry in ${retry} s)`;
  const error = new ApiError(response.status, data?.error_code ?? `HTTP ${response.status}`, message, requestId);
  if (response.status === 401 && stored) {
    window.dispatchEvent(new CustomEvent('dsconn:unauthorized', { detail: message }));
  }
  return error;
}

async function jsonOf(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/**
 * One API call. `query` is a list of [key, value] pairs (empty values are dropped).
 * Resolves to the parsed JSON body; rejects with an ApiError carrying the server's
 * error_msg. A 401 with the stored session also fires `dsconn:unauthorized`.
 */
export async function request(method, path, { query = [], body, credentials } = {}) {
  const response = await send(method, path, { query, body, credentials });
  const data = await jsonOf(response);
  if (!response.ok) throw refusalOf(response, data, !credentials);
  return data;
}

/**
 * Opens the project's event stream (Server-Sent Events, signed like every call, so
 * `fetch` rather than `EventSource`, which cannot send headers). Resolves to the
 * response, whose body the caller reads; rejects with an ApiError when it is refused
 * (404 from a server without the audit trail).
 */
export async function openEventStream(project, { lastEventId, signal } = {}) {
  const headers = lastEventId === null || lastEventId === undefined ? {} : { 'Last-Event-ID': String(lastEventId) };
  const response = await send('GET', `/dsconn/v1/${segment(project)}/events/stream`, {
    accept: 'text/event-stream', headers, signal,
  });
  if (!response.ok) throw refusalOf(response, await jsonOf(response), true);
  return response;
}

/** One path segment. A link can put any text in the hash, and `.` or `..` would make the
 * browser call another path than the one meant. */
function segment(value) {
  const text = String(value ?? '');
  if (text === '' || text === '.' || text === '..') throw new ApiError(400, 'CONSOLE', `${JSON.stringify(text)} is not a valid id`);
  return encode(text);
}

const collection = (project) => `/v2.0/${segment(project)}/datasource-connection`;
const one = (project, id) => `${collection(project)}/${segment(id)}`;
const queues = (project) => `/v1.0/${segment(project)}/queues`;
const queue = (project, name) => `${queues(project)}/${segment(name)}`;
const enhancedCollection = (project) => `/v2.0/${segment(project)}/datasource/enhanced-connections`;
const enhanced = (project, id) => `${enhancedCollection(project)}/${segment(id)}`;
const enhancedRoutes = (project, id) => `/v3/${segment(project)}/datasource/enhanced-connections/${segment(id)}/routes`;

export const api = {
  whoami: (credentials) => request('GET', '/dsconn/v1/whoami', { credentials }),
  projects: () => request('GET', '/dsconn/v1/projects'),
  list: (project, query) => request('GET', collection(project), { query }),
  show: (project, id) => request('GET', one(project, id)),
  create: (project, body) => request('POST', collection(project), { body }),
  remove: (project, id) => request('DELETE', one(project, id)),
  reactivate: (project, id) => request('POST', `${one(project, id)}/reactivate`),
  test: (project, id) => request('POST', `${one(project, id)}/test`),
  testDefinition: (project, body) => request('POST', `${collection(project)}/test`, { body }),
  associate: (project, id, queues) => request('POST', `${one(project, id)}/associate-queue`, { body: { queues } }),
  disassociate: (project, id, queues) => request('POST', `${one(project, id)}/disassociate-queue`, { body: { queues } }),
  // The auth info a connection's checks from its queues log in with (issue 26).
  setAuthInfo: (project, id, body) => request('PUT', `${one(project, id)}/auth-info`, { body }),
  // DLI's queues (every type), and its queue connection test.
  listQueues: (project) => request('GET', queues(project), { query: [['queue_type', 'all']] }),
  createQueue: (project, body) => request('POST', queues(project), { body }),
  removeQueue: (project, name) => request('DELETE', queue(project, name)),
  // `body`: {address} and, for a staged test, service, auth_info_name, database.
  testFromQueue: (project, name, body) => request('POST', `${queue(project, name)}/connection-test`, { body }),
  queueTest: (project, name, taskId) => request('GET', `${queue(project, name)}/connection-test/${segment(taskId)}`),
  listPools: (project) => request('GET', `/v3/${segment(project)}/elastic-resource-pools`),
  createPool: (project, body) => request('POST', `/v3/${segment(project)}/elastic-resource-pools`, { body }),
  removePool: (project, name) => request('DELETE', `/v3/${segment(project)}/elastic-resource-pools/${segment(name)}`),
  addQueueToPool: (project, pool, queueName) => request('POST', `/v3/${segment(project)}/elastic-resource-pools/${segment(pool)}/queues`, { body: { queue_name: queueName } }),
  // The project's auth infos (names and users; the API never answers a password). Limit 0: all.
  listAuthInfos: (project) => request('GET', `/v3/${segment(project)}/datasource/auth-infos`, { query: [['limit', '0']] }),
  // The audit trail (issue 28): `query` as in ListEvents (resource_id, order, limit, ...).
  events: (project, query) => request('GET', `/dsconn/v1/${segment(project)}/events`, { query }),
  // Enhanced connections (E1-E9).
  listEnhanced: (project, query) => request('GET', enhancedCollection(project), { query }),
  showEnhanced: (project, id) => request('GET', enhanced(project, id)),
  createEnhanced: (project, body) => request('POST', enhancedCollection(project), { body }),
  removeEnhanced: (project, id) => request('DELETE', enhanced(project, id)),
  bindEnhanced: (project, id, body) => request('POST', `${enhanced(project, id)}/associate-queue`, { body }),
  unbindEnhanced: (project, id, body) => request('POST', `${enhanced(project, id)}/disassociate-queue`, { body }),
  updateEnhancedHosts: (project, id, hosts) => request('PUT', enhanced(project, id), { body: { hosts } }),
  addEnhancedRoute: (project, id, route) => request('POST', enhancedRoutes(project, id), { body: route }),
  removeEnhancedRoute: (project, id, name) => request('DELETE', `${enhancedRoutes(project, id)}/${segment(name)}`),
};
