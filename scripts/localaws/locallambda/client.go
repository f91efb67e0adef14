// Package locallambda is a Lambda client for the Invoke API scripts/dev
// serves (localapi.InvokeAPI). It lives apart from localaws so that
// scripts/dev's runner, which never calls Lambda, does not compile the
// Lambda SDK client (about 76,000 lines, none of them in a function's
// build): its first build from empty caches is that much shorter.
package locallambda

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/authkit/lambda-auth/scripts/localaws"
)

// Client is a Lambda client for the Invoke API at url, with localaws'
// dummy credentials and nothing of the caller's AWS configuration.
func Client(url string) *lambda.Client {
	return lambda.NewFromConfig(localaws.SDKConfig(), func(o *lambda.Options) { o.BaseEndpoint = aws.String(url) })
}
