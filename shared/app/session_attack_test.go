package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
)

// TestTokensAreNotInterchangeable: an access token is refused where a
// refresh token is expected, in the cookie or in the body, and logging out
// with one ends nothing. (A refresh token presented as an access token is
// a row of TestAuthorizerRefusesForgedTokens.)
func TestTokensAreNotInterchangeable(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "yann", "a long enough password")
	s := newService(t, env)
	tok := s.doLogin(t, "yann", "a long enough password")

	if resp := s.refreshWith(t, tok.Access); resp.StatusCode != 401 || errorCode(t, resp) != "invalid_refresh_token" {
		t.Errorf("access token in the refresh cookie: %d %s, want 401 invalid_refresh_token", resp.StatusCode, resp.Body)
	}
	body := httpEvent(t, "refresh")
	body.Cookies, body.Headers = nil, map[string]string{"content-type": "application/json"}
	body.Body = `{"refresh_token":"` + tok.Access + `"}`
	if resp := call(t, s.refresh, body); resp.StatusCode != 401 || errorCode(t, resp) != "invalid_refresh_token" {
		t.Errorf("access token in the refresh body: %d %s, want 401 invalid_refresh_token", resp.StatusCode, resp.Body)
	}
	if resp := s.logoutWith(t, tok.Access); resp.StatusCode != 204 {
		t.Errorf("logout with an access token: %d %s", resp.StatusCode, resp.Body)
	}
	if ok, _ := s.authorize(t, tok.Access); !ok {
		t.Error("logging out with an access token ended its session")
	}
	if resp := s.refreshWith(t, tok.Refresh); resp.StatusCode != 200 {
		t.Errorf("refresh token after the confused requests: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestForgedRefreshTokensTouchNoSession: refresh tokens of the right length
// and shape that the service never issued, naming another user's real
// session (its id is in every access token of that session) or no session,
// get 401 from refresh and end nothing through logout. The victim's session
// record is unchanged to the last attribute, no revocation entry is
// written, and the victim goes on refreshing.
func TestForgedRefreshTokensTouchNoSession(t *testing.T) {
	env := testenv.New(t)
	env.CreateUser(t, "vera", "the victim's password")
	env.CreateUser(t, "mallory", "the attacker's password")
	s := newService(t, env)
	ctx := context.Background()
	victim := s.doLogin(t, "vera", "the victim's password")
	attacker := s.doLogin(t, "mallory", "the attacker's password")
	victimSID := victim.Refresh[:32]
	before, err := env.Store.Session(ctx, victimSID)
	if err != nil || before == nil {
		t.Fatalf("victim session: %v", err)
	}

	random := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	// A well-formed session id of a session that does not exist.
	sid := make([]byte, 24)
	binary.BigEndian.PutUint64(sid, uint64(time.Now().UnixMilli()))
	rand.Read(sid[8:])
	noSession := base64.RawURLEncoding.EncodeToString(sid)

	forged := map[string]string{
		"victim's session, random secret":          victimSID + "." + random(32),
		"victim's session, attacker's secret":      victimSID + "." + attacker.Refresh[33:],
		"victim's session, victim's secret edited": victimSID + "." + flipChar(victim.Refresh[33:]),
		"no such session, random secret":           noSession + "." + random(32),
	}
	for name, tok := range forged {
		if len(tok) != len(victim.Refresh) {
			t.Fatalf("%s: %d characters, want %d", name, len(tok), len(victim.Refresh))
		}
		if resp := s.refreshWith(t, tok); resp.StatusCode != 401 || errorCode(t, resp) != "invalid_refresh_token" {
			t.Errorf("refresh with %s: %d %s, want 401 invalid_refresh_token", name, resp.StatusCode, resp.Body)
		}
		if resp := s.logoutWith(t, tok); resp.StatusCode != 204 {
			t.Errorf("logout with %s: %d %s", name, resp.StatusCode, resp.Body)
		}
	}

	after, err := env.Store.Session(ctx, victimSID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("victim's session changed:\nbefore %+v\nafter  %+v", before, after)
	}
	var claims struct{ Sub string }
	p, _ := b64(strings.Split(victim.Access, ".")[1])
	json.Unmarshal(p, &claims)
	if revs, err := env.Store.Revocations(ctx, "-", victimSID, claims.Sub); err != nil || len(revs) != 0 {
		t.Errorf("revocation entries written for the victim: %+v %v", revs, err)
	}
	if ok, _ := s.authorize(t, victim.Access); !ok {
		t.Error("victim's access token denied after the forgeries")
	}
	if resp := s.refreshWith(t, victim.Refresh); resp.StatusCode != 200 {
		t.Errorf("victim's refresh after the forgeries: %d %s", resp.StatusCode, resp.Body)
	}
}

// TestRefreshRefusedOnceSessionEnds: every way a session ends that other
// tests do not already walk through makes its refresh token answer 401
// invalid_refresh_token, and the browser's cookie is cleared. (Logout,
// reuse, logout-all, expiry, idle timeout and a disabled user: see
// TestEventFixtures, TestReuseGraceWindow, TestEndToEnd,
// TestSessionLifetimes and TestDisabledUser.)
func TestRefreshRefusedOnceSessionEnds(t *testing.T) {
	env := testenv.New(t)
	s := newService(t, env)
	ctx := context.Background()
	deleteUser := func(t *testing.T, name string) {
		_, err := env.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &env.Tables.Users,
			Key: map[string]types.AttributeValue{"username": &types.AttributeValueMemberS{Value: name}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for name, end := range map[string]func(t *testing.T, user string, tok tokens){
		"operator revoked the session": func(t *testing.T, _ string, tok tokens) {
			if _, err := s.revoke(ctx, []byte(`{"session_id":"`+tok.Refresh[:32]+`","reason":"lost phone"}`)); err != nil {
				t.Fatal(err)
			}
		},
		"operator revoked the user": func(t *testing.T, _ string, tok tokens) {
			_, authCtx := s.authorize(t, tok.Access)
			if _, err := s.revoke(ctx, []byte(`{"user_id":"`+authCtx["sub"].(string)+`"}`)); err != nil {
				t.Fatal(err)
			}
		},
		"user deleted": func(t *testing.T, user string, _ tokens) { deleteUser(t, user) },
		"user_id removed by hand from the user and the session": func(t *testing.T, user string, tok tokens) {
			for table, key := range map[string]map[string]types.AttributeValue{
				env.Tables.Users:    {"username": &types.AttributeValueMemberS{Value: user}},
				env.Tables.Sessions: {"session_id": &types.AttributeValueMemberS{Value: tok.Refresh[:32]}},
			} {
				if _, err := env.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &table, Key: key,
					UpdateExpression: aws.String("REMOVE user_id")}); err != nil {
					t.Fatal(err)
				}
			}
		},
		"username given to a new user": func(t *testing.T, user string, _ tokens) {
			deleteUser(t, user)
			env.CreateUser(t, user, "a long enough password")
		},
	} {
		t.Run(name, func(t *testing.T) {
			user := strings.NewReplacer(" ", "-").Replace(name)
			env.CreateUser(t, user, "a long enough password")
			tok := s.doLogin(t, user, "a long enough password")
			s.clock.Advance(time.Second)
			end(t, user, tok)
			resp := s.refreshWith(t, tok.Refresh)
			if resp.StatusCode != 401 || errorCode(t, resp) != "invalid_refresh_token" {
				t.Fatalf("refresh: %d %s, want 401 invalid_refresh_token", resp.StatusCode, resp.Body)
			}
			if len(resp.Cookies) != 1 || !strings.Contains(resp.Cookies[0], "Max-Age=0") {
				t.Errorf("refresh cookie not cleared: %v", resp.Cookies)
			}
		})
	}
}

// logoutWith logs out with a refresh cookie from the allowed origin.
func (s *service) logoutWith(t *testing.T, refresh string) apigw.Response {
	t.Helper()
	req := httpEvent(t, "logout", "REPLACE_WITH_REFRESH_TOKEN", refresh)
	req.Headers["origin"] = "https://app.test.example"
	return call(t, s.logout, req)
}

// flipChar changes the first character of a base64url string to another
// valid one.
func flipChar(s string) string {
	c := byte('A')
	if s[0] == 'A' {
		c = 'B'
	}
	return string(c) + s[1:]
}
