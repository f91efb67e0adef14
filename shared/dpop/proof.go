package dpop

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/authkit/lambda-auth/shared/jsonscan"
)

// Type is the typ header of a DPoP proof (RFC 9449 4.2).
const Type = "dpop+jwt"

// Limits on what Verify reads.
const (
	// MaxProofBytes bounds a proof: an RSA-4096 key in its header makes one
	// of about 1.5 KiB; an EC one, about 600 bytes.
	MaxProofBytes = 8 << 10
	// MaxJTIBytes bounds a proof's jti, which replay protection stores
	// (RFC 9449 4.2: enough to be unique, e.g. 96 random bits).
	MaxJTIBytes = 256
)

// Defaults of the iat window (RFC 9449 11.1): a proof is made for one
// request and sent at once, so a minute covers a slow network, and ten
// seconds a client clock a little ahead. A client whose clock is further
// off needs server nonces (section 8).
const (
	DefaultMaxAge  = 60 * time.Second
	DefaultMaxSkew = 10 * time.Second
)

// supported are the algorithms Verify can check (RFC 9449 4.3 step 5: a
// registered asymmetric signature algorithm, never "none" or an HMAC one).
// ES256 is what browsers (WebCrypto ECDSA P-256) and oauth4webapi sign with
// by default, and the only one on unless WithAlgorithms says otherwise;
// ES384, Ed25519 (RFC 8037's "EdDSA", or "Ed25519" of RFC 9864) and RSA
// (RS256, PS256: 2048 to 4096 bits) are there for other clients and cost a
// deployment nothing until it turns them on. ES512 and RSA above 4096 bits
// are left out: no client we target signs with them, and each would add a
// code path and, for RSA, let a client pick how long a check takes.
var supported = map[string]bool{"ES256": true, "ES384": true, "EdDSA": true, "Ed25519": true, "RS256": true, "PS256": true}

// Verifier checks DPoP proofs (RFC 9449 4.3). Build it once with
// NewVerifier; it is safe for concurrent use.
type Verifier struct {
	algs            map[string]bool
	maxAge, maxSkew time.Duration
	now             func() time.Time
	nonces          *Nonces
	replay          Replay
}

// Option configures a Verifier.
type Option func(*Verifier) error

// WithAlgorithms sets the algorithms a proof may use (default: ES256), each
// one Verify supports.
func WithAlgorithms(algs ...string) Option {
	return func(v *Verifier) error {
		if len(algs) == 0 {
			return errors.New("no algorithm")
		}
		v.algs = make(map[string]bool, len(algs))
		for _, a := range algs {
			if !supported[a] {
				return fmt.Errorf("algorithm %q not supported", a)
			}
			v.algs[a] = true
		}
		return nil
	}
}

// Algorithms are the algorithms v accepts, for discovery's
// dpop_signing_alg_values_supported (RFC 9449 5.1).
func (v *Verifier) Algorithms() []string {
	out := make([]string, 0, len(v.algs))
	for _, a := range []string{"ES256", "ES384", "EdDSA", "Ed25519", "PS256", "RS256"} {
		if v.algs[a] {
			out = append(out, a)
		}
	}
	return out
}

// WithWindow accepts a proof whose iat is at most maxAge in the past and
// maxSkew in the future (RFC 9449 4.3 step 11, 11.1). Defaults:
// DefaultMaxAge and DefaultMaxSkew.
func WithWindow(maxAge, maxSkew time.Duration) Option {
	return func(v *Verifier) error {
		if maxAge <= 0 || maxSkew < 0 {
			return fmt.Errorf("window %s in the past, %s in the future", maxAge, maxSkew)
		}
		v.maxAge, v.maxSkew = maxAge, maxSkew
		return nil
	}
}

// WithTimeFunc sets the clock (default time.Now).
func WithTimeFunc(now func() time.Time) Option {
	return func(v *Verifier) error { v.now = now; return nil }
}

// WithNonces requires every proof to carry a nonce of ns (RFC 9449 4.3 step
// 10, sections 8 and 9); a proof without one, or with a stale one, is
// refused with ErrUseNonce.
func WithNonces(ns *Nonces) Option {
	return func(v *Verifier) error { v.nonces = ns; return nil }
}

