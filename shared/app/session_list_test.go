package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/apigw"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
)

// danaAndEve is the service with two users, dana and eve.
func danaAndEve(t *testing.T) *service {
	t.Helper()
	env := testenv.New(t)
	env.CreateUser(t, "dana", "dana's password")
	env.CreateUser(t, "eve", "eve's password")
	return newService(t, env)
}

// loginFrom logs in with a User-Agent, as a browser's login arrives.
func (s *service) loginFrom(t *testing.T, username, password, userAgent string) tokens {
	t.Helper()
	req := loginEvent(t, username, password)
	req.Headers["user-agent"] = userAgent
	req.RequestContext.HTTP.UserAgent = userAgent
	resp := call(t, s.login, req)
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Body)
	}
	return s.readTokens(t, resp)
}

// as is the request of fixture name as the holder of access sends it,
// after the authorizer allowed it.
func (s *service) as(t *testing.T, access, name string) apigw.Request {
	t.Helper()
	ok, authCtx := s.authorize(t, access)
	if !ok {
		t.Fatal("the caller's access token was denied")
	}
	return protected(t, name, authCtx)
}

// sessionsOf lists the sessions as the caller holding access sees them.
func (s *service) sessionsOf(t *testing.T, access string) apigw.SessionsResponse {
	t.Helper()
	resp := call(t, s.sessionList, s.as(t, access, "sessions"))
	if resp.StatusCode != 200 {
		t.Fatalf("GET /auth/sessions: %d %s", resp.StatusCode, resp.Body)
	}
	var out apigw.SessionsResponse
	if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
		t.Fatalf("GET /auth/sessions body %q: %v", resp.Body, err)
	}
	return out
}

// endSessionAs sends DELETE /auth/sessions/{id} as the caller holding access.
func (s *service) endSessionAs(t *testing.T, access, id string) apigw.Response {
	t.Helper()
	req := s.as(t, access, "end-session")
	req.PathParameters = map[string]string{"id": id}
	req.RawPath = "/auth/sessions/" + id
	return call(t, s.endSession, req)
}

func sessionIDs(list apigw.SessionsResponse) []string {
	var ids []string
	for _, d := range list.Sessions {
		ids = append(ids, d.ID)
	}
	return ids
}

