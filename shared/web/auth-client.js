// @ts-check
/**
 * Browser client for lambda-auth: one dependency-free ES module, no build
 * step. Copy this file into your app, or import it from where you serve it.
 *
 *   import { createAuthClient } from './auth-client.js';
 *   const auth = createAuthClient({ baseUrl: 'https://api.example.com' });
 *   auth.addEventListener('change', () => render(auth.state));
 *   await auth.start();                       // restores the session of the refresh cookie
 *   await auth.login('alice@example.com', pw);
 *   const res = await auth.fetch('/me');      // Authorization added, refreshed as needed
 *
 * The API, in full: createAuthClient(options) -> AuthClient, with
 * `state` (AuthState), `start()`, `login(username, password)`,
 * `refresh()`, `fetch(path, init)`, `getAccessToken()`,
 * `authHeaders(method, url)`, `logout()`, `logoutAll()`, `devices()`,
 * `endDevice(id)`, `close()` and the events "change", "signedout" and
 * "error"; AuthError; and for DPoP, `dpopAvailable()`, `jwkThumbprint(jwk)`
 * and `signProof(key, request)`.
 *
 * What it does and never does:
 * - The access token lives in this module's memory only (a private field),
 *   shared with the other tabs of the origin over a BroadcastChannel. It is
 *   never written to localStorage, sessionStorage, IndexedDB or a cookie
 *   (IndexedDB holds only the DPoP key pair, below).
 *   The refresh token is the API's HttpOnly cookie: script never sees it.
 * - It refreshes shortly before `exp`, and on a 401 or a 403 (API Gateway
 *   answers 403 to an expired or revoked token alike) when the token has
 *   expired or has not been refused before. A token that is refused again
 *   right after a refresh gave it is not refreshed again for that route's
 *   answer: a route that forbids the user does not rotate the session on
 *   every call.
 * - `fetch` sends the access token only to the API's origin and the
 *   `tokenOrigins` named, never wherever a path happens to point; the
 *   refresh cookie goes along to the API's origin only.
 * - One refresh at a time across every tab of the origin, and one tab
 *   (the leader, chosen with a Web Lock) refreshes on schedule: the others
 *   take its token from the BroadcastChannel, and refresh themselves only
 *   on a 401/403 or when the token expires without a new one. Without Web
 *   Locks every tab schedules, and a tab announces its refresh so that the
 *   others wait for its result.
 * - A 409 refresh_conflict is retried as its Retry-After says. A refresh
 *   whose answer was lost (network error, 5xx, time-out) is retried with
 *   the same cookie within `retryWindowMs`, inside the API's grace window
 *   (REFRESH_REUSE_GRACE, 5 s): the API answers it with the same next token.
 * - Logout, logout-all and ending this device sign every tab out at once.
 * - With `sessionHint` (default on) it keeps one non-secret flag in
 *   localStorage, "a session may exist", so that a visitor without a session
 *   costs no refresh call (and no 401) on every page load.
 *
 * - DPoP (RFC 9449, option `dpop`, "auto" by default): each login makes a
 *   new ECDSA P-256 key with WebCrypto, non-extractable (script, this
 *   module included, can sign with it but never read it), and keeps the
 *   CryptoKeyPair in IndexedDB ("<name>:dpop"), so that a reload or another
 *   tab uses the same key. Every login, refresh and logout carries a proof
 *   (`DPoP` header: typ dpop+jwt, ES256, the public jwk, htm, htu without
 *   query or fragment, iat, a random jti, the server's nonce once it gave
 *   one); when the API answers `token_type: DPoP`, the session and its
 *   access tokens are bound to the key (cnf.jkt), and `fetch` sends
 *   `Authorization: DPoP <token>` with a proof whose ath is the token's
 *   hash. A token copied out of the page is useless without the key. A
 *   `use_dpop_nonce` challenge (a 400 of the token endpoint, a 401 with
 *   WWW-Authenticate: DPoP error="use_dpop_nonce" of a resource) is
 *   answered once with the DPoP-Nonce it carries. Without WebCrypto or
 *   IndexedDB the client sends no proof and gets bearer tokens where the
 *   API allows them (an API that requires DPoP refuses the login); with
 *   `dpop: "required"` it refuses to sign in instead. Signing out deletes
 *   the key. Nonces live in memory only.
 *
 * Errors of the API come back as AuthError, with `code` from the body's
 * `error` and `message` from `message` or `error_description`.
 */

/**
 * @typedef {object} AuthClientOptions
 * @property {string} [baseUrl] where the API is, e.g. "https://api.example.com"; "" (default): this origin
 * @property {number} [refreshBeforeMs] refresh this long before the access token's `exp` (default: a quarter of the token's lifetime, at most 60 s; at least 1 s passes between refreshes)
 * @property {number} [retryWindowMs] retry a refresh whose answer was lost for this long after its first attempt (default 4 000; keep it under the API's REFRESH_REUSE_GRACE)
 * @property {number} [timeoutMs] give up on one attempt of a refresh after this long (default 3 000)
 * @property {string} [name] names the lock, the channel and the hint, so that two clients of two APIs on one origin stay apart (default "lambda-auth")
 * @property {boolean} [sessionHint] keep the "a session may exist" flag (default true)
 * @property {string[]} [tokenOrigins] other origins `fetch` may send the access token to, e.g. ["https://orders.example.com"] (APIs behind the same authorizer); default none
 * @property {typeof fetch} [fetch] the fetch to use (default globalThis.fetch)
 * @property {'auto' | 'required' | 'off'} [dpop] bind the session to a DPoP key (RFC 9449): "auto" (default) when this browser can keep one (dpopAvailable()), else bearer tokens if the API allows them; "required": never sign in without one (login rejects with AuthError code dpop_unavailable); "off": bearer tokens
 */

/**
 * @typedef {object} AuthState
 * @property {boolean} signedIn
 * @property {number} expiresAt when the access token expires, epoch ms (0 when signed out)
 * @property {string} subject the user id (`sub`)
 * @property {string} sessionId the session (`sid`): the session list marks it current
 * @property {string} tokenId the access token's `jti`, new at every refresh
 * @property {string} scope
 * @property {string} tokenType "DPoP" (the token is bound to this browser's key) or "Bearer"
 * @property {string} keyThumbprint the RFC 7638 thumbprint of the key the token is bound to (its cnf.jkt), "" for a bearer token
 */

/**
 * @typedef {object} Device
 * @property {string} id session id
 * @property {string} client_id
 * @property {string} user_agent as the device sent it at login
 * @property {string} created_at RFC 3339
 * @property {string} last_used_at RFC 3339
 * @property {string} expires_at RFC 3339
 * @property {boolean} current this session
 */

