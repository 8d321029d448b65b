// The console's shell: a hash router (#/signin, #/projects, #/p/<project>,
// #/p/<project>/new, #/p/<project>/c/<id>, #/p/<project>/queues, #/p/<project>/enhanced,
// #/p/<project>/enhanced/<id>), the session bar and
// flash messages. A hash holds only project ids, connection ids and list filters: never a
// credential. The pages of one project share one live event stream (live.js), opened by
// the first page that watches it and closed when the project changes or the session ends.

import { clearSession, loadSession } from './api.js';
import { append, clear, errorBox, h, messageOf } from './dom.js';
import { eventFeed, watch } from './live.js';
import * as signin from './views/signin.js';
import * as projects from './views/projects.js';
import * as list from './views/list.js';
import * as detail from './views/detail.js';
import * as create from './views/create.js';
import * as queues from './views/queues.js';
import * as enhancedList from './views/enhanced.js';
import * as enhancedDetail from './views/enhanced-detail.js';

const ROUTES = [
  { pattern: /^#\/signin$/, view: signin, open: true },
  { pattern: /^#\/projects$/, view: projects },
  { pattern: /^#\/p\/([^/?]+)\/new$/, view: create, keys: ['project'] },
  { pattern: /^#\/p\/([^/?]+)\/queues$/, view: queues, keys: ['project'] },
  { pattern: /^#\/p\/([^/?]+)\/c\/([^/?]+)$/, view: detail, keys: ['project', 'id'] },
  { pattern: /^#\/p\/([^/?]+)\/enhanced(?:\?(.*))?$/, view: enhancedList, keys: ['project', 'query'] },
  { pattern: /^#\/p\/([^/?]+)\/enhanced\/([^/?]+)$/, view: enhancedDetail, keys: ['project', 'id'] },
  { pattern: /^#\/p\/([^/?]+)(?:\?(.*))?$/, view: list, keys: ['project', 'query'] },
];

const main = document.getElementById('main');
const flashArea = document.getElementById('flash');
const sessionNav = document.getElementById('session-nav');

let current = null; // {controller}
let feed = null; // the project's event stream, shared by its pages
let pendingFlash = null;
let firstRender = true;
/** A message shown this long before a navigation is carried to the next page. */
const FLASH_CARRY_MS = 1500;

/** Shows a message in the status area now; a navigation that follows at once keeps it. */
export function flash(message, kind = 'info') {
  pendingFlash = { message, kind, at: Date.now() };
  showFlash();
}

function showFlash() {
  clear(flashArea);
  if (!pendingFlash) return;
  append(flashArea, h('p', { class: `flash flash-${pendingFlash.kind}` }, pendingFlash.message));
}

export function navigate(hash, { replace = false } = {}) {
  if (location.hash === hash) {
    route();
  } else if (replace) {
    history.replaceState(null, '', hash);
    route();
  } else {
    location.hash = hash;
  }
}

function renderSessionNav(session, project) {
  clear(sessionNav);
  if (!session) return;
  const who = session.who ?? {};
  const identity = who.kind === 'access_key' ? `access key ${who.id}`
    : who.kind === 'token' ? `token ${String(who.id ?? '').slice(0, 8)}…`
      : 'no authentication';
  append(sessionNav, h('ul', { class: 'session' },
    project ? h('li', {}, 'Project ', h('a', { href: `#/p/${encodeURIComponent(project)}`, class: 'project-link' }, project),
      ' ', h('a', { href: '#/projects', class: 'switch' }, 'Switch')) : null,
    h('li', { class: 'identity' }, identity),
    h('li', {}, h('button', {
      type: 'button',
      class: 'btn btn-small btn-on-dark',
      onclick: () => {
        feedOf(null);
        clearSession();
        flash('Signed out. The credentials were removed from this tab.');
        navigate('#/signin');
      },
    }, 'Sign out'))));
}

/** The stream of `project`'s events, opened at its first use; null closes the one open. */
function feedOf(project) {
  if (feed && feed.project !== project) {
    feed.close();
    feed = null;
    showStream(false);
  }
  if (!feed && project) {
    feed = eventFeed(project);
    feed.listen({ live: showStream });
  }
  return feed;
}

/** Whether pages are updated live, on the root element (`data-event-stream`) for tests and styles. */
function showStream(up) {
  document.documentElement.dataset.eventStream = up ? 'up' : 'down';
}

function route() {
  current?.controller.abort();
  const controller = new AbortController();
  current = { controller };
  if (pendingFlash && Date.now() - pendingFlash.at > FLASH_CARRY_MS) pendingFlash = null;
  showFlash();

  let hash = location.hash;
  const session = loadSession();
  if (hash === '' || hash === '#' || hash === '#/') hash = session ? '#/projects' : '#/signin';
  const match = ROUTES.map((r) => ({ r, m: hash.match(r.pattern) })).find(({ m }) => m);
  if (!session && !(match && match.r.open)) {
    feedOf(null);
    history.replaceState(null, '', '#/signin');
    hash = '#/signin';
    return render(ROUTES[0], {}, null, controller);
  }
  if (!match) {
    feedOf(null);
    renderSessionNav(session, null);
    clear(main);
    append(main, h('h1', { tabindex: '-1' }, 'Page not found'),
      h('p', {}, h('a', { href: '#/projects' }, 'Choose a project')));
    return undefined;
  }
  const params = {};
  (match.r.keys ?? []).forEach((key, i) => { params[key] = match.m[i + 1] === undefined ? undefined : decodeURIComponent(match.m[i + 1]); });
  if (match.r.keys?.includes('query')) params.query = new URLSearchParams(match.m[match.r.keys.indexOf('query') + 1] ?? '');
  if (!params.project || !session) feedOf(null);
  return render(match.r, params, session, controller);
}

async function render(entry, params, session, controller) {
  renderSessionNav(session, params.project);
  const { signal } = controller;
  const ctx = {
    main,
    params,
    session,
    signal,
    navigate,
    flash,
    /** Runs `fn` after `ms`, unless the page was left meanwhile. */
    later(ms, fn) {
      const timer = setTimeout(() => { if (!signal.aborted) fn(); }, ms);
      signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    },
    /**
     * Keeps data fresh from the project's event stream (live.js `watch`) until the page
     * is left, or `options.signal` aborts first.
     */
    live(options) {
      const until = options.signal ? AbortSignal.any([signal, options.signal]) : signal;
      return watch(params.project ? feedOf(params.project) : null, until, options);
    },
    title(text) { document.title = `${text} · dsconn console`; },
  };
  clear(main);
  try {
    await entry.view.render(ctx);
  } catch (error) {
    if (signal.aborted) return;
    append(main, errorBox(messageOf(error), { title: 'Something went wrong' }));
  }
  if (signal.aborted) return;
  if (!firstRender) {
    const heading = main.querySelector('h1');
    if (heading && !main.contains(document.activeElement)) heading.focus({ preventScroll: false });
  }
  firstRender = false;
}

window.addEventListener('hashchange', route);
window.addEventListener('dsconn:unauthorized', (event) => {
  feedOf(null);
  clearSession();
  flash(`Your credentials were refused: ${event.detail}. Sign in again.`, 'error');
  navigate('#/signin');
});
document.getElementById('skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  const heading = main.querySelector('h1');
  (heading ?? main).focus();
});
route();
