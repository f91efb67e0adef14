// The demo page of scripts/dev: every call of the browser client, on the
// API's own origin. ?refresh_before=SECONDS refreshes that long before the
// access token expires (e.g. 28 with --param AccessTokenTTL=30s, to watch
// rotations every few seconds).
import { createAuthClient, AuthError } from './auth-client.js';

const params = new URLSearchParams(location.search);
const refreshBefore = Number(params.get('refresh_before'));
const auth = createAuthClient(Number.isFinite(refreshBefore) && refreshBefore > 0 ? { refreshBeforeMs: refreshBefore * 1000 } : {});

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const seen = new Set();
let lastSignedIn = null;

function log(text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('log').prepend(li);
  while ($('log').children.length > 50) $('log').lastElementChild.remove();
}

function describe(e) {
  return e instanceof AuthError ? `${e.status || 'no answer'} ${e.code}: ${e.message}` : String(e);
}

function render() {
  const s = auth.state;
  $('signin').hidden = s.signedIn;
  $('session').hidden = !s.signedIn;
  const status = $('status');
  status.className = 'status ' + (s.signedIn ? 'in' : 'out');
  if (s.signedIn) {
    if (!seen.has(s.tokenId)) seen.add(s.tokenId);
    $('subject').textContent = s.subject;
    $('session-id').textContent = s.sessionId;
    $('token-id').textContent = s.tokenId;
    $('expires').textContent = new Date(s.expiresAt).toLocaleTimeString();
    $('rotations').textContent = String(seen.size);
  }
  tick();
  if (lastSignedIn !== s.signedIn) {
    lastSignedIn = s.signedIn;
    if (s.signedIn) {
      loadDevices();
      if (document.activeElement === document.body || $('signin').contains(document.activeElement)) $('session-title').focus();
    } else {
      $('devices').replaceChildren();
      $('whoami-out').hidden = true;
      if (document.activeElement === document.body || $('session').contains(document.activeElement)) $('username').focus();
    }
  }
}

function tick() {
  const s = auth.state;
  if (!s.signedIn) {
    $('status').textContent = 'Signed out';
    return;
  }
  const left = Math.max(0, Math.round((s.expiresAt - Date.now()) / 1000));
  $('countdown').textContent = `in ${left} s`;
  $('status').textContent = `Signed in · access token expires in ${left} s`;
}

async function loadDevices() {
  if (!auth.state.signedIn) return;
  try {
    const { sessions, truncated } = await auth.devices();
    const rows = sessions.map((d) => {
      const tr = document.createElement('tr');
      const ua = document.createElement('td');
      ua.className = 'ua';
      ua.textContent = d.user_agent || 'unknown device';
      if (d.current) {
        const mark = document.createElement('span');
        mark.className = 'current';
        mark.textContent = ' (this device)';
        ua.append(mark);
      }
      const started = document.createElement('td');
      started.textContent = new Date(d.created_at).toLocaleString();
      const used = document.createElement('td');
      used.textContent = new Date(d.last_used_at).toLocaleString();
      const action = document.createElement('td');
      const end = document.createElement('button');
      end.type = 'button';
      end.className = 'secondary end-device';
      end.dataset.session = d.id;
      end.textContent = d.current ? 'End (sign out here)' : 'End';
      end.setAttribute('aria-label', `End the session of ${d.user_agent || 'unknown device'}${d.current ? ' (this device)' : ''}`);
      end.addEventListener('click', () => endDevice(d.id, d.current));
      action.append(end);
      tr.append(ua, started, used, action);
      return tr;
    });
    $('devices').replaceChildren(...rows);
    if (truncated) log('more sessions than one page holds: the newest are listed');
  } catch (e) {
    if (auth.state.signedIn) log('devices: ' + describe(e));
  }
}

async function endDevice(id, current) {
  try {
    await auth.endDevice(id);
    log(current ? 'ended this device’s session' : `ended session ${id.slice(0, 8)}…`);
    if (!current) await loadDevices();
  } catch (e) {
    log('end session: ' + describe(e));
  }
}

async function run(button, what, fn) {
  button.disabled = true;
  try {
    await fn();
  } catch (e) {
    log(`${what}: ${describe(e)}`);
  } finally {
    button.disabled = false;
  }
}

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const button = /** @type {HTMLButtonElement} */ ($('login'));
  $('login-error').textContent = '';
  run(button, 'sign in', async () => {
    try {
      await auth.login(/** @type {HTMLInputElement} */ ($('username')).value, /** @type {HTMLInputElement} */ ($('password')).value);
      /** @type {HTMLInputElement} */ ($('password')).value = '';
      log('signed in');
    } catch (e) {
      $('login-error').textContent = e instanceof AuthError ? e.message : 'the API did not answer';
      throw e;
    }
  });
});
$('whoami').addEventListener('click', (ev) => run(/** @type {HTMLButtonElement} */ (ev.currentTarget), 'who am I', async () => {
  const res = await auth.fetch('/me');
  const out = $('whoami-out');
  out.hidden = false;
  out.textContent = res.ok ? JSON.stringify(await res.json(), null, 2) : `${res.status} ${await res.text()}`;
  log(`GET /me: ${res.status}`);
}));
$('refresh').addEventListener('click', (ev) => run(/** @type {HTMLButtonElement} */ (ev.currentTarget), 'refresh', async () => {
  await auth.refresh();
  log('refreshed');
}));
$('logout').addEventListener('click', (ev) => run(/** @type {HTMLButtonElement} */ (ev.currentTarget), 'sign out', () => auth.logout()));
$('logout-all').addEventListener('click', (ev) => run(/** @type {HTMLButtonElement} */ (ev.currentTarget), 'sign out everywhere', () => auth.logoutAll()));

auth.addEventListener('change', render);
auth.addEventListener('signedout', (ev) => log(`signed out (${/** @type {CustomEvent} */ (ev).detail.reason})`));
auth.addEventListener('error', (ev) => log('refresh: ' + describe(/** @type {CustomEvent} */ (ev).detail)));
setInterval(tick, 1000);
setInterval(() => {
  if (document.visibilityState === 'visible') loadDevices();
}, 5000);

auth.start().then((signedIn) => {
  log(signedIn ? 'session restored' : 'no session: sign in');
  render();
}, (e) => {
  log('start: ' + describe(e));
  render();
});
