package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Differential tests: Verify (one-pass scanner, crypto/ecdsa and crypto/rsa
// directly) against referenceVerify (the encoding/json and golang-jwt
// verifier it replaced) on the same tokens.

var diffNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

type diffKey struct {
	alg string
	ec  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
}

func (k diffKey) sign(t testing.TB, in string) []byte {
	d := sha256.Sum256([]byte(in))
	if k.rsa != nil {
		if k.alg == "PS256" {
			sig, err := rsa.SignPSS(rand.Reader, k.rsa, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}
		sig, err := rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, d[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	r, s, err := ecdsa.Sign(rand.Reader, k.ec, d[:])
	if err != nil {
		t.Fatal(err)
	}
	n := k.ec.Curve.Params().N
	if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		s.Sub(n, s)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

var (
	diffES256 = func() diffKey {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		return diffKey{alg: "ES256", ec: k}
	}()
	diffRSA = func() *rsa.PrivateKey { k, _ := rsa.GenerateKey(rand.Reader, 2048); return k }()
)

func diffVerifier(t testing.TB) *Verifier {
	t.Helper()
	v, err := NewVerifier("https://iss.example", "https://aud.example", []PublicKey{
		{KID: "kid-ec", Alg: "ES256", Key: &diffES256.ec.PublicKey},
		{KID: "kid-rs", Alg: "RS256", Key: &diffRSA.PublicKey},
		{KID: "kid-ps", Alg: "PS256", Key: &diffRSA.PublicKey},
	}, WithLeeway(5*time.Second), WithTimeFunc(func() time.Time { return diffNow }))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func signed(t testing.TB, k diffKey, header, payload string) string {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return in + "." + enc.EncodeToString(k.sign(t, in))
}

var sentinels = []error{ErrMalformed, ErrTooLarge, ErrHeader, ErrType, ErrUnknownKey, ErrAlgorithm,
	ErrSignature, ErrClaims, ErrMissingClaim}

// sameOutcome fails unless Verify and referenceVerify agree on raw.
func sameOutcome(t testing.TB, v *Verifier, raw string) {
	t.Helper()
	got, gotErr := v.Verify(raw)
	want, wantErr := referenceVerify(v, raw)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("token %q: got error %v, want %v", raw, gotErr, wantErr)
	}
	for _, s := range sentinels {
		if errors.Is(gotErr, s) != errors.Is(wantErr, s) {
			t.Fatalf("token %q: got error %v, want %v", raw, gotErr, wantErr)
		}
	}
	if gotErr == nil && !reflect.DeepEqual(*got, *want) {
		t.Fatalf("token %q: got claims %+v, want %+v", raw, *got, *want)
	}
}

const (
	diffHeader = `{"alg":"ES256","kid":"kid-ec","typ":"at+jwt"}`
	diffClaims = `"iss":"https://iss.example","aud":"https://aud.example","exp":1795868100,"iat":1795867200,"jti":"j","sid":"s","client_id":"web"`
)

// Payloads where a one-pass reader could go wrong: escapes, surrogates,
// nesting, case-folded and escaped duplicates, types, numbers.
var trickyPayloads = []string{
	`{` + diffClaims + `,"sub":"u"}`,
	`{` + diffClaims + `,"sub":"u\u0041\n\"\\\/\b\f\r\t"}`,
	`{` + diffClaims + `,"sub":"\ud83d\ude00 \ud83d \ude00 \ud83dA \udc00\ud800"}`,
	`{` + diffClaims + `,"sub":"` + "\xff\xfe\xed\xa0\x80 é" + `"}`,
	`{` + diffClaims + `,"sub":"u","\u0065xp":1}`,
	`{` + diffClaims + `,"sub":"u","EXP":1}`,
	`{` + diffClaims + `,"sub":"u","ſub":"admin"}`,
	`{` + diffClaims + `,"ſub":"admin"}`,
	// cnf (RFC 7800, RFC 9449 6.1), amr and auth_time (RFC 9068 2.2.1).
	`{` + diffClaims + `,"sub":"u","cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"},"amr":["pwd","otp","mfa"],"auth_time":1795867100}`,
	`{` + diffClaims + `,"sub":"u","cnf":{"x5t#S256":"abc"},"amr":[],"auth_time":1795867100.5}`,
	`{` + diffClaims + `,"sub":"u","cnf":null,"amr":null}`,
	`{` + diffClaims + `,"sub":"u","cnf":{"JKT":"other"}}`,
	`{` + diffClaims + `,"sub":"u","cnf":{"jkt":"a","jkt":"b"}}`,
	`{` + diffClaims + `,"sub":"u","cnf":{"jkt":"a","JKT":"b"}}`,
	`{` + diffClaims + `,"sub":"u","cnf":"jkt"}`,
	`{` + diffClaims + `,"sub":"u","cnf":["jkt"]}`,
	`{` + diffClaims + `,"sub":"u","cnf":{"jkt":1}}`,
	`{` + diffClaims + `,"sub":"u","CNF":{"jkt":"a"}}`,
	`{` + diffClaims + `,"sub":"u","amr":"pwd"}`,
	`{` + diffClaims + `,"sub":"u","amr":["pwd",1]}`,
	`{` + diffClaims + `,"sub":"u","AMR":["mfa"]}`,
	`{` + diffClaims + `,"sub":"u","auth_time":"1795867100"}`,
	`{` + diffClaims + `,"sub":"u","auth_time":1e300}`,
	`{` + diffClaims + `,"sub":"u","Auth_Time":1}`,
	`{` + diffClaims + `,"ıss":"x","sub":"u"}`,
	`{` + diffClaims + `,"sub":"u","Ｓub":"x"}`,
	`{` + diffClaims + `,"sub":"u","x":{"a":1,"A":2}}`,
	`{` + diffClaims + `,"sub":"u","x":{"a":1},"y":{"a":1}}`,
	`{` + diffClaims + `,"sub":"u","x":[{"k":[1,{"k":2,"K":3}]}]}`,
	`{` + diffClaims + `,"sub":"u","x":[{"\u006b":1,"k":2}]}`,
	`{` + diffClaims + `,"sub":"u","` + "\xff" + `":1,"` + "\xfe" + `":2}`,
	`{` + diffClaims + `,"sub":"u","x":[[[[[[[[[[[[[[1]]]]]]]]]]]]]]}`,
	`{` + diffClaims + `,"sub":"u","x":[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]}`,
	`{` + diffClaims + `,"sub":"u","x":1e400}`,
	`{` + diffClaims + `,"sub":"u","nbf":1e400}`,
	`{` + diffClaims + `,"sub":"u","nbf":-0.5e-3}`,
	`{"iss":"https://iss.example","aud":"https://aud.example","exp":1795868100.999,"iat":1795867200.5,"jti":"j","sid":"s","client_id":"web","sub":"u"}`,
	`{"iss":"https://iss.example","aud":"https://aud.example","exp":17958681E-1,"iat":1795867200,"jti":"j","sid":"s","client_id":"web","sub":"u"}`,
	`{"iss":"https://iss.example","aud":["a","https://aud.example"],"exp":1795868100,"iat":1795867200,"jti":"j","sid":"s","client_id":"web","sub":"u"}`,
	`{"iss":"https://iss.example","aud":["https://aud.example",1],"exp":1795868100,"iat":1795867200,"jti":"j","sid":"s","client_id":"web","sub":"u"}`,
	`{"iss":"https://iss.example","aud":[],"exp":1795868100,"iat":1795867200,"jti":"j","sid":"s","client_id":"web","sub":"u"}`,
	`{"iss":"https://iss.example","aud":null,"exp":1795868100,"iat":1795867200,"jti":"j","sid":"s","client_id":"web","sub":"u"}`,
	`{"iss":"https://iss.example","aud":{},"exp":1795868100,"iat":1795867200,"jti":"j","sid":"s","client_id":"web","sub":"u"}`,
	`{"iss":"https://iss.example","aud":["https://aud.example",["x"]],"exp":1795868100,"iat":1795867200,"jti":"j","sid":"s","client_id":"web","sub":"u"}`,
	`{"iss":"https://iss.\u0065xample","aud":"https://aud.example","exp":1795868100,"iat":1795867200,"jti":"j","sid":"s","client_id":"web","sub":"u"}`,
	`{` + diffClaims + `,"sub":null}`,
	`{` + diffClaims + `,"sub":5}`,
	`{` + diffClaims + `,"sub":true}`,
	`{` + diffClaims + `,"sub":["u"]}`,
	`{` + diffClaims + `,"sub":{"u":1}}`,
	`{` + diffClaims + `,"sub":"u","scope":null}`,
	`{` + diffClaims + `,"sub":"u","exp":null}`,
	`{` + diffClaims + `,"sub":"u","iat":"1"}`,
	`{` + diffClaims + `,"sub":"u","iat":[1]}`,
	`{` + diffClaims + `,"sub":"u"} `,
	` {` + diffClaims + `,"sub":"u"}`,
	`{` + diffClaims + `,"sub":"u"}x`,
	`{` + diffClaims + `,"sub":"u"}{}`,
	`{` + diffClaims + `,"sub":"u",}`,
	`{` + diffClaims + `,"sub":"u"`,
	`{` + diffClaims + `,"sub":"u` + "\x01" + `"}`,
	`{` + diffClaims + `,"sub":"u\x"}`,
	`{` + diffClaims + `,"sub":"u\u12"}`,
	`{` + diffClaims + `,"sub":"u","x":01}`,
	`{` + diffClaims + `,"sub":"u","x":-}`,
	`{` + diffClaims + `,"sub":"u","x":1.}`,
	`{` + diffClaims + `,"sub":"u","x":tru}`,
	`{` + diffClaims + `,"sub":"u","x":nul}`,
	"\ufeff{" + diffClaims + `,"sub":"u"}`,
	`[` + diffClaims + `]`,
	`"x"`,
	``,
	`{}`,
}

var trickyHeaders = []string{
	diffHeader,
	`{"alg":"ES256","kid":"kid\u002dec","typ":"at+jwt"}`,
	`{"\u0061lg":"ES256","kid":"kid-ec","typ":"AT+JWT"}`,
	`{"alg":"ES256","kid":"kid-ec","typ":"application/at+jwt"}`,
	`{"alg":"ES256","kid":"kid-ec","typ":"at+jwt","alg":"ES256"}`,
	`{"alg":"ES256","kid":"kid-ec","typ":"at+jwt","x":1}`,
	`{"alg":"ES256","kid":"kid-ec","typ":1}`,
	`{"alg":"ES256","kid":"kid-ec","typ":{"a":1}}`,
	`{"alg":"ES256","kid":"kid-ec"}`,
	`{"ALG":"ES256","kid":"kid-ec","typ":"at+jwt"}`,
	`{"alg":"ES256","kid":"kid-ec","typ":"at+jwt"}x`,
	`{"alg":"ES256","kid":"kid-ec","typ":"at+jwt"} `,
	`{"alg":"ES256","kid":"kid-ec","typ":"at+jwt",}`,
	`{"alg":"RS256","kid":"kid-ec","typ":"at+jwt"}`,
	`{"alg":"ES256","kid":"nope","typ":"at+jwt"}`,
	`["alg"]`,
	``,
}

func TestVerifyMatchesReference(t *testing.T) {
	v := diffVerifier(t)
	for _, h := range trickyHeaders {
		for _, p := range trickyPayloads {
			sameOutcome(t, v, signed(t, diffES256, h, p))
		}
	}
	for _, alg := range []string{"RS256", "PS256"} {
		k := diffKey{alg: alg, rsa: diffRSA}
		h := `{"alg":"` + alg + `","kid":"kid-` + strings.ToLower(alg[:2]) + `","typ":"at+jwt"}`
		for _, p := range trickyPayloads[:4] {
			raw := signed(t, k, h, p)
			sameOutcome(t, v, raw)
			if _, err := v.Verify(raw); err != nil {
				t.Errorf("%s: %v", alg, err)
			}
		}
	}
}

// FuzzVerifyMatchesReference signs any header and payload with the test key
// and checks that both verifiers agree.
func FuzzVerifyMatchesReference(f *testing.F) {
	for _, h := range trickyHeaders {
		f.Add(h, `{`+diffClaims+`,"sub":"u"}`)
	}
	for _, p := range trickyPayloads {
		f.Add(diffHeader, p)
	}
	v := diffVerifier(f)
	f.Fuzz(func(t *testing.T, header, payload string) {
		sameOutcome(t, v, signed(t, diffES256, header, payload))
	})
}

// FuzzVerifyRawMatchesReference feeds any string as a token: the checks
// before the signature (alphabet, segments, encoding, header) must agree.
func FuzzVerifyRawMatchesReference(f *testing.F) {
	valid := signed(f, diffES256, diffHeader, `{`+diffClaims+`,"sub":"u"}`)
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(valid + "==")
	f.Add("a.b.c")
	f.Add("..")
	v := diffVerifier(f)
	f.Fuzz(func(t *testing.T, raw string) {
		sameOutcome(t, v, raw)
	})
}

func TestAppendDERSignature(t *testing.T) {
	for _, tc := range [][2][]byte{
		{{1}, {1}},
		{{0x80}, {0x7f}},
		{{0, 0, 0x80, 1}, {0, 0x01}},
		{bytes66(0xff), bytes66(0x01)},
		{bytes66(0x7f), bytes66(0x80)},
	} {
		r, s := new(big.Int).SetBytes(tc[0]), new(big.Int).SetBytes(tc[1])
		want, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendDERSignature(nil, tc[0], tc[1]); string(got) != string(want) {
			t.Errorf("r=%x s=%x: got %x, want %x", tc[0], tc[1], got, want)
		}
	}
}

func bytes66(b byte) []byte { return []byte(strings.Repeat(string([]byte{b}), 66)) }

// TestBindingAndAuthenticationClaims reads cnf.jkt, amr and auth_time as
// they are written, and refuses the spellings another verifier would not
// read as them.
func TestBindingAndAuthenticationClaims(t *testing.T) {
	v := diffVerifier(t)
	c, err := v.Verify(signed(t, diffES256, diffHeader, `{`+diffClaims+
		`,"sub":"u","cnf":{"jkt":"thumb","x5t#S256":"x"},"amr":["pwd","otp","mfa"],"auth_time":1795867100}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.BoundKey() != "thumb" || !c.HasAMR("mfa") || c.HasAMR("hwk") || len(c.AMR) != 3 ||
		c.AuthTime == nil || c.AuthTime.Unix() != 1795867100 {
		t.Fatalf("claims: cnf %+v amr %v auth_time %v", c.Confirmation, c.AMR, c.AuthTime)
	}
	bearer, err := v.Verify(signed(t, diffES256, diffHeader, `{`+diffClaims+`,"sub":"u"}`))
	if err != nil {
		t.Fatal(err)
	}
	if bearer.BoundKey() != "" || bearer.AMR != nil || bearer.AuthTime != nil {
		t.Fatalf("bearer claims: %+v", bearer)
	}
	for _, p := range []string{
		`,"cnf":{"JKT":"thumb"}`, `,"cnf":{"jkt":"a","jkt":"b"}`, `,"CNF":{"jkt":"a"}`,
		`,"cnf":"thumb"`, `,"amr":"mfa"`, `,"AMR":["mfa"]`, `,"auth_time":"1"`,
	} {
		if _, err := v.Verify(signed(t, diffES256, diffHeader, `{`+diffClaims+`,"sub":"u"`+p+`}`)); !errors.Is(err, ErrMalformed) {
			t.Errorf("payload with %s: got %v, want ErrMalformed", p, err)
		}
	}
}
