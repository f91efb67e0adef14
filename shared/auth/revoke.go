package auth

import (
	"context"
	"fmt"
	"unicode"
)

// LogoutAll ends every session of a user, on every device, and every access
// token already issued to them, with one write whatever the number of
// sessions: a user revocation entry. The authorizer denies any token whose
// session started at or before it; refresh refuses those sessions too.
func (s *Service) LogoutAll(ctx context.Context, userID string) (Revocation, error) {
	r, err := s.revokeUser(ctx, userID, "logout-all")
	if err != nil {
		return Revocation{}, err
	}
	s.Logger.InfoContext(ctx, "logout-all", "sub", userID)
	return r, nil
}

func (s *Service) revokeUser(ctx context.Context, userID, reason string) (Revocation, error) {
	now := s.opt.Now()
	r := NewRevocation(RevokeUser, userID, now, reason)
	if err := s.putRevocation(ctx, r); err != nil {
		return Revocation{}, unavailable("revoke user", err)
	}
	return r, nil
}

// putRevocation writes r and counts it.
func (s *Service) putRevocation(ctx context.Context, r Revocation) error {
	if err := s.Revocations.PutRevocation(ctx, r); err != nil {
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
		if err := s.putRevocation(ctx, r); err != nil {
			return Revocation{}, unavailable("revoke token", err)
		}
		return r, nil
	case req.SessionID != "":
		if err := s.endSession(ctx, req.SessionID, reason, now); err != nil {
			return Revocation{}, err
		}
		return NewRevocation(RevokeSession, req.SessionID, now, reason), nil
	case req.All:
		r := NewRevocation(RevokeAll, AllValue, now, reason)
		if err := s.putRevocation(ctx, r); err != nil {
			return Revocation{}, unavailable("revoke every session", err)
		}
		s.Logger.InfoContext(ctx, "revoke-all: every session started until now ended", "cutoff", now.UTC(), "reason", reason)
		return r, nil
	default:
		return s.revokeUser(ctx, req.UserID, reason)
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
