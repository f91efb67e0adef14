// The browser client's rules that need no browser, run by TestClientRules
// in Node against a fake fetch: which refusals refresh, where the access
// token and the cookie may go, and what logout-all reports. Each check
// prints "ok ..." or "FAIL ..."; the exit status is 1 if any failed.
import { createAuthClient, AuthError } from './auth-client.mjs';

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
let n = 0;
const jwt = () => {
  n++;
  return `${b64({ alg: 'ES256' })}.${b64({ sub: 'u1', sid: 'S'.repeat(32), jti: 'jti-' + n, exp: Math.floor(Date.now() / 1000) + 900 })}.sig`;
};
const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const api = 'https://api.example.com';
let failed = false;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failed = true;
};

// 1. A route that forbids the user (a valid token, 403 or 401 from the
// app): one refresh to tell a revoked token from a refusal, then none.
for (const status of [403, 401]) {
  const calls = { refresh: 0, route: 0 };
  const auth = createAuthClient({
    baseUrl: api, name: 'rules-1-' + status, sessionHint: false,
    fetch: async (url) => {
      if (url.endsWith('/auth/login')) return json(200, { access_token: jwt(), expires_in: 900 });
      if (url.endsWith('/auth/refresh')) { calls.refresh++; return json(200, { access_token: jwt(), expires_in: 900 }); }
      calls.route++;
      return json(status, { error: 'insufficient_scope' });
    },
  });
  await auth.login('alice', 'pw');
  for (let i = 0; i < 20; i++) await auth.fetch('/admin');
  check(calls.refresh === 1 && calls.route === 21, `20 calls to a route answering ${status}: ${calls.refresh} refreshes (want 1), ${calls.route} requests (want 21)`);
  auth.close();
}

// 2. A revoked token: its first 403 refreshes, the refresh is refused,
// and the client signs out.
{
  const reasons = [];
  const auth = createAuthClient({
    baseUrl: api, name: 'rules-2', sessionHint: false,
    fetch: async (url) => {
      if (url.endsWith('/auth/login')) return json(200, { access_token: jwt(), expires_in: 900 });
      if (url.endsWith('/auth/refresh')) return json(401, { error: 'invalid_refresh_token', message: 'refresh token is invalid' });
      return json(403, { message: 'Forbidden' });
    },
  });
  auth.addEventListener('signedout', (e) => reasons.push(e.detail.reason));
  await auth.login('alice', 'pw');
  const res = await auth.fetch('/me');
  check(res.status === 403 && !auth.state.signedIn && reasons.length === 1, `a revoked token: ${res.status}, signed in ${auth.state.signedIn}, signedout ${reasons}`);
  auth.close();
}

// 3. Where the token and the cookie go.
{
  const seen = [];
  const auth = createAuthClient({
    baseUrl: api, name: 'rules-3', sessionHint: false, tokenOrigins: ['https://orders.example.com'],
    fetch: async (url, init) => {
      if (url.endsWith('/auth/login')) return json(200, { access_token: jwt(), expires_in: 900 });
      seen.push({ url, bearer: new Headers(init.headers).has('authorization'), credentials: init.credentials });
      return json(200, {});
    },
  });
  await auth.login('alice', 'pw');
  for (const path of ['//evil.example/x', '@evil.example/x', '.evil.example/x', 'me', 'https://evil.example/x', 'https://api.example.com.evil.example/x', 'javascript:alert(1)']) {
    seen.length = 0;
    let err = null;
    try { await auth.fetch(path); } catch (e) { err = e; }
    check(err instanceof TypeError && seen.length === 0, `fetch(${JSON.stringify(path)}) refused before any request (${err})`);
  }
  seen.length = 0;
  await auth.fetch('/me');
  check(seen[0]?.url === api + '/me' && seen[0].bearer && seen[0].credentials === 'include', `fetch("/me"): ${JSON.stringify(seen[0])}`);
  seen.length = 0;
  await auth.fetch('https://orders.example.com/orders');
  check(seen[0]?.bearer && seen[0].credentials !== 'include', `a tokenOrigins API gets the token, not the cookie: ${JSON.stringify(seen[0])}`);
  auth.close();
}