// WithReplay records every proof that passes all other checks in r and
// refuses one recorded before (RFC 9449 11.1).
func WithReplay(r Replay) Option {
	return func(v *Verifier) error { v.replay = r; return nil }
}

// NewVerifier returns a Verifier configured by opts.
func NewVerifier(opts ...Option) (*Verifier, error) {
	v := &Verifier{algs: map[string]bool{"ES256": true}, maxAge: DefaultMaxAge, maxSkew: DefaultMaxSkew, now: time.Now}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, fmt.Errorf("dpop verifier: %w", err)
		}
	}
	return v, nil
}

// Request is what a proof is checked against.
type Request struct {
	// Method is the request's HTTP method, compared exactly with htm
	// (methods are case-sensitive, RFC 9110 9.1).
	Method string
	// URL is the request's public URL, as the client addressed it
	// (apigw.PublicURL for an API Gateway event); the query is ignored.
	URL string
	// AccessToken is the access token sent with the proof ("" at the token
	// endpoint): the proof's ath must then be its hash (4.3 step 12).
	AccessToken string
	// BoundKey is the thumbprint the credential is bound to: the access
	// token's cnf.jkt or the session's key ("" if none). The proof's key
	// must then be that key (4.3 step 12, 6.1).
	BoundKey string
}

// Proof is a verified DPoP proof.
type Proof struct {
	// JKT is the RFC 7638 thumbprint of the proof's key: the value of
	// cnf.jkt in a token bound to it (RFC 9449 6.1).
	JKT       string
	JWK       JWK
	Key       crypto.PublicKey
	Algorithm string
	ID        string // jti
	IssuedAt  time.Time
	Nonce     string // "" when the proof has none
}

// Verify checks proof, the value of a request's single DPoP header, against
// req and returns what it proves. The caller refuses a request with two
// DPoP headers (RFC 9449 4.3 step 1); two joined by a comma, as HTTP API
// payload 2.0 delivers a repeated header, are refused here as malformed.
// Every error refuses the request: the sentinel ones (ErrInvalidProof and
// its kinds, ErrUseNonce) say why; any other is a failure of the Replay
// store, which the caller logs and answers as an internal error. The steps
// of RFC 9449 4.3 are cited where they are done, in the order they are
// done (the first failing check is the error returned). No error holds the
// proof or the access token.
func (v *Verifier) Verify(ctx context.Context, proof string, req Request) (*Proof, error) {
	// Step 2: a single, well-formed JWT.
	dot1, dot2, err := splitCompact(proof)
	if err != nil {
		return nil, err
	}
	b := []byte(proof)
	// Steps 4, 5 and 7: the header's typ, alg and jwk; the key of the jwk.
	h, key, err := v.readHeader(b[:dot1])
	if err != nil {
		return nil, err
	}
	// Step 6: the signature, with the key of the jwk header.
	if err := checkSignature(h.alg, key, b[:dot2], b[dot2+1:]); err != nil {
		return nil, err
	}
	// Step 3: the claims 4.2 requires: jti, htm, htu, iat.
	c, err := readClaims(b[dot1+1 : dot2])
	if err != nil {
		return nil, err
	}
	// Step 8: htm is the request's method.
	if c.htm != req.Method {
		return nil, fmt.Errorf("%w: htm %q, request %q", ErrMethod, clip(c.htm), clip(req.Method))
	}
	// Step 9: htu is the request's URI, both normalised (RFC 3986 6.2.2,
	// 6.2.3), query and fragment ignored. The same text needs no work.
	if err := matchURI(c.htu, req.URL); err != nil {
		return nil, err
	}
	// Step 11: created within the window (11.1).
	now := v.now()
	if err := v.checkIssuedAt(c.iat, now); err != nil {
		return nil, err
	}
	// Step 12 (and 7.1): with an access token, ath is its hash.
	if err := checkTokenHash(c.ath, req.AccessToken); err != nil {
		return nil, err
	}
	// The key's RFC 7638 thumbprint: what a bound credential names (6.1).
	jkt, err := Thumbprint(h.jwk)
	if err != nil {
		return nil, err
	}
	// Step 12 (6.1): the key the credential is bound to.
	if req.BoundKey != "" && req.BoundKey != jkt {
		return nil, fmt.Errorf("%w: proof key %s, bound to %s", ErrKeyMismatch, jkt, clip(req.BoundKey))
	}
	// Step 10: the server's nonce, when it requires one.
	if err := v.checkNonce(c.nonce, now); err != nil {
		return nil, err
	}
	// 11.1: never twice; recorded last, so a refused proof takes no room.
	if err := v.checkReplay(ctx, jkt, c.jti, c.iat); err != nil {
		return nil, err
	}
	return &Proof{JKT: jkt, JWK: h.jwk, Key: key, Algorithm: h.alg, ID: c.jti, IssuedAt: c.iat, Nonce: c.nonce}, nil
}

