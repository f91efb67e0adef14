// Package testenv gives tests a real, private AWS stand-in environment: a
// fresh KMS key on local-kms and fresh tables on DynamoDB Local, created from the
// table definitions in template.yaml (with scripts/localaws, as scripts/dev
// creates its own), found by the SDK through AWS_ENDPOINT_URL_KMS and
// AWS_ENDPOINT_URL_DYNAMODB: set by scripts/test, which starts one set of
// servers for every package, or by Main, which starts them for its
// package when a plain go test gives none. Without those servers a test
// fails; it never skips. It also holds what tests share: a proxy that
// fails on demand (FaultProxy), an SDK call counter, the sample events.
package testenv

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/kmssign"
)

// Env is one test's private environment.
type Env struct {
	AWS   aws.Config
	KMS   *kms.Client
	DB    *dynamodb.Client
	KeyID string // ARN of the signing key
	// MACKeyID is the ARN of the HMAC key the functions derive their
	// keyed-hash secret from (MAC_KEY_ID).
	MACKeyID string
	// TOTPKeyID is the ARN of the symmetric key TOTP secrets are sealed
	// under (TOTP_KEY_ID).
	TOTPKeyID string
	Tables    dynamo.Tables
	// ProofReplayTable is the table of template.yaml's ProofReplayTable
	// (DPOP_REPLAY_TABLE: the authorizers' shared DPoP replay record).
	ProofReplayTable string
	Store            *dynamo.Store
	vars             map[string]string
	mu               sync.Mutex
}

// Option changes the environment.
type Option func(*options)

type options struct{ keySpec kmstypes.KeySpec }

// WithKeySpec makes the signing key of another spec (RSA_2048, ECC_NIST_P384...).
func WithKeySpec(s kmstypes.KeySpec) Option { return func(o *options) { o.keySpec = s } }

// RequireServers fails the test when the local servers are not there:
// Main could not start them (the reason is given), or the package has no
// TestMain calling Main and scripts/test did not start them.
func RequireServers(t testing.TB) {
	t.Helper()
	if serversErr != nil {
		t.Fatalf("local KMS and DynamoDB are needed: %v", serversErr)
	}
	for _, v := range []string{"AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_DYNAMODB"} {
		if os.Getenv(v) == "" {
			t.Fatalf("%s is not set: give the package a TestMain calling testenv.Main (it starts local-kms and DynamoDB Local), or run scripts/test", v)
		}
	}
}

var (
	awsOnce sync.Once
	awsCfg  aws.Config
	awsErr  error
)

// AWSConfig is the SDK configuration tests use for their own clients.
func AWSConfig(t testing.TB) aws.Config {
	t.Helper()
	RequireServers(t)
	awsOnce.Do(func() { awsCfg, awsErr = awsconfig.LoadDefaultConfig(context.Background()) })
	if awsErr != nil {
		t.Fatalf("load AWS config: %v", awsErr)
	}
	return awsCfg
}

// StreamsClient is a DynamoDB Streams client for the local DynamoDB: at
// AWS_ENDPOINT_URL_DYNAMODB_STREAMS, else AWS_ENDPOINT_URL_DYNAMODB (DynamoDB
// Local serves both APIs on one port).
func StreamsClient(t testing.TB, cfg aws.Config) *dynamodbstreams.Client {
	t.Helper()
	return dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) {
		if os.Getenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS") == "" {
			o.BaseEndpoint = aws.String(os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"))
		}
	})
}

