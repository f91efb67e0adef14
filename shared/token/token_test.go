package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit/lambda-auth/shared/token"
)

// localSigner is an in-process signer for unit tests (the KMS one is tested
// against local KMS in shared/kmssign).
type localSigner struct {
	kid, alg string
	ec       *ecdsa.PrivateKey
	rsa      *rsa.PrivateKey
}

func (s *localSigner) KeyID() string     { return s.kid }
func (s *localSigner) Algorithm() string { return s.alg }

// Sign signs like the KMS signer: R||S with low S.
func (s *localSigner) Sign(_ context.Context, in []byte) ([]byte, error) {
	if s.rsa != nil {
		return jwt.GetSigningMethod(s.alg).Sign(string(in), s.rsa)
	}
	d := sha256.Sum256(in)
	r, sv, err := ecdsa.Sign(rand.Reader, s.ec, d[:])
	if err != nil {
		return nil, err
	}
	n := s.ec.Curve.Params().N
	if sv.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		sv.Sub(n, sv)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	sv.FillBytes(out[32:])
	return out, nil
}

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func claims() *token.Claims {
	c := &token.Claims{SessionID: "sid-1", ClientID: "web", Scope: "read"}
	c.Issuer, c.Subject, c.ID = "https://iss.example", "user-1", "jti-1"
	c.Audience = []string{"https://aud.example"}
	c.IssuedAt = token.NumericDate(now)
	c.ExpiresAt = token.NumericDate(now.Add(15 * time.Minute))
	return c
}

