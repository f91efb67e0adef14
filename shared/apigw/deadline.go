package apigw

import (
	"context"
	"time"
)

// replyReserve is how long before the function's timeout a handler stops
// waiting for DynamoDB or KMS, so that it still answers: the pending call
// is abandoned and the client gets 503 temporarily_unavailable. Without it
// a hung call runs into the timeout, Lambda ends the invocation, and API
// Gateway answers with a bare 5xx of its own instead of a JSON error.
const replyReserve = 500 * time.Millisecond

// withReplyReserve ends ctx replyReserve before its deadline (Lambda sets
// the deadline to the function's timeout). A context without a deadline
// is only made cancellable.
func withReplyReserve(ctx context.Context) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, deadline.Add(-replyReserve))
	}
	return context.WithCancel(ctx)
}