// splitCompact is RFC 9449 4.3 step 2: proof is a single, well-formed JWT,
// a compact JWS (RFC 7515 7.1) of three non-empty segments, base64url only
// (Go's decoder would skip CR and LF, so one proof could be written several
// ways). It returns the positions of the two dots.
func splitCompact(proof string) (dot1, dot2 int, err error) {
	if len(proof) > MaxProofBytes {
		return 0, 0, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(proof), MaxProofBytes)
	}
	dot1 = strings.IndexByte(proof, '.')
	dot2 = -1
	if dot1 > 0 {
		if i := strings.IndexByte(proof[dot1+1:], '.'); i > 0 {
			dot2 = dot1 + 1 + i
		}
	}
	if dot2 < 0 || dot2 == len(proof)-1 || strings.IndexByte(proof[dot2+1:], '.') >= 0 || !onlyTokenBytes(proof) {
		return 0, 0, fmt.Errorf("%w: not a compact JWS of three base64url segments", ErrMalformed)
	}
	return dot1, dot2, nil
}

// readHeader decodes and reads a proof's JOSE header, seg, and builds the
// key of its jwk: RFC 9449 4.3 steps 4, 5 and 7.
func (v *Verifier) readHeader(seg []byte) (header, crypto.PublicKey, error) {
	var hbuf [2048]byte
	hb, err := decodeSegment(hbuf[:], seg)
	if err != nil {
		return header{}, nil, fmt.Errorf("%w: header encoding", ErrMalformed)
	}
	h, err := parseHeader(hb)
	if err != nil {
		return header{}, nil, err
	}
	// Step 4 (4.2 typ): explicit typing (RFC 8725 3.11), compared as RFC
	// 7515 4.1.9 says: ignoring case, "application/" optional.
	if !strings.EqualFold(h.typ, Type) && !strings.EqualFold(h.typ, "application/"+Type) {
		return header{}, nil, fmt.Errorf("%w: typ %q", ErrType, clip(h.typ))
	}
	// Step 5: an asymmetric algorithm of our allow-list ("none" and HS*
	// are in no list).
	if !v.algs[h.alg] {
		return header{}, nil, fmt.Errorf("%w: %q", ErrAlgorithm, clip(h.alg))
	}
	// Step 7 (no private member) was checked by parseHeader; step 5 goes
	// on in publicKey (the key's type and curve are alg's). A jwk that
	// names another algorithm is not used for this one (RFC 7517 4.4).
	if h.jwkAlg != "" && h.jwkAlg != h.alg {
		return header{}, nil, fmt.Errorf("%w: jwk alg %q, header alg %q", ErrKey, clip(h.jwkAlg), h.alg)
	}
	key, err := publicKey(h.alg, &h.jwk)
	if err != nil {
		return header{}, nil, err
	}
	return h, key, nil
}

// checkSignature is RFC 9449 4.3 step 6: seg, a proof's third segment, is
// alg's signature of signingInput with key, the key of its jwk header.
func checkSignature(alg string, key crypto.PublicKey, signingInput, seg []byte) error {
	var sbuf [512]byte
	sig, err := decodeSegment(sbuf[:], seg)
	if err != nil {
		return fmt.Errorf("%w: signature encoding", ErrMalformed)
	}
	if !verifySignature(alg, key, signingInput, sig) {
		return ErrSignature
	}
	return nil
}

