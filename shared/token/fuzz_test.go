package token_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// The fuzz targets verify with a fixed P-256 key and a fixed clock, and
// sign with RFC 6979 deterministic signatures, so that a token signed here
// is the same bytes in every fuzz worker, every run and the seed corpus
// (testdata/fuzz). Run one with
//
//	go test -run '^$' -fuzz '^FuzzVerify$' -fuzztime 30s ./shared/token/
//
// or all of them with scripts/fuzz.
const (
	fuzzScalar   = "68908c51ff20d140844ed95be610df663ba52954f50847929fe3b59addae2fa2"
	fuzzKID      = "fuzz-key"
	fuzzIssuer   = "https://auth.fuzz.example"
	fuzzAudience = "https://api.fuzz.example"
	fuzzLeeway   = 10 * time.Second
	fuzzHeader   = `{"alg":"ES256","kid":"fuzz-key","typ":"at+jwt"}`
	// exp 2026-11-28 12:15 UTC, iat 12:00; the clock says 12:05.
	fuzzPayload = `{"aud":["https://api.fuzz.example"],"client_id":"web","exp":1795868100,"iat":1795867200,` +
		`"iss":"https://auth.fuzz.example","jti":"jti-1","scope":"read","sid":"sid-1","sub":"user-1"}`
)

var fuzzNow = time.Date(2026, 11, 28, 12, 5, 0, 0, time.UTC)

type fuzzEnv struct {
	key     *ecdsa.PrivateKey
	v       *token.Verifier
	genuine string // the one token of these fuzz targets that is validly signed
}

func newFuzzEnv(tb testing.TB) fuzzEnv {
	tb.Helper()
	d, _ := hex.DecodeString(fuzzScalar)
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := token.NewVerifier(fuzzIssuer, fuzzAudience,
		[]token.PublicKey{{KID: fuzzKID, Alg: "ES256", Key: &key.PublicKey}},
		token.WithLeeway(fuzzLeeway), token.WithTimeFunc(func() time.Time { return fuzzNow }))
	if err != nil {
		tb.Fatal(err)
	}
	e := fuzzEnv{key: key, v: v}
	e.genuine = e.sign(fuzzHeader, fuzzPayload)
	if _, err := v.Verify(e.genuine); err != nil {
		tb.Fatalf("the genuine fuzz token does not verify: %v", err)
	}
	return e
}

// sign makes a compact JWS of header and payload, signed like the KMS
// signer (R||S, low S), deterministically.
func (e fuzzEnv) sign(header, payload string) string {
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	digest := sha256.Sum256([]byte(in))
	der, err := e.key.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		panic(err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		panic(err)
	}
	n := elliptic.P256().Params().N
	if rs.S.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		rs.S.Sub(n, rs.S)
	}
	sig := make([]byte, 64)
	rs.R.FillBytes(sig[:32])
	rs.S.FillBytes(sig[32:])
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

var sentinels = []error{token.ErrMalformed, token.ErrTooLarge, token.ErrHeader, token.ErrType,
	token.ErrUnknownKey, token.ErrAlgorithm, token.ErrSignature, token.ErrClaims, token.ErrMissingClaim}

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if !slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
		t.Fatalf("refused with an unclassified error: %v", err)
	}
}

// FuzzVerify feeds arbitrary strings to Verify. Invariants: no panic, every
// refusal is one of the sentinel errors, and nothing but the one genuinely
// signed token is ever accepted: a mutation of it (the fuzzer starts from
// it) must not verify.
func FuzzVerify(f *testing.F) {
	e := newFuzzEnv(f)
	f.Add(e.genuine)
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := e.v.Verify(raw)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if raw != e.genuine {
			t.Fatalf("accepted a token that was never signed:\n%q\nclaims %+v", raw, c)
		}
		if c.Subject != "user-1" || c.SessionID != "sid-1" || c.ID != "jti-1" {
			t.Fatalf("genuine token read as %+v", c)
		}
	})
}

