// The demo page of scripts/dev: every call of the browser client, on the
// API's own origin. ?refresh_before=SECONDS refreshes that long before the
// access token expires (e.g. 28 with --param AccessTokenTTL=30s, to watch
// rotations every few seconds). ?dpop=off: bearer tokens, not bound to a
// DPoP key (the client's dpop option), for comparison.
//
// It never hides a failure: a call that fails shows on the banner and next
// to the button that made it; when the API does not answer, the banner
// says so (not "Signed in"), the session list is marked as old, and the page
// polls the API with backoff and recovers by itself when it answers again.
import { createAuthClient, AuthError, passkeysSupported, passkeyAutofillSupported } from './auth-client.js';
import { renderBinding } from './binding.js';

const params = new URLSearchParams(location.search);
const refreshBefore = Number(params.get('refresh_before'));
// ?autofill=off: no passkey suggestions in the username field (the
// browser test of the passkey button: a virtual authenticator answers
// the autofill's request at once).
const autofillOff = params.get('autofill') === 'off';
export const auth = createAuthClient({
  ...(Number.isFinite(refreshBefore) && refreshBefore > 0 ? { refreshBeforeMs: refreshBefore * 1000 } : {}),
  ...(params.get('dpop') === 'off' ? { dpop: 'off' } : {}),
});

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const seen = new Set();
let lastSignedIn = null;
let started = false; // auth.start() has answered
/** @type {{ since: number, what: string, retryAt: number, delay: number, timer?: ReturnType<typeof setTimeout> } | null} */
let down = null; // the API does not answer
/** @type {{ what: string, text: string } | null} */
let failure = null; // the last call that failed (cleared by the next success)
let ending = ''; // why the last sign-out happened
let lockedUntil = 0; // the sign-in lockout's end (Retry-After), epoch ms

// Usernames are not in the access token (its sub is the user id): the page
// keeps the one typed at sign-in, per user id, to show it after a reload.
// Not a secret (the page shows it); never the password or a token.
export const usernameKey = (sub) => 'lambda-auth-demo.username.' + sub;

function log(text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('log').prepend(li); // newest first; the list counts down (reversed)
  while ($('log').children.length > 50) $('log').lastElementChild.remove();
}

function describe(e) {
  if (e instanceof AuthError) return e.status ? `${e.status} ${e.code}: ${e.message}` : `no answer (${e.message})`;
  return e instanceof TypeError ? `no answer (${e.message})` : String(e);
}

/** Whether e means the API did not answer (network error, 5xx, time-out). */
function unreachable(e) {
  if (e instanceof AuthError) return e.status === 0 || e.status >= 500;
  return e instanceof TypeError || (e instanceof DOMException && (e.name === 'TimeoutError' || e.name === 'AbortError'));
}

// --- failures: on the banner, next to the button, and the API's return ---

/** The error line next to a button (created on first use). @param {HTMLElement} button */
function errorBeside(button) {
  const id = button.id ? button.id + '-error' : '';
  let el = id ? document.getElementById(id) : /** @type {HTMLElement | null} */ (button.nextElementSibling?.classList.contains('beside') ? button.nextElementSibling : null);
  if (!el) {
    el = document.createElement('span');
    el.className = 'beside error';
    el.setAttribute('role', 'alert');
    if (id) el.id = id;
    button.after(el);
    if (el.id) button.setAttribute('aria-describedby', el.id);
  }
  return el;
}

/** A call failed: say so by its button and on the banner. */
function failed(button, what, e) {
  const text = describe(e);
  log(`${what}: ${text}`);
  if (button) errorBeside(button).textContent = `${what} failed: ${text}`;
  failure = { what, text };
  if (unreachable(e)) apiDown(what);
  render();
}

/** A call worked: its button's error goes, and the banner's if it was this one. */
function succeeded(button, what) {
  if (button) {
    const el = button.id ? document.getElementById(button.id + '-error') : button.nextElementSibling;
    if (el?.classList.contains('beside')) el.textContent = '';
  }
  if (failure?.what === what) failure = null;
}

/** The API did not answer: poll it with backoff until it does. */
function apiDown(what) {
  if (down) {
    down.what = what;
    return;
  }
  down = { since: Date.now(), what, retryAt: Date.now() + 1000, delay: 1000 };
  log('the API is not answering: retrying with backoff');
  schedulePoll();
}

