// Verifies an access token of a running scripts/dev with Node clients
// nobody here wrote, configured only from the issuer's metadata document,
// as another team would: jose (createRemoteJWKSet) and aws-jwt-verify
// (JwtVerifier); and, with LOGIN_USERNAME and LOGIN_PASSWORD, refreshes a
// DPoP-bound session and calls a protected resource with oauth4webapi's
// DPoP (at the end). Run by the interop test (scripts/interop) with
//   ISSUER    the issuer, which is the local API's base URL
//   AUDIENCE  the tokens' audience
//   TOKEN     a live access token
//   LOGIN_USERNAME, LOGIN_PASSWORD  a user to sign in as, for the DPoP checks
// It prints one JSON line per check: {"check", "ok", "result" | "error"}
// with the client's own error name, code and message, which the Go test
// asserts. It exits 0 whatever the checks found; non-zero only if it
// could not run at all.
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from "jose";
import { JwtVerifier } from "aws-jwt-verify";
import { SimpleJwksCache } from "aws-jwt-verify/jwk";

const { ISSUER, AUDIENCE, TOKEN } = process.env;
if (!ISSUER || !AUDIENCE || !TOKEN) {
  console.error("clients.mjs: ISSUER, AUDIENCE and TOKEN are required");
  process.exit(2);
}

async function check(name, fn) {
  try {
    const result = await fn();
    console.log(JSON.stringify({ check: name, ok: true, result }));
  } catch (err) {
    console.log(JSON.stringify({ check: name, ok: false, error: { name: err?.name, code: err?.code, message: err?.message, status: err?.status, error: err?.error } }));
  }
}

// A signature with one character changed: the same header and claims.
function tampered(token) {
  const i = token.lastIndexOf(".") + 5;
  const c = token[i] === "A" ? "B" : "A";
  return token.slice(0, i) + c + token.slice(i + 1);
}

// Discovery (RFC 8414 section 3, OpenID Connect Discovery 1.0 section 4):
// the metadata names the issuer, the JWKS and the algorithms.
const res = await fetch(`${ISSUER}/.well-known/openid-configuration`);
if (!res.ok) {
  console.error(`clients.mjs: discovery answered ${res.status}`);
  process.exit(1);
}
const meta = await res.json();
await check("discovery", async () => {
  if (meta.issuer !== ISSUER) throw new Error(`issuer ${meta.issuer}, want ${ISSUER}`);
  return { issuer: meta.issuer, jwks_uri: meta.jwks_uri, algorithms: meta.id_token_signing_alg_values_supported };
});

// jose: the JWKS from the metadata, the algorithms from the metadata.
const JWKS = createRemoteJWKSet(new URL(meta.jwks_uri));
const joseOptions = {
  issuer: meta.issuer,
  audience: AUDIENCE,
  typ: "at+jwt",
  algorithms: meta.id_token_signing_alg_values_supported,
};
await check("jose", async () => {
  const { payload, protectedHeader } = await jwtVerify(TOKEN, JWKS, joseOptions);
  return { sub: payload.sub, alg: protectedHeader.alg, kid: protectedHeader.kid };
});
await check("jose tampered signature", () => jwtVerify(tampered(TOKEN), JWKS, joseOptions));
await check("jose another audience", () => jwtVerify(TOKEN, JWKS, { ...joseOptions, audience: "https://other.example" }));
await check("jose an hour later", () =>
  jwtVerify(TOKEN, JWKS, { ...joseOptions, currentDate: new Date(Date.now() + 3600 * 1000) }));

// aws-jwt-verify: its own fetcher speaks https only, so a local http JWKS
// URL needs a fetcher of the caller's (on AWS the Issuer is https and the
// default fetcher works). It cannot verify PS256 at all.
const verifierProps = { issuer: meta.issuer, audience: AUDIENCE, jwksUri: meta.jwks_uri };
await check("aws-jwt-verify default fetcher", () => JwtVerifier.create(verifierProps).verify(TOKEN));
const jwksCache = new SimpleJwksCache({
  fetcher: {
    fetch: async (uri) => {
      const r = await fetch(uri);
      if (!r.ok) throw new Error(`JWKS answered ${r.status}`);
      return r.arrayBuffer();
    },
  },
});
const verifier = JwtVerifier.create(verifierProps, { jwksCache });
await check("aws-jwt-verify", async () => {
  const payload = await verifier.verify(TOKEN);
  return { sub: payload.sub, alg: decodeProtectedHeader(TOKEN).alg };
});
await check("aws-jwt-verify tampered signature", () => verifier.verify(tampered(TOKEN)));

// oauth4webapi's DPoP (RFC 9449): a session bound to a key of WebCrypto
// (its private half non-extractable, as in a browser), refreshed through
// the token endpoint and used at a protected resource by oauth4webapi's
// own DPoP handle, which signs its proofs and keeps the server's nonces.
// oauth4webapi has no login (ours is not an OAuth grant): the login is a
// POST of the username and password with refresh_token_in_body (as the x/oauth2 client of
// the Go test gets its refresh token) and a proof signed by jose with the
// same key. Run when LOGIN_USERNAME and LOGIN_PASSWORD are set.
const { LOGIN_USERNAME, LOGIN_PASSWORD } = process.env;
if (LOGIN_USERNAME && LOGIN_PASSWORD) {
  await dpopChecks(LOGIN_USERNAME, LOGIN_PASSWORD);
}

