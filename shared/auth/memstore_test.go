package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/authkit/lambda-auth/shared/token"
)

// memStore keeps sessions, revocation entries and one user in memory, with
// the conditions the DynamoDB store applies, so the rules of refresh and
// login can be tested row by row without a server (in the style of ory
// fosite's flow tests). The tests against local DynamoDB (shared/app,
// shared/dynamo) check the real store keeps the same conditions.
type memStore struct {
	mu          sync.Mutex
	sessions    map[string]*Session
	revocations map[string]Revocation
	user        *User
	attempts    map[string]*Attempt

	// beforeRotate runs inside RotateSession before the write applies (a
	// slow network: move the clock); rotateErr, when set, is returned after
	// the write applied (its answer lost).
	beforeRotate   func()
	beforeStanding func()
	rotateErr      error
	writes         int
}

func newMemStore(u *User) *memStore {
	return &memStore{sessions: map[string]*Session{}, revocations: map[string]Revocation{}, user: u,
		attempts: map[string]*Attempt{}}
}

func (m *memStore) CreateSession(_ context.Context, s *Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *s
	m.sessions[s.ID] = &c
	m.writes++
	return nil
}

func (m *memStore) Session(_ context.Context, id string) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return nil, nil
	}
	c := *s
	return &c, nil
}

func (m *memStore) SessionStanding(_ context.Context, s *Session) (Standing, error) {
	if m.beforeStanding != nil {
		m.beforeStanding()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var st Standing
	if m.user != nil {
		u := *m.user
		st.User = &u
	}
	for _, key := range []string{"sid#" + s.ID, "sub#" + s.UserID, "all#" + AllValue} {
		if r, ok := m.revocations[key]; ok {
			st.Revocations = append(st.Revocations, r)
		}
	}
	return st, nil
}

func (m *memStore) RotateSession(_ context.Context, r Rotation) (*Session, error) {
	if m.beforeRotate != nil {
		m.beforeRotate()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[r.SessionID]
	if s == nil {
		return nil, ErrRotationConflict
	}
	if !bytes.Equal(s.TokenHash, r.Presented) || !s.RevokedAt.IsZero() {
		c := *s // as DynamoDB does: the item as it now is
		return &c, ErrRotationConflict
	}
	s.PrevHash, s.TokenHash = r.Presented, r.Next
	s.Retired = append(s.Retired, r.Presented[:RetiredPrefixLen])
	s.RotatedAt, s.LastUsedAt, s.Scope = r.At, r.At, r.Scope
	m.writes++
	if errors.Is(m.rotateErr, ErrRotationConflict) {
		// The answer was lost and the SDK's retry met its own write: the
		// retry's failed condition returns the item as it now is.
		c := *s
		return &c, m.rotateErr
	}
	return nil, m.rotateErr
}

func (m *memStore) EndSession(_ context.Context, id, reason string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sessions[id]; s != nil && s.RevokedAt.IsZero() {
		s.RevokedAt, s.Reason = at, reason
		m.writes++
	}
	return nil
}

func (m *memStore) PutRevocation(_ context.Context, r Revocation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := string(r.Kind) + "#" + r.Value
	if old, ok := m.revocations[key]; ok {
		r = Merge(old, r)
	}
	m.revocations[key] = r
	m.writes++
	return nil
}

func (m *memStore) UserRevocations(_ context.Context, userID string) ([]Revocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Revocation
	for _, key := range []string{"sub#" + userID, "all#" + AllValue} {
		if r, ok := m.revocations[key]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) Revocations(_ context.Context, jti, sid, sub string) ([]Revocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Revocation
	for _, key := range []string{"jti#" + jti, "sid#" + sid, "sub#" + sub, "all#" + AllValue} {
		if r, ok := m.revocations[key]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// Window is 0: the store keeps every entry (auth.RevocationLookup).
func (m *memStore) Window() time.Duration { return 0 }

func (m *memStore) User(_ context.Context, name string) (*User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.user == nil || m.user.Username != name {
		return nil, nil
	}
	u := *m.user
	return &u, nil
}

func (m *memStore) ReserveLoginAttempt(_ context.Context, key string, now, _ time.Time) (Attempt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.attempts[key]
	if a == nil {
		a = &Attempt{}
		m.attempts[key] = a
	}
	if a.LockedUntil.After(now) {
		return *a, nil
	}
	a.Count++
	return *a, nil
}

func (m *memStore) LockLogin(_ context.Context, key string, count int, until, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.attempts[key]; a != nil && a.Count >= count && (a.Allow == 0 || a.Allow < count+1) {
		a.LockedUntil, a.Allow = until, count+1
	}
	return nil
}

func (m *memStore) ClearLoginFailures(_ context.Context, key string, count int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.attempts[key]; a != nil && a.Count <= count {
		delete(m.attempts, key)
	}
	return nil
}

// testClock is a clock the rows move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeSigner signs nothing: these tests look at sessions, not signatures
// (shared/token and shared/kmssign test those).
type fakeSigner struct{ fail error }

func (fakeSigner) KeyID() string     { return "test-kid" }
func (fakeSigner) Algorithm() string { return "ES256" }
func (f fakeSigner) Sign(context.Context, []byte) ([]byte, error) {
	return []byte("signature"), f.fail
}

// freeBudget is a FeedBudget that never runs out.
type freeBudget struct{}

func (freeBudget) TakeFeedBudget(context.Context, string, string, time.Time) (bool, time.Time, error) {
	return true, time.Time{}, nil
}

// testMAC is the MAC key of these tests.
var testMAC = []byte("0123456789abcdef0123456789abcdef")

// testLogin is the login flow over store, signing with signer and
// checking passwords with check, on o's settings (logs discarded).
func testLogin(store *memStore, signer token.Signer, check PasswordCheck, o Options) *Login {
	o.Logger = slog.New(slog.DiscardHandler)
	return NewLogin(store, store, testRevoker(store, o), NewAccessIssuer(signer, o), testMAC, Passwords{Verify: check, Dummy: testDummyHash}, NoMetrics{}, o)
}

// testRevoker is a user's revoker over store, with a budget that never
// runs out.
func testRevoker(store *memStore, o Options) *Revoker {
	o.Logger = slog.New(slog.DiscardHandler)
	return NewRevoker(store, freeBudget{}, NoMetrics{}, o)
}

// testDummyHash stands for password.Dummy() in tests whose password check is
// a fake: the hash an unknown user's attempt is checked against.
const testDummyHash = "dummy hash"
