package localaws

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/kmssign"
	"github.com/authkit/lambda-auth/shared/password"
	"github.com/authkit/lambda-auth/shared/token"
)

// ErrMismatch: a key or table kept from an earlier run is not what the
// template asks for now.
var ErrMismatch = errors.New("does not match template.yaml")

// CreateKey makes a key of spec and returns its ARN: GENERATE_VERIFY_MAC
// for an HMAC spec (TokenMacKey), ENCRYPT_DECRYPT for SYMMETRIC_DEFAULT
// (TotpKey), SIGN_VERIFY for the others.
func CreateKey(ctx context.Context, c *kms.Client, spec kmstypes.KeySpec, description string) (string, error) {
	usage := kmstypes.KeyUsageTypeSignVerify
	switch {
	case strings.HasPrefix(string(spec), "HMAC_"):
		usage = kmstypes.KeyUsageTypeGenerateVerifyMac
	case spec == kmstypes.KeySpecSymmetricDefault: // TotpKey
		usage = kmstypes.KeyUsageTypeEncryptDecrypt
	}
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{
		KeySpec: spec, KeyUsage: usage, Description: aws.String(description),
	})
	if err != nil {
		return "", fmt.Errorf("create KMS key %s: %w", spec, err)
	}
	return *out.KeyMetadata.Arn, nil
}

// EnsureKey returns the ARN of the key behind alias, creating key and
// alias the first time. A key of another spec is ErrMismatch.
func EnsureKey(ctx context.Context, c *kms.Client, alias string, spec kmstypes.KeySpec, description string) (string, error) {
	out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)})
	if err == nil {
		if got := out.KeyMetadata.KeySpec; got != spec {
			return "", fmt.Errorf("the key %s is %s, the stack asks for %s: %w", alias, got, spec, ErrMismatch)
		}
		return *out.KeyMetadata.Arn, nil
	}
	var nf *kmstypes.NotFoundException
	if !errors.As(err, &nf) {
		return "", fmt.Errorf("describe %s: %w", alias, err)
	}
	arn, err := CreateKey(ctx, c, spec, description)
	if err != nil {
		return "", err
	}
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: aws.String(arn)}); err != nil {
		return "", fmt.Errorf("create alias %s: %w", alias, err)
	}
	return arn, nil
}

// TableDefinitions are the AWS::DynamoDB::Table resources of
// root/template.yaml, by logical id: CreateTable inputs without a name
// (with the StreamSpecification the template declares) and the TTL
// attribute.
func TableDefinitions(root string) (map[string]localapi.Table, error) {
	tpl, err := localapi.Load(root)
	if err != nil {
		return nil, err
	}
	if len(tpl.Tables) == 0 {
		return nil, errors.New("template.yaml defines no AWS::DynamoDB::Table")
	}
	return tpl.Tables, nil
}

// EnsureTables creates every table of defs (by logical id) under the name
// name(logical id) gives, unless it exists with the keys and indexes defs
// gives it (another shape is ErrMismatch), waits until each is active, and
// turns on its TTL (UpdateTimeToLive: CreateTable takes no TTL setting).
// A table kept from an earlier run gets what a CloudFormation update would
// give it in place: the template's stream when it has none, its TTL. It
// returns the names by logical id, also with an error: the tables created
// before it.
func EnsureTables(ctx context.Context, db *dynamodb.Client, defs map[string]localapi.Table, name func(logicalID string) string) (map[string]string, error) {
	names := map[string]string{}
	ids := make([]string, 0, len(defs))
	for id := range defs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	existed := map[string]bool{}
	for _, id := range ids {
		in := defs[id].CreateTableInput
		in.TableName = aws.String(name(id))
		_, err := db.CreateTable(ctx, &in)
		var inUse *ddbtypes.ResourceInUseException
		if errors.As(err, &inUse) {
			existed[id] = true
			err = sameShape(ctx, db, in)
		}
		if err != nil {
			return names, fmt.Errorf("table %s: %w", *in.TableName, err)
		}
		names[id] = *in.TableName
	}
	for _, id := range ids {
		w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
		})
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(names[id])}, 30*time.Second); err != nil {
			return names, fmt.Errorf("table %s not active: %w", names[id], err)
		}
		if err := ensureTTL(ctx, db, names[id], defs[id].TTLAttribute, existed[id]); err != nil {
			return names, fmt.Errorf("table %s: %w", names[id], err)
		}
	}
	return names, nil
}

