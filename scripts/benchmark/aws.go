package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/localaws"
)

// benchStack is what the functions need on the local stand-ins: a signing
// key and the tables of template.yaml, under names of this run's own.
type benchStack struct {
	aws    aws.Config
	kms    *kms.Client
	db     *dynamodb.Client
	keyARN string
	tables map[string]string // environment variable -> table name
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
	t := localaws.DynamoTables(names)
	s.tables = map[string]string{"USERS_TABLE": t.Users, "LOGIN_THROTTLE_TABLE": t.LoginThrottle,
		"SESSIONS_TABLE": t.Sessions, "REVOCATIONS_TABLE": t.Revocations, "REVOCATION_FEED_TABLE": t.RevocationFeed}
	return s, nil
}

// env is the functions' environment on this stack.
func (s *benchStack) env() []string {
	env := []string{"ISSUER=" + benchIssuer, "AUDIENCE=" + benchAudience, "SIGNING_KEY_ID=" + s.keyARN,
		"ALLOWED_ORIGINS=https://app.bench.example"}
	for k, v := range s.tables {
		env = append(env, k+"="+v)
	}
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
