// One queue's connection test (DLI's CreateConnectivityTask): a host:port and, for a
// staged test (issue 26), the source's service, an auth info of the project and a
// database. The answer is DLI's outcome line; a staged answer adds its stages (resolve,
// connect, tls, protocol, login, query, privileges) as a table, the first failure first,
// and says whether the source is verified. Inline user and password stay a CLI/API
// feature: a password typed into a page would be one more place to leak it.

import { api } from '../api.js';
import { append, badge, clear, errorBox, fieldError, fieldOfMessage, h, refusal, text, uid } from '../dom.js';
import * as validate from '../validate.js';

/** A running test is asked about when its result event arrives, or this often while the
 * event stream is down ... */
const TEST_POLL_MS = 500;
/** ... until it finishes or this much time has passed. */
const TEST_TIMEOUT_MS = 60_000;

/** The services a test can verify, the most used first, spelled as the API answers them. */
const TEST_SERVICES = ['RDS', 'DWS', 'CSS', 'CloudTable', 'CloudTable.OpenTSDB', 'MRS.OpenTSDB'];

// Which field a server refusal is about, by the words its message uses. The service
// comes first: "service is required with an auth info" is about the service.
const TEST_MESSAGE_FIELDS = [
  { name: 'service', words: ['service'] },
  { name: 'database', words: ['database'] },
  { name: 'auth_info_name', words: ['auth info', 'auth_info'] },
  { name: 'address', words: ['address'] },
];

const STAGE_HEADERS = ['Stage', 'Verdict', 'Reason', 'Took', 'Message'];

/**
 * Follows test `taskId` until it is no longer CHECKING: the task is read at once, then
 * again when the stream brings its result event (or, while the stream is down, every
 * TEST_POLL_MS). Calls `progress(task)` for each CHECKING answer; resolves to the
 * finished task, or null after TEST_TIMEOUT_MS; rejects with a failed read.
 */
function followTest(ctx, project, queueName, taskId, progress) {
  return new Promise((resolve, reject) => {
    if (ctx.signal.aborted) { reject(new Error('left the page')); return; }
    const finished = new AbortController();
    const end = (settle) => {
      if (finished.signal.aborted) return;
      finished.abort();
      clearTimeout(deadline);
      settle();
    };
    const deadline = setTimeout(() => end(() => resolve(null)), TEST_TIMEOUT_MS);
    ctx.signal.addEventListener('abort', () => end(() => reject(new Error('left the page'))), { once: true });
    const watcher = ctx.live({
      signal: finished.signal,
      load: async () => {
        try {
          const task = await api.queueTest(project, queueName, String(taskId));
          if (finished.signal.aborted) return;
          if (task.connectivity === 'CHECKING') progress(task);
          else end(() => resolve(task));
        } catch (error) {
          end(() => reject(error));
        }
      },
      // Its result, not its creation (which the POST already answered).
      relevant: (event) => event.resource_type === 'queue_test' && event.resource_id === String(taskId)
        && event.action !== 'create',
      pending: () => !finished.signal.aborted,
      pollMs: TEST_POLL_MS,
    });
    watcher.refresh();
  });
}

