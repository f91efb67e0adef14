package dynamo_test

import (
	"bytes"
	"context"
	"errors"
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