async function dpopChecks(username, password) {
  const oauth = await import("oauth4webapi");
  const { SignJWT, exportJWK, calculateJwkThumbprint } = await import("jose");
  const as = { ...meta, issuer: meta.issuer };
  const client = { client_id: "web" };
  const http = { [oauth.allowInsecureRequests]: ISSUER.startsWith("http://") };
  const newKey = () => crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const keyPair = await newKey();
  const jwk = await exportJWK(keyPair.publicKey);
  const jkt = await calculateJwkThumbprint(jwk);
  const claimsOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());

  // The login, with a proof by jose; a use_dpop_nonce answer is retried
  // once with the DPoP-Nonce it gave (RFC 9449 8).
  const loginURL = new URL(`${ISSUER}/auth/login`);
  let nonce;
  let login;
  for (let attempt = 0; attempt < 2; attempt++) {
    const proof = await new SignJWT({ htm: "POST", htu: loginURL.href, ...(nonce ? { nonce } : {}) })
      .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk })
      .setJti(crypto.randomUUID())
      .setIssuedAt()
      .sign(keyPair.privateKey);
    const res = await fetch(loginURL, {
      method: "POST",
      headers: { "content-type": "application/json", dpop: proof },
      body: JSON.stringify({ username, password, refresh_token_in_body: true }),
    });
    login = { status: res.status, nonce: res.headers.get("dpop-nonce"), body: await res.json().catch(() => ({})) };
    if (login.body.error !== "use_dpop_nonce" || !login.nonce) break;
    nonce = login.nonce;
  }
  await check("dpop login (jose proof)", async () => {
    if (login.status !== 200) throw Object.assign(new Error(`login answered ${login.status} ${JSON.stringify(login.body)}`), { code: login.body.error });
    return { token_type: login.body.token_type, cnf_jkt: claimsOf(login.body.access_token).cnf?.jkt, key_jkt: jkt, nonce_retry: nonce !== undefined };
  });
  if (login.status !== 200) return;

  // oauth4webapi's DPoP handle over the same key: the refresh_token grant
  // (RFC 6749 6) with a proof, retried once when the server asks for a
  // nonce (isDPoPNonceError), as oauth4webapi's documentation does it.
  // Each returns what it got and how many requests it took (2: a nonce
  // challenge answered).
  const DPoP = oauth.DPoP(client, keyPair);
  const refresh = async (handle, refreshToken) => {
    for (let attempt = 1; ; attempt++) {
      const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshToken, { DPoP: handle, ...http });
      try {
        return { tokens: await oauth.processRefreshTokenResponse(as, client, response), attempts: attempt };
      } catch (err) {
        if (attempt === 1 && oauth.isDPoPNonceError(err)) continue;
        throw Object.assign(err, { attempts: attempt });
      }
    }
  };
  const resource = async (handle, accessToken) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await oauth.protectedResourceRequest(accessToken, "GET", new URL(`${ISSUER}/me`), new Headers(), null, { DPoP: handle, ...http });
        return { status: res.status, body: await res.json().catch(() => null), attempts: attempt };
      } catch (err) {
        if (attempt === 1 && oauth.isDPoPNonceError(err)) continue;
        throw Object.assign(err, { attempts: attempt });
      }
    }
  };
  const errorOf = (err) => ({ name: err?.name, code: err?.code, error: err?.error, status: err?.status ?? err?.response?.status, message: `${err?.message} (after ${err?.attempts} requests)` });

  // With another key: the refresh token and the access token are bound to
  // the login's key, so oauth4webapi's proofs of another key are refused.
  // Checked first: a refusal must leave the session alive.
  const other = oauth.DPoP(client, await newKey());
  await check("oauth4webapi refresh with another key", async () => {
    try {
      await refresh(other, login.body.refresh_token);
    } catch (err) {
      throw Object.assign(new Error(err?.message), errorOf(err), { name: err?.name });
    }
    return "refreshed";
  });
  await check("oauth4webapi protected resource with another key", async () => {
    try {
      const r = await resource(other, login.body.access_token);
      if (r.status !== 200) throw Object.assign(new Error(`answered ${r.status}`), { status: r.status, code: "status" });
      return r;
    } catch (err) {
      throw Object.assign(new Error(err?.message), errorOf(err), { name: err?.name });
    }
  });

  let refreshed;
  await check("oauth4webapi dpop refresh", async () => {
    const r = await refresh(DPoP, login.body.refresh_token);
    refreshed = r.tokens;
    return {
      token_type: refreshed.token_type,
      cnf_jkt: claimsOf(refreshed.access_token).cnf?.jkt,
      handle_jkt: await DPoP.calculateThumbprint(),
      rotated: !!refreshed.refresh_token && refreshed.refresh_token !== login.body.refresh_token,
      attempts: r.attempts,
    };
  });
  if (!refreshed) return;
  await check("oauth4webapi dpop protected resource", async () => {
    const r = await resource(DPoP, refreshed.access_token);
    if (r.status !== 200) throw Object.assign(new Error(`/me answered ${r.status}`), { status: r.status });
    return { status: r.status, sub: r.body?.sub, attempts: r.attempts };
  });
  // A second refresh with the same handle: the nonce it kept from the
  // last answer (DPoP-Nonce on every answer, RFC 9449 8.2) needs no retry.
  await check("oauth4webapi dpop second refresh", async () => {
    const r = await refresh(DPoP, refreshed.refresh_token);
    return { token_type: r.tokens.token_type, cnf_jkt: claimsOf(r.tokens.access_token).cnf?.jkt, attempts: r.attempts };
  });
  // The same access token as a bearer token: refused (RFC 9449 7.2).
  await check("dpop token as bearer", async () => {
    const res = await fetch(`${ISSUER}/me`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
    if (res.status !== 200) throw Object.assign(new Error(`answered ${res.status}`), { status: res.status });
    return { status: res.status };
  });
}