// ensureTTL turns on TTL on attr (none when attr is empty). A table kept
// from an earlier run is asked first: TTL already on attr is left alone,
// TTL on another attribute is ErrMismatch (AWS changes it only by turning
// it off, then on, at most once an hour).
// https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTimeToLive.html
func ensureTTL(ctx context.Context, db *dynamodb.Client, table, attr string, existed bool) error {
	if attr == "" {
		return nil
	}
	if existed {
		out, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("describe TTL: %w", err)
		}
		if d := out.TimeToLiveDescription; d != nil && d.AttributeName != nil {
			on := d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabled || d.TimeToLiveStatus == ddbtypes.TimeToLiveStatusEnabling
			switch {
			case on && *d.AttributeName == attr:
				return nil
			case on:
				return fmt.Errorf("TTL is on %s, template.yaml says %s: %w", *d.AttributeName, attr, ErrMismatch)
			}
		}
	}
	_, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("turn on TTL on %s: %w", attr, err)
	}
	return nil
}

// sameShape checks that an existing table has the keys and indexes want
// (changing them means a new table on AWS too). A stream want has and the
// table lacks is turned on (UpdateTable), as a CloudFormation update does
// in place; a stream of another view type, or one want does not have, is
// ErrMismatch.
func sameShape(ctx context.Context, db *dynamodb.Client, want dynamodb.CreateTableInput) error {
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: want.TableName})
	if err != nil {
		return err
	}
	shape := func(keys []ddbtypes.KeySchemaElement, gsis []string) string {
		var parts []string
		for _, k := range keys {
			parts = append(parts, *k.AttributeName+"/"+string(k.KeyType))
		}
		slices.Sort(gsis)
		return strings.Join(parts, ",") + " gsi:" + strings.Join(gsis, ",")
	}
	var wantGSI, gotGSI []string
	for _, g := range want.GlobalSecondaryIndexes {
		wantGSI = append(wantGSI, *g.IndexName)
	}
	for _, g := range out.Table.GlobalSecondaryIndexes {
		gotGSI = append(gotGSI, *g.IndexName)
	}
	if w, g := shape(want.KeySchema, wantGSI), shape(out.Table.KeySchema, gotGSI); w != g {
		return fmt.Errorf("exists as %s, template.yaml defines %s: %w", g, w, ErrMismatch)
	}
	stream := func(s *ddbtypes.StreamSpecification) string {
		if s == nil || s.StreamEnabled == nil || !*s.StreamEnabled {
			return "none"
		}
		return string(s.StreamViewType)
	}
	switch w, g := stream(want.StreamSpecification), stream(out.Table.StreamSpecification); {
	case w == g:
	case g == "none":
		_, err := db.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: want.TableName, StreamSpecification: want.StreamSpecification})
		if err != nil {
			return fmt.Errorf("turn on its stream (%s): %w", w, err)
		}
	default:
		return fmt.Errorf("has stream %s, template.yaml defines %s: %w", g, w, ErrMismatch)
	}
	return nil
}

// DynamoTables are the stores' table names from names by logical id
// (UsersTable, LoginThrottleTable, SessionsTable, RevocationsTable,
// RevocationFeedTable, RevocationSnapshotTable).
func DynamoTables(names map[string]string) dynamo.Tables {
	return dynamo.Tables{
		Users: names["UsersTable"], LoginThrottle: names["LoginThrottleTable"],
		Sessions: names["SessionsTable"], Revocations: names["RevocationsTable"],
		RevocationFeed: names["RevocationFeedTable"], RevocationSnapshot: names["RevocationSnapshotTable"],
		Passkeys: names["PasskeysTable"], PasskeyChallenges: names["PasskeyChallengesTable"],
		MFA: names["MfaTable"],
	}
}

