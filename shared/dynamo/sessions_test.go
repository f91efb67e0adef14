package dynamo_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/auth"
)

// TestRotateConflictReturnsTheSession: a rotation whose condition fails
// returns the session as it now is (ReturnValuesOnConditionCheckFailure),
// which refresh relies on to tell a race from an ended session without
// reading it again; a missing session returns none.
func TestRotateConflictReturnsTheSession(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	first, second, third := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	sess := &auth.Session{ID: "sid-conflict", UserID: "usr_1", Username: "a@example.com", ClientID: "web",
		TokenHash: first, CreatedAt: now, RotatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := env.Store.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if cur, err := env.Store.RotateSession(ctx, auth.Rotation{SessionID: sess.ID, Presented: first, Next: second, At: now}); err != nil || cur != nil {
		t.Fatalf("first rotation: %+v %v", cur, err)
	}
	cur, err := env.Store.RotateSession(ctx, auth.Rotation{SessionID: sess.ID, Presented: first, Next: third, At: now})
	if !errors.Is(err, auth.ErrRotationConflict) {
		t.Fatalf("rotation from a replaced token: %v, want ErrRotationConflict", err)
	}
	if cur == nil || !bytes.Equal(cur.TokenHash, second) || !bytes.Equal(cur.PrevHash, first) || cur.UserID != "usr_1" {
		t.Errorf("session returned on the conflict: %+v, want the one at the second token", cur)
	}

	cur, err = env.Store.RotateSession(ctx, auth.Rotation{SessionID: "sid-missing", Presented: first, Next: second, At: now})
	if !errors.Is(err, auth.ErrRotationConflict) || cur != nil {
		t.Errorf("rotation of a missing session: %+v %v, want none and ErrRotationConflict", cur, err)
	}
}

// TestSessionKeepsHowItSignedIn: amr (in order), auth_time and the DPoP
// key's thumbprint come back as written, after a rotation too; a session
// written without auth_time reads it as its start.
func TestSessionKeepsHowItSignedIn(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	first, second := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	sess := &auth.Session{ID: "sid-amr", UserID: "usr_1", Username: "a@example.com", ClientID: "web",
		TokenHash: first, CreatedAt: now, RotatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour),
		AMR: []string{"pwd", "otp", "mfa"}, AuthTime: now.Add(-time.Second), JKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
	if err := env.Store.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.RotateSession(ctx, auth.Rotation{SessionID: sess.ID, Presented: first, Next: second, At: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got, err := env.Store.Session(ctx, sess.ID)
	if err != nil || got == nil {
		t.Fatalf("read: %v %v", got, err)
	}
	if strings.Join(got.AMR, " ") != "pwd otp mfa" || !got.AuthTime.Equal(sess.AuthTime) || got.JKT != sess.JKT {
		t.Errorf("read back amr %v auth_time %v jkt %q, want %v %v %q", got.AMR, got.AuthTime, got.JKT, sess.AMR, sess.AuthTime, sess.JKT)
	}

	plain := &auth.Session{ID: "sid-plain", UserID: "usr_1", Username: "a@example.com", ClientID: "web",
		TokenHash: first, CreatedAt: now, RotatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := env.Store.CreateSession(ctx, plain); err != nil {
		t.Fatal(err)
	}
	got, err = env.Store.Session(ctx, plain.ID)
	if err != nil || got == nil {
		t.Fatalf("read: %v %v", got, err)
	}
	if got.AMR != nil || !got.AuthTime.Equal(now) || got.JKT != "" {
		t.Errorf("session without them: amr %v auth_time %v jkt %q, want none, its start, none", got.AMR, got.AuthTime, got.JKT)
	}
}
