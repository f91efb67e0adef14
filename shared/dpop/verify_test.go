package dpop_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/dpop"
)

func newVerifier(tb testing.TB, opts ...dpop.Option) *dpop.Verifier {
	tb.Helper()
	v, err := dpop.NewVerifier(append([]dpop.Option{dpop.WithTimeFunc(func() time.Time { return testNow })}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func baseRequest() dpop.Request { return dpop.Request{Method: testMethod, URL: testURL} }

// TestVerifyRules has a row per check of RFC 9449 4.3 (and of the proof's
// syntax, 4.2): a proof that breaks exactly that rule, and the error it
// must get. Each row fails when its check is taken out of Verify.
func TestVerifyRules(t *testing.T) {
	es := newSigner(t, "ES256")
	other := newSigner(t, "ES256")
	const token = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln" // any access token: only its hash counts

	type row struct {
		name    string
		header  func(h map[string]any) // edits a well-formed header
		claims  func(c map[string]any) // edits well-formed claims
		raw     func() string          // the whole proof, instead of header and claims
		mangle  func(p string) string  // edits the signed proof
		request func(r *dpop.Request)
		want    error // nil: accepted
	}
	rows := []row{
		{name: "well formed"},

		// Step 2: one well-formed JWT.
		{name: "two segments", mangle: func(p string) string { return p[:strings.LastIndexByte(p, '.')] }, want: dpop.ErrMalformed},
		{name: "four segments", mangle: func(p string) string { return p + ".AAAA" }, want: dpop.ErrMalformed},
		{name: "empty signature", mangle: func(p string) string { return p[:strings.LastIndexByte(p, '.')+1] }, want: dpop.ErrMalformed},
		{name: "line break inside", mangle: func(p string) string { return p[:10] + "\n" + p[10:] }, want: dpop.ErrMalformed},
		{name: "two DPoP headers joined by a comma (HTTP API payload 2.0)", mangle: func(p string) string { return p + "," + p }, want: dpop.ErrMalformed},
		{name: "padding", mangle: func(p string) string { return p + "==" }, want: dpop.ErrMalformed},
		{name: "too large", claims: func(c map[string]any) { c["pad"] = strings.Repeat("x", dpop.MaxProofBytes) }, want: dpop.ErrMalformed},
		{name: "header not JSON", raw: func() string { return es.sign(t, `{"typ":"dpop+jwt"`, mustJSON(t, claims()), anyS) }, want: dpop.ErrMalformed},
		{name: "payload not an object", raw: func() string { return es.sign(t, mustJSON(t, es.header()), `["jti"]`, anyS) }, want: dpop.ErrMalformed},

		// Step 4: typ.
		{name: "typ missing", header: func(h map[string]any) { delete(h, "typ") }, want: dpop.ErrType},
		{name: "typ JWT", header: func(h map[string]any) { h["typ"] = "JWT" }, want: dpop.ErrType},
		{name: "typ of an access token", header: func(h map[string]any) { h["typ"] = "at+jwt" }, want: dpop.ErrType},
		{name: "typ not a string", header: func(h map[string]any) { h["typ"] = 1 }, want: dpop.ErrType},
		{name: "typ with media type prefix, any case", header: func(h map[string]any) { h["typ"] = "application/DPoP+JWT" }},

		// Step 5: alg from the allow-list, asymmetric.
		{name: "alg none", header: func(h map[string]any) { h["alg"] = "none" }, want: dpop.ErrAlgorithm},
		{name: "alg HS256", header: func(h map[string]any) { h["alg"] = "HS256" }, want: dpop.ErrAlgorithm},
		{name: "alg supported but not allowed here", header: func(h map[string]any) { h["alg"] = "ES384" }, want: dpop.ErrAlgorithm},
		{name: "alg missing", header: func(h map[string]any) { delete(h, "alg") }, want: dpop.ErrAlgorithm},

		// Step 7 and 4.2: jwk, a public key of alg's type and curve.
		{name: "jwk missing", header: func(h map[string]any) { delete(h, "jwk") }, want: dpop.ErrKey},
		{name: "jwk not an object", header: func(h map[string]any) { h["jwk"] = "key" }, want: dpop.ErrKey},
		{name: "jwk with private d", header: func(h map[string]any) { jwk(h)["d"] = b64.EncodeToString(make([]byte, 32)) }, want: dpop.ErrKey},
		{name: "jwk with private D", header: func(h map[string]any) { jwk(h)["D"] = "AA" }, want: dpop.ErrKey},
		{name: "jwk with private k", header: func(h map[string]any) { jwk(h)["k"] = "AA" }, want: dpop.ErrKey},
		{name: "jwk with private p", header: func(h map[string]any) { jwk(h)["p"] = "AA" }, want: dpop.ErrKey},
		{name: "jwk with private qi", header: func(h map[string]any) { jwk(h)["qi"] = "AA" }, want: dpop.ErrKey},
		{name: "jwk of kty RSA", header: func(h map[string]any) { jwk(h)["kty"] = "RSA" }, want: dpop.ErrKey},
		{name: "jwk on P-384 for ES256", header: func(h map[string]any) { jwk(h)["crv"] = "P-384" }, want: dpop.ErrKey},
		{name: "jwk x short", header: func(h map[string]any) { j := jwk(h); j["x"] = j["x"].(string)[:42] }, want: dpop.ErrKey},
		{name: "jwk x padded with a zero byte", header: func(h map[string]any) { j := jwk(h); j["x"] = "AA" + j["x"].(string) }, want: dpop.ErrKey},
		{name: "jwk point not on the curve", header: func(h map[string]any) { jwk(h)["y"] = jwk(h)["x"] }, want: dpop.ErrKey},
		{name: "jwk for encryption", header: func(h map[string]any) { jwk(h)["use"] = "enc" }, want: dpop.ErrKey},
		{name: "jwk naming another alg", header: func(h map[string]any) { jwk(h)["alg"] = "ES384" }, want: dpop.ErrKey},
		{name: "jwk member misspelt X", header: func(h map[string]any) { j := jwk(h); j["X"] = j["x"]; delete(j, "x") }, want: dpop.ErrKey},
		{name: "jwk with WebCrypto's ext and key_ops", header: func(h map[string]any) {
			jwk(h)["ext"] = true
			jwk(h)["key_ops"] = []string{"verify"}
		}},

		// Step 6: the signature, with the jwk's key.
		{name: "signature of another key", header: func(h map[string]any) { h["jwk"] = other.header()["jwk"] }, want: dpop.ErrSignature},
		{name: "signature bit flipped", mangle: flipSignature, want: dpop.ErrSignature},
		{name: "signature R zero", mangle: func(p string) string {
			return p[:strings.LastIndexByte(p, '.')+1] + b64.EncodeToString(append(make([]byte, 32), fromB64(t, p[strings.LastIndexByte(p, '.')+1:])[32:]...))
		}, want: dpop.ErrSignature},
		{name: "signature in DER", raw: func() string { return derSigned(t, es) }, want: dpop.ErrSignature},
		{name: "high S", raw: func() string { return es.sign(t, mustJSON(t, es.header()), mustJSON(t, claims()), highS) }},
		{name: "low S", raw: func() string { return es.sign(t, mustJSON(t, es.header()), mustJSON(t, claims()), lowS) }},

		// Step 3: the required claims.
		{name: "jti missing", claims: func(c map[string]any) { delete(c, "jti") }, want: dpop.ErrClaims},
		{name: "jti empty", claims: func(c map[string]any) { c["jti"] = "" }, want: dpop.ErrClaims},
		{name: "jti too long", claims: func(c map[string]any) { c["jti"] = strings.Repeat("j", dpop.MaxJTIBytes+1) }, want: dpop.ErrClaims},
		{name: "jti at the limit", claims: func(c map[string]any) { c["jti"] = strings.Repeat("j", dpop.MaxJTIBytes) }},
		{name: "jti not a string", claims: func(c map[string]any) { c["jti"] = 7 }, want: dpop.ErrClaims},
		{name: "htm missing", claims: func(c map[string]any) { delete(c, "htm") }, want: dpop.ErrClaims},
		{name: "htu missing", claims: func(c map[string]any) { delete(c, "htu") }, want: dpop.ErrClaims},
		{name: "iat missing", claims: func(c map[string]any) { delete(c, "iat") }, want: dpop.ErrClaims},
		{name: "iat a string", claims: func(c map[string]any) { c["iat"] = "1796644800" }, want: dpop.ErrClaims},
		{name: "iat beyond year 9999", claims: func(c map[string]any) { c["iat"] = 1e12 }, want: dpop.ErrClaims},
		{name: "claim misspelt HTM", claims: func(c map[string]any) { c["HTM"] = c["htm"]; delete(c, "htm") }, want: dpop.ErrClaims},

		// No member twice, even after case folding (RFC 8259 4, RFC 7515 5.2).
		{name: "htm twice", raw: func() string {
			return es.sign(t, mustJSON(t, es.header()), `{"jti":"a","htm":"GET","htm":"POST","htu":"`+testURL+`","iat":`+itoa(testNow.Unix())+`}`, anyS)
		}, want: dpop.ErrMalformed},
		{name: "htm and Htm", raw: func() string {
			return es.sign(t, mustJSON(t, es.header()), `{"jti":"a","htm":"POST","Htm":"GET","htu":"`+testURL+`","iat":`+itoa(testNow.Unix())+`}`, anyS)
		}, want: dpop.ErrMalformed},
		{name: "alg twice in the header", raw: func() string {
			h := mustJSON(t, es.header())
			return es.sign(t, `{"alg":"none",`+h[1:], mustJSON(t, claims()), anyS)
		}, want: dpop.ErrMalformed},
		{name: "jwk x twice", raw: func() string {
			h := es.header()
			x := jwk(h)["x"].(string)
			s := mustJSON(t, h)
			return es.sign(t, strings.Replace(s, `"x":"`, `"x":"`+x+`","x":"`, 1), mustJSON(t, claims()), anyS)
		}, want: dpop.ErrMalformed},
		{name: "crit", header: func(h map[string]any) { h["crit"] = []string{"exp"} }, want: dpop.ErrMalformed},

		// Step 8: htm.
		{name: "htm another method", claims: func(c map[string]any) { c["htm"] = "GET" }, want: dpop.ErrMethod},
		{name: "htm in lower case", claims: func(c map[string]any) { c["htm"] = "post" }, want: dpop.ErrMethod},

		// Step 9: htu.
		{name: "htu another path", claims: func(c map[string]any) { c["htu"] = "https://api.example.com/auth/login" }, want: dpop.ErrURI},
		{name: "htu another host", claims: func(c map[string]any) { c["htu"] = "https://evil.example.com/auth/refresh" }, want: dpop.ErrURI},
		{name: "htu http", claims: func(c map[string]any) { c["htu"] = "http://api.example.com/auth/refresh" }, want: dpop.ErrURI},
		{name: "htu another port", claims: func(c map[string]any) { c["htu"] = "https://api.example.com:8443/auth/refresh" }, want: dpop.ErrURI},
		{name: "htu relative", claims: func(c map[string]any) { c["htu"] = "/auth/refresh" }, want: dpop.ErrURI},
		{name: "htu with a query and a fragment", claims: func(c map[string]any) { c["htu"] = testURL + "?a=1#top" }},
		{name: "htu normalised", claims: func(c map[string]any) { c["htu"] = "HTTPS://API.Example.COM:443/auth/./%72efresh" }},
		{name: "request URL with a query", request: func(r *dpop.Request) { r.URL = testURL + "?x=y" }},

		// Step 11: iat within the window.
		{name: "iat too old", claims: func(c map[string]any) { c["iat"] = testNow.Add(-dpop.DefaultMaxAge - time.Second).Unix() }, want: dpop.ErrIssuedAt},
		{name: "iat at the oldest", claims: func(c map[string]any) { c["iat"] = testNow.Add(-dpop.DefaultMaxAge).Unix() }},
		{name: "iat too far ahead", claims: func(c map[string]any) { c["iat"] = testNow.Add(dpop.DefaultMaxSkew + time.Second).Unix() }, want: dpop.ErrIssuedAt},
		{name: "iat a little ahead", claims: func(c map[string]any) { c["iat"] = testNow.Add(dpop.DefaultMaxSkew).Unix() }},
		{name: "iat fractional", claims: func(c map[string]any) { c["iat"] = float64(testNow.Unix()) + 0.5 }},

		// Step 12: ath with an access token, and the bound key.
		{name: "ath missing with a token", request: func(r *dpop.Request) { r.AccessToken = token }, want: dpop.ErrTokenHash},
		{name: "ath of another token", claims: func(c map[string]any) { c["ath"] = ath(token + "x") }, request: func(r *dpop.Request) { r.AccessToken = token }, want: dpop.ErrTokenHash},
		{name: "ath in the wrong encoding", claims: func(c map[string]any) { c["ath"] = ath(token) + "=" }, request: func(r *dpop.Request) { r.AccessToken = token }, want: dpop.ErrTokenHash},
		{name: "ath of the token", claims: func(c map[string]any) { c["ath"] = ath(token) }, request: func(r *dpop.Request) { r.AccessToken = token }},
		{name: "bound to another key", request: func(r *dpop.Request) { r.BoundKey = thumb(t, other) }, want: dpop.ErrKeyMismatch},
		{name: "bound to this key", request: func(r *dpop.Request) { r.BoundKey = thumb(t, es) }},
	}
	v := newVerifier(t)
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			var p string
			if r.raw != nil {
				p = r.raw()
			} else {
				h, c := es.header(), claims()
				if r.header != nil {
					r.header(h)
				}
				if r.claims != nil {
					r.claims(c)
				}
				p = es.sign(t, mustJSON(t, h), mustJSON(t, c), anyS)
			}
			if r.mangle != nil {
				p = r.mangle(p)
			}
			req := baseRequest()
			if r.request != nil {
				r.request(&req)
			}
			got, err := v.Verify(context.Background(), p, req)
			if r.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.JKT != thumb(t, es) {
					t.Fatalf("JKT %s, want %s", got.JKT, thumb(t, es))
				}
				return
			}
			if !errors.Is(err, r.want) {
				t.Fatalf("got %v, want %v", err, r.want)
			}
			if !errors.Is(err, dpop.ErrInvalidProof) || errors.Is(err, dpop.ErrUseNonce) {
				t.Fatalf("%v: not an invalid_dpop_proof refusal", err)
			}
			if got != nil {
				t.Fatalf("refused but returned %+v", got)
			}
		})
	}
}

