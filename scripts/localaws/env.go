package localaws

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Masked are the variables of a user's own AWS setup that a run against
// the stand-ins unsets: no profile, role or session token, no other
// endpoint, no AWS_CA_BUNDLE (the endpoints are plain http, and a bundle
// only slows every SDK start-up).
var Masked = []string{
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
	"AWS_CA_BUNDLE", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
}

// Vars are the variables that send the AWS SDK (and CLI) to the stand-ins
// and nowhere else: the SDK's standard endpoint variables, the region,
// dummy credentials, and no config or credentials file.
func Vars(kmsURL, dynamoURL string) [][2]string {
	return [][2]string{
		{"AWS_ENDPOINT_URL_KMS", kmsURL},
		{"AWS_ENDPOINT_URL_DYNAMODB", dynamoURL},
		{"AWS_REGION", Region},
		{"AWS_DEFAULT_REGION", Region},
		{"AWS_ACCESS_KEY_ID", "test"},
		{"AWS_SECRET_ACCESS_KEY", "test"},
		{"AWS_EC2_METADATA_DISABLED", "true"},
		{"AWS_CONFIG_FILE", os.DevNull},
		{"AWS_SHARED_CREDENTIALS_FILE", os.DevNull},
	}
}

// Environ is env (os.Environ's form) with Vars set and Masked removed.
func Environ(env []string, kmsURL, dynamoURL string) []string {
	drop := map[string]bool{}
	for _, k := range Masked {
		drop[k] = true
	}
	vars := Vars(kmsURL, dynamoURL)
	for _, kv := range vars {
		drop[kv[0]] = true
	}
	out := make([]string, 0, len(env)+len(vars))
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); !drop[k] {
			out = append(out, e)
		}
	}
	for _, kv := range vars {
		out = append(out, kv[0]+"="+kv[1])
	}
	return out
}

// Clients are SDK clients of the stand-ins at kmsURL and dynamoURL, with
// dummy credentials and nothing of the caller's AWS configuration: no
// profile, file, CA bundle or AWS_* variable takes part.
func Clients(kmsURL, dynamoURL string) (*kms.Client, *dynamodb.Client) {
	k := kms.NewFromConfig(SDKConfig(), func(o *kms.Options) { o.BaseEndpoint = aws.String(kmsURL) })
	db := dynamodb.NewFromConfig(SDKConfig(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(dynamoURL) })
	return k, db
}

// StreamsClient is a DynamoDB Streams client for the local DynamoDB at
// dynamoURL (the same endpoint serves both APIs).
func StreamsClient(dynamoURL string) *dynamodbstreams.Client {
	return dynamodbstreams.NewFromConfig(SDKConfig(), func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(dynamoURL) })
}

// SDKConfig is the SDK configuration of every client of the stand-ins: their
// region and dummy credentials, and nothing of the caller's AWS setup (a
// Lambda client for scripts/dev's Invoke API: package locallambda).
func SDKConfig() aws.Config {
	return aws.Config{
		Region: Region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: "localaws"}, nil
		}),
	}
}

// Exports are shell lines that give another shell the environment of
// Environ.
func Exports(kmsURL, dynamoURL string) string {
	var b strings.Builder
	for _, kv := range Vars(kmsURL, dynamoURL) {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], ShellQuote(kv[1]))
	}
	fmt.Fprintf(&b, "unset %s\n", strings.Join(Masked, " "))
	return b.String()
}

// ShellQuote quotes a value only when it needs it ('a b' -> 'a b').
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// EndpointsFile is the file scripts/dev writes in its state folder while it
// runs: KEY=value lines for `set -a; . FILE` and for scripts.
const EndpointsFile = "endpoints.env"

// WriteEnvFile writes KEY=value lines (values shell-quoted), atomically and
// private to the user (scripts/dev's names the demo password).
func WriteEnvFile(path, header string, vars [][2]string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", header)
	for _, kv := range vars {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], ShellQuote(kv[1]))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadEnvFile reads the KEY=value lines WriteEnvFile wrote.
func ReadEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = strings.ReplaceAll(v[1:len(v)-1], `'\''`, "'")
		}
		out[k] = v
	}
	return out, sc.Err()
}

// DevEndpoints reads the endpoints file of the scripts/dev running on the
// state folder stateDir, and checks that its servers answer.
func DevEndpoints(stateDir string) (map[string]string, error) {
	path := filepath.Join(stateDir, EndpointsFile)
	vars, err := ReadEnvFile(path)
	if err != nil {
		return nil, fmt.Errorf("scripts/dev is not running (no %s): start it first, it runs local KMS and DynamoDB", path)
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_DYNAMODB"} {
		if !reachable(vars[k]) {
			return nil, fmt.Errorf("%s %s (from %s) does not answer: is scripts/dev still running?", k, vars[k], path)
		}
	}
	return vars, nil
}

func reachable(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return false
	}
	c, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
