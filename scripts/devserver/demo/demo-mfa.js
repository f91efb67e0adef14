// The demo page's second factor and password section: answer the
// second-factor challenge of a sign-in (403 mfa_required), add a TOTP
// authenticator (the QR code is rendered by the API as a PNG data URI),
// confirm it with a first code (recovery codes shown once), remove it, and
// change the password (every other session ends).
import { auth, usernameKey } from './demo.js';
import { AuthError } from './auth-client.js';

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
/** @type {{ mfaToken: string, username: string } | null} */
let pending = null;

function message(e) {
  return e instanceof AuthError ? (e.status ? `${e.status} ${e.code}: ${e.message}` : `no answer (${e.message})`) : String(e);
}

/** A JSON call of the TOTP routes with the access token. */
async function totp(method, path, body) {
  const res = await auth.fetch(path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) throw await AuthError.from(res);
  return res.status === 204 ? null : res.json();
}

async function showStatus() {
  if (!auth.state.signedIn) return;
  try {
    const st = await totp('GET', '/auth/mfa/totp');
    $('totp-status').textContent = st.active
      ? `An authenticator app is active (${st.recovery_codes} recovery codes left).`
      : st.pending ? 'An authenticator app is being added: enter its code to confirm.' : 'No second factor: sign-in is by password alone.';
    $('totp-status').dataset.state = st.active ? 'active' : st.pending ? 'pending' : 'none';
    $('totp-remove').hidden = !st.active && !st.pending;
  } catch (e) {
    $('totp-status').textContent = 'status: ' + message(e);
  }
}

function render() {
  $('account').hidden = !auth.state.signedIn;
  if (!auth.state.signedIn) {
    $('totp-enrolment').hidden = true;
    $('totp-recovery').hidden = true;
    return;
  }
  $('mfa-form').hidden = true;
  $('login-form').hidden = false;
  pending = null;
}

let wasSignedIn = false;
auth.addEventListener('change', () => {
  render();
  if (auth.state.signedIn && !wasSignedIn) showStatus();
  wasSignedIn = auth.state.signedIn;
});

document.addEventListener('mfa-required', (ev) => {
  pending = /** @type {CustomEvent} */ (ev).detail;
  $('login-form').hidden = true;
  $('mfa-form').hidden = false;
  $('mfa-error').textContent = '';
  input('mfa-code').value = '';
  input('mfa-code').focus();
});

$('mfa-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (!pending) return;
  const typed = input('mfa-code').value.trim();
  const button = /** @type {HTMLButtonElement} */ ($('mfa-submit'));
  button.disabled = true;
  try {
    const { mfaToken, username } = pending;
    await auth.loginMFA(mfaToken, /^\d{6}$/.test(typed) ? typed : { recoveryCode: typed });
    localStorage.setItem(usernameKey(auth.state.subject), username.trim().toLowerCase());
  } catch (e) {
    // A wrong or used code, or a challenge past its 5 minutes (sign in again).
    $('mfa-error').textContent = message(e);
  } finally {
    button.disabled = false;
  }
});

$('totp-enrol').addEventListener('click', async () => {
  $('totp-error').textContent = '';
  try {
    const e = await totp('POST', '/auth/mfa/totp', { label: localStorage.getItem(usernameKey(auth.state.subject)) || '' });
    /** @type {HTMLImageElement} */ ($('totp-qr')).src = e.qr_code;
    $('totp-secret').textContent = e.secret;
    $('totp-enrolment').hidden = false;
    $('totp-recovery').hidden = true;
    input('totp-code').focus();
    await showStatus();
  } catch (e) {
    $('totp-error').textContent = 'add: ' + message(e);
  }
});

$('totp-code-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('totp-error').textContent = '';
  try {
    const { recovery_codes: codes } = await totp('POST', '/auth/mfa/totp/confirm', { code: input('totp-code').value.trim() });
    $('totp-recovery-codes').replaceChildren(...codes.map((c) => Object.assign(document.createElement('li'), { textContent: c })));
    $('totp-recovery').hidden = false;
    $('totp-enrolment').hidden = true;
    input('totp-code').value = '';
    await showStatus();
  } catch (e) {
    $('totp-error').textContent = 'confirm: ' + message(e);
  }
});

$('totp-remove').addEventListener('click', async () => {
  $('totp-error').textContent = '';
  try {
    await totp('DELETE', '/auth/mfa/totp', { code: input('totp-code').value.trim() });
    input('totp-code').value = '';
    $('totp-recovery').hidden = true;
    await showStatus();
  } catch (e) {
    $('totp-error').textContent = 'remove: ' + message(e) + (e instanceof AuthError && e.code === 'insufficient_user_authentication' ? ' (sign out and in again)' : '');
  }
});

$('password-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('password-error').textContent = '';
  const button = /** @type {HTMLButtonElement} */ ($('change-password'));
  button.disabled = true;
  try {
    const code = input('password-code').value.trim();
    await auth.changePassword(input('current-password').value, input('new-password').value,
      /^\d{6}$/.test(code) || code === '' ? code : { recoveryCode: code });
    for (const id of ['current-password', 'new-password', 'password-code']) input(id).value = '';
    $('password-error').textContent = '';
    $('totp-status').dataset.password = 'changed';
  } catch (e) {
    $('password-error').textContent = 'change password: ' + message(e);
  } finally {
    button.disabled = false;
  }
});

render();