func setup(t testing.TB) (*localSigner, *token.Verifier) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := &localSigner{kid: "kid-ec", alg: "ES256", ec: k}
	v, err := token.NewVerifier("https://iss.example", "https://aud.example",
		[]token.PublicKey{{KID: s.kid, Alg: "ES256", Key: &k.PublicKey}},
		token.WithLeeway(5*time.Second), token.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

var enc = base64.RawURLEncoding

// forge builds a token from raw header and payload JSON signed with s.
func forge(t *testing.T, s *localSigner, header, payload string) string {
	t.Helper()
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	sig, err := s.Sign(context.Background(), []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + enc.EncodeToString(sig)
}

const goodHeader = `{"alg":"ES256","kid":"kid-ec","typ":"at+jwt"}`

func goodPayload(edit func(m map[string]string)) string {
	m := map[string]string{
		"iss": `"https://iss.example"`, "sub": `"user-1"`, "aud": `"https://aud.example"`,
		"exp": "1795868100", "iat": "1795867200", "jti": `"jti-1"`, "sid": `"sid-1"`, "client_id": `"web"`,
	}
	if edit != nil {
		edit(m)
	}
	var parts []string
	for k, v := range m {
		if v != "" {
			parts = append(parts, `"`+k+`":`+v)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestIssueAndVerify(t *testing.T) {
	s, v := setup(t)
	raw, err := token.Issue(context.Background(), s, claims())
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Subject != "user-1" || got.SessionID != "sid-1" || got.ClientID != "web" || got.ID != "jti-1" || got.Scope != "read" {
		t.Errorf("claims %+v", got)
	}
	hdr, _ := enc.DecodeString(strings.Split(raw, ".")[0])
	if string(hdr) != goodHeader {
		t.Errorf("header %s, want %s", hdr, goodHeader)
	}
	// The forge helper agrees with Issue, so the rows below differ from a
	// valid token only in what they name.
	if _, err := v.Verify(forge(t, s, goodHeader, goodPayload(nil))); err != nil {
		t.Fatalf("forged control token: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	s, v := setup(t)
	other := &localSigner{kid: "kid-ec", alg: "ES256"}
	other.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	valid := forge(t, s, goodHeader, goodPayload(nil))
	parts := strings.Split(valid, ".")
	sig, _ := enc.DecodeString(parts[2])

	hs256 := func(secret []byte) string {
		in := enc.EncodeToString([]byte(`{"alg":"HS256","kid":"kid-ec","typ":"at+jwt"}`)) + "." + parts[1]
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + enc.EncodeToString(m.Sum(nil))
	}
	der, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
	zeroRS := make([]byte, 64)

	cases := map[string]struct {
		tok  string
		want error
	}{
		"alg none":           {enc.EncodeToString([]byte(`{"alg":"none","kid":"kid-ec","typ":"at+jwt"}`)) + "." + parts[1] + ".", token.ErrMalformed},
		"alg none signed":    {forge(t, s, `{"alg":"none","kid":"kid-ec","typ":"at+jwt"}`, goodPayload(nil)), token.ErrAlgorithm},
		"HS256 with kid":     {hs256([]byte("kid-ec")), token.ErrAlgorithm},
		"RS256 header":       {forge(t, s, `{"alg":"RS256","kid":"kid-ec","typ":"at+jwt"}`, goodPayload(nil)), token.ErrAlgorithm},
		"unknown kid":        {forge(t, s, `{"alg":"ES256","kid":"../../etc/passwd","typ":"at+jwt"}`, goodPayload(nil)), token.ErrUnknownKey},
		"other key, our kid": {forge(t, other, goodHeader, goodPayload(nil)), token.ErrSignature},
		"jwk header":         {forge(t, s, `{"alg":"ES256","kid":"kid-ec","typ":"at+jwt","jwk":{}}`, goodPayload(nil)), token.ErrHeader},
		"jku header":         {forge(t, s, `{"alg":"ES256","kid":"kid-ec","typ":"at+jwt","jku":"https://evil"}`, goodPayload(nil)), token.ErrHeader},
		"crit header":        {forge(t, s, `{"alg":"ES256","kid":"kid-ec","typ":"at+jwt","crit":["exp"]}`, goodPayload(nil)), token.ErrHeader},
		"duplicate alg":      {forge(t, s, `{"alg":"ES256","alg":"ES256","kid":"kid-ec","typ":"at+jwt"}`, goodPayload(nil)), token.ErrHeader},
		"typ missing":        {forge(t, s, `{"alg":"ES256","kid":"kid-ec"}`, goodPayload(nil)), token.ErrHeader},
		"typ JWT":            {forge(t, s, `{"alg":"ES256","kid":"kid-ec","typ":"JWT"}`, goodPayload(nil)), token.ErrType},
		"typ refresh":        {forge(t, s, `{"alg":"ES256","kid":"kid-ec","typ":"rt+jwt"}`, goodPayload(nil)), token.ErrType},
		"signature DER":      {parts[0] + "." + parts[1] + "." + enc.EncodeToString(der), token.ErrSignature},
		"signature r=s=0":    {parts[0] + "." + parts[1] + "." + enc.EncodeToString(zeroRS), token.ErrSignature},
		"signature cut":      {valid[:len(valid)-4], nil},
		"signature padded":   {valid + "==", token.ErrMalformed},
		"empty signature":    {parts[0] + "." + parts[1] + ".", token.ErrMalformed},
		"five segments":      {valid + ".a.b", token.ErrMalformed},
		"leading space":      {" " + valid, token.ErrMalformed},
		"payload swapped":    {parts[1] + "." + parts[0] + "." + parts[2], nil},
		"too large":          {valid + strings.Repeat("A", token.MaxTokenBytes), token.ErrTooLarge},
		"duplicate sub":      {forge(t, s, goodHeader, strings.Replace(goodPayload(nil), "{", `{"sub":"admin",`, 1)), token.ErrMalformed},
		"payload array":      {forge(t, s, goodHeader, `["a"]`), token.ErrMalformed},
		"exp missing":        {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["exp"] = "" })), token.ErrClaims},
		"exp past":           {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["exp"] = "1795867140" })), token.ErrClaims},
		"nbf future":         {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["nbf"] = "1795867320" })), token.ErrClaims},
		"iat future":         {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["iat"] = "1795870800" })), token.ErrClaims},
		"iss wrong":          {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["iss"] = `"https://evil"` })), token.ErrClaims},
		"aud wrong":          {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["aud"] = `"https://other"` })), token.ErrClaims},
		"aud empty":          {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["aud"] = `[]` })), token.ErrClaims},
		"aud array w/o us":   {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["aud"] = `["a","b"]` })), token.ErrClaims},
		"sub missing":        {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["sub"] = "" })), token.ErrMissingClaim},
		"jti missing":        {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["jti"] = "" })), token.ErrMissingClaim},
		"sid missing":        {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["sid"] = "" })), token.ErrMissingClaim},
		"iat missing":        {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["iat"] = "" })), token.ErrMissingClaim},
		"high-S twin":        {parts[0] + "." + parts[1] + "." + enc.EncodeToString(highS(sig)), token.ErrSignature},
		"Sub beside sub":     {forge(t, s, goodHeader, strings.Replace(goodPayload(nil), "{", `{"Sub":"admin",`, 1)), token.ErrMalformed},
		"EXP instead of exp": {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["exp"] = ""; m["EXP"] = "1796473800" })), token.ErrMalformed},
		"long-s sub":         {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["sub"] = ""; m["ſub"] = `"admin"` })), token.ErrMalformed},
		"exp as string":      {forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m["exp"] = `"9999999999"` })), token.ErrMalformed},
		"CRLF in signature":  {valid[:len(valid)-10] + "\r\n" + valid[len(valid)-10:], token.ErrMalformed},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := v.Verify(tc.tok)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
	// Standard-alphabet base64 of a token whose encoding has - or _.
	std := strings.NewReplacer("-", "+", "_", "/").Replace(valid)
	if std != valid {
		if _, err := v.Verify(std); err == nil {
			t.Error("standard-alphabet base64 accepted")
		}
	}
}