/** An error answer of the API, or a failure to reach it (status 0). */
export class AuthError extends Error {
  /**
   * @param {number} status HTTP status; 0 when no answer came
   * @param {string} code the body's `error`, e.g. "invalid_credentials"
   * @param {string} message
   * @param {number} [retryAfter] seconds, from Retry-After
   * @param {string} [sessionEnded] how the session ended, from a refresh's 401
   *   (the body's `session_ended`: "expired", "ended", "logout-all", "revoked")
   */
  constructor(status, code, message, retryAfter, sessionEnded) {
    super(message);
    this.name = 'AuthError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.sessionEnded = sessionEnded;
    /** @type {string | undefined} the challenge of a 403 mfa_required: pass it to loginMFA */
    this.mfaToken = undefined;
  }

  /**
   * Reads an error answer: `{"error","message"}` or `{"error","error_description"}`
   * (RFC 6749 5.2), or API Gateway's own `{"message"}`.
   * @param {Response} res
   */
  static async from(res) {
    /** @type {any} */
    let body = {};
    try {
      body = await res.json();
    } catch {
      // not JSON: the status says enough
    }
    const ra = Number(res.headers.get('retry-after'));
    const e = new AuthError(res.status, String(body.error || statusCode(res.status)),
      String(body.message || body.error_description || res.statusText || 'request failed'),
      Number.isFinite(ra) && res.headers.has('retry-after') ? ra : undefined,
      typeof body.session_ended === 'string' ? body.session_ended : undefined);
    if (typeof body.mfa_token === 'string') e.mfaToken = body.mfa_token;
    return e;
  }
}

/**
 * Whether a refresh's error means the session cannot go on in this browser:
 * a 401 or 403, or a refusal of its DPoP proof (the key is gone).
 * @param {unknown} e
 */
function sessionOver(e) {
  return e instanceof AuthError && (e.status === 401 || e.status === 403 || e.code === 'invalid_dpop_proof');
}

/** @param {number} status */
function statusCode(status) {
  return status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : `http_${status}`;
}

/** This page's origin ("http://localhost" outside a browser). */
function pageOrigin() {
  return globalThis.location?.origin || 'http://localhost';
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A refresh asked for this soon after another tab's new token takes that token. */
const FRESH_MS = 900;

/**
 * The claims shown to the app. The token's signature is the API's
 * business; this only reads what the token says, for display and for
 * marking the current session.
 * @param {string} jwt
 */
function readClaims(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = atob(part + '='.repeat((4 - (part.length % 4)) % 4));
    const c = JSON.parse(decodeURIComponent(Array.from(json, (ch) => '%' + ch.charCodeAt(0).toString(16).padStart(2, '0')).join('')));
    const jkt = c.cnf && typeof c.cnf.jkt === 'string' ? c.cnf.jkt : '';
    return { sub: String(c.sub || ''), sid: String(c.sid || ''), jti: String(c.jti || ''), scope: String(c.scope || ''), jkt };
  } catch {
    return { sub: '', sid: '', jti: '', scope: '', jkt: '' };
  }
}

/** The Web Locks API, where the browser has it. */
function webLocks() {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  return locks && typeof locks.request === 'function' ? locks : undefined;
}

/** @param {AuthClientOptions} [options] */
export function createAuthClient(options) {
  return new AuthClient(options);
}

/**
 * Why a refresh's 401 signed the tabs out, from the API's `session_ended`:
 * "expired"; "ended-elsewhere" (the user ended this session from another
 * device's list, or a new login or an RFC 7009 revocation replaced it);
 * "logout-all" (done on another device: here it is "logout-all" at once);
 * "revoked" (an operator, reuse of a stolen token, a disabled user); and
 * "expired" when the API does not say (a token of no session).
 * @param {string | undefined} ended
 */
function endReason(ended) {
  switch (ended) {
    case 'ended': return 'ended-elsewhere';
    case 'logout-all': return 'logout-all';
    case 'revoked': return 'revoked';
    default: return 'expired';
  }
}

/**
 * The access token held: type is "DPoP" or "Bearer".
 * @typedef {{ value: string, type: string, expiresAt: number, lifetime: number, receivedAt: number, claims: ReturnType<typeof readClaims> }} HeldToken
 */

/**
 * Events (EventTarget): "change" whenever `state` changes (a login, a
 * refresh here or in another tab, a sign-out); "signedout" with
 * `detail.reason`: "logout", "logout-all", "ended" (this device ended from
 * this browser), or when the session can no longer be refreshed
 * "ended-elsewhere", "revoked" or "expired" (endReason), or "key-lost"
 * (its refresh needs a proof of a DPoP key this browser no longer has).
 */
export class AuthClient extends EventTarget {
  /** @type {HeldToken | null} */
  #token = null;
  #generation = 0; // counts tokens taken, here or from another tab
  #peerTakenAt = 0; // when a token last came from another tab, epoch ms
  /** @type {Promise<void> | null} */
  #inflight = null;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #timer;
  #rechecked = ''; // jti of the token that already met a 403
  #peerRefreshUntil = 0; // without Web Locks: another tab announced a refresh
  #leader = false; // this tab refreshes on schedule
  #peerDone = 0; // refreshes other tabs finished (their "done" messages)
  /** @type {(() => void) | null} */
  #resign = null;
  /** @type {BroadcastChannel | null} */
  #channel = null;
  #opt;
  #apiOrigin;
  /** @type {DPoPKeyStore | null} */
  #keys = null; // null: no DPoP (off, or this browser cannot keep a key)
  #tokenNonce = ''; // the token endpoint's last DPoP-Nonce (RFC 9449 8)
  /** @type {DPoPKey | null} */
  #mfaKey = null; // the key of a password step that answered mfa_required: the second step proves it too
  /** @type {Map<string, string>} */
  #resourceNonces = new Map(); // a resource origin's last DPoP-Nonce (RFC 9449 9)