// readClaims decodes and reads a proof's payload, seg, and checks that it
// holds the claims RFC 9449 4.2 requires: jti, htm, htu, iat (4.3 step 3).
func readClaims(seg []byte) (claims, error) {
	var pbuf [1024]byte
	pb, err := decodeSegment(pbuf[:], seg)
	if err != nil {
		return claims{}, fmt.Errorf("%w: payload encoding", ErrMalformed)
	}
	c, err := parseClaims(pb)
	if err != nil {
		return claims{}, err
	}
	switch {
	case c.jti == "":
		return claims{}, fmt.Errorf("%w: jti missing", ErrClaims)
	case len(c.jti) > MaxJTIBytes:
		return claims{}, fmt.Errorf("%w: jti of %d bytes, more than %d", ErrClaims, len(c.jti), MaxJTIBytes)
	case c.htm == "":
		return claims{}, fmt.Errorf("%w: htm missing", ErrClaims)
	case c.htu == "":
		return claims{}, fmt.Errorf("%w: htu missing", ErrClaims)
	case !c.hasIAT:
		return claims{}, fmt.Errorf("%w: iat missing", ErrClaims)
	}
	return c, nil
}

// checkIssuedAt is RFC 9449 4.3 step 11: iat is at most maxAge before now
// and maxSkew after it (11.1).
func (v *Verifier) checkIssuedAt(iat, now time.Time) error {
	if iat.Before(now.Add(-v.maxAge)) || iat.After(now.Add(v.maxSkew)) {
		return fmt.Errorf("%w: iat %s, now %s", ErrIssuedAt, iat.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkTokenHash is RFC 9449 4.3 step 12 (and 7.1): with an access token,
// ath is base64url(SHA-256 of its ASCII value). Without one ("" at the
// token endpoint), ath is not checked.
func checkTokenHash(ath, accessToken string) error {
	if accessToken == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(accessToken))
	var athBuf [43]byte
	b64.Encode(athBuf[:], sum[:])
	if subtle.ConstantTimeCompare([]byte(ath), athBuf[:]) != 1 {
		return fmt.Errorf("%w: ath missing or not the token's hash", ErrTokenHash)
	}
	return nil
}

// checkNonce is RFC 9449 4.3 step 10: when v requires nonces (sections 8
// and 9), the proof carries one of them, still fresh at now.
func (v *Verifier) checkNonce(nonce string, now time.Time) error {
	if v.nonces == nil || (nonce != "" && v.nonces.CheckNonce(nonce, now)) {
		return nil
	}
	if nonce == "" {
		return fmt.Errorf("%w: nonce missing", ErrUseNonce)
	}
	return fmt.Errorf("%w: nonce unknown or stale", ErrUseNonce)
}

// checkReplay is RFC 9449 11.1: a proof is used once. Verify calls it last,
// so a refused proof takes no room in v.replay; jti is kept while iat is
// inside the window. An error of the store is not a sentinel one.
func (v *Verifier) checkReplay(ctx context.Context, jkt, jti string, iat time.Time) error {
	if v.replay == nil {
		return nil
	}
	seen, err := v.replay.Seen(ctx, jkt, jti, iat.Add(v.maxAge))
	if err != nil {
		return fmt.Errorf("check dpop proof replay: %w", err)
	}
	if seen {
		return fmt.Errorf("%w: jti %q of key %s", ErrReplay, clip(jti), jkt)
	}
	return nil
}

// matchURI compares a proof's htu with the request's URL (4.3 step 9).
func matchURI(htu, url string) error {
	if htu == url {
		var buf [256]byte
		if _, err := appendNormalized(buf[:0], url); err == nil {
			return nil
		}
	}
	want, err := NormalizeURI(url)
	if err != nil {
		return fmt.Errorf("%w: request URL: %v", ErrURI, err)
	}
	got, err := NormalizeURI(htu)
	if err != nil {
		return fmt.Errorf("%w: htu: %v", ErrURI, err)
	}
	if got != want {
		return fmt.Errorf("%w: htu %q, request %q", ErrURI, clip(got), clip(want))
	}
	return nil
}

// header is a proof's decoded JOSE header.
type header struct {
	typ, alg string
	jwk      JWK
	jwkAlg   string // the jwk's own alg member, "" if none
}

// privateMembers are the JWK members of private keys (RFC 7518 6.2.2,
// 6.3.2, 6.4; RFC 8037 2): a proof's jwk must hold none (4.3 step 7).
var privateMembers = map[string]bool{"d": true, "p": true, "q": true, "dp": true, "dq": true, "qi": true, "oth": true, "k": true}

// parseHeader reads a proof's JOSE header: one JSON object, no member name
// twice at any depth, even after case folding (as shared/token reads its
// tokens: two parsers must not read two different headers), and names the
// verifier reads spelled exactly. typ and alg are strings; jwk is an object
// holding no private key member (RFC 9449 4.3 step 7); crit is refused,
// since no extension is understood here (RFC 7515 4.1.11).
func parseHeader(hb []byte) (header, error) {
	var h header
	hs := string(hb)
	s := jsonscan.New(hb, 4)
	s.RejectDuplicates()
	if !s.BeginObject() {
		return h, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	var folded [16]byte
	for s.More() {
		name := s.Name()
		if s.Err() != nil {
			break
		}
		f := name.AppendFolded(folded[:0])
		switch string(f) {
		case "typ", "alg", "jwk", "crit":
			if !name.Is(string(f)) {
				return h, fmt.Errorf("%w: header member %q is not spelled %q", ErrMalformed, clip(name.String()), string(f))
			}
		}
		var err error
		switch string(f) {
		case "typ":
			h.typ, err = readString(&s, hs, "typ", ErrType)
		case "alg":
			h.alg, err = readString(&s, hs, "alg", ErrAlgorithm)
		case "jwk":
			err = readJWK(&s, hs, &h.jwk, &h.jwkAlg)
		case "crit":
			return h, fmt.Errorf("%w: crit: no extension is understood here", ErrMalformed)
		default:
			s.Skip()
		}
		if err != nil {
			return h, err
		}
	}
	s.End()
	if err := s.Finish(); err != nil {
		return h, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	// A missing typ, alg or jwk is empty: Verify's checks of each refuse it.
	return h, nil
}

// readJWK reads the jwk header's object into j, and its alg member, if
// any, into jwkAlg.
func readJWK(s *jsonscan.Scanner, hs string, j *JWK, jwkAlg *string) error {
	if s.Peek() != jsonscan.Object {
		s.Skip()
		return fmt.Errorf("%w: jwk is not an object", ErrKey)
	}
	s.BeginObject()
	var folded [16]byte
	var alg, use string
	for s.More() {
		name := s.Name()
		if s.Err() != nil {
			return fmt.Errorf("%w: jwk: %v", ErrMalformed, s.Err())
		}
		f := name.AppendFolded(folded[:0])
		if privateMembers[string(f)] {
			return fmt.Errorf("%w: jwk holds a private key member %q", ErrKey, clip(name.String()))
		}
		var dst *string
		switch string(f) {
		case "kty":
			dst = &j.Kty
		case "crv":
			dst = &j.Crv
		case "x":
			dst = &j.X
		case "y":
			dst = &j.Y
		case "n":
			dst = &j.N
		case "e":
			dst = &j.E
		case "alg":
			dst = &alg
		case "use":
			dst = &use
		default:
			s.Skip()
			continue
		}
		if !name.Is(string(f)) {
			return fmt.Errorf("%w: jwk member %q is not spelled %q", ErrKey, clip(name.String()), string(f))
		}
		v, err := readString(s, hs, "a jwk member", ErrKey)
		if err != nil {
			return err
		}
		*dst = v
	}
	s.End()
	if err := s.Err(); err != nil {
		return fmt.Errorf("%w: jwk: %v", ErrMalformed, err)
	}
	// RFC 7517 4.2: a key that says it is for another use is not used
	// for signatures.
	if use != "" && use != "sig" {
		return fmt.Errorf("%w: jwk use %q", ErrKey, clip(use))
	}
	*jwkAlg = alg
	return nil
}

// claims are a proof's claims (RFC 9449 4.2).
type claims struct {
	jti, htm, htu, ath, nonce string
	iat                       time.Time
	hasIAT                    bool
}

// parseClaims reads a proof's payload: one JSON object, no member name twice
// at any depth even after case folding, the claims read here spelled
// exactly, strings where strings are due and iat a number of seconds
// (RFC 7519 2 NumericDate).
func parseClaims(pb []byte) (claims, error) {
	var c claims
	ps := string(pb)
	s := jsonscan.New(pb, 16)
	s.RejectDuplicates()
	if !s.BeginObject() {
		return c, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	var folded [16]byte
	for s.More() {
		name := s.Name()
		if s.Err() != nil {
			break
		}
		f := name.AppendFolded(folded[:0])
		var dst *string
		switch string(f) {
		case "jti":
			dst = &c.jti
		case "htm":
			dst = &c.htm
		case "htu":
			dst = &c.htu
		case "ath":
			dst = &c.ath
		case "nonce":
			dst = &c.nonce
		case "iat":
		default:
			s.Skip()
			continue
		}
		if !name.Is(string(f)) {
			return c, fmt.Errorf("%w: claim %q is not spelled %q", ErrClaims, clip(name.String()), string(f))
		}
		if dst == nil { // iat
			iat, err := readNumericDate(&s, ps)
			if err != nil {
				return c, err
			}
			if s.Err() != nil {
				break
			}
			c.iat, c.hasIAT = iat, true
			continue
		}
		v, err := readString(&s, ps, string(f), ErrClaims)
		if err != nil {
			return c, err
		}
		*dst = v
	}
	s.End()
	if err := s.Finish(); err != nil {
		return c, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	return c, nil
}

// readNumericDate reads iat's value: a number of seconds (RFC 7519 2
// NumericDate) between the years 1 and 9999 (beyond, time.Time's arithmetic
// wraps). When s fails reading the number, it returns no error and leaves
// s.Err() set, for the caller to stop at as it does after a name.
func readNumericDate(s *jsonscan.Scanner, src string) (time.Time, error) {
	if s.Peek() != jsonscan.Number {
		return time.Time{}, fmt.Errorf("%w: iat is not a number", ErrClaims)
	}
	num := s.Number()
	if s.Err() != nil {
		return time.Time{}, nil
	}
	end := s.Pos()
	sec, err := strconv.ParseFloat(src[end-len(num):end], 64)
	if err != nil || sec < -62135596800 || sec > 253402300799 {
		return time.Time{}, fmt.Errorf("%w: iat is not a date between the years 1 and 9999", ErrClaims)
	}
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(frac*1e9)), nil
}

// readString reads a string member's value: a slice of src when it needs
// no decoding. A value of another type is an error of kind.
func readString(s *jsonscan.Scanner, src, name string, kind error) (string, error) {
	if s.Peek() != jsonscan.String {
		if err := s.Err(); err != nil {
			return "", fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		s.Skip()
		return "", fmt.Errorf("%w: %s is not a string", kind, name)
	}
	v := s.String()
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if v.Plain() {
		return src[v.Offset() : v.Offset()+len(v.Raw())], nil
	}
	return string(v.Unquote(nil)), nil
}

// onlyTokenBytes reports whether every byte of s is base64url or '.'.
func onlyTokenBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isAlnum(c) || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// decodeSegment decodes one base64url segment (unpadded, canonical: RFC
// 7515 2) into buf, or into a new slice when buf is too small.
func decodeSegment(buf, seg []byte) ([]byte, error) {
	n := b64.DecodedLen(len(seg))
	if n > len(buf) {
		buf = make([]byte, n)
	}
	n, err := b64.Decode(buf[:n], seg)
	return buf[:n], err
}
