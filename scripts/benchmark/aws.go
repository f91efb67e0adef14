package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/shared/kmssign"
	"github.com/authkit/lambda-auth/shared/token"
)

// benchStack is what the functions need on the local stand-ins: a signing
// key and the four tables (single string hash keys, as in template.yaml).
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

func newStack(ctx context.Context) (*benchStack, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	s := &benchStack{aws: cfg, kms: kms.NewFromConfig(cfg), db: dynamodb.NewFromConfig(cfg), tables: map[string]string{}}
	key, err := s.kms.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256,
		KeyUsage: kmstypes.KeyUsageTypeSignVerify, Description: aws.String("benchmark signing key")})
	if err != nil {
		return nil, fmt.Errorf("create KMS key: %w", err)
	}
	s.keyARN = *key.KeyMetadata.Arn
	suffix := make([]byte, 4)
	rand.Read(suffix)
	for env, hashKey := range map[string]string{"USERS_TABLE": "username", "LOGIN_THROTTLE_TABLE": "username",
		"SESSIONS_TABLE": "session_id", "REVOCATIONS_TABLE": "pk"} {
		name := "bench-" + env + "-" + hex.EncodeToString(suffix)
		_, err := s.db.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            &name,
			BillingMode:          ddbtypes.BillingModePayPerRequest,
			AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: &hashKey, AttributeType: ddbtypes.ScalarAttributeTypeS}},
			KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: &hashKey, KeyType: ddbtypes.KeyTypeHash}},
		})
		if err != nil {
			return nil, fmt.Errorf("create table %s: %w", name, err)
		}
		w := dynamodb.NewTableExistsWaiter(s.db)
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, 30*time.Second); err != nil {
			return nil, err
		}
		s.tables[env] = name
	}
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

// accessToken issues a token as login does, signed by the stack's key.
func (s *benchStack) accessToken(ctx context.Context) (string, error) {
	signer, err := kmssign.New(ctx, s.kms, s.keyARN, "RS256")
	if err != nil {
		return "", err
	}
	now := time.Now()
	sid := make([]byte, 24)
	binary.BigEndian.PutUint64(sid, uint64(now.UnixMilli()))
	rand.Read(sid[8:])
	jti := make([]byte, 16)
	rand.Read(jti)
	c := &token.Claims{SessionID: base64.RawURLEncoding.EncodeToString(sid), ClientID: "web", Scope: "read write"}
	c.Issuer, c.Subject, c.ID = benchIssuer, "usr_bench", base64.RawURLEncoding.EncodeToString(jti)
	c.Audience = []string{benchAudience}
	c.IssuedAt = token.NumericDate(now)
	c.ExpiresAt = token.NumericDate(now.Add(time.Hour)) // outlives the run
	return token.Issue(ctx, signer, c)
}

// getItem is the bare DynamoDB round trip: a consistent GetItem of a key
// that is not there.
func (s *benchStack) getItem(ctx context.Context) error {
	_, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.tables["REVOCATIONS_TABLE"]),
		ConsistentRead: aws.Bool(true),
		Key:            map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "jti#nobody"}}})
	return err
}
