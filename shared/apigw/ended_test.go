package apigw

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/authkit/lambda-auth/shared/auth"
)

// TestSessionEndedInTheAnswer: refresh's 401 for a session that ended says
// how (session_ended), and nothing more than the plain 401 otherwise.
func TestSessionEndedInTheAnswer(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		err  error
		want string // "": no session_ended member
	}{
		{&auth.SessionEndedError{How: auth.EndedLogoutAll}, "logout-all"},
		{fmt.Errorf("refresh: %w", &auth.SessionEndedError{How: auth.EndedExpired}), "expired"},
		{auth.ErrInvalidRefreshToken, ""},
		{fmt.Errorf("%w: %w", auth.ErrInvalidRefreshToken, auth.ErrRefreshTokenReused), ""},
	} {
		r := Error(context.Background(), log, tc.err)
		var body map[string]any
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != 401 || body["error"] != "invalid_refresh_token" {
			t.Errorf("%v: %d %s, want 401 invalid_refresh_token", tc.err, r.StatusCode, r.Body)
		}
		got, present := body["session_ended"]
		if tc.want == "" && present || tc.want != "" && got != tc.want {
			t.Errorf("%v: body %s, want session_ended %q", tc.err, r.Body, tc.want)
		}
		if body["message"] != body["error_description"] {
			t.Errorf("%v: message %q differs from error_description %q", tc.err, body["message"], body["error_description"])
		}
	}
}