// FuzzVerifySigned signs arbitrary header and payload bytes with the
// trusted key, so the fuzzer reaches everything after the signature check
// (header policy, JSON parsing, claims). Invariants: no panic, every
// refusal is a sentinel error, and an accepted token meets the policy as an
// independent reading of its JSON sees it: the header is exactly alg
// ES256, our kid and an access token typ, each once; the payload is one
// object, each member once, claim names spelled exactly; iss and aud are
// ours; exp, iat and any nbf are numbers that put now inside the validity
// window (with the leeway); sub, jti, sid and client_id are non-empty
// strings; and Verify returned exactly those values.
func FuzzVerifySigned(f *testing.F) {
	e := newFuzzEnv(f)
	f.Add(fuzzHeader, fuzzPayload)
	f.Fuzz(func(t *testing.T, header, payload string) {
		c, err := e.v.Verify(e.sign(header, payload))
		if err != nil {
			checkRefusal(t, err)
			return
		}
		h := members(t, "header", header)
		if len(h) != 3 || h["alg"] != "ES256" || h["kid"] != fuzzKID {
			t.Fatalf("accepted header %s", header)
		}
		if typ, _ := h["typ"].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
			t.Fatalf("accepted typ %q", h["typ"])
		}

		p := members(t, "payload", payload)
		for k := range p {
			if low := strings.ToLower(strings.ToUpper(k)); low != k && slices.Contains([]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "client_id", "scope"}, low) {
				t.Fatalf("accepted claim name %q", k)
			}
		}
		for name, got := range map[string]string{"iss": c.Issuer, "sub": c.Subject, "jti": c.ID, "sid": c.SessionID, "client_id": c.ClientID} {
			if s, ok := p[name].(string); !ok || s == "" || s != got {
				t.Fatalf("accepted %s %#v, read as %q", name, p[name], got)
			}
		}
		if c.Issuer != fuzzIssuer {
			t.Fatalf("accepted iss %q", c.Issuer)
		}
		switch aud := p["aud"].(type) {
		case string:
			if aud != fuzzAudience {
				t.Fatalf("accepted aud %q", aud)
			}
		case []any:
			if !slices.Contains(aud, any(fuzzAudience)) {
				t.Fatalf("accepted aud %v", aud)
			}
		default:
			t.Fatalf("accepted aud %#v", p["aud"])
		}
		if !slices.Contains(c.Audience, fuzzAudience) {
			t.Fatalf("aud read as %v", c.Audience)
		}
		for _, name := range []string{"exp", "iat", "nbf"} {
			if _, isNum := p[name].(float64); !isNum && !(name == "nbf" && p[name] == nil) {
				t.Fatalf("accepted %s %#v", name, p[name])
			}
		}
		if c.ExpiresAt == nil || !fuzzNow.Before(c.ExpiresAt.Add(fuzzLeeway)) {
			t.Fatalf("accepted exp %v at %v", c.ExpiresAt, fuzzNow)
		}
		if c.IssuedAt == nil || fuzzNow.Before(c.IssuedAt.Add(-fuzzLeeway)) {
			t.Fatalf("accepted iat %v at %v", c.IssuedAt, fuzzNow)
		}
		if c.NotBefore != nil && fuzzNow.Before(c.NotBefore.Add(-fuzzLeeway)) {
			t.Fatalf("accepted nbf %v at %v", c.NotBefore, fuzzNow)
		}
	})
}

// members reads a JSON object's top-level members with a plain decoder,
// failing the test if the text is not exactly one object or names a member
// twice: such a token must never have been accepted.
func members(t *testing.T, what, text string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("accepted a %s that is not an object: %q", what, text)
	}
	m := map[string]any{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("accepted %s %q: %v", what, text, err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("accepted %s %q: %v", what, text, err)
		}
		if _, dup := m[k.(string)]; dup {
			t.Fatalf("accepted %s with %q twice: %q", what, k, text)
		}
		m[k.(string)] = v
	}
	if _, err := dec.Token(); err != nil {
		t.Fatalf("accepted %s %q: %v", what, text, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("accepted %s with trailing data: %q", what, text)
	}
	return m
}

// TestFuzzSeedsAreMeaningful keeps the committed seed corpus honest: the
// genuine token in it is still the one the fuzz key signs, so the fuzzer
// starts from a token that verifies.
func TestFuzzSeedsAreMeaningful(t *testing.T) {
	e := newFuzzEnv(t)
	b, err := readSeed("FuzzVerify", "genuine")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(e.genuine)) {
		t.Errorf("testdata/fuzz/FuzzVerify/genuine does not hold the genuine token %s", e.genuine)
	}
}

func readSeed(target, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", "fuzz", target, name))
}