func TestVerifierKeyChecks(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, k := range map[string]token.PublicKey{
		"ES384 on P-256": {KID: "a", Alg: "ES384", Key: &ec.PublicKey},
		"RS256 on EC":    {KID: "a", Alg: "RS256", Key: &ec.PublicKey},
		"HS256":          {KID: "a", Alg: "HS256", Key: []byte("x")},
		"RSA 1024":       {KID: "a", Alg: "RS256", Key: &small.PublicKey},
		"no kid":         {Alg: "ES256", Key: &ec.PublicKey},
	} {
		if _, err := token.NewVerifier("i", "a", []token.PublicKey{k}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var _ crypto.PublicKey = &ec.PublicKey
}

func TestIssueRefusesIncompleteClaims(t *testing.T) {
	s, _ := setup(t)
	c := claims()
	c.SessionID = ""
	if _, err := token.Issue(context.Background(), s, c); !errors.Is(err, token.ErrMissingClaim) {
		t.Errorf("issued without sid: %v", err)
	}
}

// highS returns the other valid signature of the same message: (r, n-s).
func highS(sig []byte) []byte {
	n := elliptic.P256().Params().N
	out := make([]byte, 64)
	copy(out, sig[:32])
	new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:])).FillBytes(out[32:])
	return out
}

// TestDatesOutOfRange: a NumericDate beyond the years 1 to 9999 is refused
// (RFC 7519 section 2). Beyond them time.Time wraps, so a far-future nbf or
// iat would compare as the distant past, and float to int64 conversion
// differs between amd64 and arm64 (Lambda's).
func TestDatesOutOfRange(t *testing.T) {
	s, v := setup(t)
	if _, err := v.Verify(forge(t, s, goodHeader, goodPayload(nil))); err != nil {
		t.Fatalf("the control token: %v", err)
	}
	for _, c := range []struct{ claim, value string }{
		{"nbf", "9223372000000000000"},
		{"iat", "1e19"},
		{"nbf", "253402300800"}, // year 10000
		{"iat", "-62135596801"}, // before year 1
		{"exp", "1e300"},
	} {
		raw := forge(t, s, goodHeader, goodPayload(func(m map[string]string) { m[c.claim] = c.value }))
		if _, err := v.Verify(raw); !errors.Is(err, token.ErrMalformed) {
			t.Errorf("%s %s: got %v, want ErrMalformed", c.claim, c.value, err)
		}
	}
}

// TestTwoKeysOneKID: a second, different key under a kid already taken is a
// configuration error, not silently dropped.
func TestTwoKeysOneKID(t *testing.T) {
	a, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := []token.PublicKey{{KID: "k", Alg: "ES256", Key: &a.PublicKey}, {KID: "k", Alg: "ES256", Key: &b.PublicKey}}
	if _, err := token.NewVerifier("https://iss", "https://aud", keys); err == nil {
		t.Error("two different keys under one kid accepted")
	}
	same := []token.PublicKey{{KID: "k", Alg: "ES256", Key: &a.PublicKey}, {KID: "k", Alg: "ES256", Key: &a.PublicKey}}
	if _, err := token.NewVerifier("https://iss", "https://aud", same); err != nil {
		t.Errorf("the same key listed twice: %v", err)
	}
}
