// Peers of the authorizer's token check, measured by scripts/bench in the
// same run as the Go benchmarks: the same ES256 token, verified by Node's
// bare crypto.verify (the floor in Node), aws-jwt-verify's verifySync,
// jose's jwtVerify and jsonwebtoken's verify with a PEM string.
//
// Input on stdin (JSON): {token, jwk, pem, issuer, audience, iterations,
// rounds}. Output on stdout (JSON): {"<peer>": [ns per verification, one
// per round], ...}; the peers take turns each round.
import { createPublicKey, verify } from "node:crypto";
import { JwtVerifier } from "aws-jwt-verify";
import { importJWK, jwtVerify } from "jose";
import jsonwebtoken from "jsonwebtoken";

const input = JSON.parse(await new Promise((resolve) => {
  let s = "";
  process.stdin.on("data", (d) => (s += d));
  process.stdin.on("end", () => resolve(s));
}));
const { token, jwk, pem, issuer, audience, iterations, rounds } = input;

const [h, p, sig] = token.split(".");
const signingInput = Buffer.from(`${h}.${p}`);
const signature = Buffer.from(sig, "base64url");
const nodeKey = createPublicKey({ key: jwk, format: "jwk" });

const awsVerifier = JwtVerifier.create({ issuer, audience, jwksUri: "https://auth.example.invalid/jwks" });
awsVerifier.cacheJwks({ keys: [jwk] });
const joseKey = await importJWK(jwk, "ES256");

const peers = {
  "node crypto.verify": () => {
    if (!verify("sha256", signingInput, { key: nodeKey, dsaEncoding: "ieee-p1363" }, signature)) throw new Error("bad signature");
  },
  "aws-jwt-verify verifySync": () => { awsVerifier.verifySync(token); },
  "jose jwtVerify": async () => { await jwtVerify(token, joseKey, { issuer, audience, typ: "at+jwt", algorithms: ["ES256"] }); },
  "jsonwebtoken verify (PEM string)": () => { jsonwebtoken.verify(token, pem, { algorithms: ["ES256"], issuer, audience }); },
};

const out = {};
for (const name of Object.keys(peers)) {
  out[name] = [];
  for (let i = 0; i < 200; i++) await peers[name](); // warm up (and fail early)
}
for (let r = 0; r < rounds; r++) {
  const names = Object.keys(peers);
  for (let k = 0; k < names.length; k++) {
    const name = names[(r + k) % names.length];
    const fn = peers[name];
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn();
    out[name].push(Number(process.hrtime.bigint() - t0) / iterations);
  }
}
process.stdout.write(JSON.stringify(out));
