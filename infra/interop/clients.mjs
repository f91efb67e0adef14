// Verifies an access token of a running scripts/dev with Node clients
// nobody here wrote, configured only from the issuer's metadata document,
// as another team would: jose (createRemoteJWKSet) and aws-jwt-verify
// (JwtVerifier). Run by the interop test (scripts/interop) with
//   ISSUER    the issuer, which is the local API's base URL
//   AUDIENCE  the tokens' audience
//   TOKEN     a live access token
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
    console.log(JSON.stringify({ check: name, ok: false, error: { name: err?.name, code: err?.code, message: err?.message } }));
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
