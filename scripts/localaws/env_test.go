package localaws_test

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/scripts/localaws"
)

// TestEnviron: the endpoints, region and dummy credentials are set, the
// user's own AWS setup is gone, and everything else stays.
func TestEnviron(t *testing.T) {
	in := []string{"HOME=/home/x", "PATH=/bin", "AWS_PROFILE=prod", "AWS_CA_BUNDLE=/etc/bundle.pem",
		"AWS_SESSION_TOKEN=secret", "AWS_ENDPOINT_URL=https://proxy.example", "AWS_REGION=eu-west-1",
		"AWS_ACCESS_KEY_ID=AKIAREAL", "AWS_CONFIG_FILE=/home/x/.aws/config"}
	got := localaws.Environ(in, "http://127.0.0.1:1", "http://127.0.0.1:2")
	for _, want := range []string{"HOME=/home/x", "PATH=/bin", "AWS_ENDPOINT_URL_KMS=http://127.0.0.1:1",
		"AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:2", "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull} {
		if !slices.Contains(got, want) {
			t.Errorf("environment lacks %s: %v", want, got)
		}
	}
	seen := map[string]int{}
	for _, kv := range got {
		k, _, _ := strings.Cut(kv, "=")
		seen[k]++
		if slices.Contains(localaws.Masked, k) {
			t.Errorf("%s is still set", kv)
		}
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("%s is set %d times", k, n)
		}
	}
	exports := localaws.Exports("http://127.0.0.1:1", "http://127.0.0.1:2")
	for _, want := range []string{"export AWS_ENDPOINT_URL_KMS=http://127.0.0.1:1\n", "unset AWS_PROFILE ", " AWS_CA_BUNDLE "} {
		if !strings.Contains(exports, want) {
			t.Errorf("exports lack %q:\n%s", want, exports)
		}
	}
}

// TestEnvFileRoundTrip: values that need quoting come back as written,
// and the file is private (it names the demo password).
func TestEnvFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "endpoints.env")
	vars := [][2]string{{"PLAIN", "http://127.0.0.1:3000"}, {"SPACES", "correct horse battery staple"},
		{"QUOTE", "it's"}, {"EMPTY", ""}}
	if err := localaws.WriteEnvFile(path, "a test", vars); err != nil {
		t.Fatal(err)
	}
	got, err := localaws.ReadEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range vars {
		if got[kv[0]] != kv[1] {
			t.Errorf("%s = %q, want %q", kv[0], got[kv[0]], kv[1])
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestDevEndpoints: no file means scripts/dev is not running; a file whose
// servers are gone is refused too.
func TestDevEndpoints(t *testing.T) {
	dir := t.TempDir()
	if _, err := localaws.DevEndpoints(dir); err == nil || !strings.Contains(err.Error(), "scripts/dev is not running") {
		t.Errorf("no endpoints file: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	live := "http://" + ln.Addr().String()
	dead := "http://127.0.0.1:1"
	path := filepath.Join(dir, localaws.EndpointsFile)
	localaws.WriteEnvFile(path, "test", [][2]string{{"AWS_ENDPOINT_URL_KMS", live}, {"AWS_ENDPOINT_URL_DYNAMODB", dead}})
	if _, err := localaws.DevEndpoints(dir); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("a dead DynamoDB endpoint: %v", err)
	}
	localaws.WriteEnvFile(path, "test", [][2]string{{"AWS_ENDPOINT_URL_KMS", live}, {"AWS_ENDPOINT_URL_DYNAMODB", live}, {"USERS_TABLE", "u"}})
	vars, err := localaws.DevEndpoints(dir)
	if err != nil || vars["USERS_TABLE"] != "u" {
		t.Errorf("a live stack: %v %v", vars, err)
	}
	ln.Close()
}
