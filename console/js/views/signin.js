// Sign-in: a token (X-Auth-Token) or an access key and secret key (AK/SK, each request
// signed in this browser). The credentials are checked with GET /dsconn/v1/whoami and
// then kept in this tab's sessionStorage only.

import { api, saveSession } from '../api.js';
import { append, errorBox, h, messageOf, uid } from '../dom.js';
import { CONSOLE_ALGORITHMS, signingAvailable } from '../sign.js';

function field({ label, name, type = 'text', hint, autocomplete = 'off' }) {
  const id = uid(name);
  const hintId = hint ? `${id}-hint` : null;
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('input', {
      id, name, type, autocomplete, spellcheck: 'false', autocapitalize: 'off', 'aria-describedby': hintId, required: true,
    }));
}

/** The signature to sign with: what WebCrypto can compute (no SM3 or SM2 in browsers). */
function algorithmField() {
  const id = uid('signing_algorithm');
  return h('div', { class: 'field' },
    h('label', { for: id }, 'Signing algorithm'),
    h('select', { id, name: 'signing_algorithm' },
      ...CONSOLE_ALGORITHMS.map((algorithm) => h('option', { value: algorithm }, algorithm))));
}

/** A server run with `--auth none` answers whoami without credentials: no sign-in then. */
async function openServer() {
  try {
    const who = await api.whoami({ kind: 'none' });
    return who.kind === 'anonymous' ? who : null;
  } catch {
    return null;
  }
}

export async function render(ctx) {
  ctx.title('Sign in');
  const who = await openServer();
  if (ctx.signal.aborted) return;
  if (who) {
    saveSession({ kind: 'none', who });
    ctx.flash('This server runs without authentication (--auth none): no sign-in needed.');
    ctx.navigate('#/projects', { replace: true });
    return;
  }
  const status = h('div', { class: 'form-status' });
  const tokenFields = h('div', { class: 'mode-fields', id: 'token-fields' },
    field({ label: 'Token', name: 'token', type: 'password', hint: 'Issued by “dsconn token create”.' }));
  const akskFields = h('div', { class: 'mode-fields', id: 'aksk-fields', hidden: true },
    field({ label: 'Access key (AK)', name: 'access_key' }),
    field({
      label: 'Secret key (SK)', name: 'secret_key', type: 'password',
      hint: 'Never sent: each request is signed here.',
    }),
    algorithmField());
  const setMode = (mode) => {
    tokenFields.hidden = mode !== 'token';
    akskFields.hidden = mode !== 'aksk';
    for (const input of tokenFields.querySelectorAll('input')) input.disabled = mode !== 'token';
    for (const input of akskFields.querySelectorAll('input')) input.disabled = mode !== 'aksk';
  };
  const radio = (value, label, checked) => {
    const id = uid('mode');
    return h('div', { class: 'radio' },
      h('input', { type: 'radio', name: 'mode', id, value, checked, onchange: () => setMode(value) }),
      h('label', { for: id }, label));
  };
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h('form', { class: 'card signin', novalidate: true, 'aria-labelledby': 'signin-title' },
    h('fieldset', { class: 'modes' },
      h('legend', {}, 'Sign in with'),
      radio('token', 'Token', true),
      radio('aksk', 'Access key and secret key', false)),
    tokenFields,
    akskFields,
    status,
    h('div', { class: 'actions' }, submit));
  setMode('token');

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.replaceChildren();
    const data = new FormData(form);
    const mode = data.get('mode');
    const credentials = mode === 'token'
      ? { kind: 'token', token: String(data.get('token') ?? '').trim() }
      : {
        kind: 'aksk',
        accessKey: String(data.get('access_key') ?? '').trim(),
        secretKey: String(data.get('secret_key') ?? '').trim(),
        algorithm: String(data.get('signing_algorithm') ?? CONSOLE_ALGORITHMS[0]),
      };
    const missing = mode === 'token'
      ? (credentials.token ? null : 'token')
      : (!credentials.accessKey ? 'access_key' : !credentials.secretKey ? 'secret_key' : null);
    if (missing) {
      const input = form.querySelector(`input[name="${missing}"]`);
      input.setAttribute('aria-invalid', 'true');
      const box = errorBox('fill in this field', { title: `The ${input.labels[0].textContent} is missing` });
      status.append(box);
      input.focus();
      return;
    }
    if (mode === 'aksk' && !signingAvailable()) {
      status.append(errorBox('AK/SK signing needs WebCrypto, which browsers offer only on HTTPS or localhost '
        + 'pages. Use a token, or serve dsconn behind HTTPS.', { title: 'Cannot sign here' }));
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      const who = await api.whoami(credentials);
      saveSession({ ...credentials, who });
      ctx.flash(`Signed in with ${who.kind === 'access_key' ? `access key ${who.id}` : who.kind === 'token' ? 'a token' : 'no authentication'}.`);
      ctx.navigate('#/projects');
    } catch (error) {
      submit.disabled = false;
      submit.textContent = 'Sign in';
      const box = errorBox(messageOf(error), { title: 'Sign-in failed' });
      status.append(box);
      box.focus();
    }
  });

  append(ctx.main,
    h('div', { class: 'narrow' },
      h('h1', { id: 'signin-title', tabindex: '-1' }, 'Sign in'),
      h('p', { class: 'lead' }, 'Manage this dsconn server’s datasource connections. Your credentials stay in this browser tab '
        + 'and are forgotten when it closes.'),
      form));
  form.querySelector('input[name="token"]').focus();
}