/** A stage's duration: "12 ms", "1.4 s". */
function took(ms) {
  const value = Number(ms) || 0;
  return value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(1)} s`;
}

/** "verified" or "not verified", written out; the colour only adds to it. */
function verification(verified) {
  return h('span', {
    class: `badge ${verified ? 'badge-verified' : 'badge-not-verified'}`, 'data-verified': verified ? 'true' : 'false',
  }, verified ? 'verified' : 'not verified');
}

/** A check's stages as a table: stage, verdict, reason, duration, message. */
export function stageTable(caption, stages) {
  const cell = (label, ...content) => h('td', { 'data-label': label }, ...content);
  return h('div', { class: 'table-scroll' }, h('table', { class: 'results stages' },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, STAGE_HEADERS.map((label) => h('th', { scope: 'col' }, label)))),
    h('tbody', {}, stages.map((stage) => h('tr', { 'data-stage': stage.stage, 'data-verdict': stage.verdict },
      h('th', { scope: 'row', 'data-label': 'Stage' }, stage.stage),
      cell('Verdict', badge(stage.verdict)),
      cell('Reason', stage.reason ? h('code', {}, stage.reason) : text('')),
      cell('Took', took(stage.elapsed_ms)),
      cell('Message', text(stage.message)))))));
}

/** A labelled form field with its hint and error line (dom.fieldError). */
function testField(name, label, hint, control) {
  const id = uid(`test-${name}`);
  control.id = id;
  control.name = name;
  control.setAttribute('aria-describedby', `${id}-hint`);
  const error = fieldError(control);
  const hintLine = h('p', { class: 'hint', id: `${id}-hint` }, hint);
  const element = h('div', { class: 'field', 'data-field': name }, h('label', { for: id }, label), hintLine, control, error.element);
  return { control, error, element, hintLine };
}

/**
 * The "test address" row under one queue's row: the form, and the outcome of the queue's
 * connection test (polled while CHECKING). Kept across redraws of the table;
 * `setAuthInfos` fills the auth info choice from the project's list.
 */
export function testPanel(ctx, project, queueName, columns) {
  const address = testField('address', `Address to test from ${queueName}`,
    'One host:port, the port required: the test dials TCP from where the queue’s checks run.',
    h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'db.example.com:5432' }));
  const service = testField('service', 'Service (optional)', 'Adds the protocol stage (its handshake).',
    h('select', {}, h('option', { value: '' }, 'none'), TEST_SERVICES.map((name) => h('option', { value: name }, name))));
  const authInfoHint = 'Logs in with it: adds login and query. Needs a service.';
  const authInfo = testField('auth_info_name', 'Auth info (optional)', authInfoHint,
    h('select', {}, h('option', { value: '' }, 'none')));
  const database = testField('database', 'Database (optional)', 'To log in to. Needs an auth info.',
    h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' }));
  const fields = [address, service, authInfo, database];
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-key': `run-test-${queueName}` }, 'Test');
  const result = h('div', { class: 'queue-test-result', role: 'status', 'aria-live': 'polite' });
  const form = h('form', { class: 'queue-test-form', novalidate: true, 'data-queue': queueName },
    h('div', { class: 'queue-test-fields' }, fields.map((field) => field.element), h('div', { class: 'filter-actions' }, submit)),
    result);
  const row = h('tr', { class: 'test-row', 'data-test-for': queueName, hidden: true },
    h('td', { colspan: String(columns), class: 'test-cell' }, form));

  /** The names offered (the chosen one is kept when it still exists); null: the list failed. */
  const setAuthInfos = (items) => {
    const select = authInfo.control;
    const chosen = select.value;
    append(clear(select), h('option', { value: '' }, 'none'),
      (items ?? []).map((item) => h('option', { value: item.auth_info_name },
        item.user_name ? `${item.auth_info_name} (user ${item.user_name})` : item.auth_info_name)));
    select.value = (items ?? []).some((item) => item.auth_info_name === chosen) ? chosen : '';
    authInfo.hintLine.textContent = items ? authInfoHint : `${authInfoHint} (The project’s auth infos could not be listed.)`;
  };

  const checkedFrom = (task) => h('span', { class: 'checked-from' }, 'Checked from ',
    h('strong', { class: 'test-checked-from' }, task.checked_from ?? '—'));
  const show = (connectivity, ...rest) => {
    clear(result).append(h('p', { class: 'test-outcome' }, badge(connectivity, { 'data-connectivity': connectivity }), ' ', ...rest));
  };
  const showFinished = (task) => {
    const stages = task.stages ?? [];
    if (stages.length === 0) {
      show(task.connectivity, h('code', {}, task.address), task.detail ? [': ', task.detail] : null, checkedFrom(task));
      return;
    }
    // The first failure is what to act on: it leads, and the outcome line does not repeat it.
    const failed = stages.find((stage) => stage.verdict === 'FAILED');
    append(clear(result),
      failed ? h('p', { class: 'alert alert-error test-failure', 'data-stage': failed.stage },
        h('strong', {}, `${failed.stage} failed: `), failed.message || failed.reason) : null,
      h('p', { class: 'test-outcome' }, badge(task.connectivity, { 'data-connectivity': task.connectivity }), ' ',
        h('code', {}, task.address), ' ', verification(task.verified === true),
        !failed && task.detail ? [': ', task.detail] : null, checkedFrom(task)),
      stageTable(`Stages of the test of ${task.address} from ${queueName}`, stages));
  };

  /** Client-side problems, each under its field; the first gets focus. True when any. */
  const refuse = (problems) => {
    let first = null;
    for (const [field, problem] of problems) {
      field.error.show(problem ?? '');
      if (problem && !first) first = field;
    }
    first?.control.focus();
    return first !== null;
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const asked = {
      address: address.control.value.trim(),
      service: service.control.value,
      auth_info_name: authInfo.control.value,
      database: database.control.value.trim(),
    };
    const refused = refuse([
      [address, validate.testAddress(asked.address)],
      [service, asked.auth_info_name && !asked.service ? 'choose the service: an auth info logs in to a service (RDS, DWS or CSS)' : null],
      [authInfo, asked.database && !asked.auth_info_name ? 'choose an auth info: the test logs in to a database with one' : null],
      [database, asked.database ? validate.testDatabase(asked.database) : null],
    ]);
    if (refused) return;
    // Only what is set: a plain test stays DLI's.
    const body = Object.fromEntries(Object.entries(asked).filter(([, value]) => value !== ''));
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    clear(result).append(h('p', { class: 'muted' }, `Testing ${asked.address} from ${queueName}…`));
    try {
      const { task_id: taskId } = await api.testFromQueue(project, queueName, body);
      let last = null;
      const task = await followTest(ctx, project, queueName, taskId, (running) => {
        last = running;
        show('CHECKING', running.detail || `testing ${asked.address}…`);
      });
      if (ctx.signal.aborted) return;
      if (task) {
        showFinished(task);
      } else {
        show('CHECKING', `still running after ${TEST_TIMEOUT_MS / 1000} s`,
          last?.detail ? [': ', last.detail] : null, ` (task ${taskId}); test again later.`);
      }
    } catch (error) {
      if (ctx.signal.aborted) return;
      const message = refusal(error);
      clear(result).append(errorBox(message, { title: 'The test was refused' }));
      const about = fieldOfMessage(message, TEST_MESSAGE_FIELDS);
      fields.find((field) => field.control.name === about)?.error.show(message);
    } finally {
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
    }
  });
  return { row, input: address.control, setAuthInfos };
}