function schedulePoll() {
  if (!down) return;
  clearTimeout(down.timer);
  down.retryAt = Date.now() + down.delay;
  down.timer = setTimeout(poll, down.delay);
}

async function poll() {
  if (!down) return;
  let ok = false;
  try {
    // A public route of the API, no token, no cookie: is it answering?
    const res = await fetch('/.well-known/openid-configuration', { cache: 'no-store', signal: AbortSignal.timeout(3000) });
    ok = res.ok;
  } catch {
    ok = false;
  }
  if (!down) return;
  if (!ok) {
    down.delay = Math.min(down.delay * 2, 16000);
    schedulePoll();
    render();
    return;
  }
  const was = down;
  down = null;
  failure = null;
  for (const el of document.querySelectorAll('.beside')) el.textContent = '';
  log(`the API answers again (it did not for ${Math.round((Date.now() - was.since) / 1000)} s)`);
  // Catch up: the session as the API now sees it. Signed in, the device
  // list does it (auth.fetch refreshes only when the token is due or
  // refused: no extra rotation); otherwise the client starts again.
  if (!auth.state.signedIn || !started) {
    try {
      const signedIn = await auth.start();
      started = true;
      log(signedIn ? 'session restored' : 'no session: sign in');
    } catch (e) {
      failed(null, 'reconnect', e);
    }
  }
  await loadDevices();
  render();
}

// --- rendering ---

function render() {
  const s = auth.state;
  $('signin').hidden = s.signedIn;
  $('session').hidden = !s.signedIn;
  if (s.signedIn) {
    if (!seen.has(s.tokenId)) seen.add(s.tokenId);
    const name = localStorage.getItem(usernameKey(s.subject));
    const user = $('subject');
    user.textContent = name || 'unknown username (signed in before this page kept it)';
    user.title = 'user id (sub): ' + s.subject;
    $('user-id').textContent = s.subject;
    $('session-id').textContent = s.sessionId;
    $('token-id').textContent = s.tokenId;
    renderBinding($('binding'), s);
    $('expires').textContent = new Date(s.expiresAt).toLocaleTimeString();
    $('rotations').textContent = String(seen.size);
    $('amr').textContent = amrText(auth.signInMethods);
  }
  $('devices-table').classList.toggle('stale', down !== null);
  $('devices-stale').hidden = down === null;
  tick();
  if (lastSignedIn !== s.signedIn) {
    lastSignedIn = s.signedIn;
    if (s.signedIn) {
      ending = '';
      stopAutofill();
      loadDevices();
      loadPasskeys();
      if (document.activeElement === document.body || $('signin').contains(document.activeElement)) $('session-title').focus();
    } else {
      $('devices').replaceChildren();
      $('passkeys').replaceChildren();
      $('whoami-out').hidden = true;
      if (started) startAutofill();
      if (document.activeElement === document.body || $('session').contains(document.activeElement)) $('username').focus();
    }
  }
}

/** The banner: the API's state first, then the session's. */
function tick() {
  const s = auth.state;
  const status = $('status');
  let text;
  let kind;
  if (down) {
    kind = 'down';
    const retry = Math.max(0, Math.ceil((down.retryAt - Date.now()) / 1000));
    text = `The API is not answering (since ${new Date(down.since).toLocaleTimeString()}; ${down.what} failed): ` +
      (retry > 0 ? `retrying in ${retry} s` : 'retrying now') +
      (s.signedIn ? ' · what is shown below may be out of date' : '');
  } else if (!started) {
    kind = '';
    text = 'Starting…';
  } else if (s.signedIn) {
    kind = 'in';
    const left = Math.max(0, Math.round((s.expiresAt - Date.now()) / 1000));
    $('countdown').textContent = `in ${left} s`;
    text = `Signed in · access token expires in ${left} s`;
  } else {
    kind = 'out';
    text = ending ? `Signed out: ${ending}` : 'Signed out';
  }
  if (failure && !down) {
    kind += ' failed';
    text += ` · ${failure.what} failed: ${failure.text}`;
  }
  status.className = 'status ' + kind;
  if (status.textContent !== text) status.textContent = text;
  const wait = Math.ceil((lockedUntil - Date.now()) / 1000);
  const button = /** @type {HTMLButtonElement} */ ($('login'));
  if (wait > 0) {
    $('login-error').textContent = `Too many attempts: sign-in is locked, try again in ${wait} s`;
    button.disabled = true;
  } else if (lockedUntil) {
    lockedUntil = 0;
    $('login-error').textContent = '';
    button.disabled = false;
  }
}

