package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/kmssign"
	"github.com/authkit/lambda-auth/shared/token"
)

// Deny reasons the authorizer logs (the token package's sentinel errors).
var (
	whyMalformed = token.ErrMalformed.Error()
	whyTooLarge  = token.ErrTooLarge.Error()
	whyHeader    = token.ErrHeader.Error()
	whyType      = token.ErrType.Error()
	whyKid       = token.ErrUnknownKey.Error()
	whyAlg       = token.ErrAlgorithm.Error()
	whySig       = token.ErrSignature.Error()
	whyClaims    = token.ErrClaims.Error()
	whyMissing   = token.ErrMissingClaim.Error()
	whyNoBearer  = "no bearer token"
	// whyDPoPBinding: the token's binding and scheme disagree (RFC 9449 7.1, 7.2).
	whyDPoPBinding = "DPoP binding does not match its scheme"
)

// TestAuthorizerRefusesForgedTokens is the token attack table: every row is
// an Authorization header built the way real JWT attacks build theirs, and
// goes through the real authorizer handler (as app.Authorizer wires it, with
// the real local KMS keys) in all three event shapes it answers. Every row
// must be denied, for the reason its defence gives. Rows that are signed
// by one of our own KMS keys differ from an accepted token in exactly one
// point, so each fails if the check for that point is removed.
//
// The authorizer trusts two keys, as during a key rotation to another key
// type: the signing key (P-256, ES256) and a previous RSA key (RS256). So
// the key-type confusion rows (RFC 8725 3.1) face a verifier that really
// holds a key of the other type.
func TestAuthorizerRefusesForgedTokens(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	rsaKeyID := testenv.CreateKey(t, env.KMS, kmstypes.KeySpecRsa2048)
	env.Set("VERIFY_KEY_IDS", rsaKeyID)
	env.CreateUser(t, "victor", "a long enough password")
	s := newService(t, env)
	genuine := s.doLogin(t, "victor", "a long enough password").Access

	newSigner := func(keyID, rsaAlg string) *kmssign.Signer {
		t.Helper()
		k, err := kmssign.New(ctx, env.KMS, keyID, rsaAlg)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ec := newSigner(env.KeyID, "RS256")
	rsaKey := newSigner(rsaKeyID, "RS256")
	rsaPSS := newSigner(rsaKeyID, "PS256")
	// A key of the same KMS account that the authorizer does not trust.
	stranger := newSigner(testenv.CreateKey(t, env.KMS, kmstypes.KeySpecEccNistP256), "RS256")
	// An attacker's own key, outside KMS.
	evil := newLocalKey(t)

	// jku and x5u point here; the server counts every request and offers
	// the attacker's key.
	var fetched atomic.Int32
	keyServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(evil.jwks)
	}))
	defer keyServer.Close()

	f := newForger(t, genuine)
	good := f.header("ES256", ec.KeyID(), "at+jwt")
	payload := f.payload(nil)
	valid := f.sign(ec, good, payload)
	parts := strings.Split(valid, ".")
	sig, _ := b64(parts[2])
	n := elliptic.P256().Params().N
	rs := func(r, s *big.Int) string { return parts[0] + "." + parts[1] + "." + enc.EncodeToString(rawRS(r, s)) }
	r0, s0 := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	claim := func(k string, v any) string { return f.payload(func(m map[string]any) { m[k] = v }) }
	drop := func(k string) string { return f.payload(func(m map[string]any) { delete(m, k) }) }
	now := s.clock.Now()

	// Controls: the machinery that builds the rows makes tokens the
	// authorizer accepts, so each row below is refused for what it changes.
	for name, tok := range map[string]string{
		"token from login":         genuine,
		"forged, signed by our EC": valid,
		"signed by our RSA key":    f.sign(rsaKey, f.header("RS256", rsaKey.KeyID(), "at+jwt"), payload),
		"typ application/at+jwt":   f.sign(ec, f.header("ES256", ec.KeyID(), "application/at+jwt"), payload),
		"typ AT+JWT":               f.sign(ec, f.header("ES256", ec.KeyID(), "AT+JWT"), payload),
		"exp within the leeway":    f.sign(ec, good, claim("exp", now.Add(-5*time.Second).Unix())),
	} {
		for _, kind := range authorizerKinds {
			if !s.allows(t, kind, "Bearer "+tok) {
				t.Fatalf("control %q denied (%s): the rows below would prove nothing; logs:\n%s", name, kind, s.logs)
			}
		}
	}

	// Standard-alphabet base64 of a payload whose base64url has - or _,
	// validly signed over that spelling.
	stdPayload := claim("scope", "read >>>???")
	stdInput := base64.RawStdEncoding.EncodeToString([]byte(good)) + "." + base64.RawStdEncoding.EncodeToString([]byte(stdPayload))
	if !strings.ContainsAny(stdInput, "+/") {
		t.Fatalf("standard-alphabet row has no + or /: %s", stdInput)
	}
	oversized := claim("pad", strings.Repeat("x", token.MaxTokenBytes))
	jwe := enc.EncodeToString([]byte(`{"alg":"dir","enc":"A256GCM","kid":"`+ec.KeyID()+`","typ":"at+jwt"}`)) + "..AAAAAAAAAAAAAAAA." + parts[1] + ".AAAAAAAAAAAAAAAAAAAAAA"
	b := "Bearer "

	rows := []struct {
		name  string
		authz string
		why   []string // acceptable logged reasons; each row has one defect, so one reason
	}{
		// alg none (CVE-2015-9235 and friends).
		{"alg none, empty signature", b + f.unsigned(f.header("none", ec.KeyID(), "at+jwt"), payload), []string{whyMalformed}},
		{"alg None, empty signature", b + f.unsigned(f.header("None", ec.KeyID(), "at+jwt"), payload), []string{whyMalformed}},
		{"alg NONE, empty signature", b + f.unsigned(f.header("NONE", ec.KeyID(), "at+jwt"), payload), []string{whyMalformed}},
		{"alg none, only alg", b + f.unsigned(`{"alg":"none"}`, payload), []string{whyMalformed, whyHeader}},
		{"alg none, signed", b + f.sign(ec, f.header("none", ec.KeyID(), "at+jwt"), payload), []string{whyAlg}},
		{"alg empty, signed", b + f.sign(ec, f.header("", ec.KeyID(), "at+jwt"), payload), []string{whyAlg}},
		{"ES256, empty signature", b + f.unsigned(good, payload), []string{whyMalformed}},

		// Algorithm confusion: HMAC keyed with the public key's bytes.
		{"HS256 keyed with EC PEM", b + f.hmac(sha256.New, "HS256", ec.KeyID(), pemOf(t, ec)), []string{whyAlg}},
		{"HS256 keyed with EC DER", b + f.hmac(sha256.New, "HS256", ec.KeyID(), derOf(t, ec)), []string{whyAlg}},
		{"HS256 keyed with EC JWK", b + f.hmac(sha256.New, "HS256", ec.KeyID(), jwkOf(t, ec)), []string{whyAlg}},
		{"HS384 keyed with EC PEM", b + f.hmac(sha512.New384, "HS384", ec.KeyID(), pemOf(t, ec)), []string{whyAlg}},
		{"HS384 keyed with EC DER", b + f.hmac(sha512.New384, "HS384", ec.KeyID(), derOf(t, ec)), []string{whyAlg}},
		{"HS384 keyed with EC JWK", b + f.hmac(sha512.New384, "HS384", ec.KeyID(), jwkOf(t, ec)), []string{whyAlg}},
		{"HS256 keyed with RSA PEM", b + f.hmac(sha256.New, "HS256", rsaKey.KeyID(), pemOf(t, rsaKey)), []string{whyAlg}},
		{"HS256 keyed with RSA DER", b + f.hmac(sha256.New, "HS256", rsaKey.KeyID(), derOf(t, rsaKey)), []string{whyAlg}},
		{"HS256 keyed with RSA JWK", b + f.hmac(sha256.New, "HS256", rsaKey.KeyID(), jwkOf(t, rsaKey)), []string{whyAlg}},
		{"HS384 keyed with RSA PEM", b + f.hmac(sha512.New384, "HS384", rsaKey.KeyID(), pemOf(t, rsaKey)), []string{whyAlg}},
		{"HS384 keyed with RSA DER", b + f.hmac(sha512.New384, "HS384", rsaKey.KeyID(), derOf(t, rsaKey)), []string{whyAlg}},
		{"HS384 keyed with RSA JWK", b + f.hmac(sha512.New384, "HS384", rsaKey.KeyID(), jwkOf(t, rsaKey)), []string{whyAlg}},

		// Algorithms outside the allowlist, on our key.
		{"alg ES384 on our P-256 key", b + f.sign(ec, f.header("ES384", ec.KeyID(), "at+jwt"), payload), []string{whyAlg}},
		{"alg ES512", b + f.sign(ec, f.header("ES512", ec.KeyID(), "at+jwt"), payload), []string{whyAlg}},
		{"alg EdDSA", b + f.sign(ec, f.header("EdDSA", ec.KeyID(), "at+jwt"), payload), []string{whyAlg}},
		{"alg ES256K", b + f.sign(ec, f.header("ES256K", ec.KeyID(), "at+jwt"), payload), []string{whyAlg}},
		{"alg es256 (lower case)", b + f.sign(ec, f.header("es256", ec.KeyID(), "at+jwt"), payload), []string{whyAlg}},

		// Key-type confusion with both keys trusted: the header never picks
		// how a key is used.
		{"RS256 header on our EC key, RSA-signed", b + f.sign(rsaKey, f.header("RS256", ec.KeyID(), "at+jwt"), payload), []string{whyAlg}},
		{"ES256 header on our RSA key, EC-signed", b + f.sign(ec, f.header("ES256", rsaKey.KeyID(), "at+jwt"), payload), []string{whyAlg}},
		{"PS256 header on our RS256 key, PSS-signed by it", b + f.sign(rsaPSS, f.header("PS256", rsaKey.KeyID(), "at+jwt"), payload), []string{whyAlg}},
		{"RS256 header on our RSA key, PSS signature", b + f.sign(rsaPSS, f.header("RS256", rsaKey.KeyID(), "at+jwt"), payload), []string{whySig}},

		// kid: only a configured key, looked up, never interpreted.
		{"unknown kid", b + f.sign(ec, f.header("ES256", "no-such-key", "at+jwt"), payload), []string{whyKid}},
		{"kid with a path", b + f.sign(ec, f.header("ES256", "../../../../dev/null", "at+jwt"), payload), []string{whyKid}},
		{"kid with a URL", b + f.sign(ec, f.header("ES256", keyServer.URL+"/key.pem", "at+jwt"), payload), []string{whyKid}},
		{"kid with SQL", b + f.sign(ec, f.header("ES256", "' OR '1'='1' --", "at+jwt"), payload), []string{whyKid}},
		{"kid empty", b + f.sign(ec, f.header("ES256", "", "at+jwt"), payload), []string{whyKid}},
		{"kid in other case", b + f.sign(ec, f.header("ES256", strings.ToUpper(ec.KeyID()), "at+jwt"), payload), []string{whyKid}},
		{"kid not a string", b + f.sign(ec, `{"alg":"ES256","kid":1,"typ":"at+jwt"}`, payload), []string{whyHeader}},
		{"kid missing", b + f.sign(ec, `{"alg":"ES256","typ":"at+jwt"}`, payload), []string{whyHeader}},
		{"untrusted KMS key, its own kid", b + f.sign(stranger, f.header("ES256", stranger.KeyID(), "at+jwt"), payload), []string{whyKid}},

		// Another key claiming our kid.
		{"untrusted KMS key claiming our kid", b + f.sign(stranger, good, payload), []string{whySig}},
		{"attacker key claiming our kid", b + f.sign(evil, good, payload), []string{whySig}},

		// Keys named by the token itself: never fetched, never trusted.
		{"jku, signed by our key", b + f.sign(ec, f.header("ES256", ec.KeyID(), "at+jwt", `"jku":"`+keyServer.URL+`/jwks.json"`), payload), []string{whyHeader}},
		{"jku to the attacker's JWKS", b + f.sign(evil, f.header("ES256", evil.kid, "at+jwt", `"jku":"`+keyServer.URL+`/jwks.json"`), payload), []string{whyHeader, whyKid}},
		{"x5u, signed by our key", b + f.sign(ec, f.header("ES256", ec.KeyID(), "at+jwt", `"x5u":"`+keyServer.URL+`/cert.pem"`), payload), []string{whyHeader}},
		{"x5u to the attacker", b + f.sign(evil, f.header("ES256", evil.kid, "at+jwt", `"x5u":"`+keyServer.URL+`/cert.pem"`), payload), []string{whyHeader, whyKid}},
		{"jwk of our key, signed by our key", b + f.sign(ec, f.header("ES256", ec.KeyID(), "at+jwt", `"jwk":`+string(jwkOf(t, ec))), payload), []string{whyHeader}},
		{"jwk of the attacker's key", b + f.sign(evil, f.header("ES256", evil.kid, "at+jwt", `"jwk":`+string(evil.jwk)), payload), []string{whyHeader, whyKid}},
		{"jwk of the attacker's key, our kid", b + f.sign(evil, f.header("ES256", ec.KeyID(), "at+jwt", `"jwk":`+string(evil.jwk)), payload), []string{whyHeader, whySig}},
		{"x5c, signed by our key", b + f.sign(ec, f.header("ES256", ec.KeyID(), "at+jwt", `"x5c":["`+evil.cert+`"]`), payload), []string{whyHeader}},
		{"x5c of the attacker's certificate", b + f.sign(evil, f.header("ES256", evil.kid, "at+jwt", `"x5c":["`+evil.cert+`"]`), payload), []string{whyHeader, whyKid}},

		// crit and other extensions we do not understand (RFC 7515 4.1.11).
		{"crit with an unknown extension", b + f.sign(ec, f.header("ES256", ec.KeyID(), "at+jwt", `"crit":["x-ext"],"x-ext":true`), payload), []string{whyHeader}},
		{"crit naming a claim", b + f.sign(ec, f.header("ES256", ec.KeyID(), "at+jwt", `"crit":["exp"]`), payload), []string{whyHeader}},
		{"b64 false (RFC 7797)", b + f.sign(ec, f.header("ES256", ec.KeyID(), "at+jwt", `"b64":false,"crit":["b64"]`), payload), []string{whyHeader}},
		{"cty JWT (nested token)", b + f.sign(ec, f.header("ES256", ec.KeyID(), "at+jwt", `"cty":"JWT"`), payload), []string{whyHeader}},
		{"zip DEF", b + f.sign(ec, f.header("ES256", ec.KeyID(), "at+jwt", `"zip":"DEF"`), payload), []string{whyHeader}},

		// typ: explicit typing (RFC 9068 4 step 1, RFC 8725 3.11).
		{"typ missing", b + f.sign(ec, `{"alg":"ES256","kid":"`+ec.KeyID()+`"}`, payload), []string{whyHeader}},
		{"typ JWT", b + f.sign(ec, f.header("ES256", ec.KeyID(), "JWT"), payload), []string{whyType}},
		{"typ of a refresh token", b + f.sign(ec, f.header("ES256", ec.KeyID(), "rt+jwt"), payload), []string{whyType}},
		{"ID token (typ JWT, aud the client)", b + f.sign(ec, f.header("ES256", ec.KeyID(), "JWT"), f.payload(func(m map[string]any) {
			m["aud"], m["nonce"], m["auth_time"] = "web", "n-0S6_WzA2Mj", now.Unix()
		})), []string{whyType}},
		{"typ application/jwt", b + f.sign(ec, f.header("ES256", ec.KeyID(), "application/jwt"), payload), []string{whyType}},
		{"typ secevent+jwt", b + f.sign(ec, f.header("ES256", ec.KeyID(), "secevent+jwt"), payload), []string{whyType}},
		{"typ dpop+jwt", b + f.sign(ec, f.header("ES256", ec.KeyID(), "dpop+jwt"), payload), []string{whyType}},
		{"typ at+jwt with a parameter", b + f.sign(ec, f.header("ES256", ec.KeyID(), "at+jwt; charset=utf-8"), payload), []string{whyType}},
		{"typ empty", b + f.sign(ec, f.header("ES256", ec.KeyID(), ""), payload), []string{whyType}},
		{"typ not a string", b + f.sign(ec, `{"alg":"ES256","kid":"`+ec.KeyID()+`","typ":["at+jwt"]}`, payload), []string{whyHeader}},

		// The signature itself.
		{"signature truncated by a byte", b + parts[0] + "." + parts[1] + "." + enc.EncodeToString(sig[:63]), []string{whySig}},
		{"signature truncated by a character", b + valid[:len(valid)-1], []string{whyMalformed}},
		{"signature extended by a byte", b + parts[0] + "." + parts[1] + "." + enc.EncodeToString(append(sig[:64:64], 0)), []string{whySig}},
		{"signature extended by characters", b + valid + "AAAA", []string{whySig}},
		{"signature bit-flipped in R", b + parts[0] + "." + parts[1] + "." + enc.EncodeToString(flip(sig, 3)), []string{whySig}},
		{"signature bit-flipped in S", b + parts[0] + "." + parts[1] + "." + enc.EncodeToString(flip(sig, 40)), []string{whySig}},
		{"signature bit-flipped last bit", b + parts[0] + "." + parts[1] + "." + enc.EncodeToString(flip(sig, 63)), []string{whySig}},
		{"r=0 s=0 (CVE-2022-21449)", b + rs(big.NewInt(0), big.NewInt(0)), []string{whySig}},
		{"r=0", b + rs(big.NewInt(0), s0), []string{whySig}},
		{"s=0", b + rs(r0, big.NewInt(0)), []string{whySig}},
		{"r=s=n (zero mod n)", b + rs(n, n), []string{whySig}},
		{"r=n, s valid", b + rs(n, s0), []string{whySig}},
		{"high-S twin of a valid signature", b + rs(r0, new(big.Int).Sub(n, s0)), []string{whySig}},
		{"DER signature instead of R||S", b + parts[0] + "." + parts[1] + "." + enc.EncodeToString(derRS(t, r0, s0)), []string{whySig}},
		{"signature of another token", b + parts[0] + "." + enc.EncodeToString([]byte(claim("sub", "admin"))) + "." + parts[2], []string{whySig}},
		{"payload edited after signing", b + parts[0] + "." + enc.EncodeToString([]byte(strings.Replace(payload, `"client_id":"web"`, `"client_id":"adm"`, 1))) + "." + parts[2], []string{whySig}},

		// Spelling: unpadded base64url only (RFC 7515 2).
		{"padded header", b + parts[0] + "=." + parts[1] + "." + parts[2], []string{whyMalformed}},
		{"padded signature", b + valid + "==", []string{whyMalformed}},
		{"standard-alphabet base64, signed", b + stdInput + "." + enc.EncodeToString(mustSign(t, ec, stdInput)), []string{whyMalformed}},
		{"standard-alphabet signature", b + parts[0] + "." + parts[1] + "." + stdSignature(t, ec, good, payload), []string{whyMalformed}},
		{"CR LF inside", b + parts[0] + "." + parts[1] + "\r\n." + parts[2], []string{whyNoBearer, whyMalformed}},
		{"empty header segment", b + "." + parts[1] + "." + parts[2], []string{whyMalformed}},

		// JSON: one object, no duplicate members (RFC 7515 5.2, RFC 8259 4).
		{"duplicate alg in header", b + f.sign(ec, `{"alg":"ES256","alg":"none","kid":"`+ec.KeyID()+`","typ":"at+jwt"}`, payload), []string{whyHeader}},
		{"duplicate kid in header", b + f.sign(ec, `{"alg":"ES256","kid":"`+ec.KeyID()+`","kid":"`+rsaKey.KeyID()+`","typ":"at+jwt"}`, payload), []string{whyHeader}},
		{"duplicate typ in header", b + f.sign(ec, `{"alg":"ES256","kid":"`+ec.KeyID()+`","typ":"JWT","typ":"at+jwt"}`, payload), []string{whyHeader}},
		{"header not an object", b + f.sign(ec, `["ES256"]`, payload), []string{whyHeader}},
		{"header with trailing data", b + f.sign(ec, good+`{}`, payload), []string{whyHeader}},
		{"duplicate sub in payload", b + f.sign(ec, good, `{"sub":"admin",`+payload[1:]), []string{whyMalformed}},
		{"duplicate exp in payload", b + f.sign(ec, good, strings.TrimSuffix(payload, "}")+`,"exp":4102444800}`), []string{whyMalformed}},
		{"Sub beside sub", b + f.sign(ec, good, `{"Sub":"admin",`+payload[1:]), []string{whyMalformed}},
		{"duplicate member nested in a claim", b + f.sign(ec, good, strings.TrimSuffix(payload, "}")+`,"ext":{"role":"user","role":"admin"}}`), []string{whyMalformed}},
		{"payload an array", b + f.sign(ec, good, `[`+payload+`]`), []string{whyMalformed}},
		{"payload a string", b + f.sign(ec, good, `"admin"`), []string{whyMalformed}},
		{"payload a number", b + f.sign(ec, good, `42`), []string{whyMalformed}},
		{"payload null", b + f.sign(ec, good, `null`), []string{whyMalformed}},
		{"payload empty", b + f.sign(ec, good, ``), []string{whyMalformed}},
		{"payload with trailing data", b + f.sign(ec, good, payload+`{}`), []string{whyMalformed}},
		{"payload in UTF-16 (RFC 8725 3.7)", b + f.sign(ec, good, utf16LE(payload)), []string{whyMalformed}},
		{"payload nested too deep", b + f.sign(ec, good, strings.TrimSuffix(payload, "}")+`,"x":`+strings.Repeat("[", 20)+strings.Repeat("]", 20)+`}`), []string{whyMalformed}},

		// Claims (RFC 9068 4 steps 3, 4, 6; RFC 8725 3.8, 3.9).
		{"exp missing", b + f.sign(ec, good, drop("exp")), []string{whyClaims}},
		{"exp past", b + f.sign(ec, good, claim("exp", now.Add(-time.Minute).Unix())), []string{whyClaims}},
		{"exp just past the leeway", b + f.sign(ec, good, claim("exp", now.Add(-11*time.Second).Unix())), []string{whyClaims}},
		{"exp a string", b + f.sign(ec, good, claim("exp", "4102444800")), []string{whyMalformed}},
		{"nbf future", b + f.sign(ec, good, claim("nbf", now.Add(time.Minute).Unix())), []string{whyClaims}},
		{"iat far future", b + f.sign(ec, good, claim("iat", now.Add(time.Hour).Unix())), []string{whyClaims}},
		{"iat missing", b + f.sign(ec, good, drop("iat")), []string{whyMissing}},
		{"iss wrong", b + f.sign(ec, good, claim("iss", "https://evil.example")), []string{whyClaims}},
		{"iss missing", b + f.sign(ec, good, drop("iss")), []string{whyClaims}},
		{"iss in other case", b + f.sign(ec, good, claim("iss", strings.ToUpper(env.Getenv("ISSUER")))), []string{whyClaims}},
		{"iss with a trailing slash", b + f.sign(ec, good, claim("iss", env.Getenv("ISSUER")+"/")), []string{whyClaims}},
		{"aud wrong", b + f.sign(ec, good, claim("aud", "https://other.example")), []string{whyClaims}},
		{"aud empty string", b + f.sign(ec, good, claim("aud", "")), []string{whyClaims}},
		{"aud empty array", b + f.sign(ec, good, claim("aud", []string{})), []string{whyClaims}},
		{"aud array without us", b + f.sign(ec, good, claim("aud", []string{"https://a.example", "https://b.example"})), []string{whyClaims}},
		{"aud missing", b + f.sign(ec, good, drop("aud")), []string{whyClaims}},
		{"aud with a trailing slash", b + f.sign(ec, good, claim("aud", env.Getenv("AUDIENCE")+"/")), []string{whyClaims}},
		{"sub missing", b + f.sign(ec, good, drop("sub")), []string{whyMissing}},
		{"sub empty", b + f.sign(ec, good, claim("sub", "")), []string{whyMissing}},
		{"jti missing", b + f.sign(ec, good, drop("jti")), []string{whyMissing}},
		{"sid missing", b + f.sign(ec, good, drop("sid")), []string{whyMissing}},
		{"client_id missing", b + f.sign(ec, good, drop("client_id")), []string{whyMissing}},
		{"sid not one of ours", b + f.sign(ec, good, claim("sid", "not-a-session-id")), []string{"sid is not one of ours"}},

		// Shape and size.
		{"token over 8 KiB, signed", b + f.sign(ec, good, oversized), []string{whyNoBearer, whyTooLarge}},
		{"header and payload swapped", b + parts[1] + "." + parts[0] + "." + parts[2], []string{whyHeader}},
		{"JWE-shaped, 5 segments", b + jwe, []string{whyMalformed}},
		{"4 segments", b + valid + ".e30", []string{whyMalformed}},
		{"2 segments", b + parts[0] + "." + parts[1], []string{whyMalformed}},
		{"trailing dot", b + valid + ".", []string{whyMalformed}},

		// The Authorization header (RFC 6750 2.1, exactly as our clients send it).
		{"no Bearer prefix", valid, []string{whyNoBearer}},
		{"bearer in lower case", "bearer " + valid, []string{whyNoBearer}},
		{"BEARER in upper case", "BEARER " + valid, []string{whyNoBearer}},
		{"double space", "Bearer  " + valid, []string{whyNoBearer}},
		{"tab instead of space", "Bearer\t" + valid, []string{whyNoBearer}},
		{"leading space", " Bearer " + valid, []string{whyNoBearer}},
		{"trailing space", "Bearer " + valid + " ", []string{whyNoBearer}},
		{"trailing newline", "Bearer " + valid + "\n", []string{whyNoBearer}},
		{"two tokens", "Bearer " + valid + ",Bearer " + valid, []string{whyNoBearer}},
		{"quoted token", `Bearer "` + valid + `"`, []string{whyMalformed}},
		{"Basic scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("victor:"+valid)), []string{whyNoBearer}},
		{"DPoP scheme, a token bound to no key (RFC 9449 7.1)", "DPoP " + valid, []string{whyDPoPBinding}},
		{"Bearer alone", "Bearer", []string{whyNoBearer}},
		{"Bearer and a space", "Bearer ", []string{whyNoBearer}},
		{"empty header", "", []string{whyNoBearer}},

		// Other tokens of the service.
		{"refresh token as access token", b + s.doLogin(t, "victor", "a long enough password").Refresh, []string{whyMalformed}},
	}

	names := map[string]bool{}
	for _, row := range rows {
		if names[row.name] {
			t.Fatalf("two rows named %q", row.name)
		}
		names[row.name] = true
		t.Run(row.name, func(t *testing.T) {
			for _, kind := range authorizerKinds {
				mark := len(s.logs.String())
				if s.allows(t, kind, row.authz) {
					t.Fatalf("%s: ALLOWED", kind)
				}
				logs := s.logs.String()[mark:]
				why := denyReason(t, logs)
				if !containsAny(why, row.why) {
					t.Errorf("%s: denied because %q, want one of %q", kind, why, row.why)
				}
				// The metric of the same denial names the same defence.
				var last *testenv.EMFLine
				for _, x := range s.metrics.Lines() {
					if _, ok := x.Metrics["AuthorizerDecision"]; ok {
						last = x
					}
				}
				if last == nil {
					t.Fatalf("%s: no AuthorizerDecision metric line", kind)
				}
				reason := last.Dimensions["Reason"]
				if last.Dimensions["Decision"] != "deny" || !containsAny(why, logReasons[reason]) {
					t.Errorf("%s: denied because %q, but the metric says %s/%s", kind, why, last.Dimensions["Decision"], reason)
				}
				if tok, _ := strings.CutPrefix(row.authz, "Bearer "); len(tok) > 40 && strings.Contains(logs, tok) {
					t.Errorf("%s: the token reached the logs", kind)
				}
			}
		})
	}
	if got := fetched.Load(); got != 0 {
		t.Errorf("the authorizer fetched %d URLs named by tokens (jku, x5u, kid), want 0", got)
	}
}