// User is a user to add: the username as typed (normalized on the way),
// the password (hashed with argon2id at the default cost), and the user id
// (the tokens' sub; a random one, NewUserID, when empty).
type User struct {
	Username, Password, ID string
	Scopes                 []string
}

// NewUser is the one way a user record is made, by scripts/createuser,
// scripts/dev and the tests alike: the username normalized, the password
// hashed with argon2id at the default cost, the id u.ID or a new one
// (NewUserID). It writes nothing.
func NewUser(u User) (*auth.User, error) {
	name, err := auth.NormalizeUsername(u.Username)
	if err != nil {
		return nil, fmt.Errorf("username %q: %w", u.Username, err)
	}
	hash, err := password.Hash(u.Password, password.Default)
	if err != nil {
		return nil, fmt.Errorf("hash the password of %s: %w", name, err)
	}
	if u.ID == "" {
		u.ID = NewUserID()
	}
	return &auth.User{Username: name, ID: u.ID, PasswordHash: hash, Scopes: u.Scopes, CreatedAt: time.Now()}, nil
}

// NewUserID is a random, opaque, stable user id, the "sub" of tokens: a
// UUID version 4 (RFC 9562 section 5.4), the one format of user ids.
func NewUserID() string {
	b := make([]byte, 16)
	rand.Read(b)            // never fails (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10 (RFC 9562)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// PutUser adds u (NewUser). An existing username is dynamo.ErrUserExists.
func PutUser(ctx context.Context, store *dynamo.Store, u User) (*auth.User, error) {
	user, err := NewUser(u)
	if err != nil {
		return nil, err
	}
	name := user.Username
	if err := store.PutUser(ctx, user, false); err != nil {
		return nil, fmt.Errorf("add user %s: %w", name, err)
	}
	return user, nil
}

// EnsureUser adds u unless its username exists.
func EnsureUser(ctx context.Context, store *dynamo.Store, u User) error {
	name, err := auth.NormalizeUsername(u.Username)
	if err != nil {
		return fmt.Errorf("username %q: %w", u.Username, err)
	}
	if existing, err := store.User(ctx, name); err != nil {
		return err
	} else if existing != nil {
		return nil
	}
	if _, err := PutUser(ctx, store, u); err != nil && !errors.Is(err, dynamo.ErrUserExists) {
		return err
	}
	return nil
}

// Token is what AccessToken signs: an access token of the service's form
// for Subject, living TTL from now.
type Token struct {
	Issuer, Audience, Subject, Scope string
	TTL                              time.Duration
}

// AccessToken signs t with the KMS key keyARN as login does, without
// login: a session id carrying its start time, a 128-bit jti, client
// "web" (benchmarks; scripts/rotate-key's token of a retired key).
func AccessToken(ctx context.Context, c *kms.Client, keyARN, rsaAlg string, t Token) (string, error) {
	signer, err := kmssign.New(ctx, c, keyARN, rsaAlg)
	if err != nil {
		return "", err
	}
	now := time.Now().Truncate(time.Second)
	sid := make([]byte, 24)
	binary.BigEndian.PutUint64(sid, uint64(now.UnixMilli()))
	rand.Read(sid[8:])
	jti := make([]byte, 16)
	rand.Read(jti)
	cl := &token.Claims{SessionID: base64.RawURLEncoding.EncodeToString(sid), ClientID: "web", Scope: t.Scope}
	cl.Issuer, cl.Subject, cl.ID = t.Issuer, t.Subject, base64.RawURLEncoding.EncodeToString(jti)
	cl.Audience = []string{t.Audience}
	cl.IssuedAt, cl.ExpiresAt = token.NumericDate(now), token.NumericDate(now.Add(t.TTL))
	return token.Issue(ctx, signer, cl)
}
