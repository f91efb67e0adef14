package auth

import (
	"errors"
	"fmt"
	"reflect"
	"time"
)

// Errors the service returns; shared/apigw maps each to one status and code.
var (
	ErrInvalidCredentials  = errors.New("invalid username or password")
	ErrInvalidRefreshToken = errors.New("refresh token is invalid, expired or revoked")
	ErrRefreshConflict     = errors.New("refresh token was just rotated by a concurrent request")
	// ErrRefreshTokenReused comes with ErrInvalidRefreshToken when the
	// token presented was rotated out: its session is revoked (RFC 9700
	// 4.14.2). The client sees the same answer; metrics and alarms tell.
	ErrRefreshTokenReused = errors.New("refresh token reused: its session is revoked")
	ErrInvalidToken       = errors.New("access token is invalid")
	ErrRevoked            = errors.New("access token is revoked")
	ErrInvalidRequest     = errors.New("invalid request")
	// ErrSessionNotFound: no session of the caller has that id (it may be
	// another user's: the two are not told apart).
	ErrSessionNotFound = errors.New("no such session")
	// ErrUnavailable wraps failures of DynamoDB or KMS: the request may work later.
	ErrUnavailable = errors.New("a dependency is unavailable")
	// ErrFeedLate comes from Revocations.PutRevocation when the entry was
	// written but its revocation feed item was not: the Revocations
	// table's stream puts it into the feed (a few seconds later instead of
	// at once). The revocation stands; a retry would write nothing more.
	ErrFeedLate = errors.New("revocation stored; the feed gets it from the table's stream")
	// ErrRotationConflict is returned by Sessions.RotateSession when the
	// condition did not hold.
	ErrRotationConflict = errors.New("session changed concurrently")
)

// ThrottledError is returned by Login while an account is locked out, or
// while the user's revocation cutoff is in the near future (an escalated
// revocation budget, FeedBudgetPerUser).
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("login refused for now, retry after %s", e.RetryAfter)
}

// unavailable marks err as a dependency failure, keeping it for logs.
func unavailable(what string, err error) error {
	return fmt.Errorf("%s: %w", what, errors.Join(ErrUnavailable, err))
}

// required panics when a flow is built without one of its dependencies:
// a wiring mistake, caught when the function starts (shared/app's tests
// build every function), never left to a nil pointer at a request.
func required(flow string, deps ...any) {
	for i, d := range deps {
		v := reflect.ValueOf(d)
		nilValue := !v.IsValid()
		if !nilValue {
			switch v.Kind() {
			case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Func, reflect.Slice, reflect.Chan:
				nilValue = v.IsNil()
			}
		}
		if nilValue {
			panic(fmt.Sprintf("auth: New%s: dependency %d of %d is nil", flow, i+1, len(deps)))
		}
	}
}
