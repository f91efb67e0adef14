package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
)

// TestLostRefreshAnswer: the refresh's rotation reaches DynamoDB and is
// applied, but its answer is lost on the way back: held past the deadline,
// replaced by a 500, or cut by a connection reset; once (the SDK's own retry
// then meets the condition) or every time. Whatever the client saw (200,
// 503), it retries with the refresh token it holds and gets a working one,
// in cookie and in body mode: the session stays one chain (one rotation,
// the stored hash is the token handed out), nothing is revoked, and the
// token handed out refreshes again.
func TestLostRefreshAnswer(t *testing.T) {
	env := testenv.New(t)
	env.Set("REFRESH_REUSE_GRACE", "2s") // the rotation write gets 1 s
	env.CreateUser(t, "lena", "a long enough password")
	db := testenv.NewFaultProxy(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", db.URL)
	s := newService(t, env)

	for _, mode := range []testenv.Mode{testenv.AfterHang, testenv.AfterError, testenv.AfterDrop} {
		for _, once := range []bool{true, false} {
			for _, inBody := range []bool{false, true} {
				name := mode.String() + map[bool]string{true: "/once", false: "/every-time"}[once] +
					map[bool]string{true: "/body", false: "/cookie"}[inBody]
				t.Run(name, func(t *testing.T) {
					held := s.loginFor(t, "lena", "a long enough password", inBody)
					db.Set(testenv.Fault{Mode: mode, Op: "UpdateItem", Table: env.Tables.Sessions, Once: once})
					first := callBefore(t, s.refresh, s.refreshFor(t, held, inBody))
					db.Reset()
					if first.StatusCode != 200 && first.StatusCode != 503 {
						t.Fatalf("refresh whose answer was lost: %d %s, want 200 or 503", first.StatusCode, first.Body)
					}
					if first.StatusCode == 503 {
						want503(t, "refresh whose answer was lost", first)
					}

					// The client retries with the token it holds, a moment later.
					s.clock.Advance(time.Second)
					retry := call(t, s.refresh, s.refreshFor(t, held, inBody))
					if retry.StatusCode != 200 {
						t.Fatalf("retry after %d: %d %s, want 200", first.StatusCode, retry.StatusCode, retry.Body)
					}
					next := s.refreshTokenOf(t, retry, inBody)
					if first.StatusCode == 200 && s.refreshTokenOf(t, first, inBody) != next {
						t.Fatal("the retry got another refresh token than the first answer: the session forked")
					}
					sess, err := env.Store.Session(t.Context(), held[:32])
					if err != nil || sess == nil {
						t.Fatalf("session: %v", err)
					}
					h, prev := sha256.Sum256([]byte(next)), sha256.Sum256([]byte(held))
					if !sess.RevokedAt.IsZero() || !bytes.Equal(sess.TokenHash, h[:]) || !bytes.Equal(sess.PrevHash, prev[:]) || len(sess.Retired) != 1 {
						t.Fatalf("session after the retry: revoked %v, %d rotations; want live, one rotation to the token handed out",
							sess.RevokedAt, len(sess.Retired))
					}
					if ok, _ := s.authorize(t, s.readAccess(t, retry)); !ok {
						t.Fatal("the retry's access token is denied")
					}
					s.clock.Advance(time.Minute)
					if again := call(t, s.refresh, s.refreshFor(t, next, inBody)); again.StatusCode != 200 {
						t.Fatalf("the token handed out by the retry: %d %s", again.StatusCode, again.Body)
					}
				})
			}
		}
	}
}

// TestLostRefreshAnswerRetriedTooLate: the grace window bounds the
// recovery. A client that retries only after it has passed presents a
// rotated-out token, indistinguishable from a stolen one (RFC 9700 4.14.2):
// the session is revoked.
func TestLostRefreshAnswerRetriedTooLate(t *testing.T) {
	env := testenv.New(t)
	env.Set("REFRESH_REUSE_GRACE", "2s")
	env.CreateUser(t, "lena", "a long enough password")
	db := testenv.NewFaultProxy(t, os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", db.URL)
	s := newService(t, env)

	held := s.loginFor(t, "lena", "a long enough password", false)
	db.Set(testenv.Fault{Mode: testenv.AfterError, Op: "UpdateItem", Table: env.Tables.Sessions})
	want503(t, "refresh whose answer was lost", callBefore(t, s.refresh, s.refreshFor(t, held, false)))
	db.Reset()
	s.clock.Advance(3 * time.Second)
	if resp := call(t, s.refresh, s.refreshFor(t, held, false)); resp.StatusCode != 401 {
		t.Fatalf("retry after the grace window: %d %s, want 401", resp.StatusCode, resp.Body)
	}
	if sess, _ := env.Store.Session(t.Context(), held[:32]); sess == nil || sess.RevokedAt.IsZero() {
		t.Fatal("a rotated-out token after the grace window did not revoke the session")
	}
}

// loginFor logs in and returns the refresh token, from the cookie or (for
// a client that is not a browser) from the body.
func (s *service) loginFor(t *testing.T, username, pw string, inBody bool) string {
	t.Helper()
	req := loginEvent(t, username, pw)
	if inBody {
		delete(req.Headers, "origin")
		b, _ := json.Marshal(map[string]any{"username": username, "password": pw, "refresh_token_in_body": true})
		req.Body = string(b)
	}
	resp := call(t, s.login, req)
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Body)
	}
	return s.refreshTokenOf(t, resp, inBody)
}

// refreshFor is a refresh request carrying refresh as a browser (cookie,
// Origin) or another client (JSON body) sends it.
func (s *service) refreshFor(t *testing.T, refresh string, inBody bool) apigw.Request {
	t.Helper()
	if !inBody {
		return s.refreshRequest(t, refresh)
	}
	req := httpEvent(t, "refresh")
	req.Cookies = nil
	req.Headers = map[string]string{"content-type": "application/json"}
	req.Body = `{"refresh_token":"` + refresh + `"}`
	return req
}

func (s *service) refreshTokenOf(t *testing.T, resp apigw.Response, inBody bool) string {
	t.Helper()
	if !inBody {
		v := cookieValue(t, resp, s.env.Getenv("REFRESH_COOKIE_NAME"))
		if v == "" {
			t.Fatalf("no refresh cookie in %d %s", resp.StatusCode, resp.Body)
		}
		return v
	}
	var body apigw.TokenResponse
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.RefreshToken == "" || len(resp.Cookies) != 0 {
		t.Fatalf("no refresh token in the body of %d %s (cookies %v)", resp.StatusCode, resp.Body, resp.Cookies)
	}
	return body.RefreshToken
}

func (s *service) readAccess(t *testing.T, resp apigw.Response) string {
	t.Helper()
	var body apigw.TokenResponse
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.AccessToken == "" {
		t.Fatalf("no access token in %d %s", resp.StatusCode, resp.Body)
	}
	return body.AccessToken
}
