package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator is a software WebAuthn authenticator and client for
// tests: it answers creation options with a "none" attestation of a new
// P-256 key (ES256, COSE -7) and request options with an assertion signed
// by it, as a browser's navigator.credentials would (WebAuthn L3 §6.1
// authenticator data, §6.5 attestation object, §5.8.1 client data). A
// Ceremony changes what one answer says, so that tests can break each
// check the relying party must make.
type Authenticator struct {
	Origin string // what clientDataJSON says; the relying party's origin
	RPID   string // whose SHA-256 the authenticator data starts with
	// BackupEligible makes passkeys as synced ones (BE and BS set).
	BackupEligible bool

	mu    sync.Mutex
	creds []*softCredential
}

type softCredential struct {
	id         []byte
	key        *ecdsa.PrivateKey
	userHandle []byte
	count      uint32
}

// Ceremony changes one answer of an Authenticator.
type Ceremony struct {
	Origin    string // another origin in clientDataJSON (phishing)
	RPID      string // another RP ID hash in the authenticator data
	Challenge string // another challenge in clientDataJSON
	NoUV      bool   // user verification flag not set
	// Count is the signature counter to send (nil: the next one).
	Count *uint32
	// Credential picks the credential to answer with: the n-th created
	// (from 1; 0 is the last created). UnknownCredential answers with a
	// key the relying party never saw.
	Credential        int
	UnknownCredential bool
}

// NewAuthenticator is an Authenticator for the relying party rpID at origin.
func NewAuthenticator(rpID, origin string) *Authenticator {
	return &Authenticator{RPID: rpID, Origin: origin}
}

type creationOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"publicKey"`
}

type requestOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
	} `json:"publicKey"`
}

// Credentials is how many credentials the authenticator holds.
func (a *Authenticator) Credentials() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.creds)
}

// Create answers creation options (the JSON of POST
// /auth/passkeys/register/options) with a new credential, as the JSON a
// browser's PublicKeyCredential.toJSON() gives.
func (a *Authenticator) Create(options []byte, c Ceremony) ([]byte, error) {
	var o creationOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("creation options: %w", err)
	}
	handle, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, fmt.Errorf("user.id: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cred := &softCredential{id: random(32), key: key, userHandle: handle}
	pub, err := coseKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	attested := make([]byte, 0, 16+2+len(cred.id)+len(pub))
	attested = append(attested, make([]byte, 16)...) // AAGUID: zero (attestation "none")
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(cred.id)))
	attested = append(attested, cred.id...)
	attested = append(attested, pub...)
	authData := a.authData(c, 0x40, 0, attested) // AT: attested credential data included
	clientData := a.clientData(c, "webauthn.create", o.PublicKey.Challenge)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.creds = append(a.creds, cred)
	a.mu.Unlock()
	return json.Marshal(map[string]any{
		"id": b64(cred.id), "rawId": b64(cred.id), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response":               map[string]any{"clientDataJSON": b64(clientData), "attestationObject": b64(att), "transports": []string{"internal"}},
	})
}

// Get answers request options (the JSON of POST /auth/passkey/options)
// with an assertion of one of its credentials, the user handle included
// (a discoverable credential's).
func (a *Authenticator) Get(options []byte, c Ceremony) ([]byte, error) {
	var o requestOptions
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("request options: %w", err)
	}
	a.mu.Lock()
	if len(a.creds) == 0 {
		a.mu.Unlock()
		return nil, errors.New("the authenticator holds no credential")
	}
	cred := a.creds[len(a.creds)-1]
	if c.Credential > 0 {
		cred = a.creds[c.Credential-1]
	}
	if c.UnknownCredential {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		cred = &softCredential{id: random(32), key: key, userHandle: cred.userHandle}
	}
	cred.count++
	count := cred.count
	if c.Count != nil {
		count = *c.Count
	}
	a.mu.Unlock()
	authData := a.authData(c, 0, count, nil)
	clientData := a.clientData(c, "webauthn.get", o.PublicKey.Challenge)
	h := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64(cred.id), "rawId": b64(cred.id), "type": "public-key", "authenticatorAttachment": "platform",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{"clientDataJSON": b64(clientData), "authenticatorData": b64(authData),
			"signature": b64(sig), "userHandle": b64(cred.userHandle)},
	})
}

// authData is the authenticator data (WebAuthn L3 §6.1): the RP ID hash,
// the flags (UP, UV unless NoUV, BE and BS when backup eligible, and
// extra), the signature counter and attested credential data.
func (a *Authenticator) authData(c Ceremony, extra byte, count uint32, attested []byte) []byte {
	rp := a.RPID
	if c.RPID != "" {
		rp = c.RPID
	}
	h := sha256.Sum256([]byte(rp))
	flags := byte(0x01) | extra // UP
	if !c.NoUV {
		flags |= 0x04
	}
	if a.BackupEligible {
		flags |= 0x08 | 0x10
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

func (a *Authenticator) clientData(c Ceremony, typ, challenge string) []byte {
	origin := a.Origin
	if c.Origin != "" {
		origin = c.Origin
	}
	if c.Challenge != "" {
		challenge = c.Challenge
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

// coseKey is an EC2 P-256 public key as COSE_Key (RFC 9053 §7.1.1): kty 2,
// alg -7 (ES256), crv 1, x, y.
func coseKey(k *ecdsa.PublicKey) ([]byte, error) {
	raw, err := k.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	return webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
