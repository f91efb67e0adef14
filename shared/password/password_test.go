package password_test

import (
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/shared/password"
)

func TestHashVerify(t *testing.T) {
	h, err := password.Hash("correct horse", password.Default)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %s does not carry the OWASP minimum parameters", h)
	}
	if ok, err := password.Verify(h, "correct horse"); !ok || err != nil {
		t.Errorf("right password: %v %v", ok, err)
	}
	if ok, _ := password.Verify(h, "correct horse "); ok {
		t.Error("wrong password accepted")
	}
	h2, _ := password.Hash("correct horse", password.Default)
	if h == h2 {
		t.Error("two hashes of one password are equal: no random salt")
	}
}

func TestDummyHashIsUsableAtDefaultCost(t *testing.T) {
	if !strings.HasPrefix(password.Dummy(), "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("dummy hash %s is not at the default cost: unknown users would cost less work", password.Dummy())
	}
	if ok, err := password.Verify(password.Dummy(), "anything"); ok || err != nil {
		t.Errorf("dummy verify: %v %v", ok, err)
	}
}

func TestVerifyRefusesHostileHashes(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // 4 GiB
		"$argon2id$v=19$m=19456,t=1000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, err := password.Verify(h, "x"); err == nil {
			t.Errorf("hash %q accepted", h)
		}
	}
	if _, err := password.Hash(strings.Repeat("x", password.MaxBytes+1), password.Default); err == nil {
		t.Error("overlong password hashed")
	}
}
