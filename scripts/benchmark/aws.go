package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
)

// benchStack is what the functions need on the local stand-ins: a signing
// key and the tables of template.yaml, under names of this run's own.
type benchStack struct {
	aws    aws.Config
	kms    *kms.Client
	db     *dynamodb.Client
	keyARN string
	macARN string            // the HMAC_256 key login and refresh derive their keyed hashes from
	tables map[string]string // environment variable -> table name
	names  map[string]string // logical id -> table name
	tpl    *localapi.Template
}

const (
	benchIssuer   = "https://auth.bench.example"
	benchAudience = "https://api.bench.example"
)

func newStack(ctx context.Context, root string) (*benchStack, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	s := &benchStack{aws: cfg, kms: kms.NewFromConfig(cfg), db: dynamodb.NewFromConfig(cfg)}
	if s.keyARN, err = localaws.CreateKey(ctx, s.kms, kmstypes.KeySpecEccNistP256, "benchmark signing key"); err != nil {
		return nil, err
	}
	if s.macARN, err = localaws.CreateKey(ctx, s.kms, kmstypes.KeySpecHmac256, "benchmark keyed-hash key"); err != nil {
		return nil, err
	}
	defs, err := localaws.TableDefinitions(root)
	if err != nil {
		return nil, err
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	names, err := localaws.EnsureTables(ctx, s.db, defs, func(id string) string { return id + "-bench-" + hex.EncodeToString(suffix) })
	if err != nil {
		return nil, err
	}
	s.names = names
	if s.tpl, err = localapi.Load(root); err != nil {
		return nil, err
	}
	t := localaws.DynamoTables(names)
	s.tables = map[string]string{"USERS_TABLE": t.Users, "LOGIN_THROTTLE_TABLE": t.LoginThrottle,
		"SESSIONS_TABLE": t.Sessions, "REVOCATIONS_TABLE": t.Revocations, "REVOCATION_FEED_TABLE": t.RevocationFeed}
	return s, nil
}

// env is the environment template.yaml gives the function of
// functions/<folder>, as a deploy resolves it (scripts/dev's
// localapi.FunctionEnv): its references to this stack's key, keyed-hash key
// and tables, the bench issuer and audience, the local endpoints. A
// setting a function needs is never missing from a hand-kept list.
func (s *benchStack) env(folder string) []string {
	var fn *localapi.Function
	for _, f := range s.tpl.Functions {
		if f.Folder == folder {
			fn = f
		}
	}
	if fn == nil {
		panic("benchmark: functions/" + folder + " is not in template.yaml")
	}
	params := localapi.LocalParams(s.tpl, benchIssuer, map[string]string{
		"Audience": benchAudience, "AllowedOrigins": "https://app.bench.example"})
	resources := localapi.LocalResources(s.tpl, s.keyARN, s.macARN)
	for id, name := range s.names {
		resources[id] = name
	}
	vars, err := localapi.FunctionEnv(s.tpl, fn, params, resources,
		localapi.EndpointVariables(os.Getenv("AWS_ENDPOINT_URL_KMS"), os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")))
	if err != nil {
		panic("benchmark: the environment of " + folder + ": " + err.Error())
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// accessToken issues a token as login does, signed by the stack's key,
// with the longest lifetime the authorizer accepts (ACCESS_TOKEN_TTL's
// default): the runs that use it take a few minutes.
func (s *benchStack) accessToken(ctx context.Context) (string, error) {
	return localaws.AccessToken(ctx, s.kms, s.keyARN, "RS256", localaws.Token{
		Issuer: benchIssuer, Audience: benchAudience, Subject: "usr_bench", Scope: "read write", TTL: 15 * time.Minute})
}

// getItem is the bare DynamoDB round trip: a consistent GetItem of a key
// that is not there.
func (s *benchStack) getItem(ctx context.Context) error {
	_, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.tables["REVOCATIONS_TABLE"]),
		ConsistentRead: aws.Bool(true),
		Key:            map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "jti#nobody"}}})
	return err
}