  /** @param {AuthClientOptions} [options] */
  constructor(options = {}) {
    super();
    this.#opt = {
      baseUrl: (options.baseUrl || '').replace(/\/+$/, ''),
      refreshBeforeMs: options.refreshBeforeMs,
      retryWindowMs: options.retryWindowMs ?? 4_000,
      timeoutMs: options.timeoutMs ?? 3_000,
      name: options.name || 'lambda-auth',
      sessionHint: options.sessionHint ?? true,
      fetch: options.fetch || globalThis.fetch.bind(globalThis),
      tokenOrigins: (options.tokenOrigins || []).map((o) => new URL(o).origin),
      dpop: options.dpop || 'auto',
    };
    if (this.#opt.dpop !== 'off' && dpopAvailable()) this.#keys = new DPoPKeyStore(this.#opt.name);
    this.#apiOrigin = new URL(this.#opt.baseUrl || '/', pageOrigin()).origin;
    if (typeof BroadcastChannel === 'function') {
      this.#channel = new BroadcastChannel(this.#opt.name);
      this.#channel.onmessage = (e) => this.#onMessage(e.data);
    }
    const locks = webLocks();
    if (locks) {
      // The first tab holds the leader lock until it closes; the next
      // waiting tab then takes over the schedule.
      locks.request(this.#opt.name + ':leader', () => new Promise((resolve) => {
        this.#leader = true;
        this.#resign = () => resolve(undefined);
        this.#schedule();
      })).catch(() => {});
    } else {
      this.#leader = true;
    }
  }

  /** @returns {AuthState} */
  get state() {
    const t = this.#token;
    return {
      signedIn: t !== null,
      expiresAt: t ? t.expiresAt : 0,
      subject: t ? t.claims.sub : '',
      sessionId: t ? t.claims.sid : '',
      tokenId: t ? t.claims.jti : '',
      scope: t ? t.claims.scope : '',
      tokenType: t ? t.type : '',
      keyThumbprint: t && t.type === 'DPoP' ? t.claims.jkt : '',
    };
  }

  /**
   * Restores the session: takes the token of another tab of the origin, or
   * refreshes with the cookie (after a reload, in a new tab). Resolves to
   * whether the user is signed in.
   * @returns {Promise<boolean>}
   */
  async start() {
    if (this.#token) return true;
    if (await this.#askPeers(await this.#othersOpen() ? 1000 : 0)) return true;
    if (this.#opt.sessionHint && !this.#hint()) return false;
    try {
      await this.refresh();
      return true;
    } catch (e) {
      if (sessionOver(e)) return false;
      throw e;
    }
  }

  /**
   * Signs in. A refresh cookie the browser still holds is sent along: the
   * API ends that session first (one session per device).
   * @param {string} username
   * @param {string} password
   */
  async login(username, password) {
    const key = await this.#newKey();
    const res = await this.#tokenEndpoint('/auth/login', key, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (!res.ok) {
      const err = await AuthError.from(res);
      // The second step must prove the same key as the password step (the
      // API ties the challenge to it).
      this.#mfaKey = err.mfaToken ? key : null;
      throw err;
    }
    const body = await res.json();
    // Stored before the other tabs hear of the token: they read it then.
    if (key && this.#keys) await this.#keys.save(key).catch(() => {});
    this.#take(body, true);
  }

  /**
   * Finishes a sign-in that answered 403 `mfa_required` (the AuthError's
   * `mfaToken`): with a TOTP code, or a recovery code (`{ recoveryCode }`).
   * @param {string} mfaToken
   * @param {string | { recoveryCode: string }} code
   */
  async loginMFA(mfaToken, code) {
    const answer = typeof code === 'string' ? { code } : { recovery_code: code.recoveryCode };
    // A token endpoint as /auth/login is: the password step's key proves
    // the second step too, and binds the session (RFC 9449 5).
    const key = this.#mfaKey;
    const res = await this.#tokenEndpoint('/auth/login/mfa', key, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mfa_token: mfaToken, ...answer }),
    });
    if (!res.ok) throw await AuthError.from(res);
    const body = await res.json();
    this.#mfaKey = null;
    if (key && this.#keys) await this.#keys.save(key).catch(() => {});
    this.#take(body, true);
  }

  /**
   * Changes the password (POST /auth/password): every other session of the
   * user ends, and this device goes on in the new session the answer
   * starts (its refresh cookie replaced). Not retried after a refresh: a
   * wrong current password counts as a failed sign-in. A user with a
   * second factor gives its code too, or a recovery code
   * (`{ recoveryCode }`): a password alone does not change it.
   * @param {string} current
   * @param {string} next
   * @param {string | { recoveryCode: string }} [secondFactor]
   */
  async changePassword(current, next, secondFactor) {
    const answer = secondFactor === undefined || secondFactor === '' ? {}
      : typeof secondFactor === 'string' ? { code: secondFactor } : { recovery_code: secondFactor.recoveryCode };
    // A route behind the authorizer: the access token, with a proof when it
    // is DPoP-bound (RFC 9449 7.1).
    const res = await this.#authorized(this.#url('/auth/password'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ current_password: current, new_password: next, ...answer }),
    }, await this.#validToken());
    if (!res.ok) throw await AuthError.from(res);
    this.#take(await res.json(), true);
  }

  /**
   * Gets a new access token with the refresh cookie: one refresh at a time
   * in every tab of the origin. A call while another tab refreshes, or
   * within 0.9 s of a new token from another tab, takes that token
   * instead of rotating the session again. Rejects with AuthError; a 401 (the session
   * is over) also signs every tab out.
   * @returns {Promise<void>}
   */
  refresh() {
    if (!this.#inflight) {
      const seen = this.#generation;
      this.#inflight = this.#exclusive(async () => {
        const recent = () => this.#tookNewer(seen) || Date.now() - this.#peerTakenAt < FRESH_MS;
        if (recent() && this.#token && !this.#due()) return;
        if ((await this.#peerJustTook()) && recent() && this.#token && !this.#due()) return;
        await this.#refreshNow();
      }).finally(() => {
        this.#inflight = null;
      });
    }
    return this.#inflight;
  }

  /**
   * A valid access token, refreshed first when it expires within 2 s (the
   * leader tab refreshes it ahead of time). For calls to other APIs;
   * prefer `fetch`, which also handles 401 and 403.
   * @returns {Promise<string>}
   */
  async getAccessToken() {
    return (await this.#validToken()).value;
  }

  /**
   * The headers that authorize a request to another API behind the same
   * authorizer: `authorization` ("DPoP <token>" or "Bearer <token>") and,
   * for a DPoP-bound token, `dpop`, a proof for this method and URL (RFC
   * 9449 7.1), good for one request. Prefer `fetch`, which also answers a
   * nonce challenge and refreshes on 401 and 403.
   * @param {string} method
   * @param {string} url a full URL, or a path of the API
   * @returns {Promise<Record<string, string>>}
   */
  async authHeaders(method, url) {
    const headers = new Headers();
    await this.#authorize(headers, requestMethod(method), this.#url(url), await this.#validToken());
    return Object.fromEntries(headers);
  }

  /** The token, refreshed first when it expires within 2 s. */
  async #validToken() {
    if (!this.#token || Date.now() >= this.#token.expiresAt - 2000) await this.refresh();
    if (!this.#token) throw new AuthError(401, 'signed_out', 'not signed in');
    return this.#token;
  }

  /**
   * fetch with `Authorization: Bearer`, or with `Authorization: DPoP` and a
   * new `DPoP` proof (its ath the token's hash) for a DPoP-bound token; a
   * 401 use_dpop_nonce challenge is answered once with the server's nonce
   * (RFC 9449 9). To the API's origin or one of
   * `tokenOrigins` only (anything else throws a TypeError before any
   * request). A 401 or 403 is retried once after a refresh when the token
   * has expired or meets its first refusal (API Gateway answers 403 to a
   * revoked token too: the refresh then tells whether the session still
   * lives). When the refreshed token is refused too, the route refuses
   * the user, not the token: that token is not refreshed again for it.
   * @param {string} path a path of the API ("/me"), or a full http(s) URL
   * @param {RequestInit} [init]
   * @returns {Promise<Response>}
   */
  async fetch(path, init = {}) {
    const url = this.#url(path);
    if (url.origin !== this.#apiOrigin && !this.#opt.tokenOrigins.includes(url.origin)) {
      throw new TypeError(`auth.fetch: ${url.origin} is neither the API's origin nor one of tokenOrigins: the access token is not sent there`);
    }
    let current = await this.#validToken();
    let token = current.value;
    let res = await this.#authorized(url, init, current);
    const t = this.#token;
    const refused = res.status === 401 || res.status === 403;
    const expired = !t || Date.now() >= t.expiresAt;
    if (refused && (expired || (t !== null && t.claims.jti !== this.#rechecked))) {
      if (t) this.#rechecked = t.claims.jti;
      try {
        await this.#forceRefresh(token);
      } catch (e) {
        if (sessionOver(e)) return res; // signed out
        throw e;
      }
      if (!this.#token || this.#token.value === token) return res;
      current = this.#token;
      token = current.value;
      res = await this.#authorized(url, init, current);
      if ((res.status === 401 || res.status === 403) && this.#token) this.#rechecked = this.#token.claims.jti;
    }
    return res;
  }

  /** Ends this device's session (the cookie's) and signs every tab out. */
  async logout() {
    try {
      const res = await this.#tokenEndpoint('/auth/logout', await this.#keyForSession(), { method: 'POST' });
      if (!res.ok && res.status !== 401) throw await AuthError.from(res);
    } finally {
      this.#signOut('logout', true);
    }
  }

  /** Ends every session of the user, on every device, and signs every tab out. */
  async logoutAll() {
    const res = await this.fetch('/auth/logout-all', { method: 'POST' });
    if (res.status === 401 || res.status === 403) {
      // This session has ended (another device ended it, or it expired):
      // nothing was revoked. Signed out here (fetch's refresh did it, with
      // the API's reason, when it got a 401); the user signs in again to
      // sign out everywhere.
      if (this.#token) this.#signOut('expired', true);
      throw new AuthError(res.status, 'signed_out', 'this session has ended: sign in again to sign out everywhere');
    }
    if (!res.ok) throw await AuthError.from(res);
    this.#signOut('logout-all', true);
  }

  /**
   * The user's live sessions, newest first (GET /auth/sessions).
   * @returns {Promise<{ sessions: Device[], truncated: boolean }>}
   */
  async devices() {
    const res = await this.fetch('/auth/sessions');
    if (!res.ok) throw await AuthError.from(res);
    return res.json();
  }

  /**
   * Ends one session of the user (DELETE /auth/sessions/{id}) and its
   * access tokens. Ending this session signs every tab out.
   * @param {string} id
   */
  async endDevice(id) {
    const res = await this.fetch('/auth/sessions/' + encodeURIComponent(id), { method: 'DELETE' });
    if (!res.ok) throw await AuthError.from(res);
    if (this.#token && id === this.#token.claims.sid) this.#signOut('ended', true);
  }

  /** Stops the timer, hands the schedule to another tab and leaves the channel. */
  close() {
    clearTimeout(this.#timer);
    this.#resign?.();
    this.#leader = false;
    this.#channel?.close();
    this.#channel = null;
  }

  // --- passkeys (WebAuthn) ---

  /**
   * How the current session signed in: the access token's `amr` (RFC 8176),
   * e.g. ["pwd"] for a password, ["hwk", "user", "mfa"] for a device-bound
   * passkey, ["swk", "user", "mfa"] for a synced one. [] when signed out.
   * @returns {string[]}
   */
  get signInMethods() {
    return this.#token ? readAMR(this.#token.value) : [];
  }

  /**
   * Signs in with a passkey, no username (a discoverable credential): asks
   * the API for a challenge, the browser for an assertion, the API for
   * tokens. With `conditional`, the browser offers the passkeys in the
   * autofill of an `<input autocomplete="username webauthn">` and the
   * promise waits until the user picks one (abort it with `signal`, e.g.
   * when the user signs in with a password instead). Rejects with
   * AuthError (the API refused) or the browser's DOMException
   * (NotAllowedError: the user cancelled; AbortError: aborted).
   * @param {{ conditional?: boolean, signal?: AbortSignal }} [opts]
   */
  async loginWithPasskey(opts = {}) {
    const key = await this.#newKey();
    const res = await this.#send('/auth/passkey/options', { method: 'POST', signal: opts.signal });
    if (!res.ok) throw await AuthError.from(res);
    // The options carry the DPoP nonce when the API wants one (RFC 9449 8):
    // the sign-in's proof takes it at once.
    const nonce = res.headers.get('dpop-nonce');
    if (nonce) this.#tokenNonce = nonce;
    const { publicKey } = await res.json();
    /** @type {CredentialRequestOptions} */
    const request = { publicKey: passkeyRequestOptions(publicKey), signal: opts.signal };
    if (opts.conditional) request.mediation = /** @type {CredentialMediationRequirement} */ ('conditional');
    const cred = /** @type {PublicKeyCredential | null} */ (await navigator.credentials.get(request));
    if (!cred) throw new AuthError(0, 'passkey_cancelled', 'no passkey was chosen');
    // A token endpoint as /auth/login is: with a key, a DPoP proof binds the
    // session to it. The API checks the proof before the assertion, so a
    // use_dpop_nonce answer leaves the challenge for the retry.
    const done = await this.#tokenEndpoint('/auth/passkey/login', key, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(credentialJSON(cred)),
    });
    if (!done.ok) throw await AuthError.from(done);
    const body = await done.json();
    if (key && this.#keys) await this.#keys.save(key).catch(() => {});
    this.#take(body, true);
  }

  /**
   * Registers a passkey for the signed-in user (resident key, user
   * verification required). The API needs a sign-in of the last 5 minutes:
   * otherwise an AuthError 401 `insufficient_user_authentication` (sign in
   * again, then retry).
   * @returns {Promise<Passkey>}
   */
  async registerPasskey() {
    const res = await this.fetch('/auth/passkeys/register/options', { method: 'POST' });
    if (!res.ok) throw await AuthError.from(res);
    const { publicKey } = await res.json();
    const cred = /** @type {PublicKeyCredential | null} */ (await navigator.credentials.create({ publicKey: passkeyCreationOptions(publicKey) }));
    if (!cred) throw new AuthError(0, 'passkey_cancelled', 'no passkey was made');
    const done = await this.fetch('/auth/passkeys/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(credentialJSON(cred)),
    });
    if (!done.ok) throw await AuthError.from(done);
    return done.json();
  }

  /**
   * The user's passkeys, newest first (GET /auth/passkeys).
   * @returns {Promise<{ passkeys: Passkey[] }>}
   */
  async passkeys() {
    const res = await this.fetch('/auth/passkeys');
    if (!res.ok) throw await AuthError.from(res);
    return res.json();
  }

  /**
   * Removes one of the user's passkeys (DELETE /auth/passkeys/{id}); needs
   * a sign-in of the last 5 minutes, as registering does. No session ends.
   * @param {string} id the passkey's id (base64url)
   */
  async removePasskey(id) {
    const res = await this.fetch('/auth/passkeys/' + encodeURIComponent(id), { method: 'DELETE' });
    if (!res.ok) throw await AuthError.from(res);
  }

  // --- internals ---

  /**
   * The URL of path: a path of the API (one leading "/") after baseUrl, or
   * a full http(s) URL. "//host", "@host" or ".host" never reach another
   * host by accident.
   * @param {string} path
   */
  #url(path) {
    if (/^https?:\/\//i.test(path)) return new URL(path);
    if (!path.startsWith('/') || path.startsWith('//')) {
      throw new TypeError('auth.fetch: give a path of the API starting with one "/", or a full http(s) URL');
    }
    return new URL((this.#opt.baseUrl || pageOrigin()) + path);
  }

  /** The API's own routes (/auth/...): the refresh cookie goes along. @param {string} path @param {RequestInit} init */
  #send(path, init) {
    return this.#request(this.#url(path), init);
  }

  /** @param {URL} url @param {RequestInit} init */
  #request(url, init) {
    // The refresh cookie (credentials) goes to the API's origin only.
    const credentials = url.origin === this.#apiOrigin ? 'include' : init.credentials;
    return this.#opt.fetch(url.href, { ...init, credentials });
  }

  /**
   * A request with the access token: `Authorization: <type> <token>` and,
   * for a DPoP token, a proof. A 401 use_dpop_nonce (RFC 9449 9) is
   * retried once with the nonce the answer gave.
   * @param {URL} url @param {RequestInit} init @param {HeldToken} token
   */
  async #authorized(url, init, token) {
    const method = requestMethod(init.method);
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(init.headers);
      const nonce = await this.#authorize(headers, method, url, token);
      const res = await this.#request(url, { ...init, headers });
      const next = res.headers.get('dpop-nonce');
      if (next) this.#resourceNonces.set(url.origin, next);
      if (attempt > 0 || token.type !== 'DPoP' || !next || next === nonce || !resourceWantsNonce(res)) return res;
    }
  }

  /**
   * Sets the authorization headers of a request with token; resolves to the
   * nonce its proof carries.
   * @param {Headers} headers @param {string} method @param {URL} url @param {HeldToken} token
   */
  async #authorize(headers, method, url, token) {
    headers.set('authorization', (token.type === 'DPoP' ? 'DPoP ' : 'Bearer ') + token.value);
    if (token.type !== 'DPoP') return '';
    const key = await this.#keyForSession();
    if (!key) throw new AuthError(401, 'dpop_key_missing', 'the DPoP key of this session is gone from this browser: sign in again');
    const nonce = this.#resourceNonces.get(url.origin) || '';
    headers.set('dpop', await signProof(key, { method, url, accessToken: token.value, nonce }));
    return nonce;
  }

  /**
   * A call to the token endpoint (login, refresh, logout) with a proof of
   * key when there is one (RFC 9449 5). A 400 use_dpop_nonce is retried
   * once with the nonce the answer gave (RFC 9449 8); a DPoP-Nonce of any
   * answer is kept for the next call.
   * @param {string} path @param {DPoPKey | null} key @param {RequestInit} init
   */
  async #tokenEndpoint(path, key, init) {
    const url = this.#url(path);
    for (let attempt = 0; ; attempt++) {
      const nonce = this.#tokenNonce;
      let sent = init;
      if (key) {
        const headers = new Headers(init.headers);
        headers.set('dpop', await signProof(key, { method: requestMethod(init.method), url, nonce }));
        sent = { ...init, headers };
      }
      const res = await this.#request(url, sent);
      const next = res.headers.get('dpop-nonce');
      if (next) this.#tokenNonce = next;
      if (attempt > 0 || !key || !next || next === nonce || !(await tokenEndpointWantsNonce(res))) return res;
    }
  }

  /**
   * A new DPoP key for a login (null without DPoP), stored once the login
   * succeeds. "required" and no key: the login does not go.
   */
  async #newKey() {
    if (!this.#keys) {
      if (this.#opt.dpop === 'required') throw new AuthError(0, 'dpop_unavailable', 'this browser cannot keep a DPoP key (WebCrypto and IndexedDB, in a secure context)');
      return null;
    }
    try {
      return await DPoPKeyStore.generate();
    } catch (e) {
      if (this.#opt.dpop === 'required') throw new AuthError(0, 'dpop_unavailable', 'no DPoP key: ' + (e instanceof Error ? e.message : String(e)));
      return null;
    }
  }

  /**
   * The key of the session: the stored one, read again when the token
   * names another (another tab signed in with a new key meanwhile).
   */
  async #keyForSession() {
    if (!this.#keys) return null;
    const key = await this.#keys.current();
    const want = this.#token?.type === 'DPoP' ? this.#token.claims.jkt : '';
    if (want && key?.jkt !== want) return this.#keys.current(true);
    return key;
  }

  #due() {
    const t = this.#token;
    return !t || Date.now() >= t.expiresAt - this.#margin(t);
  }

  /** How long before exp to refresh. @param {{ lifetime: number }} t */
  #margin(t) {
    return this.#opt.refreshBeforeMs ?? Math.min(60_000, t.lifetime / 4);
  }

  /** A refresh even when the token is not due (it met a 401 or 403). @param {string} token */
  async #forceRefresh(token) {
    const seen = this.#generation;
    await this.#exclusive(async () => {
      const newer = () => this.#tookNewer(seen) && this.#token !== null && this.#token.value !== token;
      if (newer() || ((await this.#peerJustTook()) && newer())) return;
      await this.#refreshNow();
    });
  }

  /** Whether a token newer than generation seen has come (from another tab). @param {number} seen */
  #tookNewer(seen) {
    return this.#generation !== seen && this.#token !== null;
  }

  /**
   * POST /auth/refresh until it answers, within retryWindowMs of the first
   * attempt: a lost answer (network error, time-out, 5xx) is retried with
   * the same cookie, which the API answers with the same next token inside
   * its grace window; a 409 is retried as Retry-After says.
   */
  async #refreshNow() {
    const deadline = Date.now() + this.#opt.retryWindowMs;
    let conflicts = 0;
    for (let attempt = 0; ; attempt++) {
      /** @type {AuthError} */
      let err;
      try {
        const left = Math.max(deadline - Date.now(), 500);
        const res = await this.#tokenEndpoint('/auth/refresh', await this.#keyForSession(), {
          method: 'POST',
          signal: AbortSignal.timeout(Math.min(this.#opt.timeoutMs, left)),
        });
        if (res.ok) {
          this.#take(await res.json(), true);
          await this.#markFresh();
          return;
        }
        err = await AuthError.from(res);
      } catch (e) {
        if (e instanceof AuthError) throw e;
        err = new AuthError(0, 'network_error', e instanceof Error ? e.message : String(e));
      }
      if (err.status === 409 && conflicts < 3) {
        conflicts++;
        await sleep((err.retryAfter || 0) * 1000);
        continue;
      }
      if (err.status === 401) {
        this.#signOut(endReason(err.sessionEnded), true);
        throw err;
      }
      if (err.code === 'invalid_dpop_proof') {
        // The session is bound to a key this browser no longer has (its
        // storage was cleared) or cannot prove: it cannot go on here.
        this.#signOut('key-lost', true);
        throw err;
      }
      const lost = err.status === 0 || err.status >= 500;
      const wait = Math.min(err.retryAfter !== undefined ? err.retryAfter * 1000 : 250 * 2 ** attempt, 1000);
      if (!lost || Date.now() + wait >= deadline) throw err;
      await sleep(wait);
    }
  }

  /**
   * Runs fn alone among every tab of the origin. A tab that had to wait
   * for the lock first takes in what the tab that held it did: every
   * holder posts "done" before it lets go, after its token, and one
   * sender's messages arrive in order. So a refresh that another tab just
   * made is seen, and the session is not rotated a second time over it.
   * @param {() => Promise<void>} fn
   */
  async #exclusive(fn) {
    const locks = webLocks();
    if (locks) {
      const name = this.#opt.name + ':refresh';
      const before = this.#peerDone;
      const run = async () => {
        try {
          await fn();
        } finally {
          this.#post({ type: 'done' });
        }
      };
      let ran = false;
      await locks.request(name, { ifAvailable: true }, async (lock) => {
        if (lock) {
          ran = true;
          await run();
        }
      });
      if (!ran) {
        await locks.request(name, async () => {
          // Wait for the holder's "done" (a tab that closed mid-refresh sends none).
          const end = Date.now() + 2000;
          while (this.#peerDone === before && Date.now() < end) await sleep(10);
          await run();
        });
      }
      return;
    }
    // No Web Locks: wait for a refresh another tab announced (its result
    // comes by broadcast), then announce this one.
    const until = this.#peerRefreshUntil;
    if (until > Date.now()) {
      const seen = this.#generation;
      while (Date.now() < until && this.#generation === seen && this.#peerRefreshUntil) await sleep(50);
    }
    this.#post({ type: 'refreshing', until: Date.now() + this.#opt.retryWindowMs + 1000 });
    await fn();
  }

  /**
   * Marks for FRESH_MS that this tab has just taken a new token from the
   * API, before it lets go of the refresh lock: a Web Lock named after the
   * token's received_at. Every tab sees the lock at once (locks.query),
   * where the BroadcastChannel message carrying the token may still wait in
   * a busy tab's task queue when it gets the refresh lock next.
   */
  async #markFresh() {
    const locks = webLocks();
    const t = this.#token;
    if (!locks || !t) return;
    await new Promise((granted) => {
      locks.request(`${this.#opt.name}:fresh:${t.receivedAt}`, () => {
        granted(undefined);
        return sleep(FRESH_MS);
      }).catch(() => granted(undefined));
    });
  }

  /**
   * Whether another tab took a token newer than this tab's within FRESH_MS
   * (its fresh mark is held); if so, waits up to a second for its message
   * and answers whether a newer token came.
   */
  async #peerJustTook() {
    const locks = webLocks();
    if (!locks || typeof locks.query !== 'function') return false;
    const prefix = this.#opt.name + ':fresh:';
    const mine = this.#token?.receivedAt ?? 0;
    let held = [];
    try {
      ({ held = [] } = await locks.query());
    } catch {
      return false;
    }
    if (!held.some((l) => l.name?.startsWith(prefix) && Number(l.name.slice(prefix.length)) > mine)) return false;
    const seen = this.#generation;
    const end = Date.now() + 1000;
    while (this.#generation === seen && Date.now() < end) await sleep(10);
    return this.#generation !== seen && this.#token !== null;
  }

  /**
   * Takes a token answer (login, refresh) or a token from another tab.
   * @param {{ access_token: string, token_type?: string, expires_in: number, expires_at?: number, lifetime?: number, received_at?: number }} body
   * @param {boolean} mine this tab got it from the API: tell the others
   */
  #take(body, mine) {
    const expiresAt = body.expires_at || Date.now() + body.expires_in * 1000;
    const lifetime = body.lifetime || body.expires_in * 1000;
    const receivedAt = body.received_at || Date.now();
    // token_type is case-insensitive (RFC 6749 5.1); a DPoP token is used
    // as one (RFC 9449 5), anything else as a bearer token.
    const type = String(body.token_type || '').toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    this.#token = { value: body.access_token, type, expiresAt, lifetime, receivedAt, claims: readClaims(body.access_token) };
    this.#generation++;
    if (!mine) this.#peerTakenAt = Date.now();
    this.#peerRefreshUntil = 0;
    if (mine) {
      this.#hint(true);
      this.#post({ type: 'token', access_token: body.access_token, token_type: type, expires_at: expiresAt, lifetime, received_at: receivedAt });
    }
    this.#schedule();
    this.dispatchEvent(new Event('change'));
  }

  /**
   * The leader refreshes refreshBeforeMs before exp; another tab only when
   * the token expires with no new one come (the leader is frozen, or gone).
   */
  #schedule() {
    clearTimeout(this.#timer);
    const t = this.#token;
    if (!t) return;
    const at = this.#leader ? t.expiresAt - this.#margin(t) : t.expiresAt + Math.random() * 1000;
    const delay = Math.max(at - Date.now(), 1000);
    this.#timer = setTimeout(() => {
      this.refresh().catch((e) => this.dispatchEvent(new CustomEvent('error', { detail: e })));
    }, delay);
  }

  /**
   * @param {string} reason
   * @param {boolean} tell tell the other tabs
   */
  #signOut(reason, tell) {
    const was = this.#token !== null;
    // The tab that signs out deletes the session's key (the others would
    // race a new login's key): a proof of it is worth nothing any more.
    // Only the key the token names: without a token, the stored key may be
    // one another tab just made for its login.
    const jkt = this.#token?.claims.jkt;
    if (tell && this.#keys && jkt) this.#keys.remove(jkt).catch(() => {});
    clearTimeout(this.#timer);
    this.#token = null;
    this.#generation++;
    this.#peerRefreshUntil = 0;
    this.#hint(false);
    if (tell) this.#post({ type: 'signedout', reason });
    if (was || tell) {
      this.dispatchEvent(new Event('change'));
      this.dispatchEvent(new CustomEvent('signedout', { detail: { reason } }));
    }
  }

  /** @param {any} msg */
  #post(msg) {
    this.#channel?.postMessage(msg);
  }

  /** @param {any} msg */
  #onMessage(msg) {
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'hello': // a new tab asks for the token
        if (this.#token && Date.now() < this.#token.expiresAt - 1000) {
          const t = this.#token;
          this.#post({ type: 'token', access_token: t.value, token_type: t.type, expires_at: t.expiresAt, lifetime: t.lifetime, received_at: t.receivedAt });
        }
        break;
      case 'token': { // another tab's login or refresh, or its answer to hello
        if (typeof msg.access_token !== 'string' || typeof msg.expires_at !== 'number' || typeof msg.lifetime !== 'number') break;
        // Tabs that crossed two new tokens (two refreshes, one after the
        // other: the lock orders them) all keep the one the API gave last.
        if (typeof msg.received_at !== 'number') break;
        const t = this.#token;
        if (!t || msg.received_at > t.receivedAt || (msg.received_at === t.receivedAt && msg.access_token > t.value)) {
          this.#take(msg, false);
        }
        break;
      }
      case 'signedout':
        this.#signOut(String(msg.reason || 'logout'), false);
        break;
      case 'done':
        this.#peerDone++;
        break;
      case 'refreshing':
        if (typeof msg.until === 'number') this.#peerRefreshUntil = msg.until;
        break;
    }
  }

  /**
   * Whether another tab of the client may be open: the leader lock is held
   * by another tab. Without Web Locks, assume so.
   */
  async #othersOpen() {
    const locks = webLocks();
    if (!locks || typeof locks.query !== 'function') return true;
    try {
      const { held = [] } = await locks.query();
      return !this.#leader && held.some((l) => l.name === this.#opt.name + ':leader');
    } catch {
      return true;
    }
  }

  /** Asks the other tabs for their token; resolves to whether one came. @param {number} ms */
  async #askPeers(ms) {
    if (!this.#channel || ms <= 0) return false;
    const seen = this.#generation;
    this.#post({ type: 'hello' });
    const end = Date.now() + ms;
    while (Date.now() < end && this.#generation === seen) await sleep(20);
    return this.#token !== null;
  }

  /**
   * Reads or sets the "a session may exist" flag: never a token.
   * @param {boolean} [on]
   */
  #hint(on) {
    if (!this.#opt.sessionHint) return true;
    const key = this.#opt.name + ':session-hint';
    try {
      if (on === true) localStorage.setItem(key, '1');
      else if (on === false) localStorage.removeItem(key);
      return localStorage.getItem(key) === '1';
    } catch {
      return true; // storage unavailable: try the cookie
    }
  }
}