// New creates a signing key and the tables of template.yaml under names
// of this test's own, and deletes the tables when the test ends.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	o := options{keySpec: kmstypes.KeySpecEccNistP256}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := AWSConfig(t)
	ctx := context.Background()
	e := &Env{AWS: cfg, KMS: kms.NewFromConfig(cfg), DB: dynamodb.NewFromConfig(cfg)}
	e.KeyID = CreateKey(t, e.KMS, o.keySpec)
	e.MACKeyID = CreateMACKey(t, e.KMS)
	e.TOTPKeyID = CreateKey(t, e.KMS, kmstypes.KeySpecSymmetricDefault)

	suffix := randomHex(6)
	names, err := localaws.EnsureTables(ctx, e.DB, TableDefinitions(t), func(id string) string { return id + "-" + suffix })
	for _, name := range names {
		t.Cleanup(func() { e.DB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name}) })
	}
	if err != nil {
		t.Fatal(err)
	}
	e.Tables = localaws.DynamoTables(names)
	e.ProofReplayTable = names["ProofReplayTable"]
	e.Store = dynamo.New(e.DB, e.Tables)
	e.vars = map[string]string{
		"ISSUER":                    "https://auth.test.example",
		"AUDIENCE":                  "https://api.test.example",
		"SIGNING_KEY_ID":            e.KeyID,
		"MAC_KEY_ID":                e.MACKeyID,
		"USERS_TABLE":               e.Tables.Users,
		"LOGIN_THROTTLE_TABLE":      e.Tables.LoginThrottle,
		"SESSIONS_TABLE":            e.Tables.Sessions,
		"REVOCATIONS_TABLE":         e.Tables.Revocations,
		"REVOCATION_FEED_TABLE":     e.Tables.RevocationFeed,
		"REVOCATION_SNAPSHOT_TABLE": e.Tables.RevocationSnapshot,
		"DPOP_REPLAY_TABLE":         e.ProofReplayTable,
		"MFA_TABLE":                 e.Tables.MFA,
		"TOTP_KEY_ID":               e.TOTPKeyID,
		"ALLOWED_ORIGINS":           "https://app.test.example",
		"PASSKEYS_TABLE":            e.Tables.Passkeys,
		"PASSKEY_CHALLENGES_TABLE":  e.Tables.PasskeyChallenges,
		"PASSKEY_RP_ID":             "app.test.example",
		"PASSKEY_ORIGINS":           "https://app.test.example",
		// scripts/test runs the packages that exercise the authorizer in
		// both modes; replica (the default) unless AUTH_TEST_REVOCATION_MODE
		// says strict.
		"REVOCATION_MODE": cmp.Or(os.Getenv("AUTH_TEST_REVOCATION_MODE"), "replica"),
	}
	return e
}

// Set changes one variable of the function environment.
func (e *Env) Set(k, v string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.vars[k] = v
}

// Getenv is the environment the functions under test see.
func (e *Env) Getenv(k string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.vars[k]
}

// CreateUser adds a user with a real argon2id hash.
func (e *Env) CreateUser(t testing.TB, username, pw string, scopes ...string) *auth.User {
	t.Helper()
	u, err := localaws.PutUser(context.Background(), e.Store, localaws.User{Username: username, Password: pw, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// CreateKey makes a SIGN_VERIFY key of spec on local-kms and returns its ARN.
func CreateKey(t testing.TB, client *kms.Client, spec kmstypes.KeySpec) string {
	t.Helper()
	arn, err := localaws.CreateKey(context.Background(), client, spec, "test signing key")
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

// CreateMACKey makes an HMAC_256 key (GENERATE_VERIFY_MAC) on local-kms and
// returns its ARN.
func CreateMACKey(t testing.TB, client *kms.Client) string {
	t.Helper()
	arn, err := localaws.CreateKey(context.Background(), client, kmstypes.KeySpecHmac256, "test keyed-hash key")
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

// MACKey derives the functions' keyed-hash secret from the environment's
// HMAC key, for tests that build an auth.Service themselves.
func (e *Env) MACKey(t testing.TB) []byte {
	t.Helper()
	k, err := kmssign.DeriveKey(context.Background(), e.KMS, e.MACKeyID, "test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// RepoRoot is the repository holding the test's package.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := localaws.FindRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TableDefinitions reads every AWS::DynamoDB::Table of template.yaml, by
// logical id, as CreateTable inputs without a name and TTL attributes
// (the same reader scripts/dev creates its tables with).
func TableDefinitions(t testing.TB) map[string]localapi.Table {
	t.Helper()
	defs, err := localaws.TableDefinitions(RepoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return defs
}
