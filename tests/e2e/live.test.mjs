// The console's live updates (console/js/live.js) without a browser or a server: the
// Server-Sent Events parser on awkward chunk boundaries, the feed's resume with
// Last-Event-ID against a scripted fetch(), and watch()'s rule that a page polls only
// while the stream is down.

import assert from 'node:assert/strict';
import { test } from 'node:test';

// What api.js reads from a browser: a stored session, the page's host, window events.
globalThis.sessionStorage = { getItem: () => JSON.stringify({ kind: 'token', token: 'dsct_test' }) };
globalThis.location = { host: '127.0.0.1:1' };
globalThis.window = { dispatchEvent: () => true };

const { eventFeed, readEvents, watch } = await import('../../console/js/live.js');

const encoder = new TextEncoder();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A body that yields `chunks` and then ends, or with `open` stays open until `signal` aborts. */
function body(chunks, { open = false, signal } = {}) {
  return new ReadableStream({
    async pull(controller) {
      if (chunks.length > 0) {
        controller.enqueue(encoder.encode(chunks.shift()));
      } else if (!open) {
        controller.close();
      } else {
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        controller.error(signal.reason);
      }
    },
  });
}

/** Waits until `condition()` holds (at most 2 s). */
async function until(condition, what) {
  const deadline = Date.now() + 2000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test('frames split anywhere, CRLF line ends, comments and retry are read as the server meant', async () => {
  const text = 'retry: 1000\r\nevent: ready\r\ndata: {"after":7}\r\n\r\n: heartbeat\n\n'
    + 'id: 8\nevent: change\ndata: {"id":8,\ndata: "action":"create"}\n\nid: 9\nevent: change\ndata: {"id":9';
  // Every split point, including between "\r" and "\n".
  for (let at = 1; at < text.length; at += 1) {
    const frames = [];
    let chunks = 0;
    await readEvents(body([text.slice(0, at), text.slice(at)]), (frame) => frames.push(frame), () => { chunks += 1; });
    assert.deepEqual(frames, [
      { event: 'ready', data: '{"after":7}', id: null, retry: 1000 },
      { event: 'change', data: '{"id":8,\n"action":"create"}', id: '8', retry: null },
    ], `split at ${at}`);
    assert.equal(chunks, 2);
  }
});

/** A fetch() that answers the event stream from `script`, one entry per request. */
function scriptedFetch(script) {
  const requests = [];
  const fetch = async (url, init) => {
    requests.push({ url, lastEventId: new Headers(init.headers).get('last-event-id'), accept: new Headers(init.headers).get('accept') });
    const next = script.shift() ?? { status: 404 };
    if (next.status) {
      return new Response(JSON.stringify({ error_code: 'DLI.0404', error_msg: 'no such route' }), { status: next.status });
    }
    return new Response(body(next.chunks, { open: next.open, signal: init.signal }), { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
  return { fetch, requests };
}

const ready = (after) => `retry: 10\nevent: ready\ndata: {"after":${after}}\n\n`;
const change = (id, resourceId) => `id: ${id}\nevent: change\ndata: ${JSON.stringify({ id, resource_id: resourceId, resource_type: 'connection', action: 'update' })}\n\n`;

test('the feed resumes after the last event it had, and asks for a reload only when it could not', async () => {
  const { fetch, requests } = scriptedFetch([
    { status: 404 }, // a server without the stream: the pages poll meanwhile
    { chunks: [ready(41), change(42, 'c1')] }, // up, one event, then the stream ends
    { chunks: [ready(42), change(43, 'c1')], open: true },
  ]);
  globalThis.fetch = fetch;
  const feed = eventFeed('p1');
  const seen = [];
  feed.listen({
    change: (event) => seen.push(`change ${event.id}`),
    live: (up) => seen.push(up ? 'up' : 'down'),
    resync: (generation) => seen.push(`resync ${generation}`),
  });
  await until(() => seen.includes('change 43'), 'the resumed stream');
  feed.close();
  assert.deepEqual(seen, ['up', 'resync 1', 'change 42', 'down', 'up', 'change 43']);
  assert.equal(requests.length, 3);
  assert.match(requests[0].url, /^\/dsconn\/v1\/p1\/events\/stream$/);
  assert.equal(requests[0].accept, 'text/event-stream');
  assert.deepEqual(requests.map((r) => r.lastEventId), [null, null, '42'], 'resumed with Last-Event-ID');
});

/** A feed driven by hand: `emit(kind, value)` tells its listeners. */
function manualFeed() {
  const listeners = new Set();
  return {
    live: false,
    generation: 0,
    listen(listener) { listeners.add(listener); return () => listeners.delete(listener); },
    emit(kind, value) {
      if (kind === 'live') this.live = value;
      if (kind === 'resync') this.generation = value;
      for (const listener of listeners) listener[kind]?.(value);
    },
  };
}

test('a page polls while the stream is down and something is pending, and only then', async () => {
  const feed = manualFeed();
  const page = new AbortController();
  let loads = 0;
  const watcher = watch(feed, page.signal, { load: async () => { loads += 1; }, pending: () => true, pollMs: 20 });
  await watcher.refresh();
  await sleep(110);
  assert.ok(loads >= 4, `polled while down (${loads} loads)`);

  feed.emit('live', true);
  const live = loads;
  await sleep(110);
  assert.equal(loads, live, 'no polling while the stream is up');

  feed.emit('live', false);
  await sleep(110);
  assert.ok(loads > live + 2, 'polling again once the stream is down');
  page.abort();
  const left = loads;
  await sleep(60);
  assert.equal(loads, left, 'nothing after the page is left');
});

test('events reload a page once per burst, a resync reloads data loaded before it, and an event seen mid-load counts once the data knows it', async () => {
  const feed = manualFeed();
  feed.emit('live', true);
  const page = new AbortController();
  let loads = 0;
  let known = new Set(['c1']);
  let release = null;
  const watcher = watch(feed, page.signal, {
    load: async () => {
      loads += 1;
      await new Promise((resolve) => { release = resolve; });
    },
    relevant: (event) => known.has(event.resource_id),
  });
  const first = watcher.refresh();
  // A burst during the load: one more load after it, not one per event.
  feed.emit('change', { resource_id: 'c1' });
  feed.emit('change', { resource_id: 'c1' });
  feed.emit('change', { resource_id: 'other' });
  release();
  await until(() => loads === 2, 'the one reload');
  release();
  await first;
  assert.equal(loads, 2);

  // An event about something the page learns of only from the load under way.
  const third = watcher.refresh();
  feed.emit('change', { resource_id: 'peer-9/q1' });
  known = new Set(['c1', 'peer-9/q1']);
  release();
  await until(() => loads === 4, 'the reload for the event the new data made relevant');
  release();
  await third;

  feed.emit('resync', 1);
  await until(() => loads === 5, 'the resync reload');
  release();
  await sleep(20);
  feed.emit('resync', 1);
  await sleep(20);
  assert.equal(loads, 5, 'data loaded after the resync is not loaded again');
  page.abort();
});
