package app_test

import (
	"encoding/json"
	"testing"

	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/token"
)

// TestKeyRotation: tokens signed by the previous key stay valid while it is
// listed in VERIFY_KEY_IDS, the JWKS publishes both keys, and a previous key
// that no longer exists does not stop the authorizer from starting.
func TestKeyRotation(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "sam", "a long enough password")
	old := newService(t, env)
	oldTok := old.doLogin(t, "sam", "a long enough password")

	oldKey := env.Getenv("SIGNING_KEY_ID")
	env.Set("SIGNING_KEY_ID", testenv.CreateKey(t, env.KMS, kmstypes.KeySpecEccNistP256))
	// The old key, a key that no longer exists, and the current key again.
	env.Set("VERIFY_KEY_IDS", oldKey+",alias/deleted-long-ago,"+env.Getenv("SIGNING_KEY_ID"))
	s := newService(t, env)
	newTok := s.doLogin(t, "sam", "a long enough password")
	for name, tok := range map[string]string{"old key": oldTok.Access, "new key": newTok.Access} {
		if ok, _ := s.authorize(t, tok); !ok {
			t.Errorf("token signed by the %s denied during the rotation", name)
		}
	}
	var doc token.JWKS
	json.Unmarshal([]byte(call(t, s.jwks, httpEvent(t, "jwks")).Body), &doc)
	if len(doc.Keys) != 2 {
		t.Errorf("JWKS has %d keys during the rotation, want 2", len(doc.Keys))
	}

	env.Set("VERIFY_KEY_IDS", "")
	done := newService(t, env)
	if ok, _ := done.authorize(t, oldTok.Access); ok {
		t.Error("token of a retired key allowed")
	}
	if ok, _ := done.authorize(t, newTok.Access); !ok {
		t.Error("token of the current key denied")
	}
}
