package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Every revocation a signed-in user causes (logout, logout-all, ending a
// session from the session list, RFC 7009 revocation, a login replacing a
// session, refresh token reuse) is counted against that user's budget:
// FeedBudgetPerUser distinct entry keys per FeedBudgetWindow (revoking one
// key again is free: it writes nothing, and parallel revocations of one
// stolen token must not spend the owner's budget). Past it the revocation
// is escalated, never refused nor dropped: one user entry whose cutoff is
// the end of the window (and escalationMargin) ends every session the user
// has and every token they hold, and login refuses the user until then
// (429, Retry-After). Every further revocation in that window is already
// covered by it and writes nothing, and the user cannot mint anything new
// to revoke. So one user adds at most FeedBudgetPerUser + 1 feed items per
// window, whatever they call. Operators (the revoke function) are not
// counted.
const (
	FeedBudgetPerUser = 20
	FeedBudgetWindow  = time.Minute
)

// escalationMargin puts an escalated entry's cutoff past the end of the
// budget window: the entry replaces the revocation asked for, so it must
// cover the session that revocation names, which another function started
// before this request, by its own clock. A cutoff at the window's end, by
// this function's clock, would miss such a session when this request came
// within the two clocks' skew (milliseconds between Lambda hosts) of the
// window's end. Login is refused until the cutoff: two seconds more.
const escalationMargin = 2 * time.Second

// escalatedReason is the reason of a user entry written because the
// user's revocation budget was spent.
const escalatedReason = "revocation budget spent: every session ends"

// FeedBudget counts the revocations one user causes.
type FeedBudget interface {
	// TakeFeedBudget counts one revocation of userID's, of the entry key
	// target ("kind#value"), in the FeedBudgetWindow holding now: a target
	// already counted in the window is free; ok is false (and nothing is
	// counted) when FeedBudgetPerUser distinct targets are spent. end is
	// when that window ends.
	TakeFeedBudget(ctx context.Context, userID, target string, now time.Time) (ok bool, end time.Time, err error)
}

// Revoker writes revocation entries and counts them (Metrics.Revoked):
// the one way every flow revokes. A user's revoker also counts each
// revocation a user causes against their budget (NewRevoker); the
// operator's does not (NewOperatorRevoker). It also reads the entries
// that refuse a user a new session (login).
type Revoker struct {
	store  Revocations
	budget FeedBudget // nil: the operator's revoker, nothing counted
	met    Metrics
	log    *slog.Logger
	now    func() time.Time
}

// NewRevoker is the revoker of the functions users call: every
// revocation is counted against the budget of the user who causes it.
func NewRevoker(store Revocations, budget FeedBudget, met Metrics, o Options) *Revoker {
	required("Revoker", store, budget, met)
	o = o.withDefaults()
	return &Revoker{store: store, budget: budget, met: met, log: o.Logger, now: o.Now}
}

// NewOperatorRevoker is the revoker of the operator's console function:
// operators are not counted against any budget.
func NewOperatorRevoker(store Revocations, met Metrics, o Options) *Revoker {
	required("OperatorRevoker", store, met)
	o = o.withDefaults()
	return &Revoker{store: store, met: met, log: o.Logger, now: o.Now}
}

// put writes r and counts it. by is the user whose request causes it, ""
// for an operator: a user past their budget gets one user entry up to the
// end of the budget window instead of r, which covers r. A budget that
// cannot be counted does not stop the revocation.
func (v *Revoker) put(ctx context.Context, r Revocation, by string) error {
	if v.budget != nil && by != "" {
		ok, end, err := v.budget.TakeFeedBudget(ctx, by, string(r.Kind)+"#"+r.Value, v.now())
		switch {
		case err != nil:
			v.log.WarnContext(ctx, "revocation budget not counted; revoking anyway", "sub", by, "err", err)
		case !ok:
			cutoff := end.Add(escalationMargin)
			v.log.WarnContext(ctx, "revocation budget spent: every session of the user ends", "sub", by,
				"kind", string(r.Kind), "until", cutoff)
			r = NewRevocation(RevokeUser, by, cutoff, escalatedReason)
			v.met.Escalated()
		}
	}
	err := v.store.PutRevocation(ctx, r)
	if errors.Is(err, ErrFeedLate) {
		// The entry stands (strict mode, refresh and introspection see it
		// now); the replicas get it through the table's stream. A retry
		// would find the entry and write nothing: success, logged.
		v.log.ErrorContext(ctx, "revocation stored, feed write failed: the stream delivers it", "kind", string(r.Kind), "err", err)
		err = nil
	}
	if err != nil {
		return err
	}
	v.met.Revoked(r.Kind)
	return nil
}

// revokeUser writes a user entry; by is the user whose request it is
// (their revocation budget pays for it), "" for an operator.
func (v *Revoker) revokeUser(ctx context.Context, userID, reason, by string) (Revocation, error) {
	r := NewRevocation(RevokeUser, userID, v.now(), reason)
	if err := v.put(ctx, r, by); err != nil {
		return Revocation{}, unavailable("revoke user", err)
	}
	return r, nil
}

// userEntries reads the entries that can refuse a user a new session: the
// user's and the global one.
func (v *Revoker) userEntries(ctx context.Context, userID string) ([]Revocation, error) {
	return v.store.UserRevocations(ctx, userID)
}

// userRevoker panics unless r counts revocations against the budget of the
// user who causes them (NewRevoker): every flow a user drives takes one,
// and only the operator's console (NewRevoke) may revoke uncounted.
func userRevoker(flow string, r *Revoker) {
	if r != nil && r.budget == nil {
		panic(fmt.Sprintf("auth: New%s: the revoker counts no budget (NewOperatorRevoker): flows a user drives need NewRevoker", flow))
	}
}