// --- DPoP (RFC 9449): the key, its store and its proofs ---

/** WebCrypto's name for the proof key: ECDSA on P-256, JWS ES256 (RFC 7518 3.4). */
const DPOP_KEY = { name: 'ECDSA', namedCurve: 'P-256' };
const DPOP_SIGN = { name: 'ECDSA', hash: 'SHA-256' };

/**
 * Whether this browser can hold a DPoP key as the client does: WebCrypto
 * (a secure context: https, or http://localhost) and IndexedDB.
 */
export function dpopAvailable() {
  return typeof globalThis.crypto?.subtle?.generateKey === 'function' && typeof globalThis.indexedDB?.open === 'function';
}

/** @param {Uint8Array | ArrayBuffer} bytes */
function base64url(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** @param {string} s */
const base64urlText = (s) => base64url(new TextEncoder().encode(s));

/**
 * The RFC 7638 thumbprint of an EC public JWK: SHA-256 over its required
 * members in lexicographic order, base64url. It is what cnf.jkt holds
 * (RFC 9449 6.1).
 * @param {{ crv: string, kty: string, x: string, y: string }} jwk
 */
export async function jwkThumbprint(jwk) {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical)));
}

/**
 * A DPoP key: the CryptoKeyPair (its private half non-extractable), the
 * public JWK a proof carries (RFC 9449 4.2: no private member) and its
 * thumbprint.
 * @typedef {{ pair: CryptoKeyPair, jwk: { kty: string, crv: string, x: string, y: string }, jkt: string }} DPoPKey
 */