// 4. Logout-all refused (this session was ended elsewhere): not reported
// as done.
{
  const reasons = [];
  const auth = createAuthClient({
    baseUrl: api, name: 'rules-4', sessionHint: false,
    fetch: async (url) => {
      if (url.endsWith('/auth/login')) return json(200, { access_token: jwt(), expires_in: 900 });
      if (url.endsWith('/auth/refresh')) return json(401, { error: 'invalid_refresh_token', message: 'refresh token is invalid' });
      return json(403, { message: 'Forbidden' });
    },
  });
  auth.addEventListener('signedout', (e) => reasons.push(e.detail.reason));
  await auth.login('alice', 'pw');
  let err = null;
  try { await auth.logoutAll(); } catch (e) { err = e; }
  check(err instanceof AuthError && !reasons.includes('logout-all') && !auth.state.signedIn,
    `logout-all answered 403: threw ${err?.code}, signedout ${reasons}`);
  auth.close();
}

// 5. Why the session ended: the refresh's 401 says it (session_ended), and
// the tabs are signed out once, with that reason; a 401 without it is
// "expired".
for (const [ended, want] of [['logout-all', 'logout-all'], ['ended', 'ended-elsewhere'], ['revoked', 'revoked'], ['expired', 'expired'], [undefined, 'expired']]) {
  const reasons = [];
  const auth = createAuthClient({
    baseUrl: api, name: 'rules-5-' + ended, sessionHint: false,
    fetch: async (url) => {
      if (url.endsWith('/auth/login')) return json(200, { access_token: jwt(), expires_in: 900 });
      if (url.endsWith('/auth/refresh')) return json(401, { error: 'invalid_refresh_token', message: 'refresh token is invalid', session_ended: ended });
      return json(403, { message: 'Forbidden' });
    },
  });
  auth.addEventListener('signedout', (e) => reasons.push(e.detail.reason));
  await auth.login('alice', 'pw');
  let err = null;
  try { await auth.refresh(); } catch (e) { err = e; }
  check(err instanceof AuthError && err.sessionEnded === ended && reasons.join() === want,
    `refresh 401 with session_ended ${ended}: signedout ${reasons} (want ${want})`);
  auth.close();
}

// 6. DPoP where the runtime cannot keep a key (Node has WebCrypto but no
// IndexedDB): "auto" sends no proof and uses the bearer token the API
// gives; "required" refuses to sign in without sending anything; a DPoP
// token answer is used with the DPoP scheme only with a key, so without
// one the call fails before any request carries the token.
{
  const sent = [];
  const fetch = async (url, init) => {
    sent.push({ url, dpop: new Headers(init.headers).has('dpop'), authorization: new Headers(init.headers).get('authorization') || '' });
    if (url.endsWith('/auth/login')) return json(200, { access_token: jwt(), token_type: 'Bearer', expires_in: 900 });
    return json(200, {});
  };
  const auto = createAuthClient({ baseUrl: api, name: 'rules-6a', sessionHint: false, fetch });
  await auto.login('alice', 'pw');
  await auto.fetch('/me');
  check(sent.length === 2 && !sent.some((r) => r.dpop) && sent[1].authorization.startsWith('Bearer ') && auto.state.tokenType === 'Bearer',
    `dpop auto without IndexedDB: ${JSON.stringify(sent.map((r) => [r.dpop, r.authorization.split(' ')[0]]))}, token type ${auto.state.tokenType}`);
  auto.close();
  sent.length = 0;
  const required = createAuthClient({ baseUrl: api, name: 'rules-6b', sessionHint: false, dpop: 'required', fetch });
  let err = null;
  try { await required.login('alice', 'pw'); } catch (e) { err = e; }
  check(err instanceof AuthError && err.code === 'dpop_unavailable' && sent.length === 0,
    `dpop required without IndexedDB: ${err?.code}, ${sent.length} requests (want dpop_unavailable, none)`);
  required.close();
  sent.length = 0;
  const odd = createAuthClient({
    baseUrl: api, name: 'rules-6c', sessionHint: false,
    fetch: async (url, init) => {
      sent.push({ url, authorization: new Headers(init.headers).get('authorization') || '' });
      return json(200, { access_token: jwt(), token_type: 'DPoP', expires_in: 900 });
    },
  });
  await odd.login('alice', 'pw');
  err = null;
  try { await odd.fetch('/me'); } catch (e) { err = e; }
  check(err instanceof AuthError && err.code === 'dpop_key_missing' && sent.length === 1,
    `a DPoP token and no key: ${err?.code}, ${sent.length} requests (want dpop_key_missing, the login only)`);
  odd.close();
}

process.exit(failed ? 1 : 0);