func jwk(h map[string]any) map[string]any { return h["jwk"].(map[string]any) }

func thumb(tb testing.TB, s *signer) string {
	tb.Helper()
	j := dpop.JWK{}
	for name, dst := range map[string]*string{"kty": &j.Kty, "crv": &j.Crv, "x": &j.X, "y": &j.Y, "n": &j.N, "e": &j.E} {
		if v, ok := s.jwk[name].(string); ok {
			*dst = v
		}
	}
	tp, err := dpop.Thumbprint(j)
	if err != nil {
		tb.Fatal(err)
	}
	return tp
}

func fromB64(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// flipSignature flips one bit in the middle of the signature.
func flipSignature(p string) string {
	dot := strings.LastIndexByte(p, '.')
	sig, _ := b64.DecodeString(p[dot+1:])
	sig[len(sig)/2] ^= 1
	return p[:dot+1] + b64.EncodeToString(sig)
}

// derSigned is a proof whose ECDSA signature is ASN.1 DER instead of R||S.
func derSigned(tb testing.TB, s *signer) string {
	p := s.sign(tb, mustJSON(tb, s.header()), mustJSON(tb, claims()), anyS)
	dot := strings.LastIndexByte(p, '.')
	sig := fromB64(tb, p[dot+1:])
	der := []byte{0x30, 0x44, 0x02, 0x20}
	der = append(der, sig[:32]...)
	der = append(der, 0x02, 0x20)
	der = append(der, sig[32:]...)
	return p[:dot+1] + b64.EncodeToString(der)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