/**
 * The method as fetch sends it: the six methods of the Fetch standard
 * normalised to upper case, any other as given (htm must be the request's
 * method, compared case-sensitively).
 * @param {string | undefined} method
 */
function requestMethod(method) {
  const m = method || 'GET';
  const upper = m.toUpperCase();
  return ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT'].includes(upper) ? upper : m;
}

/**
 * Signs a DPoP proof (RFC 9449 4.2): header typ dpop+jwt, alg ES256 and
 * the public jwk; claims jti (128 random bits), htm, htu (the URL without
 * query and fragment, 4.2), iat, and ath (the access token's SHA-256,
 * base64url) with an access token, nonce when the server gave one.
 * WebCrypto's ECDSA signature is already the JWS form R||S.
 * @param {DPoPKey} key
 * @param {{ method: string, url: URL, accessToken?: string, nonce?: string, now?: number }} req
 */
export async function signProof(key, req) {
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk };
  /** @type {Record<string, string | number>} */
  const claims = {
    jti: base64url(crypto.getRandomValues(new Uint8Array(16))),
    htm: req.method,
    htu: req.url.origin + req.url.pathname,
    iat: Math.floor((req.now ?? Date.now()) / 1000),
  };
  if (req.accessToken) {
    claims.ath = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(req.accessToken)));
  }
  if (req.nonce) claims.nonce = req.nonce;
  const input = base64urlText(JSON.stringify(header)) + '.' + base64urlText(JSON.stringify(claims));
  const sig = await crypto.subtle.sign(DPOP_SIGN, key.pair.privateKey, new TextEncoder().encode(input));
  return input + '.' + base64url(sig);
}

