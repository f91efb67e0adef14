package app_test

import (
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// roleARN is the aws:PrincipalArn of a named role as a key policy spells
// it (the role's RoleName, a !Sub).
func roleARN(roleName string) string {
	return "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/" + roleName
}

// TestTotpKeyPolicy: TotpKey's key policy gives the least privilege an
// auditor expects, whatever IAM policies or grants say: the account keeps
// the key's administration (nobody is locked out); Decrypt is denied to
// every principal but the roles of the functions whose IAM policies use
// it (login, TOTP), Encrypt to all but the TOTP function's; both are
// denied without the encryption context kmssign.SecretBox always sends
// (purpose=totp and a user_id). The role names are those of the roles the
// functions run as, so renaming a role or moving a function to another
// fails here instead of locking users out.
func TestTotpKeyPolicy(t *testing.T) {
	resources := templateResources(t)
	// The principal ARN of the role each function runs as (named roles only).
	principal := func(function string) string {
		role := get(get(get(resources, function), "Properties"), "Role")
		if role == nil {
			t.Fatalf("%s has no named role: a key policy cannot name SAM's generated one without a cycle", function)
		}
		name := get(get(get(resources, strings.TrimSuffix(role.Value, ".Arn")), "Properties"), "RoleName")
		if name == nil {
			t.Fatalf("%s's role has no RoleName", function)
		}
		return roleARN(name.Value)
	}
	// Who uses the key, from the functions' IAM policies.
	users := map[string][]string{} // action -> principal ARNs
	for id, grants := range functionPolicies(t) {
		for _, g := range grants {
			if g.Resource == "TotpKey" {
				users[g.Action] = append(users[g.Action], principal(id))
			}
		}
	}
	login, totp := principal("LoginFunction"), principal("TotpFunction")
	for action, want := range map[string][]string{"kms:Decrypt": {login, totp}, "kms:Encrypt": {totp}} {
		slices.Sort(users[action])
		slices.Sort(want)
		if !slices.Equal(users[action], want) {
			t.Errorf("IAM grants %s on TotpKey to %q, want %q", action, users[action], want)
		}
	}

	type statement struct {
		effect, principal string
		actions           []string
		condition         *yaml.Node
	}
	var sts []statement
	for _, st := range get(get(get(get(resources, "TotpKey"), "Properties"), "KeyPolicy"), "Statement").Content {
		s := statement{effect: get(st, "Effect").Value, condition: get(st, "Condition")}
		if p := get(st, "Principal"); p.Kind == yaml.ScalarNode {
			s.principal = p.Value
		} else {
			s.principal = get(p, "AWS").Value
		}
		for _, a := range list(get(st, "Action")) {
			s.actions = append(s.actions, a.Value)
		}
		sts = append(sts, s)
	}
	// denied reports whether a request for action by principal (with
	// the encryption context ctx) meets a Deny statement of the policy.
	denied := func(action, principal string, ctx map[string]string) bool {
		for _, s := range sts {
			if s.effect != "Deny" || s.principal != "*" || !slices.Contains(s.actions, action) {
				continue
			}
			if s.condition == nil {
				return true
			}
			for i := 0; i+1 < len(s.condition.Content); i += 2 {
				op, body := s.condition.Content[i].Value, s.condition.Content[i+1]
				for j := 0; j+1 < len(body.Content); j += 2 {
					key, vals := body.Content[j].Value, list(body.Content[j+1])
					var values []string
					for _, v := range vals {
						values = append(values, v.Value)
					}
					ctxKey, isCtx := strings.CutPrefix(key, "kms:EncryptionContext:")
					switch {
					case op == "ArnNotEquals" && key == "aws:PrincipalArn":
						if !slices.Contains(values, principal) {
							return true
						}
					case op == "StringNotEquals" && isCtx:
						if v, ok := ctx[ctxKey]; !ok || !slices.Contains(values, v) {
							return true
						}
					case op == "Null" && isCtx && slices.Equal(values, []string{"true"}):
						if _, ok := ctx[ctxKey]; !ok {
							return true
						}
					default:
						t.Fatalf("a condition this test does not read: %s %s", op, key)
					}
				}
			}
		}
		return false
	}
	admin := roleARN("${AWS::StackName}-admin") // any other principal of the account
	good := map[string]string{"purpose": "totp", "user_id": "u1"}
	for _, row := range []struct {
		action, principal string
		ctx               map[string]string
		want              bool
	}{
		{"kms:Decrypt", login, good, false},
		{"kms:Decrypt", totp, good, false},
		{"kms:Encrypt", totp, good, false},
		{"kms:Encrypt", login, good, true}, // login checks codes, never seals
		{"kms:Decrypt", admin, good, true},
		{"kms:Encrypt", admin, good, true},
		{"kms:ReEncryptFrom", admin, good, true},
		{"kms:GenerateDataKey", admin, good, true},
		{"kms:Decrypt", login, map[string]string{"user_id": "u1"}, true},
		{"kms:Decrypt", login, map[string]string{"purpose": "other", "user_id": "u1"}, true},
		{"kms:Encrypt", totp, map[string]string{"purpose": "totp"}, true},
		{"kms:PutKeyPolicy", admin, nil, false}, // administration stays
		{"kms:ScheduleKeyDeletion", admin, nil, false},
	} {
		if got := denied(row.action, row.principal, row.ctx); got != row.want {
			t.Errorf("%s by %s with context %v: denied %v, want %v", row.action, row.principal, row.ctx, got, row.want)
		}
	}
	if !slices.ContainsFunc(sts, func(s statement) bool {
		return s.effect == "Allow" && strings.HasSuffix(s.principal, ":root") && slices.Contains(s.actions, "kms:*")
	}) {
		t.Error("the account root's kms:* statement is gone: nobody could administer the key")
	}
}