// logReasons are, for each metrics reason of a denial, what the deny log
// line of the same denial says (shared/token's sentinel error texts).
var logReasons = map[string][]string{
	"no_token":     {"no bearer token"},
	"dpop_binding": {"DPoP binding does not match its scheme"},
	"dpop_proof":   {"dpop:"},
	"malformed":    {"token: malformed", "token: too large"},
	"header":       {"token: header not accepted", "token: wrong typ", "token: algorithm not allowed"},
	"unknown_key":  {"token: unknown kid"},
	"signature":    {"token: bad signature"},
	"expired":      {"token: expired"},
	"claims":       {"token: claims not valid", "token: required claim missing", "sid is not one of ours"},
	"revoked":      {"access token is revoked"},
	"unavailable":  {"a dependency is unavailable"},
}

// authorizerKinds are the event shapes the authorizer answers.
var authorizerKinds = []string{"HTTP API", "REST TOKEN", "REST REQUEST"}

// allows runs the authorizer on an Authorization header value in one event
// shape. A denial must be the exact shape API Gateway reads as a denial:
// isAuthorized false without context, or the error "Unauthorized" (401).
func (s *service) allows(t *testing.T, kind, authz string) bool {
	t.Helper()
	var ev map[string]any
	switch kind {
	case "HTTP API":
		ev = eventMap(t, "authorizer")
		ev["headers"].(map[string]any)["authorization"] = authz
	case "REST TOKEN":
		ev = eventMap(t, "authorizer-rest-token")
		ev["authorizationToken"] = authz
	case "REST REQUEST":
		ev = eventMap(t, "authorizer-rest-request")
		ev["headers"].(map[string]any)["Authorization"] = authz
		ev["multiValueHeaders"].(map[string]any)["Authorization"] = []string{authz}
	default:
		t.Fatalf("unknown event kind %s", kind)
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.authorizer(context.Background(), raw)
	switch r := out.(type) {
	case events.APIGatewayV2CustomAuthorizerSimpleResponse:
		if err != nil || (!r.IsAuthorized && r.Context != nil) {
			t.Fatalf("%s: response %+v, error %v", kind, r, err)
		}
		return r.IsAuthorized
	case events.APIGatewayCustomAuthorizerResponse:
		if err != nil || len(r.PolicyDocument.Statement) != 1 || r.PolicyDocument.Statement[0].Effect != "Allow" {
			t.Fatalf("%s: policy %+v, error %v: an invalid token must get the error Unauthorized", kind, r, err)
		}
		return true
	case nil:
		if err == nil || err.Error() != "Unauthorized" {
			t.Fatalf("%s: error %v, want exactly Unauthorized (a 401 at API Gateway)", kind, err)
		}
		return false
	}
	t.Fatalf("%s: unexpected response %T", kind, out)
	return false
}

func eventMap(t *testing.T, name string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, name), &m); err != nil {
		t.Fatalf("events/%s.json: %v", name, err)
	}
	return m
}