/**
 * The DPoP key of a client, kept in IndexedDB (database "<name>:dpop"):
 * the CryptoKeyPair is stored as a structured clone, which keeps its
 * private half non-extractable, so a reload finds the same key and the
 * session bound to it goes on. Every tab of the origin shares it.
 */
class DPoPKeyStore {
  #db;
  /** @type {Promise<DPoPKey | null> | null} */
  #cached = null;

  /** @param {string} name */
  constructor(name) {
    this.#db = name + ':dpop';
  }

  /** @returns {Promise<IDBDatabase>} */
  #open() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(this.#db, 1);
      req.onupgradeneeded = () => req.result.createObjectStore('keys');
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('DPoP key store blocked'));
    });
  }

  /**
   * Runs one request in a transaction and resolves when it commits.
   * @template T
   * @param {IDBTransactionMode} mode
   * @param {(store: IDBObjectStore) => IDBRequest<T>} fn
   * @returns {Promise<T>}
   */
  async #tx(mode, fn) {
    const db = await this.#open();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction('keys', mode);
        const req = fn(tx.objectStore('keys'));
        tx.oncomplete = () => resolve(req.result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error || new Error('DPoP key store transaction aborted'));
      });
    } finally {
      db.close();
    }
  }

  /** @param {CryptoKeyPair} pair @returns {Promise<DPoPKey>} */
  static async describe(pair) {
    // A public key is always extractable: its JWK is what a proof carries.
    const full = await crypto.subtle.exportKey('jwk', pair.publicKey);
    const jwk = { kty: String(full.kty), crv: String(full.crv), x: String(full.x), y: String(full.y) };
    return { pair, jwk, jkt: await jwkThumbprint(jwk) };
  }

  /**
   * The stored key (null if none), read once and then kept; reload reads
   * it again (another tab may have replaced it at its login).
   * @param {boolean} [reload]
   * @returns {Promise<DPoPKey | null>}
   */
  current(reload = false) {
    if (!this.#cached || reload) {
      this.#cached = this.#tx('readonly', (s) => s.get('current')).then(
        (pair) => (pair && pair.privateKey && pair.publicKey ? DPoPKeyStore.describe(pair) : null),
        () => null);
    }
    return this.#cached;
  }

  /**
   * A new key, not stored yet: a login that fails leaves the stored key
   * (and the session of another tab bound to it) alone.
   * @returns {Promise<DPoPKey>}
   */
  static async generate() {
    const pair = /** @type {CryptoKeyPair} */ (await crypto.subtle.generateKey(DPOP_KEY, false, ['sign', 'verify']));
    return DPoPKeyStore.describe(pair);
  }

  /**
   * Stores key in place of the stored one, with its thumbprint beside it
   * (in one transaction) for remove to compare against.
   * @param {DPoPKey} key
   */
  async save(key) {
    this.#cached = Promise.resolve(key);
    await this.#tx('readwrite', (s) => {
      s.put(key.jkt, 'current-jkt');
      return s.put(key.pair, 'current');
    });
  }

  /**
   * Deletes the stored key if it is the key of thumbprint jkt, not one this
   * or another tab saved since at a new login: the comparison and the
   * delete are one transaction, so a sign-in right after a sign-out (a
   * passkey autofill answers at once) keeps its new key whichever of the
   * two reaches the store first.
   * @param {string} jkt
   */
  async remove(jkt) {
    await this.#tx('readwrite', (s) => {
      const req = s.get('current-jkt');
      req.onsuccess = () => {
        // A pair stored without its thumbprint (an older version of this
        // client) is deleted: nothing newer wrote it.
        if (req.result === jkt || req.result === undefined) {
          s.delete('current');
          s.delete('current-jkt');
        }
      };
      return req;
    });
    const cached = this.#cached;
    if (cached && (await cached)?.jkt === jkt && this.#cached === cached) this.#cached = null;
  }
}

