package dynamo

import (
	"context"
	"fmt"
	mathrand "math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Revocations table: hash key "pk" = "jti#<jti>" | "sid#<session id>" |
// "sub#<user id>" | "all#*" (the global cutoff); revoked_at (epoch ms; a
// user entry kills every session started at or before it), all_until
// (epoch s, user entries merged from one without revoked_at: every session
// is dead until then), expires_at (epoch s, the TTL attribute: when nothing
// the entry covers can be valid any more), reason. The global entry has
// the fields of a user entry.

func revocationKey(kind auth.RevocationKind, value string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(string(kind) + "#" + value)}
}

func revocationFromItem(it item) (auth.Revocation, bool) {
	kind, value, ok := strings.Cut(it.str("pk"), "#")
	if !ok {
		return auth.Revocation{}, false
	}
	switch k := auth.RevocationKind(kind); k {
	case auth.RevokeToken, auth.RevokeSession, auth.RevokeUser, auth.RevokeAll:
		return auth.Revocation{Kind: k, Value: value, RevokedAt: it.cutoff("revoked_at"),
			AllUntil: it.instant("all_until"), ExpiresAt: it.instant("expires_at"), Reason: it.str("reason")}, true
	}
	return auth.Revocation{}, false
}

func revocationItem(r auth.Revocation) map[string]types.AttributeValue {
	it := revocationKey(r.Kind, r.Value)
	if !r.RevokedAt.IsZero() {
		it["revoked_at"] = millis(r.RevokedAt)
	}
	if !r.AllUntil.IsZero() {
		it["all_until"] = seconds(r.AllUntil)
	}
	if !r.ExpiresAt.IsZero() {
		it["expires_at"] = seconds(r.ExpiresAt)
	}
	if r.Reason != "" {
		it["reason"] = str(r.Reason)
	}
	return it
}

// PutRevocation merges r into the entry stored under its key (auth.Merge):
// the later cutoff and the later expiry win, whatever was there, including
// entries typed by hand (without revoked_at, in seconds, without expiry).
// No transactions: one conditional PutItem when r supersedes what is there
// (or nothing is), else read, merge and write back on condition that the
// entry did not change meanwhile, a few times. r goes to the revocation
// feed before the entry is written, and the merged entry after it when it
// differs from r. It succeeds only when everything landed: a half-done
// revocation is an error, and a retry (feeding and merging again)
// completes it. Never a silent success.
func (s *Store) PutRevocation(ctx context.Context, r auth.Revocation) error {
	// The feed first: if the entry's write then fails, the replicas already
	// deny what r covers (fail closed) and strict mode is no worse off than
	// with nothing written; the caller's retry completes both.
	if err := s.putFeed(ctx, r); err != nil {
		return err
	}
	entry, err := s.putEntry(ctx, r)
	if err != nil {
		return err
	}
	if entry.RevokedAt.Equal(r.RevokedAt) && entry.AllUntil.Equal(r.AllUntil) && entry.ExpiresAt.Equal(r.ExpiresAt) {
		return nil
	}
	// The entry merged with more than r (an earlier cutoff kept, a longer
	// expiry, "every session until"): the replicas get it as it stands.
	return s.putFeed(ctx, entry)
}

// putEntry merges r into the table and returns the entry as it stands.
func (s *Store) putEntry(ctx context.Context, r auth.Revocation) (auth.Revocation, error) {
	if r.RevokedAt.IsZero() || r.ExpiresAt.IsZero() || !r.AllUntil.IsZero() {
		return r, fmt.Errorf("put revocation %s#%s: a new entry has revoked_at and expires_at only", r.Kind, r.Value)
	}
	// Fast path: nothing there, or an entry r supersedes in every field.
	// A revoked_at or expires_at of 0 or less typed by hand reads as none
	// (every session; never expires): such an entry takes the merge path.
	cond := "attribute_not_exists(pk) OR (expires_at > :zero AND expires_at <= :exp AND attribute_not_exists(all_until) AND (" + cutoffAtMost + "))"
	err := s.putRevocationIf(ctx, revocationItem(r), cond, map[string]types.AttributeValue{
		":exp": seconds(r.ExpiresAt), ":ms": millis(r.RevokedAt), ":split": num(unitSplit), ":zero": num(0),
		// An entry in seconds T cuts off at the end of second T
		// (T*1000+999 ms), which is at most ms when T <= (ms-999)/1000.
		":s": num(floorDiv(r.RevokedAt.UnixMilli()-999, 1000)),
	})
	if _, failed := isConditionFailed(err); !failed {
		return r, err
	}
	for attempt := range mergeAttempts {
		if attempt > 0 { // another writer got in between: let the writers spread out
			select {
			case <-ctx.Done():
				return r, fmt.Errorf("merge revocation %s#%s: %w", r.Kind, r.Value, ctx.Err())
			case <-time.After(time.Duration(mathrand.Int64N(int64(5*time.Millisecond) << attempt))):
			}
		}
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.tables.Revocations,
			Key: revocationKey(r.Kind, r.Value), ConsistentRead: new(true)})
		if err != nil {
			return r, fmt.Errorf("read revocation %s#%s: %w", r.Kind, r.Value, err)
		}
		var merged auth.Revocation
		cond, values := "attribute_not_exists(pk)", map[string]types.AttributeValue{}
		if out.Item != nil {
			old, ok := revocationFromItem(out.Item)
			if !ok {
				return r, fmt.Errorf("merge revocation %s#%s: stored entry unreadable", r.Kind, r.Value)
			}
			merged = auth.Merge(old, r)
			if merged.RevokedAt.Equal(old.RevokedAt) && merged.AllUntil.Equal(old.AllUntil) &&
				merged.ExpiresAt.Equal(old.ExpiresAt) && merged.Reason == old.Reason {
				return old, nil // already covers r, for as long
			}
			cond, values = unchanged(out.Item, "revoked_at", "all_until", "expires_at")
		} else {
			merged = r
		}
		err = s.putRevocationIf(ctx, revocationItem(merged), cond, values)
		if _, failed := isConditionFailed(err); !failed {
			return merged, err
		}
	}
	return r, fmt.Errorf("put revocation %s#%s: the entry kept changing", r.Kind, r.Value)
}