// TestSessionList: the caller sees their live sessions, newest first, with
// the User-Agent each login gave (bounded, control characters dropped),
// their own marked current; never a token or a hash; never another user's
// sessions; and at one Query of the index plus one read of revocations.
func TestSessionList(t *testing.T) {
	s := danaAndEve(t)

	laptop := s.loginFrom(t, "dana", "dana's password", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
	s.clock.Advance(time.Second)
	long := "Phone\x00\x1b[31m " + strings.Repeat("é", 400)
	phone := s.loginFrom(t, "dana", "dana's password", long)
	s.clock.Advance(time.Second)
	s.loginFrom(t, "eve", "eve's password", "Eve's browser")

	_, authCtx := s.authorize(t, laptop.Access)
	s.calls.Reset()
	resp := call(t, s.sessionList, protected(t, "sessions", authCtx))
	if got := s.calls.Service("DynamoDB"); got != 2 || s.calls.Op("DynamoDB.Query") != 1 || s.calls.Op("DynamoDB.BatchGetItem") != 1 || s.calls.Op("DynamoDB.Scan") != 0 {
		t.Errorf("AWS calls %s, want one Query and one BatchGetItem", s.calls)
	}
	var list apigw.SessionsResponse
	if err := json.Unmarshal([]byte(resp.Body), &list); err != nil {
		t.Fatal(err)
	}
	want := []string{phone.Refresh[:32], laptop.Refresh[:32]} // newest first
	if got := sessionIDs(list); strings.Join(got, ",") != strings.Join(want, ",") || list.Truncated {
		t.Fatalf("sessions %v (truncated %v), want %v", got, list.Truncated, want)
	}
	if !list.Sessions[1].Current || list.Sessions[0].Current {
		t.Errorf("current marks %v, %v: want the laptop's (the caller's sid)", list.Sessions[0].Current, list.Sessions[1].Current)
	}
	if ua := list.Sessions[1].UserAgent; ua != "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0" {
		t.Errorf("laptop user agent %q", ua)
	}
	ua := list.Sessions[0].UserAgent
	if len(ua) > auth.MaxUserAgentLen || !strings.HasPrefix(ua, "Phone[31m é") || strings.ContainsAny(ua, "\x00\x1b") {
		t.Errorf("phone user agent %q (%d bytes): want at most %d bytes, control characters dropped", ua, len(ua), auth.MaxUserAgentLen)
	}
	now := s.clock.Now()
	for _, d := range list.Sessions {
		if d.ClientID != "web" || d.CreatedAt.After(now) || d.LastUsedAt.Before(d.CreatedAt) || !d.ExpiresAt.After(now) {
			t.Errorf("session %+v: times or client wrong (now %v)", d, now)
		}
	}
	// A refresh moves last_used_at; the list reads it from the index.
	s.clock.Advance(time.Minute)
	next := s.readTokens(t, s.refreshWith(t, phone.Refresh))
	list = s.sessionsOf(t, next.Access)
	if !list.Sessions[0].LastUsedAt.Equal(s.clock.Now().UTC().Truncate(time.Millisecond)) || !list.Sessions[0].Current {
		t.Errorf("after a refresh: %+v, want last used now (%v) and current", list.Sessions[0], s.clock.Now())
	}

	// Nothing secret in the answer: no token, no hash.
	for _, secret := range []string{laptop.Refresh, laptop.Refresh[33:], phone.Refresh[33:], laptop.Access, "hash", "retired"} {
		if strings.Contains(resp.Body, secret) {
			t.Errorf("the session list carries %q: %s", secret, resp.Body)
		}
	}
}

// TestEndSession: a user ends another of their devices from the list: its
// refresh token and access tokens stop at once and it leaves the list;
// another user's session id, a missing one and a malformed one change
// nothing and get 404 or 400; ending the caller's own session also clears
// the cookie; sessions ended by a logout-all are not listed.
func TestEndSession(t *testing.T) {
	s := danaAndEve(t)
	laptop := s.loginFrom(t, "dana", "dana's password", "laptop")
	phone := s.loginFrom(t, "dana", "dana's password", "phone")
	eve := s.loginFrom(t, "eve", "eve's password", "eve")

	t.Run("another user's session is not found and lives on", func(t *testing.T) {
		resp := s.endSessionAs(t, laptop.Access, eve.Refresh[:32])
		if resp.StatusCode != 404 || errorCode(t, resp) != "session_not_found" {
			t.Fatalf("DELETE eve's session as dana: %d %s", resp.StatusCode, resp.Body)
		}
		missing := "AAABmshq-IjhYozUwxVfazvW8lwlLuGt"
		if resp := s.endSessionAs(t, laptop.Access, missing); resp.StatusCode != 404 || resp.Body != s.endSessionAs(t, laptop.Access, eve.Refresh[:32]).Body {
			t.Errorf("a missing session: %d %s, want the same 404 as another user's", resp.StatusCode, resp.Body)
		}
		if ok, _ := s.authorize(t, eve.Access); !ok {
			t.Error("eve's access token denied after dana tried to end her session")
		}
		if r := s.refreshWith(t, eve.Refresh); r.StatusCode != 200 {
			t.Errorf("eve's refresh: %d", r.StatusCode)
		}
	})
	t.Run("malformed ids", func(t *testing.T) {
		for _, id := range []string{"", "x", strings.Repeat("A", 33), "../../auth/sessions", laptop.Refresh} {
			resp := s.endSessionAs(t, laptop.Access, id)
			if resp.StatusCode != 400 || errorCode(t, resp) != "invalid_request" {
				t.Errorf("id %q: %d %s, want 400 invalid_request", id, resp.StatusCode, resp.Body)
			}
		}
	})
	t.Run("another device of the caller", func(t *testing.T) {
		resp := s.endSessionAs(t, laptop.Access, phone.Refresh[:32])
		if resp.StatusCode != 204 || len(resp.Cookies) != 0 {
			t.Fatalf("DELETE the phone's session: %d %v %s (another device's end clears no cookie here)", resp.StatusCode, resp.Cookies, resp.Body)
		}
		if ok, _ := s.authorize(t, phone.Access); ok {
			t.Error("the ended device's access token is still allowed")
		}
		if r := s.refreshWith(t, phone.Refresh); r.StatusCode != 401 {
			t.Errorf("the ended device's refresh: %d, want 401", r.StatusCode)
		}
		if got := sessionIDs(s.sessionsOf(t, laptop.Access)); len(got) != 1 || got[0] != laptop.Refresh[:32] {
			t.Errorf("list after ending the phone: %v, want the laptop only", got)
		}
		// Again, and again: 204, and nothing written (the revocation feed
		// every authorizer reads does not grow with repeated requests).
		s.calls.Reset()
		for range 3 {
			if resp := s.endSessionAs(t, laptop.Access, phone.Refresh[:32]); resp.StatusCode != 204 {
				t.Errorf("ending it again: %d, want 204", resp.StatusCode)
			}
		}
		if w := s.calls.Op("DynamoDB.PutItem") + s.calls.Op("DynamoDB.UpdateItem"); w != 0 {
			t.Errorf("ending an ended session wrote %d items: %s", w, s.calls)
		}
	})
	t.Run("the caller's own session", func(t *testing.T) {
		resp := s.endSessionAs(t, laptop.Access, laptop.Refresh[:32])
		if resp.StatusCode != 204 || !strings.Contains(strings.Join(resp.Cookies, ";"), "Max-Age=0") {
			t.Fatalf("DELETE own session: %d %v, want 204 and the cookie cleared", resp.StatusCode, resp.Cookies)
		}
		if ok, _ := s.authorize(t, laptop.Access); ok {
			t.Error("own access token still allowed")
		}
	})
	t.Run("logout-all ends listed sessions", func(t *testing.T) {
		a := s.loginFrom(t, "dana", "dana's password", "a")
		s.loginFrom(t, "dana", "dana's password", "b")
		_, authCtx := s.authorize(t, a.Access)
		if resp := call(t, s.logoutAll, protected(t, "logout-all", authCtx)); resp.StatusCode != 204 {
			t.Fatalf("logout-all: %d", resp.StatusCode)
		}
		s.clock.Advance(time.Millisecond)
		c := s.loginFrom(t, "dana", "dana's password", "c")
		if got := sessionIDs(s.sessionsOf(t, c.Access)); len(got) != 1 || got[0] != c.Refresh[:32] {
			t.Errorf("list after logout-all and a new login: %v, want only %s", got, c.Refresh[:32])
		}
	})
	if logs := s.logs.String(); strings.Contains(logs, laptop.Refresh[33:]) || strings.Contains(logs, phone.Access) {
		t.Error("a token reached the logs")
	}
}

// TestSessionListIndexIsSparse: a session leaves the session list's index
// when it is marked ended, so ended sessions, however many and however
// new, never push a live one out of the list's one Query page; a session
// without live_user (started before the session list) is not listed until
// its next refresh puts it back.
func TestSessionListIndexIsSparse(t *testing.T) {
	s := danaAndEve(t)
	old := s.loginFrom(t, "dana", "dana's password", "the old laptop")
	var ended []string
	for range 5 {
		s.clock.Advance(time.Second)
		tk := s.loginFrom(t, "dana", "dana's password", "a session ended at once")
		if resp := s.logoutWith(t, tk.Refresh); resp.StatusCode != 204 {
			t.Fatalf("logout: %d %s", resp.StatusCode, resp.Body)
		}
		ended = append(ended, tk.Refresh[:32])
	}
	reuse := s.loginFrom(t, "dana", "dana's password", "a session ended by reuse")
	s.refreshWith(t, reuse.Refresh)
	s.clock.Advance(time.Minute) // past the grace window: reuse ends it
	if resp := s.refreshWith(t, reuse.Refresh); resp.StatusCode != 401 {
		t.Fatalf("reuse: %d", resp.StatusCode)
	}
	ended = append(ended, reuse.Refresh[:32])
	_, authCtx := s.authorize(t, old.Access)
	user := authCtx["sub"].(string)

	inIndex := func() []string {
		t.Helper()
		out, err := s.env.DB.Query(context.Background(), &dynamodb.QueryInput{
			TableName: &s.env.Tables.Sessions, IndexName: new(dynamo.UserSessionsIndex),
			KeyConditionExpression:    new("live_user = :u"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberS{Value: user}},
		})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, it := range out.Items {
			ids = append(ids, it["session_id"].(*types.AttributeValueMemberS).Value)
		}
		return ids
	}
	if got := inIndex(); len(got) != 1 || got[0] != old.Refresh[:32] {
		t.Errorf("the index holds %v, want only the live session %s (ended: %v)", got, old.Refresh[:32], ended)
	}
	if got := sessionIDs(s.sessionsOf(t, old.Access)); len(got) != 1 || got[0] != old.Refresh[:32] {
		t.Errorf("listed %v, want %s", got, old.Refresh[:32])
	}

	// A session from before the session list: no live_user.
	if _, err := s.env.DB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: &s.env.Tables.Sessions, Key: map[string]types.AttributeValue{"session_id": &types.AttributeValueMemberS{Value: old.Refresh[:32]}},
		UpdateExpression: new("REMOVE live_user"),
	}); err != nil {
		t.Fatal(err)
	}
	if got := sessionIDs(s.sessionsOf(t, old.Access)); len(got) != 0 {
		t.Errorf("a session without live_user listed: %v", got)
	}
	s.clock.Advance(time.Second)
	next := s.readTokens(t, s.refreshWith(t, old.Refresh))
	if got := sessionIDs(s.sessionsOf(t, next.Access)); len(got) != 1 || got[0] != old.Refresh[:32] {
		t.Errorf("after its refresh: %v, want %s listed again", got, old.Refresh[:32])
	}
}