/**
 * Whether a resource server asks for a nonce (RFC 9449 9): a 401 whose
 * WWW-Authenticate names the DPoP scheme with error="use_dpop_nonce".
 * @param {Response} res
 */
function resourceWantsNonce(res) {
  if (res.status !== 401) return false;
  const challenge = res.headers.get('www-authenticate') || '';
  return /(^|,)\s*DPoP\b/i.test(challenge) && /error\s*=\s*"?use_dpop_nonce"?/i.test(challenge);
}

/**
 * Whether the token endpoint asks for a nonce (RFC 9449 8): a 400 whose
 * body's error is use_dpop_nonce.
 * @param {Response} res
 */
async function tokenEndpointWantsNonce(res) {
  if (res.status !== 400) return false;
  try {
    const body = await res.clone().json();
    return body?.error === 'use_dpop_nonce';
  } catch {
    return false;
  }
}

// --- passkeys (WebAuthn): JSON <-> the browser's binary forms ---

/**
 * @typedef {object} Passkey
 * @property {string} id the credential id, base64url
 * @property {string} created_at RFC 3339
 * @property {string} last_used_at RFC 3339
 * @property {boolean} backup_eligible a synced passkey
 * @property {boolean} backup_state
 * @property {string[]} transports
 * @property {string} [attachment] "platform" or "cross-platform"
 * @property {string} [aaguid] the authenticator model, as it says
 * @property {boolean} refused flagged as possibly cloned: it signs nobody in
 */

