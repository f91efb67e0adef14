package dynamo

import (
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
)

// TestSnapshotEncoding: entries survive encodeParts and decodeEntries
// exactly (zero instants included), and 100,000 entries with random ids
// make parts far under DynamoDB's 400 KB item limit, few enough for one
// BatchGetItem.
func TestSnapshotEncoding(t *testing.T) {
	now := time.UnixMilli(1_796_000_000_123)
	var in []auth.Revocation
	for i := range 100_000 {
		var b [16]byte
		rand.Read(b[:])
		id := base64.RawURLEncoding.EncodeToString(b[:])
		switch i % 10 {
		case 0:
			in = append(in, auth.Revocation{Kind: auth.RevokeUser, Value: "usr_" + id, AllUntil: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour), Reason: "hand"})
		case 1:
			in = append(in, auth.NewRevocation(auth.RevokeSession, "ses_"+id, now, "logout"))
		default:
			in = append(in, auth.NewRevocation(auth.RevokeToken, id, now.Add(time.Duration(i)*time.Millisecond), "rfc7009"))
		}
	}
	parts, err := encodeParts(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) > snapshotMaxParts {
		t.Fatalf("%d parts", len(parts))
	}
	var out []auth.Revocation
	for i, p := range parts {
		if len(p) > 350<<10 {
			t.Errorf("part %d is %d bytes, over 350 KiB", i, len(p))
		}
		if out, err = decodeEntries(p, out); err != nil {
			t.Fatal(err)
		}
	}
	if len(out) != len(in) {
		t.Fatalf("%d entries back, want %d", len(out), len(in))
	}
	for i := range in {
		a, b := in[i], out[i]
		if a.Kind != b.Kind || a.Value != b.Value || a.Reason != b.Reason || !a.RevokedAt.Equal(b.RevokedAt) ||
			!a.AllUntil.Equal(b.AllUntil) || !a.ExpiresAt.Equal(b.ExpiresAt) || a.RevokedAt.IsZero() != b.RevokedAt.IsZero() {
			t.Fatalf("entry %d: %+v came back as %+v", i, a, b)
		}
	}
	if _, err := decodeEntries(parts[0][:len(parts[0])/2], nil); err == nil {
		t.Error("a truncated part decoded without an error")
	}
}
