package testenv

import (
	"context"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/aws"
	"sort"
	"strings"
	"sync"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go/middleware"
)

// Call is one AWS API call as IAM authorizes it: the action
// ("dynamodb:PutItem"), the resource it names (a table name or a KMS key id)
// and, for DynamoDB, the partition key values it touches (what the
// dynamodb:LeadingKeys condition key holds).
type Call struct {
	Action      string
	Resource    string
	LeadingKeys []string
}

// Recorder records every AWS call a function makes, with its resource, so a
// test can hold the calls against the function's IAM policy. It reads the
// typed input in the Initialize step: one record per call, retries not
// repeated.
type Recorder struct {
	hashKeys map[string]string // table name -> its partition key attribute
	mu       sync.Mutex
	calls    map[string]Call // by Action|Resource|keys, deduplicated
}

// NewRecorder returns a Recorder for the environment's tables.
func (e *Env) NewRecorder(t interface{ Helper() }) *Recorder {
	t.Helper()
	r := &Recorder{hashKeys: map[string]string{}, calls: map[string]Call{}}
	for _, name := range []string{e.Tables.Users, e.Tables.LoginThrottle, e.Tables.Sessions, e.Tables.Revocations, e.Tables.RevocationFeed, e.Tables.RevocationSnapshot,
		e.Tables.Passkeys, e.Tables.PasskeyChallenges, e.Tables.MFA} {
		out, err := e.DB.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: &name})
		if err != nil {
			continue
		}
		for _, k := range out.Table.KeySchema {
			if k.KeyType == ddbtypes.KeyTypeHash {
				r.hashKeys[name] = *k.AttributeName
			}
		}
	}
	return r
}

// Option installs the recorder in an SDK configuration.
func (r *Recorder) Option() func(*awsconfig.LoadOptions) error {
	return awsconfig.WithAPIOptions([]func(*middleware.Stack) error{
		func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("RecordCalls",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					for _, c := range r.describe(in.Parameters) {
						r.add(c)
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		},
	})
}

func (r *Recorder) add(c Call) {
	sort.Strings(c.LeadingKeys)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[c.Action+"|"+c.Resource+"|"+strings.Join(c.LeadingKeys, ",")] = c
}

// Calls returns the distinct calls recorded, sorted.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.calls))
	for k := range r.calls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Call, len(keys))
	for i, k := range keys {
		out[i] = r.calls[k]
	}
	return out
}

// Reset forgets every call.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = map[string]Call{}
}

func (r *Recorder) leading(table string, items ...map[string]ddbtypes.AttributeValue) []string {
	var out []string
	for _, it := range items {
		if v, ok := it[r.hashKeys[table]].(*ddbtypes.AttributeValueMemberS); ok {
			out = append(out, v.Value)
		}
	}
	return out
}

// describe turns an operation's input into the calls IAM sees.
func (r *Recorder) describe(params any) []Call {
	ddb := func(op, table string, items ...map[string]ddbtypes.AttributeValue) Call {
		return Call{Action: "dynamodb:" + op, Resource: table, LeadingKeys: r.leading(table, items...)}
	}
	switch in := params.(type) {
	case *dynamodb.GetItemInput:
		return []Call{ddb("GetItem", *in.TableName, in.Key)}
	case *dynamodb.PutItemInput:
		return []Call{ddb("PutItem", *in.TableName, in.Item)}
	case *dynamodb.UpdateItemInput:
		return []Call{ddb("UpdateItem", *in.TableName, in.Key)}
	case *dynamodb.DeleteItemInput:
		return []Call{ddb("DeleteItem", *in.TableName, in.Key)}
	case *dynamodb.BatchGetItemInput:
		var out []Call
		for table, ka := range in.RequestItems {
			out = append(out, ddb("BatchGetItem", table, ka.Keys...))
		}
		return out
	case *dynamodb.QueryInput:
		c := Call{Action: "dynamodb:Query", Resource: *in.TableName}
		if in.IndexName != nil { // IAM names an index as <table ARN>/index/<name>
			c.Resource += "/index/" + *in.IndexName
		}
		for _, v := range in.ExpressionAttributeValues {
			if s, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
				c.LeadingKeys = append(c.LeadingKeys, s.Value)
			}
		}
		return []Call{c}
	case *kms.SignInput:
		return []Call{{Action: "kms:Sign", Resource: *in.KeyId}}
	case *kms.GetPublicKeyInput:
		return []Call{{Action: "kms:GetPublicKey", Resource: *in.KeyId}}
	case *kms.GenerateMacInput:
		return []Call{{Action: "kms:GenerateMac", Resource: *in.KeyId}}
	case *kms.EncryptInput:
		return []Call{{Action: "kms:Encrypt", Resource: *in.KeyId}}
	case *kms.DecryptInput:
		return []Call{{Action: "kms:Decrypt", Resource: aws.ToString(in.KeyId)}}
	}
	return []Call{{Action: fmt.Sprintf("unknown:%T", params)}}
}