/** Whether this browser can use passkeys at all. */
export function passkeysSupported() {
  return typeof PublicKeyCredential === 'function' && !!navigator.credentials;
}

/** Whether this browser offers passkeys in autofill (conditional mediation). */
export async function passkeyAutofillSupported() {
  if (!passkeysSupported()) return false;
  const pkc = /** @type {any} */ (PublicKeyCredential);
  return typeof pkc.isConditionalMediationAvailable === 'function' && pkc.isConditionalMediationAvailable();
}

/** @param {string} s base64url */
function fromB64url(s) {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer;
}

/** @param {ArrayBuffer | null} buf */
function toB64url(buf) {
  if (!buf) return undefined;
  let s = '';
  for (const byte of new Uint8Array(buf)) s += String.fromCharCode(byte);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The API's creation options (JSON) as the browser takes them. @param {any} o */
function passkeyCreationOptions(o) {
  return {
    ...o,
    challenge: fromB64url(o.challenge),
    user: { ...o.user, id: fromB64url(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
  };
}

/** The API's request options (JSON) as the browser takes them. @param {any} o */
function passkeyRequestOptions(o) {
  return { ...o, challenge: fromB64url(o.challenge), allowCredentials: (o.allowCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })) };
}

/**
 * A PublicKeyCredential as JSON (WebAuthn L3 5.1.8 / 5.1.9), the form the
 * API reads: toJSON() where the browser has it.
 * @param {PublicKeyCredential} cred
 */
function credentialJSON(cred) {
  const c = /** @type {any} */ (cred);
  if (typeof c.toJSON === 'function') return c.toJSON();
  const r = c.response;
  /** @type {Record<string, any>} */
  const response = { clientDataJSON: toB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64url(r.attestationObject);
    response.transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
  } else {
    response.authenticatorData = toB64url(r.authenticatorData);
    response.signature = toB64url(r.signature);
    response.userHandle = toB64url(r.userHandle);
  }
  return { id: c.id, rawId: toB64url(c.rawId), type: c.type, authenticatorAttachment: c.authenticatorAttachment ?? undefined,
    clientExtensionResults: c.getClientExtensionResults(), response };
}

/** The `amr` of an access token (display only). @param {string} jwt */
function readAMR(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const c = JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
    return Array.isArray(c.amr) ? c.amr.map(String) : [];
  } catch {
    return [];
  }
}
