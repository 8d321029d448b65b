// The project picker: the credential's projects from whoami, or (for a credential good
// for all projects) the projects the server knows (ListProjects) and a field to type any
// project id.

import { api, loadSession, saveSession } from '../api.js';
import { append, errorBox, h, messageOf, uid } from '../dom.js';
import * as validate from '../validate.js';

const RECENT_KEY = 'dsconn.console.recent-projects';

function recentProjects() {
  try {
    return JSON.parse(sessionStorage.getItem(RECENT_KEY) ?? '[]');
  } catch {
    return [];
  }
}

/** Remembers a project for the picker (this tab only). */
export function rememberProject(project) {
  const recent = [project, ...recentProjects().filter((p) => p !== project)].slice(0, 8);
  sessionStorage.setItem(RECENT_KEY, JSON.stringify(recent));
}

const projectHref = (project) => `#/p/${encodeURIComponent(project)}`;

export async function render(ctx) {
  ctx.title('Choose a project');
  const heading = h('h1', { tabindex: '-1' }, 'Choose a project');
  append(ctx.main, heading);
  let who;
  try {
    who = await api.whoami();
    const session = loadSession();
    if (session) saveSession({ ...session, who });
  } catch (error) {
    if (ctx.signal.aborted) return;
    append(ctx.main, errorBox(messageOf(error), { title: 'Could not read your projects' }));
    return;
  }
  if (ctx.signal.aborted) return;

  if (!who.all_projects && who.projects.length === 1) {
    ctx.navigate(projectHref(who.projects[0]), { replace: true });
    return;
  }

  const section = h('div', { class: 'narrow' });
  if (!who.all_projects) {
    if (who.projects.length === 0) {
      append(section, h('p', { class: 'alert alert-warn' }, 'These credentials are bound to no project.'));
    } else {
      append(section,
        h('p', { class: 'lead' }, 'Your credentials may use these projects:'),
        h('ul', { class: 'project-list' }, who.projects.map((project) => h('li', {},
          h('a', { href: projectHref(project), class: 'project-choice' }, project)))));
    }
  } else {
    const id = uid('project');
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    const input = h('input', {
      id, name: 'project', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false',
      'aria-describedby': hintId, maxlength: '64',
    });
    const error = h('p', { class: 'field-error', id: errorId, hidden: true });
    const form = h('form', { class: 'card', novalidate: true },
      h('div', { class: 'field' },
        h('label', { for: id }, 'Project id'),
        h('p', { class: 'hint', id: hintId }, 'These credentials may use every project. 1 to 64 letters, digits, ‘_’ and ‘-’.'),
        input,
        error),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Open project')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const project = input.value.trim();
      const problem = validate.projectId(project);
      if (problem) {
        error.textContent = problem;
        error.hidden = false;
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', `${hintId} ${errorId}`);
        input.focus();
        return;
      }
      rememberProject(project);
      ctx.navigate(projectHref(project));
    });
    append(section, form);
    // The projects that hold something here; a failure only loses the suggestions.
    let known = null;
    try {
      known = await api.projects();
    } catch {
      known = null;
    }
    if (ctx.signal.aborted) return;
    if (known && known.projects.length > 0) {
      append(section, h('h2', {}, 'Projects on this server'),
        h('ul', { class: 'project-list', id: 'known-projects' }, known.projects.map((project) => h('li', {},
          h('a', { href: projectHref(project), class: 'project-choice' }, project)))),
        known.truncated ? h('p', { class: 'hint' }, 'Only the first 1,000 are listed; type any other project id above.') : null);
    } else if (known) {
      append(section, h('p', { class: 'hint', id: 'no-known-projects' },
        'No project holds anything on this server yet: type the id of the project to start in.'));
    }
    const recent = recentProjects();
    if (recent.length > 0) {
      append(section, h('h2', {}, 'Recently opened'),
        h('ul', { class: 'project-list' }, recent.map((project) => h('li', {},
          h('a', { href: projectHref(project), class: 'project-choice' }, project)))));
    }
    input.focus();
  }
  append(ctx.main, section);
}
