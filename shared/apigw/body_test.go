package apigw

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestJSONBodyMemberNames: a body that two JSON parsers could read
// differently is refused with 400, one row per way of being ambiguous;
// bodies spelled exactly still decode.
func TestJSONBodyMemberNames(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string // "" : accepted
	}{
		{"exact", `{"username":"alice","password":"pw"}`, ""},
		{"exact with optional member", `{"username":"alice","password":"pw","refresh_token_in_body":true}`, ""},
		{"duplicate", `{"username":"alice","username":"bob","password":"pw"}`, "more than once"},
		{"duplicate after case folding", `{"username":"alice","Username":"bob","password":"pw"}`, "more than once"},
		{"duplicate after Unicode folding", `{"username":"alice","password":"pw","paſſword":"x"}`, "more than once"},
		{"duplicate through an escape", `{"username":"alice","\u0075sername":"bob","password":"pw"}`, "more than once"},
		{"case-folded name alone", `{"USERNAME":"alice","password":"pw"}`, "not spelled 'username'"},
		{"mixed-case name alone", `{"username":"alice","Password":"pw"}`, "not spelled 'password'"},
		{"Unicode-folded name alone", `{"username":"alice","paſſword":"pw"}`, "not spelled 'password'"},
		{"case-folded optional member", `{"username":"a","password":"b","Refresh_Token_In_Body":true}`, "not spelled 'refresh_token_in_body'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Body: tt.body}
			req.Headers = map[string]string{"content-type": "application/json"}
			var in loginRequest
			err := decodeJSON(req, &in, false)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("decodeJSON(%s) = %v, want nil", tt.body, err)
				}
				if in.Username != "alice" {
					t.Errorf("username = %q, want alice", in.Username)
				}
				return
			}
			var re *requestError
			if !errors.As(err, &re) || re.status != 400 || re.code != "invalid_request" {
				t.Fatalf("decodeJSON(%s) = %#v, want a 400 invalid_request", tt.body, err)
			}
			if !strings.Contains(re.message, tt.wantErr) {
				t.Errorf("message %q, want it to say %q", re.message, tt.wantErr)
			}
		})
	}
}

// TestErrorMessageIsDescription: message and error_description are the
// same text, also when the message quotes a name.
func TestErrorMessageIsDescription(t *testing.T) {
	for _, msg := range []string{`field "username" has the wrong type`, "plain", "tab\there", `back\slash`} {
		var got ErrorBody
		if err := json.Unmarshal([]byte(Fail(400, "invalid_request", msg).Body), &got); err != nil {
			t.Fatal(err)
		}
		if got.Message != got.ErrorDescription {
			t.Errorf("Fail(%q): message %q, error_description %q: want the same text", msg, got.Message, got.ErrorDescription)
		}
		if strings.ContainsAny(got.ErrorDescription, "\"\\\t") {
			t.Errorf("Fail(%q): error_description %q has characters RFC 6749 5.2 does not allow", msg, got.ErrorDescription)
		}
	}
}