// "Chrome on Linux" from a User-Agent; the raw one is the cell's title.
/** @param {string} ua */
export function deviceName(ua) {
  if (!ua) return 'unknown device';
  const browsers = [
    [/\bEdg(e|A|iOS)?\//, 'Edge'], [/\bOPR\//, 'Opera'], [/\bSamsungBrowser\//, 'Samsung Internet'],
    [/\bFirefox\/|\bFxiOS\//, 'Firefox'], [/\bHeadlessChrome\//, 'Headless Chrome'], [/\bChromium\//, 'Chromium'],
    [/\bChrome\/|\bCriOS\//, 'Chrome'], [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
    [/^curl\//, 'curl'], [/^Go-http-client\//, 'a Go program'], [/^node\b|\bundici\b/i, 'Node.js'], [/^python-requests\//, 'Python requests'],
  ];
  const systems = [
    [/\bWindows\b/, 'Windows'], [/\biPhone\b/, 'iPhone'], [/\biPad\b/, 'iPad'], [/\bAndroid\b/, 'Android'],
    [/\bCrOS\b/, 'ChromeOS'], [/\bMac OS X\b|\bMacintosh\b/, 'macOS'], [/\bLinux\b/, 'Linux'],
  ];
  const browser = browsers.find(([re]) => /** @type {RegExp} */ (re).test(ua))?.[1];
  const system = systems.find(([re]) => /** @type {RegExp} */ (re).test(ua))?.[1];
  if (!browser) return ua.length > 60 ? ua.slice(0, 57) + '…' : ua;
  return system ? `${browser} on ${system}` : String(browser);
}

async function loadDevices() {
  if (!auth.state.signedIn) return;
  try {
    const { sessions, truncated } = await auth.devices();
    const rows = sessions.map((d) => {
      const tr = document.createElement('tr');
      const ua = document.createElement('td');
      ua.className = 'ua';
      const name = deviceName(d.user_agent);
      ua.textContent = name;
      ua.title = d.user_agent || 'the device sent no User-Agent';
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
      end.setAttribute('aria-label', `End the session of ${name}${d.current ? ' (this device)' : ''}`);
      end.addEventListener('click', () => endDevice(end, d.id, d.current, name));
      action.append(end);
      tr.append(ua, started, used, action);
      return tr;
    });
    $('devices').replaceChildren(...rows);
    $('devices-loaded').textContent = new Date().toLocaleTimeString();
    succeeded(null, 'session list');
    if (truncated) log('more sessions than one page holds: the newest are listed');
  } catch (e) {
    if (auth.state.signedIn || unreachable(e)) failed(null, 'session list', e);
  }
}

async function endDevice(button, id, current, name) {
  await run(button, current ? 'end this device' : `end ${name}`, async () => {
    await auth.endDevice(id);
    if (current) ending = 'you ended this device’s session';
    log(current ? 'ended this device’s session' : `ended the session of ${name} (${id.slice(0, 8)}…)`);
    if (!current) await loadDevices();
  });
}

/** Runs a button's call: disabled meanwhile; a failure shows beside it and on the banner. */
async function run(button, what, fn) {
  button.disabled = true;
  try {
    await fn();
    succeeded(button, what);
  } catch (e) {
    failed(button, what, e);
  } finally {
    if (button.isConnected) button.disabled = false;
    render();
  }
}

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const button = /** @type {HTMLButtonElement} */ ($('login'));
  if (Date.now() < lockedUntil) return;
  $('login-error').textContent = '';
  stopAutofill();
  run(button, 'sign in', async () => {
    const username = /** @type {HTMLInputElement} */ ($('username')).value;
    try {
      await auth.login(username, /** @type {HTMLInputElement} */ ($('password')).value);
      /** @type {HTMLInputElement} */ ($('password')).value = '';
      localStorage.setItem(usernameKey(auth.state.subject), username.trim().toLowerCase());
      log(`signed in as ${username.trim().toLowerCase()}`);
      render();
    } catch (e) {
      if (e instanceof AuthError && e.code === 'mfa_required' && e.mfaToken) {
        // The password was right; the second factor finishes it (demo-mfa.js).
        /** @type {HTMLInputElement} */ ($('password')).value = '';
        log('password accepted: second factor required');
        document.dispatchEvent(new CustomEvent('mfa-required', { detail: { mfaToken: e.mfaToken, username } }));
        return;
      }
      if (e instanceof AuthError && e.status === 429 && e.retryAfter !== undefined) {
        lockedUntil = Date.now() + e.retryAfter * 1000;
        log(`sign in: locked for ${e.retryAfter} s (Retry-After)`);
      } else {
        $('login-error').textContent = e instanceof AuthError && e.status ? e.message : 'the API did not answer';
      }
      throw e;
    }
  });
});
$('whoami').addEventListener('click', (ev) => run(/** @type {HTMLButtonElement} */ (ev.currentTarget), 'who am I', async () => {
  const out = $('whoami-out');
  try {
    const res = await auth.fetch('/me');
    const text = await res.text();
    out.hidden = false;
    log(`GET /me: ${res.status}`);
    if (res.ok) {
      out.textContent = JSON.stringify(JSON.parse(text), null, 2);
      return;
    }
    out.textContent = `${res.status} ${text}`;
    /** @type {any} */
    let body = {};
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: the status says enough
    }
    throw new AuthError(res.status, String(body.error || `http_${res.status}`), String(body.message || body.error_description || res.statusText));
  } catch (e) {
    out.hidden = false;
    if (!(e instanceof AuthError && e.status)) out.textContent = `GET /me: ${describe(e)}`;
    throw e;
  }
}));
$('refresh').addEventListener('click', (ev) => run(/** @type {HTMLButtonElement} */ (ev.currentTarget), 'refresh', async () => {
  await auth.refresh();
  log('refreshed');
}));
$('logout').addEventListener('click', (ev) => run(/** @type {HTMLButtonElement} */ (ev.currentTarget), 'sign out', () => auth.logout()));
$('logout-all').addEventListener('click', (ev) => run(/** @type {HTMLButtonElement} */ (ev.currentTarget), 'sign out everywhere', () => auth.logoutAll()));

/** Why the session ended, in words. @param {string} reason */
function endedText(reason) {
  switch (reason) {
    case 'logout': return 'you signed out';
    case 'logout-all': return 'signed out everywhere (logout-all)';
    case 'ended': return 'you ended this device’s session';
    case 'ended-elsewhere': return 'this session was ended from another device';
    case 'revoked': return 'the session was revoked (by an operator, or a stolen token was used)';
    case 'expired': return 'the session expired';
    case 'key-lost': return 'this browser no longer has the key the session is bound to (DPoP)';
    default: return reason;
  }
}

auth.addEventListener('change', render);
auth.addEventListener('signedout', (ev) => {
  const reason = /** @type {CustomEvent} */ (ev).detail.reason;
  ending = endedText(reason);
  log(`signed out: ${ending}`);
  render();
});
auth.addEventListener('error', (ev) => failed(null, 'refresh', /** @type {CustomEvent} */ (ev).detail));
setInterval(tick, 1000);
setInterval(() => {
  if (document.visibilityState === 'visible' && !down) loadDevices();
}, 5000);

auth.start().then((signedIn) => {
  started = true;
  log(signedIn ? 'session restored' : 'no session: sign in');
  render();
  if (!signedIn) startAutofill();
}, (e) => {
  started = !unreachable(e); // unreachable: the poll starts the client again
  failed(null, 'start', e);
});

// --- passkeys: sign in (button and autofill), add, list, remove ---

/** RFC 8176 methods in words. @param {string[]} amr */
function amrText(amr) {
  if (amr.includes('hwk') || amr.includes('swk')) {
    return `a passkey (${amr.includes('swk') ? 'synced' : 'this device'}; amr ${amr.join(' ')})`;
  }
  return amr.includes('pwd') ? `a password (amr ${amr.join(' ')})` : (amr.join(' ') || '–');
}

/** @type {AbortController | null} */
let autofill = null; // the pending conditional request

// A browser takes no IP address as a passkey's site (RP ID): on
// http://127.0.0.1 the page offers no passkey at all and calls none of
// their routes; http://localhost works.
const passkeyHost = !/^\d+\.\d+\.\d+\.\d+$|^\[/.test(location.hostname);
const passkeysHere = () => passkeyHost && passkeysSupported();

/** Offers the passkeys in the username field's autofill (conditional mediation). */
async function startAutofill() {
  if (autofill || auth.state.signedIn || !passkeyHost || autofillOff || !(await passkeyAutofillSupported())) return;
  const ctl = new AbortController();
  autofill = ctl;
  try {
    await auth.loginWithPasskey({ conditional: true, signal: ctl.signal });
    rememberPasskeyUser();
    log('signed in with a passkey (autofill)');
  } catch (e) {
    if (ctl.signal.aborted) return;
    // An expired challenge, a refused answer: offer the autofill again.
    log(`passkey autofill: ${describe(e)}`);
    if (autofill === ctl) autofill = null;
    // Only the API's refusal (an expired challenge, say) is worth a new
    // request; the browser's refusals and a silent API are not retried here
    // (the next sign-out or page load offers the autofill again).
    if (!auth.state.signedIn && e instanceof AuthError && (e.status === 400 || e.status === 401)) setTimeout(startAutofill, 1000);
    return;
  }
  if (autofill === ctl) autofill = null;
  render();
}

function stopAutofill() {
  autofill?.abort();
  autofill = null;
}

/** A passkey sign-in types no username: show the user id's last one, if any. */
function rememberPasskeyUser() {
  const sub = auth.state.subject;
  if (sub && !localStorage.getItem(usernameKey(sub))) localStorage.setItem(usernameKey(sub), `(signed in with a passkey; user ${sub.slice(0, 8)}…)`);
}

async function loadPasskeys() {
  if (!auth.state.signedIn || !passkeysHere()) return;
  try {
    const { passkeys } = await auth.passkeys();
    const rows = passkeys.map((p, i) => {
      const tr = document.createElement('tr');
      tr.className = 'passkey-row';
      const name = document.createElement('td');
      name.textContent = `${p.backup_eligible ? 'Synced passkey' : 'Device passkey'} ${p.id.slice(0, 8)}…` + (p.refused ? ' (refused: possibly cloned)' : '');
      name.title = `id ${p.id}; transports ${p.transports.join(', ') || 'none said'}` + (p.aaguid ? `; AAGUID ${p.aaguid}` : '');
      const added = document.createElement('td');
      added.textContent = new Date(p.created_at).toLocaleString();
      const used = document.createElement('td');
      used.textContent = new Date(p.last_used_at).toLocaleString();
      const action = document.createElement('td');
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'secondary remove-passkey';
      remove.id = `passkey-remove-${i}`;
      remove.textContent = 'Remove';
      remove.setAttribute('aria-label', `Remove passkey ${p.id.slice(0, 8)}`);
      remove.addEventListener('click', () => run(remove, 'remove a passkey', async () => {
        await auth.removePasskey(p.id);
        log(`removed passkey ${p.id.slice(0, 8)}…`);
        await loadPasskeys();
      }));
      action.append(remove);
      tr.append(name, added, used, action);
      return tr;
    });
    $('passkeys').replaceChildren(...rows);
    succeeded(null, 'passkey list');
  } catch (e) {
    if (auth.state.signedIn || unreachable(e)) failed(null, 'passkey list', e);
  }
}

$('passkey-add').addEventListener('click', (ev) => run(/** @type {HTMLButtonElement} */ (ev.currentTarget), 'add a passkey', async () => {
  try {
    const p = await auth.registerPasskey();
    log(`added passkey ${p.id.slice(0, 8)}…`);
  } catch (e) {
    if (e instanceof AuthError && e.code === 'insufficient_user_authentication') {
      throw new AuthError(e.status, e.code, 'sign out and sign in again (a sign-in of the last 5 minutes is needed), then add the passkey');
    }
    throw e;
  }
  await loadPasskeys();
}));
$('passkey-login').addEventListener('click', (ev) => run(/** @type {HTMLButtonElement} */ (ev.currentTarget), 'sign in with a passkey', async () => {
  stopAutofill(); // one WebAuthn request at a time
  try {
    await auth.loginWithPasskey();
    rememberPasskeyUser();
    log('signed in with a passkey');
  } finally {
    if (!auth.state.signedIn) startAutofill();
  }
}));
if (!passkeysHere()) {
  for (const id of ['passkey-login', 'passkey-add']) /** @type {HTMLButtonElement} */ ($(id)).disabled = true;
  $('passkey-hint').textContent = passkeyHost ? 'This browser has no passkey support (WebAuthn).'
    : `Passkeys need a site name, not an IP address: open http://localhost:${location.port}${location.pathname}`;
}