// denyReason is the reason of the last deny line in logs.
func denyReason(t *testing.T, logs string) string {
	t.Helper()
	why := ""
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec struct {
			Msg    string `json:"msg"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "deny") {
			why = rec.Reason
		}
	}
	if why == "" {
		t.Fatalf("no deny line with a reason in:\n%s", logs)
	}
	return why
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

var enc = base64.RawURLEncoding

// forger builds tokens from JSON text, signed by any key.
type forger struct {
	t      *testing.T
	claims map[string]any // the claims of a genuine token
}

func newForger(t *testing.T, genuine string) *forger {
	t.Helper()
	p, err := b64(strings.Split(genuine, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	f := &forger{t: t}
	if err := json.Unmarshal(p, &f.claims); err != nil {
		t.Fatal(err)
	}
	return f
}

// header is {"alg","kid","typ"} plus extra members (raw JSON "name":value).
func (f *forger) header(alg, kid, typ string, extra ...string) string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	h := `{"alg":` + q(alg) + `,"kid":` + q(kid) + `,"typ":` + q(typ)
	for _, e := range extra {
		h += "," + e
	}
	return h + "}"
}

// payload is the genuine token's claims, edited.
func (f *forger) payload(edit func(map[string]any)) string {
	m := make(map[string]any, len(f.claims))
	for k, v := range f.claims {
		m[k] = v
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

type signer interface {
	Sign(ctx context.Context, in []byte) ([]byte, error)
}

func (f *forger) sign(k signer, header, payload string) string {
	f.t.Helper()
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return in + "." + enc.EncodeToString(mustSign(f.t, k, in))
}

func (f *forger) unsigned(header, payload string) string {
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload)) + "."
}

// hmac signs the genuine claims with an HMAC keyed by secret: the classic
// algorithm confusion, where a verifier that lets the header choose uses
// the public key's bytes as the HMAC secret.
func (f *forger) hmac(h func() hash.Hash, alg, kid string, secret []byte) string {
	in := enc.EncodeToString([]byte(f.header(alg, kid, "at+jwt"))) + "." + enc.EncodeToString([]byte(f.payload(nil)))
	m := hmac.New(h, secret)
	m.Write([]byte(in))
	return in + "." + enc.EncodeToString(m.Sum(nil))
}

func mustSign(t *testing.T, k signer, in string) []byte {
	t.Helper()
	sig, err := k.Sign(context.Background(), []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// stdSignature signs until the signature's standard-alphabet spelling
// differs from its base64url one (most signatures have a - or _).
func stdSignature(t *testing.T, k signer, header, payload string) string {
	t.Helper()
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	for range 20 {
		if s := base64.RawStdEncoding.EncodeToString(mustSign(t, k, in)); strings.ContainsAny(s, "+/") {
			return s
		}
	}
	t.Fatal("no signature with + or / in 20 tries")
	return ""
}

func pemOf(t *testing.T, k *kmssign.Signer) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: derOf(t, k)})
}

func derOf(t *testing.T, k *kmssign.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Key().Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func jwkOf(t *testing.T, k *kmssign.Signer) []byte {
	t.Helper()
	j, err := token.PublicJWK(k.Key().Key)
	if err != nil {
		t.Fatal(err)
	}
	j.Kid, j.Alg, j.Use = k.KeyID(), k.Algorithm(), "sig"
	b, _ := json.Marshal(j)
	return b
}

func rawRS(r, s *big.Int) []byte {
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

func derRS(t *testing.T, r, s *big.Int) []byte {
	t.Helper()
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// utf16LE is s in UTF-16, little-endian, with a byte order mark.
func utf16LE(s string) string {
	out := []byte{0xff, 0xfe}
	for _, r := range s {
		out = append(out, byte(r), byte(r>>8))
	}
	return string(out)
}

func flip(sig []byte, i int) []byte {
	out := append([]byte(nil), sig...)
	out[i] ^= 0x01
	return out
}

// localKey is an attacker's own P-256 key, with its JWK, JWKS, RFC 7638
// kid and a self-signed certificate.
type localKey struct {
	priv *ecdsa.PrivateKey
	kid  string
	jwk  []byte
	jwks []byte
	cert string // base64 DER, as in x5c
}

func newLocalKey(t *testing.T) *localKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &localKey{priv: priv}
	if k.kid, err = token.Thumbprint(&priv.PublicKey); err != nil {
		t.Fatal(err)
	}
	j, _ := token.PublicJWK(&priv.PublicKey)
	j.Kid, j.Alg, j.Use = k.kid, "ES256", "sig"
	k.jwk, _ = json.Marshal(j)
	k.jwks, _ = json.Marshal(token.JWKS{Keys: []token.JWK{j}})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "auth.test.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	k.cert = base64.StdEncoding.EncodeToString(der)
	return k
}

// Sign signs like our KMS signer: R||S, low S.
func (k *localKey) Sign(_ context.Context, in []byte) ([]byte, error) {
	d := sha256.Sum256(in)
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, d[:])
	if err != nil {
		return nil, err
	}
	n := elliptic.P256().Params().N
	if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		s.Sub(n, s)
	}
	return rawRS(r, s), nil
}
