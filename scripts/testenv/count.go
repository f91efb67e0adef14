package testenv

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/middleware"
)

// Counter counts AWS API calls ("DynamoDB.BatchGetItem", "KMS.Sign") with an
// SDK middleware in the Finalize step, after the retry middleware: every
// attempt sent on the wire counts, retries included.
type Counter struct {
	mu    sync.Mutex
	calls map[string]int
}

// NewCounter returns an empty Counter.
func NewCounter() *Counter { return &Counter{calls: map[string]int{}} }

// Option installs the counter in an SDK configuration.
func (c *Counter) Option() func(*awsconfig.LoadOptions) error {
	return awsconfig.WithAPIOptions([]func(*middleware.Stack) error{
		func(s *middleware.Stack) error {
			return s.Finalize.Add(middleware.FinalizeMiddlewareFunc("CountCalls",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					key := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
					c.mu.Lock()
					c.calls[key]++
					c.mu.Unlock()
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
		},
	})
}

// Reset forgets every count.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = map[string]int{}
}

// Service is the number of calls to one service ("DynamoDB", "KMS").
func (c *Counter) Service(service string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.calls {
		if strings.HasPrefix(k, service+".") {
			n += v
		}
	}
	return n
}

// Op is the number of calls of one operation ("KMS.Sign").
func (c *Counter) Op(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

// Ops lists the operations called at least once, sorted.
func (c *Counter) Ops() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := make([]string, 0, len(c.calls))
	for k := range c.calls {
		ops = append(ops, k)
	}
	sort.Strings(ops)
	return ops
}

// String lists the counts, for failure messages.
func (c *Counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.calls))
	for k := range c.calls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, c.calls[k])
	}
	return strings.TrimSpace(b.String())
}
