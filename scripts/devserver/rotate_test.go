package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/token"
)

// TestRotateKey runs scripts/rotate-key, the key rotation runbook rehearsed
// against a real scripts/dev (each step a restart with the runbook's
// parameters, each checked through the local API: both keys published and
// trusted while the old one still signs, signing moved, old tokens working
// until they expire, then an unexpired token of the old key, allowed a
// moment before and held by the authorizer's token cache, refused once
// the key is dropped). Then, independently of the script, it starts
// scripts/dev again on the same state: the stack signs with the new key,
// publishes only it, and the old key is pending deletion.
func TestRotateKey(t *testing.T) {
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state")
	cmd := exec.Command(filepath.Join(root, "scripts", "rotate-key"), "--state", state, "--publish-wait", "1s",
		// Tokens of step 1 must outlive the restart of scripts/dev in step 2,
		// which took over 30 s on a machine at load 20.
		"--param", "AccessTokenTTL=75s", "--param", "ClockLeeway=0s", "--param", "RevocationMaxStaleness=75s",
		"--", "--port", "0", "--lambda-port", "0", "--kms-port", "0", "--dynamodb-port", "0")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/rotate-key: %v\n%s", err, out)
	}
	for _, want := range []string{
		"the JWKS publishes both keys",
		"login still signs with the old key; tokens of the old key are allowed",
		"new tokens carry the new kid; tokens of the old key keep working",
		"the old key's last token works 2 s before its exp",
		"the old key's last token is refused: expired",
		"a fresh token signed by the old key is still allowed",
		"the old key's unexpired token is refused (unknown kid)",
		"is scheduled for deletion",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("scripts/rotate-key did not say %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`the stack signs with (\S+) \(kid (\S+)\)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no 'the stack signs with' line:\n%s", out)
	}
	oldKey, oldKID := m[1], m[2]

	d := testenv.StartDevOn(t, state)
	if d.Vars["SIGNING_KEY_ID"] == oldKey {
		t.Fatalf("the stack still signs with the old key %s", oldKey)
	}
	b := newBrowser(t, d.API)
	tok, _ := b.login(localapi.DemoUsername, localapi.DemoPassword)
	newKID := kid(tok)
	if newKID == oldKID || newKID == "" {
		t.Errorf("login signs with kid %q, the old key's was %q", newKID, oldKID)
	}
	if r := b.do("GET", "/me", "", nil, bearer(tok)...); r.status != 200 {
		t.Errorf("GET /me with a token of the new key: %d", r.status)
	}
	var doc token.JWKS
	if err := json.Unmarshal(b.do("GET", "/.well-known/jwks.json", "", nil).body, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 1 || doc.Keys[0].Kid != newKID {
		t.Errorf("the JWKS publishes %+v, want only kid %s", doc.Keys, newKID)
	}
	kmsClient, _ := localaws.Clients(d.Vars["AWS_ENDPOINT_URL_KMS"], d.Vars["AWS_ENDPOINT_URL_DYNAMODB"])
	key, err := kmsClient.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(oldKey)})
	if err != nil {
		t.Fatal(err)
	}
	if key.KeyMetadata.KeyState != kmstypes.KeyStatePendingDeletion {
		t.Errorf("the old key is %s, want PendingDeletion", key.KeyMetadata.KeyState)
	}
}

// TestRotateKeyRefusesItsOwnParameters: the rotation parameters are the
// script's to set, step by step.
func TestRotateKeyRefusesItsOwnParameters(t *testing.T) {
	root, err := localaws.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "rotate-key"), "--state", t.TempDir(), "--param", "SignWithKeyId=arn:aws:kms:us-east-1:000000000000:key/x")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "rotate-key sets it at each step") {
		t.Errorf("rotate-key with --param SignWithKeyId: %v\n%s", err, out)
	}
}
