package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode"
)

// LogoutAll ends every session of a user, on every device, and every access
// token already issued to them, with one write whatever the number of
// sessions: a user revocation entry. The authorizer denies any token whose
// session started at or before it; refresh refuses those sessions too.
func (s *Service) LogoutAll(ctx context.Context, userID string) (Revocation, error) {
	r, err := s.revokeUser(ctx, userID, "logout-all", userID)
	if err != nil {
		return Revocation{}, err
	}
	s.Logger.InfoContext(ctx, "logout-all", "sub", userID)
	return r, nil
}

// revokeUser writes a user entry; by is the user whose request it is
// (their revocation budget pays for it), "" for an operator.
func (s *Service) revokeUser(ctx context.Context, userID, reason, by string) (Revocation, error) {
	now := s.opt.Now()
	r := NewRevocation(RevokeUser, userID, now, reason)
	if err := s.putRevocation(ctx, r, by); err != nil {
		return Revocation{}, unavailable("revoke user", err)
	}
	return r, nil
}

// Every revocation a signed-in user causes (logout, logout-all, ending a
// device, RFC 7009 revocation, a login replacing a session, refresh token
// reuse) is counted against that user's budget: FeedBudgetPerUser distinct
// entry keys per FeedBudgetWindow (revoking one key again is free: it
// writes nothing, and parallel revocations of one stolen token must not
// spend the owner's budget). Past it the revocation is escalated, never
// refused nor dropped: one user entry whose cutoff is the end of the
// window (and escalationMargin) ends every session the user has and every
// token they hold, and login refuses the user until then (429,
// Retry-After). Every further revocation in that
// window is already covered by it and writes nothing, and the user cannot
// mint anything new to revoke. So one user adds at most FeedBudgetPerUser
// + 1 feed items per window, whatever they call. Operators (the revoke
// function) are not counted.
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

// putRevocation writes r and counts it. by is the user whose request
// causes it, "" for an operator: a user past their budget gets one user
// entry up to the end of the budget window instead of r, which covers r.
// A budget that cannot be counted does not stop the revocation.
func (s *Service) putRevocation(ctx context.Context, r Revocation, by string) error {
	if s.Budget != nil && by != "" {
		ok, end, err := s.Budget.TakeFeedBudget(ctx, by, string(r.Kind)+"#"+r.Value, s.opt.Now())
		switch {
		case err != nil:
			s.Logger.WarnContext(ctx, "revocation budget not counted; revoking anyway", "sub", by, "err", err)
		case !ok:
			cutoff := end.Add(escalationMargin)
			s.Logger.WarnContext(ctx, "revocation budget spent: every session of the user ends", "sub", by,
				"kind", string(r.Kind), "until", cutoff)
			r = NewRevocation(RevokeUser, by, cutoff, escalatedReason)
			s.Metrics.Escalated()
		}
	}
	err := s.Revocations.PutRevocation(ctx, r)
	if errors.Is(err, ErrFeedLate) {
		// The entry stands (strict mode, refresh and introspection see it
		// now); the replicas get it through the table's stream. A retry
		// would find the entry and write nothing: success, logged.
		s.Logger.ErrorContext(ctx, "revocation stored, feed write failed: the stream delivers it", "kind", string(r.Kind), "err", err)
		err = nil
	}
	if err != nil {
		return err
	}
	s.Metrics.Revoked(r.Kind)
	return nil
}

// RevokeRequest is the operator's console event: exactly one of JTI,
// SessionID, UserID and All.
type RevokeRequest struct {
	JTI       string `json:"jti,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	// All: the global cutoff (RevokeAll), every session of every user
	// started until now, with every token they issued.
	All    bool   `json:"all,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Revoke writes a revocation entry for one access token, one session (and
// ends it), one user (and ends all their sessions) or everyone (the global
// cutoff: every session and access token issued until now ends; a login
// after it starts a live session).
func (s *Service) Revoke(ctx context.Context, req RevokeRequest) (Revocation, error) {
	n := 0
	for _, v := range []string{req.JTI, req.SessionID, req.UserID} {
		if v != "" {
			n++
			if !plainID(v) {
				return Revocation{}, fmt.Errorf("%w: ids are 1-256 printable characters", ErrInvalidRequest)
			}
		}
	}
	if req.All {
		n++
	}
	if n != 1 {
		return Revocation{}, fmt.Errorf("%w: give exactly one of jti, session_id, user_id, all", ErrInvalidRequest)
	}
	if len(req.Reason) > 500 {
		return Revocation{}, fmt.Errorf("%w: reason is at most 500 bytes", ErrInvalidRequest)
	}
	reason := req.Reason
	if reason == "" {
		reason = "operator"
	}
	now := s.opt.Now()
	switch {
	case req.JTI != "":
		r := NewRevocation(RevokeToken, req.JTI, now, reason)
		if err := s.putRevocation(ctx, r, ""); err != nil {
			return Revocation{}, unavailable("revoke token", err)
		}
		return r, nil
	case req.SessionID != "":
		if err := s.endSession(ctx, req.SessionID, reason, now, ""); err != nil {
			return Revocation{}, err
		}
		return NewRevocation(RevokeSession, req.SessionID, now, reason), nil
	case req.All:
		r := NewRevocation(RevokeAll, AllValue, now, reason)
		if err := s.putRevocation(ctx, r, ""); err != nil {
			return Revocation{}, unavailable("revoke every session", err)
		}
		s.Logger.InfoContext(ctx, "revoke-all: every session started until now ended", "cutoff", now.UTC(), "reason", reason)
		return r, nil
	default:
		return s.revokeUser(ctx, req.UserID, reason, "")
	}
}

func plainID(v string) bool {
	if len(v) > 256 {
		return false
	}
	for _, r := range v {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}
