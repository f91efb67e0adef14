package auth

import (
	"context"
	"fmt"
	"log/slog"
	"time"
	"unicode"
)

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

// Revoke is the operator's revocation, from the console: one access
// token, one session, one user, or everyone (the global cutoff).
type Revoke struct {
	revoker *Revoker
	end     *sessionEnder
	log     *slog.Logger
	now     func() time.Time
}

// NewRevoke builds the console's revoke flow. revoker is the operator's
// (NewOperatorRevoker): no user's budget pays for it.
func NewRevoke(sessions Sessions, revoker *Revoker, o Options) *Revoke {
	required("Revoke", sessions, revoker)
	o = o.withDefaults()
	return &Revoke{revoker: revoker, end: newSessionEnder(sessions, revoker, o), log: o.Logger, now: o.Now}
}

// Revoke writes a revocation entry for one access token, one session (and
// ends it), one user (and ends all their sessions) or everyone (the global
// cutoff: every session and access token issued until now ends; a login
// after it starts a live session).
func (v *Revoke) Revoke(ctx context.Context, req RevokeRequest) (Revocation, error) {
	if err := req.check(); err != nil {
		return Revocation{}, err
	}
	reason := req.Reason
	if reason == "" {
		reason = "operator"
	}
	now := v.now()
	switch {
	case req.JTI != "":
		r := NewRevocation(RevokeToken, req.JTI, now, reason)
		if err := v.revoker.put(ctx, r, ""); err != nil {
			return Revocation{}, unavailable("revoke token", err)
		}
		return r, nil
	case req.SessionID != "":
		if err := v.end.end(ctx, req.SessionID, reason, now, ""); err != nil {
			return Revocation{}, err
		}
		return NewRevocation(RevokeSession, req.SessionID, now, reason), nil
	case req.All:
		r := NewRevocation(RevokeAll, AllValue, now, reason)
		if err := v.revoker.put(ctx, r, ""); err != nil {
			return Revocation{}, unavailable("revoke every session", err)
		}
		v.log.InfoContext(ctx, "revoke-all: every session started until now ended", "cutoff", now.UTC(), "reason", reason)
		return r, nil
	default:
		return v.revoker.revokeUser(ctx, req.UserID, reason, "")
	}
}

// check refuses a request that names not exactly one thing, or with ids
// or a reason no operator types.
func (req RevokeRequest) check() error {
	n := 0
	for _, v := range []string{req.JTI, req.SessionID, req.UserID} {
		if v != "" {
			n++
			if !plainID(v) {
				return fmt.Errorf("%w: ids are 1-256 printable characters", ErrInvalidRequest)
			}
		}
	}
	if req.All {
		n++
	}
	if n != 1 {
		return fmt.Errorf("%w: give exactly one of jti, session_id, user_id, all", ErrInvalidRequest)
	}
	if len(req.Reason) > 500 {
		return fmt.Errorf("%w: reason is at most 500 bytes", ErrInvalidRequest)
	}
	return nil
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
