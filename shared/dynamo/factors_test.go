package dynamo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
)

// TestDeleteTOTPOnWhatWasRead: DeleteTOTP removes the factor only if it is
// still as read. A removal that read the factor pending is refused once it
// has been confirmed (else a confirm racing a removal would lose the
// factor to a request that showed no code); one that read it active is
// refused once it was replaced; each removes the factor as read.
func TestDeleteTOTPOnWhatWasRead(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	pending := func(user string, sealed string) *auth.TOTPFactor {
		t.Helper()
		f := &auth.TOTPFactor{UserID: user, Sealed: []byte(sealed), CreatedAt: now}
		if err := env.Store.PutPendingTOTP(ctx, f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	read := func(user string) *auth.TOTPFactor {
		t.Helper()
		f, err := env.Store.TOTPFactor(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}

	// Seen pending, confirmed since: refused, and the factor stays.
	seen := pending("u1", "secret 1")
	if err := env.Store.ActivateTOTP(ctx, "u1", seen.Sealed, 1, []string{"h"}); err != nil {
		t.Fatal(err)
	}
	if err := env.Store.DeleteTOTP(ctx, seen); !errors.Is(err, auth.ErrFactorChanged) {
		t.Errorf("pending-path delete of a confirmed factor: %v, want ErrFactorChanged", err)
	}
	if f := read("u1"); f == nil || !f.Active {
		t.Fatalf("after the refused delete: %+v, want the active factor", f)
	}
	// Seen active: removed.
	if err := env.Store.DeleteTOTP(ctx, read("u1")); err != nil {
		t.Fatalf("active-path delete: %v", err)
	}
	if f := read("u1"); f != nil {
		t.Errorf("after the delete: %+v, want none", f)
	}
	// Nothing left: refused.
	if err := env.Store.DeleteTOTP(ctx, seen); !errors.Is(err, auth.ErrFactorChanged) {
		t.Errorf("delete of no factor: %v, want ErrFactorChanged", err)
	}

	// Seen pending and still pending: removed.
	if err := env.Store.DeleteTOTP(ctx, pending("u2", "secret 2")); err != nil {
		t.Fatalf("pending-path delete: %v", err)
	}
	if f := read("u2"); f != nil {
		t.Errorf("after the delete: %+v, want none", f)
	}

	// Seen active, then removed and enrolled and confirmed again with
	// another secret: refused.
	old := pending("u3", "secret 3")
	if err := env.Store.ActivateTOTP(ctx, "u3", old.Sealed, 1, []string{"h"}); err != nil {
		t.Fatal(err)
	}
	seenActive := read("u3")
	if err := env.Store.DeleteTOTP(ctx, seenActive); err != nil {
		t.Fatal(err)
	}
	again := pending("u3", "secret 3 again")
	if err := env.Store.ActivateTOTP(ctx, "u3", again.Sealed, 1, []string{"h"}); err != nil {
		t.Fatal(err)
	}
	if err := env.Store.DeleteTOTP(ctx, seenActive); !errors.Is(err, auth.ErrFactorChanged) {
		t.Errorf("active-path delete of a replaced factor: %v, want ErrFactorChanged", err)
	}
	if f := read("u3"); f == nil || string(f.Sealed) != "secret 3 again" {
		t.Errorf("after the refused delete: %+v, want the new factor", f)
	}
}
