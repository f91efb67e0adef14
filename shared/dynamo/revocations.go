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
// the entry covers can be valid any more), reason, and feed_sk (the sort
// key of the feed item the service wrote for this state: the stream
// function writes it if missing). The global entry has the fields of a
// user entry.

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
// The entry is written first, and only when it changes: one conditional
// PutItem when r supersedes what is there (or nothing is) and is not
// already covered by it, else read, merge and write back on condition that
// the entry did not change meanwhile, a few times. An entry that already
// covers r is left alone and nothing goes to the feed, so concurrent
// revocations of one token write one entry and one feed item: the decision
// is the conditional write's, not a read before it.
//
// The entry written carries feed_sk, the sort key of the feed item about
// to be written for this state; the feed item is written right after. The
// stream function (FeedStream) writes that same item if it is missing,
// so a crash or a failed feed write between the two still reaches the
// replicas, within the stream's latency instead of the service's. Such a
// failure is reported as auth.ErrFeedLate: the entry stands and a retry
// would write nothing more.
func (s *Store) PutRevocation(ctx context.Context, r auth.Revocation) error {
	w, err := s.putEntry(ctx, r)
	if err != nil || !w.changed {
		return err
	}
	if err := s.putFeed(ctx, w.entry, w.sk, w.at); err != nil {
		return fmt.Errorf("%w: %w", auth.ErrFeedLate, err)
	}
	s.countFeed()
	return nil
}

// entryWrite is what putEntry did: the entry as it stands, whether this
// call changed it, and if so the feed item key it stamped on it.
type entryWrite struct {
	entry   auth.Revocation
	changed bool
	sk      string
	at      time.Time
}

// coverSlack is how much earlier than a new token or session revocation's
// own expiry a live entry of the same key may expire and still count as
// covering it (nothing written). Token and session ids are random: the
// first revocation of one was written after the token or session existed,
// with the longest lifetime either can have (auth.NewRevocation), so it
// covers every later revocation of the same key whatever their expiry;
// the slack only makes concurrent and repeated revocations write nothing.
const coverSlack = time.Minute

// alreadyCovers reports whether old, stored under r's key, makes writing r
// pointless: merging r changes nothing, or r is a token or session entry
// and old is in force until at least r's expiry less coverSlack.
func alreadyCovers(old, r auth.Revocation) bool {
	m := auth.Merge(old, r)
	if m.RevokedAt.Equal(old.RevokedAt) && m.AllUntil.Equal(old.AllUntil) &&
		m.ExpiresAt.Equal(old.ExpiresAt) && m.Reason == old.Reason {
		return true
	}
	if r.Kind != auth.RevokeToken && r.Kind != auth.RevokeSession {
		return false
	}
	return old.ExpiresAt.IsZero() || !old.ExpiresAt.Before(r.ExpiresAt.Add(-coverSlack))
}

// putEntry merges r into the table; it writes only when the entry changes.
func (s *Store) putEntry(ctx context.Context, r auth.Revocation) (entryWrite, error) {
	if r.RevokedAt.IsZero() || r.ExpiresAt.IsZero() || !r.AllUntil.IsZero() {
		return entryWrite{}, fmt.Errorf("put revocation %s#%s: a new entry has revoked_at and expires_at only", r.Kind, r.Value)
	}
	// Fast path: nothing there, or an entry r supersedes in every field
	// (and, for a token or session, that does not already cover r).
	// A revoked_at or expires_at of 0 or less typed by hand reads as none
	// (every session; never expires): such an entry takes the merge path.
	cond := "attribute_not_exists(pk) OR (expires_at > :zero AND expires_at <= :exp AND attribute_not_exists(all_until) AND (" + cutoffAtMost + ")"
	values := map[string]types.AttributeValue{
		":exp": seconds(r.ExpiresAt), ":ms": millis(r.RevokedAt), ":split": num(unitSplit), ":zero": num(0),
		// An entry in seconds T cuts off at the end of second T
		// (T*1000+999 ms), which is at most ms when T <= (ms-999)/1000.
		":s": num(floorDiv(r.RevokedAt.UnixMilli()-999, 1000)),
	}
	if r.Kind == auth.RevokeToken || r.Kind == auth.RevokeSession {
		cond += " AND expires_at < :need"
		values[":need"] = seconds(r.ExpiresAt.Add(-coverSlack))
	}
	cond += ")"
	w, err := s.putRevocationIf(ctx, r, cond, values)
	if _, failed := isConditionFailed(err); !failed {
		return w, err
	}
	for attempt := range mergeAttempts {
		if attempt > 0 { // another writer got in between: let the writers spread out
			select {
			case <-ctx.Done():
				return entryWrite{}, fmt.Errorf("merge revocation %s#%s: %w", r.Kind, r.Value, ctx.Err())
			case <-time.After(time.Duration(mathrand.Int64N(int64(5*time.Millisecond) << attempt))):
			}
		}
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.tables.Revocations,
			Key: revocationKey(r.Kind, r.Value), ConsistentRead: new(true)})
		if err != nil {
			return entryWrite{}, fmt.Errorf("read revocation %s#%s: %w", r.Kind, r.Value, err)
		}
		merged := r
		cond, values := "attribute_not_exists(pk)", map[string]types.AttributeValue{}
		if out.Item != nil {
			old, ok := revocationFromItem(out.Item)
			if !ok {
				return entryWrite{}, fmt.Errorf("merge revocation %s#%s: stored entry unreadable", r.Kind, r.Value)
			}
			if alreadyCovers(old, r) {
				return entryWrite{entry: old}, nil // for as long: nothing to write
			}
			merged = auth.Merge(old, r)
			cond, values = unchanged(out.Item, "revoked_at", "all_until", "expires_at")
		}
		w, err := s.putRevocationIf(ctx, merged, cond, values)
		if _, failed := isConditionFailed(err); !failed {
			return w, err
		}
	}
	return entryWrite{}, fmt.Errorf("put revocation %s#%s: the entry kept changing", r.Kind, r.Value)
}

// mergeAttempts bounds the read-merge-write rounds of one PutRevocation;
// past it the caller gets an error (503) and retries.
const mergeAttempts = 8

// cutoffAtMost holds for a stored revoked_at at or before :ms, whether it
// was written in milliseconds or typed by hand in seconds (:s). An entry
// without revoked_at covers every session and fails it.
const cutoffAtMost = "(revoked_at >= :split AND revoked_at <= :ms) OR (revoked_at > :zero AND revoked_at < :split AND revoked_at <= :s)"

// putRevocationIf writes r as the entry, stamped with the key of the
// feed item that is to follow (feed_sk), if cond holds.
func (s *Store) putRevocationIf(ctx context.Context, r auth.Revocation, cond string, values map[string]types.AttributeValue) (entryWrite, error) {
	at := s.now()
	sk := newFeedKey(r, at)
	it := revocationItem(r)
	it["feed_sk"] = str(sk)
	in := &dynamodb.PutItemInput{TableName: &s.tables.Revocations, Item: it, ConditionExpression: &cond}
	if len(values) > 0 {
		in.ExpressionAttributeValues = values
	}
	_, err := s.db.PutItem(ctx, in)
	if _, failed := isConditionFailed(err); failed {
		return entryWrite{}, err
	}
	if err != nil {
		return entryWrite{}, fmt.Errorf("put revocation %s#%s: %w", r.Kind, r.Value, err)
	}
	return entryWrite{entry: r, changed: true, sk: sk, at: at}, nil
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
