package dpop_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/dpop"
)

// The fuzz targets sign with a fixed Ed25519 key (deterministic signatures,
// so a proof signed here is the same bytes in every worker and run) and
// verify with a fixed clock. Run one with
//
//	go test -run '^$' -fuzz '^FuzzVerify$' -fuzztime 30s ./shared/dpop/
//
// or all of them with scripts/fuzz.
var fuzzKey = ed25519.NewKeyFromSeed([]byte("0123456789abcdef0123456789abcdef"))

func fuzzHeader() string {
	return `{"typ":"dpop+jwt","alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"` + b64.EncodeToString(fuzzKey.Public().(ed25519.PublicKey)) + `"}}`
}

const fuzzToken = "access-token"

func fuzzPayload() string {
	return `{"jti":"j-1","htm":"POST","htu":"` + testURL + `","iat":` + itoa(testNow.Unix()) + `,"ath":"` + ath(fuzzToken) + `"}`
}

func fuzzSign(header, payload string) string {
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	return in + "." + b64.EncodeToString(ed25519.Sign(fuzzKey, []byte(in)))
}

func fuzzVerifier(tb testing.TB) *dpop.Verifier {
	return newVerifier(tb, dpop.WithAlgorithms("ES256", "EdDSA"))
}

var fuzzRequest = dpop.Request{Method: testMethod, URL: testURL, AccessToken: fuzzToken}

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, dpop.ErrInvalidProof) && !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("refused with an unclassified error: %v", err)
	}
}

// FuzzVerify feeds arbitrary strings to Verify. Invariants: no panic, every
// refusal is a sentinel error, and nothing but the one proof signed here is
// accepted: a mutation of it (the fuzzer starts from it) must not verify.
func FuzzVerify(f *testing.F) {
	v := fuzzVerifier(f)
	genuine := fuzzSign(fuzzHeader(), fuzzPayload())
	if _, err := v.Verify(context.Background(), genuine, fuzzRequest); err != nil {
		f.Fatalf("the genuine proof does not verify: %v", err)
	}
	f.Add(genuine)
	f.Fuzz(func(t *testing.T, proof string) {
		p, err := v.Verify(context.Background(), proof, fuzzRequest)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if proof != genuine {
			t.Fatalf("accepted a proof never signed:\n%q\n%+v", proof, p)
		}
	})
}

// FuzzVerifySigned signs arbitrary header and payload bytes with the fixed
// key, so the fuzzer reaches every check after the signature. Invariants:
// no panic, every refusal is a sentinel error, and an accepted proof meets
// RFC 9449 4.3 as an independent reading of its JSON (encoding/json) sees
// it: each member once (after case folding, as Go matches names); typ
// dpop+jwt; alg EdDSA; a jwk of the fixed key with no private member; jti a
// string of 1 to MaxJTIBytes bytes; htm the method; htu the URL up to
// normalisation; iat a number inside the window; ath the token's hash; and
// Verify returned exactly those values.
func FuzzVerifySigned(f *testing.F) {
	v := fuzzVerifier(f)
	f.Add(fuzzHeader(), fuzzPayload())
	f.Add(fuzzHeader(), `{"jti":"j","htm":"POST","htu":"HTTPS://API.EXAMPLE.COM:443/auth/./refresh?x#y","iat":1796644800.5,"ath":"`+ath(fuzzToken)+`"}`)
	wantJKT, err := dpop.Thumbprint(dpop.JWK{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(fuzzKey.Public().(ed25519.PublicKey))})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header, payload string) {
		p, err := v.Verify(context.Background(), fuzzSign(header, payload), fuzzRequest)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		h := members(t, "header", header)
		if typ, _ := h["typ"].(string); !strings.EqualFold(typ, "dpop+jwt") && !strings.EqualFold(typ, "application/dpop+jwt") {
			t.Fatalf("accepted typ %#v", h["typ"])
		}
		if h["alg"] != "EdDSA" || p.Algorithm != "EdDSA" {
			t.Fatalf("accepted alg %#v", h["alg"])
		}
		jwk, _ := h["jwk"].(map[string]any)
		for name := range jwk {
			switch strings.ToLower(name) {
			case "d", "p", "q", "dp", "dq", "qi", "oth", "k":
				t.Fatalf("accepted a jwk with %q", name)
			}
		}
		if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" || p.JKT != wantJKT {
			t.Fatalf("accepted jwk %v, jkt %s", jwk, p.JKT)
		}

		c := members(t, "payload", payload)
		jti, _ := c["jti"].(string)
		if jti == "" || len(jti) > dpop.MaxJTIBytes || jti != p.ID {
			t.Fatalf("accepted jti %#v, read as %q", c["jti"], p.ID)
		}
		if c["htm"] != testMethod {
			t.Fatalf("accepted htm %#v", c["htm"])
		}
		htu, _ := c["htu"].(string)
		if n, err := dpop.NormalizeURI(htu); err != nil || n != testURL {
			t.Fatalf("accepted htu %#v (%q, %v)", c["htu"], n, err)
		}
		iat, ok := c["iat"].(float64)
		if !ok || iat < float64(testNow.Add(-dpop.DefaultMaxAge).Unix()) || iat > float64(testNow.Add(dpop.DefaultMaxSkew).Unix()) {
			t.Fatalf("accepted iat %#v", c["iat"])
		}
		if d := p.IssuedAt.Sub(time.Unix(0, int64(iat*1e9))); d > time.Microsecond || d < -time.Microsecond {
			t.Fatalf("iat %v read as %v", iat, p.IssuedAt)
		}
		if c["ath"] != ath(fuzzToken) {
			t.Fatalf("accepted ath %#v", c["ath"])
		}
	})
}

// members decodes an accepted JSON object with encoding/json, failing the
// test if it is not one object or has a member twice after Go's case
// folding (which Verify must have refused).
func members(t *testing.T, what, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("accepted a %s encoding/json refuses: %v\n%q", what, err, s)
	}
	d := json.NewDecoder(strings.NewReader(s))
	if _, err := d.Token(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		name := strings.ToLower(strings.ToUpper(tok.(string)))
		if seen[name] {
			t.Fatalf("accepted a %s with %q twice: %q", what, name, s)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return m
}
