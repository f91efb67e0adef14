package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/password"
)

// TestSameWorkForEveryFailure: an unknown user, a malformed username, a
// disabled user and a wrong password each cost exactly one argon2id
// verification at the same cost, so timing does not tell them apart.
func TestSameWorkForEveryFailure(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "known", "the right password")
	disabled := env.CreateUser(t, "off", "the right password")
	if err := env.Store.SetUserDisabled(context.Background(), disabled.Username, true); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var hashes []string
	o := auth.Options{LoginMaxFailures: 100, LoginLockoutBase: time.Second, LoginLockoutMax: time.Minute}
	revoker := auth.NewRevoker(env.Store, env.Store, auth.NoMetrics{}, o)
	svc := auth.NewLogin(env.Store, env.Store, revoker, auth.NewAccessIssuer(refusingSigner{}, o), env.MACKey(t),
		auth.Passwords{Dummy: password.Dummy(), Verify: func(hash, pw string) (bool, error) {
			mu.Lock()
			hashes = append(hashes, hash)
			mu.Unlock()
			return password.Verify(hash, pw)
		}}, auth.NoMetrics{}, o)

	for name, login := range map[string][2]string{
		"unknown user":       {"nobody", "the right password"},
		"malformed username": {"not a username!", "the right password"},
		"wrong password":     {"known", "a wrong password"},
		"disabled user":      {"off", "the right password"},
	} {
		hashes = nil
		_, err := svc.Login(context.Background(), login[0], login[1], "")
		if !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Errorf("%s: %v, want ErrInvalidCredentials", name, err)
		}
		if len(hashes) != 1 || hashes[0][:31] != password.Dummy()[:31] {
			t.Errorf("%s: %d verifications (%q), want exactly one at the default cost", name, len(hashes), hashes)
		}
	}
}

// refusingSigner fails every signature: every login here fails before one.
type refusingSigner struct{}

func (refusingSigner) KeyID() string     { return "none" }
func (refusingSigner) Algorithm() string { return "ES256" }
func (refusingSigner) Sign(context.Context, []byte) ([]byte, error) {
	return nil, errors.New("no login here may reach signing")
}
