// Live pages: one stream of the project's events (GET /dsconn/v1/{project}/events/stream)
// per tab, shared by the pages of that project, and `watch`, which reloads a page's data
// when an event about it arrives. While the stream is down (a server without the audit
// trail answers 404; a stream can end) the pages poll as before, and the stream is
// retried with backoff, resuming with Last-Event-ID so that no event is missed.

import { openEventStream } from './api.js';

/** The first retry's delay when the server's `retry:` does not say. */
const RETRY_MS = 1000;
/** Retries back off up to this delay. */
const RETRY_MAX_MS = 30_000;
/** A stream silent this long is taken as dead: three of the server's default heartbeats. */
const SILENCE_MS = 45_000;

/**
 * Reads Server-Sent Events from a fetch body: calls `onFrame({event, data, id, retry})`
 * per frame, `onActivity()` per chunk (heartbeats included); resolves at the end of the
 * stream. Comments, unknown fields and a frame cut off by the end are skipped.
 */
export async function readEvents(body, onFrame, onActivity = () => {}) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let frame = { event: '', data: [], id: null, retry: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onActivity();
    let chunk = buffer + value;
    // A chunk can end inside a line, or between the "\r" and "\n" of one line end: the
    // tail waits for the next chunk.
    const held = chunk.endsWith('\r') ? '\r' : '';
    if (held) chunk = chunk.slice(0, -1);
    const lines = chunk.split(/\r\n|\r|\n/);
    buffer = lines.pop() + held;
    for (const line of lines) {
      if (line === '') {
        if (frame.data.length > 0 || frame.event || frame.retry !== null) {
          onFrame({ event: frame.event || 'message', data: frame.data.join('\n'), id: frame.id, retry: frame.retry });
        }
        frame = { event: '', data: [], id: null, retry: null };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      let text = colon < 0 ? '' : line.slice(colon + 1);
      if (text.startsWith(' ')) text = text.slice(1);
      if (name === 'data') frame.data.push(text);
      else if (name === 'event') frame.event = text;
      else if (name === 'id') frame.id = text;
      else if (name === 'retry' && /^\d+$/.test(text)) frame.retry = Number(text);
    }
  }
}

/**
 * One project's stream, kept open (and reopened) until `close()`. Listeners get
 * `change(event)`, `live(up)` when the stream comes up or goes down, and `resync(generation)`
 * when it comes up without resuming: events may have been missed before then, so data
 * loaded before `generation` must be loaded again.
 */
export function eventFeed(project) {
  const closing = new AbortController();
  const listeners = new Set();
  const feed = {
    project,
    live: false,
    /** Bumped each time the stream comes up without resuming from a known event. */
    generation: 0,
    listen(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closing.abort();
      listeners.clear();
    },
  };
  let lastEventId = null;
  let retryMs = RETRY_MS;
  let failures = 0;

  const tell = (kind, value) => {
    for (const listener of [...listeners]) {
      try {
        listener[kind]?.(value);
      } catch (error) {
        console.error(error); // one page's bug must not stop the others' updates
      }
    }
  };
  const setLive = (up) => {
    if (feed.live === up) return;
    feed.live = up;
    tell('live', up);
  };

  const onFrame = (frame) => {
    if (frame.retry !== null) retryMs = frame.retry;
    if (frame.event === 'ready') {
      failures = 0;
      if (lastEventId === null) {
        try {
          const after = JSON.parse(frame.data)?.after;
          lastEventId = after === null || after === undefined ? null : String(after);
        } catch {
          // No resume point: the next reconnect starts at the newest event again.
        }
        feed.generation += 1;
        setLive(true);
        tell('resync', feed.generation);
      } else {
        setLive(true);
      }
    } else if (frame.event === 'change') {
      if (frame.id !== null) lastEventId = frame.id;
      let event;
      try {
        event = JSON.parse(frame.data);
      } catch {
        return;
      }
      tell('change', event);
    }
    // `dropped`: the server ends the stream next; the reconnect resumes after lastEventId.
  };

  const pause = (ms) => new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    closing.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });

  (async () => {
    while (!closing.signal.aborted) {
      const attempt = new AbortController();
      const stop = () => attempt.abort();
      closing.signal.addEventListener('abort', stop, { once: true });
      let silence = null;
      const awake = () => {
        clearTimeout(silence);
        silence = setTimeout(stop, SILENCE_MS);
      };
      try {
        const response = await openEventStream(project, { lastEventId, signal: attempt.signal });
        awake();
        await readEvents(response.body, onFrame, awake);
      } catch (error) {
        // A refused resume point (the events were purged): start again at the newest.
        if (error?.status === 400) lastEventId = null;
      } finally {
        clearTimeout(silence);
        closing.signal.removeEventListener('abort', stop);
      }
      setLive(false);
      if (closing.signal.aborted) return;
      await pause(Math.min(RETRY_MAX_MS, retryMs * 2 ** failures));
      failures += 1;
    }
  })();
  return feed;
}

/**
 * Keeps one page's data fresh from `feed` until `signal` aborts. `load()` reloads it; it
 * runs (one at a time; an event during a run causes one more) when an event `relevant`
 * to the page arrives, when the stream comes up after the data may have missed events,
 * and, only while the stream is down, every `pollMs` as long as `pending()` says
 * something is still changing. `onEvent(event)` sees every event; `onLive(up)` is told
 * when the stream comes up or goes down. Returns `{refresh, live}`: `refresh()` loads
 * now (the page's first load and its reloads after its own changes go through it).
 */
export function watch(feed, signal, {
  load, relevant = () => false, pending = () => false, pollMs, onEvent, onLive,
}) {
  let running = null;
  let again = false;
  let timer = null;
  /** Events that came during a load and were not relevant to the data before it: the
   * data being loaded may make them so (a binding just bound, known by its new key). */
  let deferred = [];
  /** The feed's generation when the data last started loading. */
  let loadedGeneration = -1;

  const arm = () => {
    clearTimeout(timer);
    timer = null;
    if (signal.aborted || !feed || feed.live || !pollMs || !pending()) return;
    timer = setTimeout(() => { if (!signal.aborted) refresh(); }, pollMs);
  };

  function refresh() {
    if (signal.aborted) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    deferred = [];
    running = (async () => {
      try {
        do {
          again = false;
          clearTimeout(timer);
          loadedGeneration = feed?.generation ?? 0;
          await load();
          if (deferred.some(relevant)) again = true;
          deferred = [];
        } while (again && !signal.aborted);
      } finally {
        running = null;
        arm();
      }
    })();
    return running;
  }

  const unlisten = feed?.listen({
    change(event) {
      if (signal.aborted) return;
      onEvent?.(event);
      if (relevant(event)) refresh();
      else if (running) deferred.push(event);
    },
    live(up) {
      if (signal.aborted) return;
      onLive?.(up);
      arm();
    },
    resync(generation) {
      if (!signal.aborted && loadedGeneration >= 0 && loadedGeneration < generation) refresh();
    },
  });
  signal.addEventListener('abort', () => {
    clearTimeout(timer);
    unlisten?.();
  }, { once: true });

  return {
    refresh,
    /** Whether the page is updated from the stream now (else it polls while pending). */
    get live() { return Boolean(feed?.live); },
  };
}
