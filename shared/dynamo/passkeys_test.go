package dynamo_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
)

// TestTakePasskeyChallengeOnce: a challenge is consumed by one
// conditional delete: of many takers at once exactly one gets its state,
// every other ErrChallengeNotFound; and a challenge past its expiry, for
// the other ceremony or for another user is never handed out.
func TestTakePasskeyChallengeOnce(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	put := func(key string, c auth.PasskeyCeremony, user string) {
		t.Helper()
		err := env.Store.PutPasskeyChallenge(ctx, auth.PasskeyChallenge{Key: key, Ceremony: c, UserID: user,
			State: []byte("state of " + key), ExpiresAt: now.Add(auth.PasskeyChallengeTTL)})
		if err != nil {
			t.Fatal(err)
		}
	}

	for round := range 3 {
		key := auth.PasskeyChallengeKey("race-" + string(rune('a'+round)))
		put(key, auth.CeremonySignIn, "")
		const n = 8
		var won, lost atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Go(func() {
				<-start
				ch, err := env.Store.TakePasskeyChallenge(ctx, key, auth.CeremonySignIn, "", now)
				switch {
				case err == nil && bytes.Equal(ch.State, []byte("state of "+key)):
					won.Add(1)
				case errors.Is(err, auth.ErrChallengeNotFound):
					lost.Add(1)
				default:
					t.Errorf("take: %+v %v", ch, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if won.Load() != 1 || lost.Load() != n-1 {
			t.Errorf("round %d: %d takers won, %d lost; want exactly 1 winner of %d", round, won.Load(), lost.Load(), n)
		}
	}

	for _, tc := range []struct {
		name     string
		ceremony auth.PasskeyCeremony
		user     string
		at       time.Time
	}{
		{"expired", auth.CeremonyRegister, "usr_1", now.Add(auth.PasskeyChallengeTTL)},
		{"other ceremony", auth.CeremonySignIn, "", now},
		{"other user", auth.CeremonyRegister, "usr_2", now},
		{"no user given for a user's", auth.CeremonyRegister, "", now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := auth.PasskeyChallengeKey("refused-" + tc.name)
			put(key, auth.CeremonyRegister, "usr_1")
			if ch, err := env.Store.TakePasskeyChallenge(ctx, key, tc.ceremony, tc.user, tc.at); !errors.Is(err, auth.ErrChallengeNotFound) {
				t.Errorf("take: %+v %v, want ErrChallengeNotFound", ch, err)
			}
			// Still there for its own ceremony and user, in time: a wrong
			// taker does not burn it.
			if _, err := env.Store.TakePasskeyChallenge(ctx, key, auth.CeremonyRegister, "usr_1", now); err != nil && tc.name != "expired" {
				t.Errorf("the right taker after the refusal: %v", err)
			}
		})
	}
}

// TestPasskeyRecords: a credential record round-trips; a second one with
// the same id is refused; the list is the owner's only; only the owner
// deletes; a use is recorded only over the counter it was checked
// against; the user handle is stored once.
func TestPasskeyRecords(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	p := &auth.Passkey{ID: []byte("credential-1"), UserID: "usr_1", Username: "a@example.com", UserHandle: []byte("handle-1"),
		PublicKey: []byte{0xa5}, SignCount: 7, UserPresent: true, UserVerified: true, BackupEligible: true,
		Transports: []string{"internal", "hybrid"}, AAGUID: bytes.Repeat([]byte{9}, 16), AttestationFormat: "none",
		Attachment: "platform", CreatedAt: now, LastUsedAt: now}
	if err := env.Store.CreatePasskey(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := env.Store.CreatePasskey(ctx, p); !errors.Is(err, auth.ErrPasskeyExists) {
		t.Errorf("second create: %v, want ErrPasskeyExists", err)
	}
	got, err := env.Store.Passkey(ctx, p.ID)
	if err != nil || got == nil || !bytes.Equal(got.ID, p.ID) || got.UserID != "usr_1" || got.SignCount != 7 || !got.BackupEligible ||
		got.BackupState || len(got.Transports) != 2 || !bytes.Equal(got.AAGUID, p.AAGUID) || !got.CreatedAt.Equal(now) {
		t.Fatalf("read back %+v %v", got, err)
	}
	if list, err := env.Store.UserPasskeys(ctx, "usr_2"); err != nil || len(list) != 0 {
		t.Errorf("another user's list: %+v %v", list, err)
	}
	if list, err := env.Store.UserPasskeys(ctx, "usr_1"); err != nil || len(list) != 1 || !bytes.Equal(list[0].ID, p.ID) {
		t.Errorf("owner's list: %+v %v", list, err)
	}
	use := auth.PasskeyUse{SignCount: 8, UserPresent: true, UserVerified: true, BackupEligible: true, At: now}
	if err := env.Store.RecordPasskeyUse(ctx, p.ID, 6, use); !errors.Is(err, auth.ErrPasskeyRefused) {
		t.Errorf("use over a stale counter: %v, want ErrPasskeyRefused", err)
	}
	if err := env.Store.RecordPasskeyUse(ctx, p.ID, 7, use); err != nil {
		t.Errorf("use: %v", err)
	}
	if err := env.Store.FlagPasskeyClone(ctx, p.ID, 3, now); err != nil {
		t.Fatal(err)
	}
	if got, _ := env.Store.Passkey(ctx, p.ID); got == nil || !got.CloneWarning || got.SignCount != 8 {
		t.Errorf("after flagging: %+v", got)
	}
	if err := env.Store.RecordPasskeyUse(ctx, p.ID, 8, auth.PasskeyUse{SignCount: 9, At: now}); !errors.Is(err, auth.ErrPasskeyRefused) {
		t.Errorf("use of a flagged credential: %v, want ErrPasskeyRefused", err)
	}
	if err := env.Store.DeletePasskey(ctx, "usr_2", p.ID); !errors.Is(err, auth.ErrPasskeyNotFound) {
		t.Errorf("delete by another user: %v, want ErrPasskeyNotFound", err)
	}
	if err := env.Store.DeletePasskey(ctx, "usr_1", p.ID); err != nil {
		t.Errorf("delete by the owner: %v", err)
	}
	if got, err := env.Store.Passkey(ctx, p.ID); got != nil || err != nil {
		t.Errorf("after delete: %+v %v", got, err)
	}

	h1, err := env.Store.PasskeyUserHandle(ctx, "usr_1", []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	h2, err := env.Store.PasskeyUserHandle(ctx, "usr_1", []byte("second"))
	if err != nil || !bytes.Equal(h1, []byte("first")) || !bytes.Equal(h2, h1) {
		t.Errorf("user handle: %q then %q (%v), want the first one kept", h1, h2, err)
	}
}