// mergeAttempts bounds the read-merge-write rounds of one PutRevocation;
// past it the caller gets an error (503) and retries.
const mergeAttempts = 8

// cutoffAtMost holds for a stored revoked_at at or before :ms, whether it
// was written in milliseconds or typed by hand in seconds (:s). An entry
// without revoked_at covers every session and fails it.
const cutoffAtMost = "(revoked_at >= :split AND revoked_at <= :ms) OR (revoked_at > :zero AND revoked_at < :split AND revoked_at <= :s)"

func (s *Store) putRevocationIf(ctx context.Context, it map[string]types.AttributeValue, cond string, values map[string]types.AttributeValue) error {
	in := &dynamodb.PutItemInput{TableName: &s.tables.Revocations, Item: it, ConditionExpression: &cond}
	if len(values) > 0 {
		in.ExpressionAttributeValues = values
	}
	_, err := s.db.PutItem(ctx, in)
	if _, failed := isConditionFailed(err); failed {
		return err
	}
	if err != nil {
		return fmt.Errorf("put revocation %s: %w", item(it).str("pk"), err)
	}
	return nil
}

// unchanged is a condition that holds while the named attributes of a
// stored item are as read (or still absent).
func unchanged(it item, names ...string) (string, map[string]types.AttributeValue) {
	var parts []string
	values := map[string]types.AttributeValue{}
	for i, n := range names {
		v, ok := it[n]
		if !ok {
			parts = append(parts, "attribute_not_exists("+n+")")
			continue
		}
		key := ":was" + strconv.Itoa(i)
		parts = append(parts, n+" = "+key)
		values[key] = v
	}
	return "attribute_exists(pk) AND " + strings.Join(parts, " AND "), values
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// globalKey is the key of the global cutoff (auth.RevokeAll): every
// reader asks for it with the keys of what it checks.
func globalKey() map[string]types.AttributeValue {
	return revocationKey(auth.RevokeAll, auth.AllValue)
}

// UserRevocations reads a user's entry (sub#<id>) and the global one
// (all#*) in one strongly consistent BatchGetItem: what can refuse a login.
func (s *Store) UserRevocations(ctx context.Context, userID string) ([]auth.Revocation, error) {
	out, err := s.revocationsByKey(ctx, revocationKey(auth.RevokeUser, userID), globalKey())
	if err != nil {
		return nil, fmt.Errorf("read user revocations: %w", err)
	}
	return out, nil
}

// Revocations reads the jti, sid and sub entries of one token and the
// global one in a single strongly consistent BatchGetItem: the
// authorizer's only DynamoDB call.
func (s *Store) Revocations(ctx context.Context, jti, sid, sub string) ([]auth.Revocation, error) {
	out, err := s.revocationsByKey(ctx,
		revocationKey(auth.RevokeToken, jti),
		revocationKey(auth.RevokeSession, sid),
		revocationKey(auth.RevokeUser, sub),
		globalKey(),
	)
	if err != nil {
		return nil, fmt.Errorf("revocation lookup: %w", err)
	}
	return out, nil
}

// revocationsByKey reads entries by key (at most 100, BatchGetItem's
// limit) in one strongly consistent BatchGetItem.
func (s *Store) revocationsByKey(ctx context.Context, ks ...map[string]types.AttributeValue) ([]auth.Revocation, error) {
	got, err := s.batchGet(ctx, map[string]types.KeysAndAttributes{s.tables.Revocations: keys(ks...)})
	if err != nil {
		return nil, err
	}
	// Only the revocations table was asked: read every list of the answer,
	// so that an answer keyed otherwise (a table ARN) cannot read as empty.
	var out []auth.Revocation
	for _, items := range got {
		for _, it := range items {
			if r, ok := revocationFromItem(it); ok {
				out = append(out, r)
			}
		}
	}
	return out, nil
}
