// Writes DPoP proofs (RFC 9449 4.2) signed by jose, an implementation nobody
// here wrote, for shared/dpop's TestJoseProofs to verify. Regenerate with
//   cd infra/interop && npm ci && node dpop-proofs.mjs > ../../shared/dpop/testdata/jose-proofs.json
// Each proof is made with a fresh key of WebCrypto (Node's), for
// POST https://api.example.com/auth/refresh at iat 2026-12-07T12:00:00Z,
// with the ath of the access token named in the file; the key's thumbprint
// is jose's calculateJwkThumbprint (RFC 7638). ES256 signatures come from
// WebCrypto as they are: S is not normalised, so some are high-S.
import { SignJWT, generateKeyPair, exportJWK, calculateJwkThumbprint } from "jose";
import { createHash, randomUUID } from "node:crypto";

const iat = 1796644800;
const htu = "https://api.example.com/auth/refresh";
const accessToken = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.e30.c2lnbmF0dXJl";
const ath = createHash("sha256").update(accessToken, "ascii").digest("base64url");

const algs = ["ES256", "ES256", "ES256", "ES256", "ES256", "ES256", "ES256", "ES256", "ES384", "EdDSA", "Ed25519", "PS256", "RS256"];
const proofs = [];
for (const alg of algs) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  const proof = await new SignJWT({ htm: "POST", htu, ath })
    .setProtectedHeader({ alg, typ: "dpop+jwt", jwk })
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .sign(privateKey);
  proofs.push({ alg, proof, jkt: await calculateJwkThumbprint(jwk) });
}
console.log(JSON.stringify({ iat, method: "POST", url: htu, accessToken, proofs }, null, 1));
