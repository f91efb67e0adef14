package localapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// IAMPrincipal is a set of AWS credentials the local gateway knows, and
// the identity API Gateway would put in requestContext.authorizer.iam for
// a request signed with them.
type IAMPrincipal struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	UserARN, UserID                            string
}

// LocalPrincipal stands for the dummy credentials of every local tool
// (AWS_ACCESS_KEY_ID=local, AWS_SECRET_ACCESS_KEY=local in scripts/dev's
// endpoints.env): the caller that may use AWS_IAM routes locally.
var LocalPrincipal = IAMPrincipal{
	AccessKeyID: "local", SecretAccessKey: "local",
	UserARN: "arn:aws:iam::" + localAccount + ":user/local", UserID: "AIDALOCALUSER00000001",
}

// signatureMaxSkew is how far X-Amz-Date may be from the gateway's clock
// (SigV4: a signature is valid for 15 minutes).
const signatureMaxSkew = 15 * time.Minute

// iamRefusal is API Gateway's 403 for a route with AWS_IAM authorization:
// x-amzn-ErrorType and the message its documentation names ("How do I
// troubleshoot HTTP 403 errors from API Gateway?", AWS re:Post knowledge
// center).
type iamRefusal struct {
	errorType, message string
}

func (r *iamRefusal) write(w http.ResponseWriter) {
	w.Header().Set("x-amzn-ErrorType", r.errorType)
	gatewayError(w, http.StatusForbidden, r.message)
}

var errSignatureMismatch = &iamRefusal{"InvalidSignatureException",
	"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}

// verifyIAM checks a request to an AWS_IAM route as API Gateway does: a
// Signature Version 4 Authorization header for execute-api in this region,
// from known credentials, dated within 15 minutes, whose signature the
// AWS SDK's v4 signer computes again over the headers it names and the
// body as received. It returns the caller's identity for the event.
// Not emulated: presigned URLs (X-Amz-Signature in the query) and IAM
// policies (every known principal may invoke every AWS_IAM route; on AWS
// it needs execute-api:Invoke on the route).
func verifyIAM(r *http.Request, body []byte, principals map[string]IAMPrincipal, now time.Time) (*events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription, *iamRefusal) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return nil, &iamRefusal{"MissingAuthenticationTokenException", "Missing Authentication Token"}
	}
	scheme, params, _ := strings.Cut(authz, " ")
	fields := map[string]string{}
	for _, p := range strings.Split(params, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok {
			fields[k] = v
		}
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if fields[k] == "" {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if scheme != "AWS4-HMAC-SHA256" || len(missing) > 0 {
		return nil, &iamRefusal{"IncompleteSignatureException", strings.Join(missing, " ") + " Authorization=" + scheme}
	}
	cred := strings.Split(fields["Credential"], "/") // AKID/yyyymmdd/region/service/aws4_request
	if len(cred) != 5 || cred[4] != "aws4_request" {
		return nil, &iamRefusal{"IncompleteSignatureException", "Credential should be of the form AccessKeyId/Date/Region/Service/aws4_request."}
	}
	if cred[2] != localRegion {
		return nil, &iamRefusal{"InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region, not '%s'.", cred[2])}
	}
	if cred[3] != "execute-api" {
		return nil, &iamRefusal{"InvalidSignatureException", "Credential should be scoped to correct service: 'execute-api'."}
	}
	p, ok := principals[cred[0]]
	if !ok || r.Header.Get("X-Amz-Security-Token") != p.SessionToken {
		return nil, &iamRefusal{"UnrecognizedClientException", "The security token included in the request is invalid."}
	}
	signedAt, err := time.Parse("20060102T150405Z", date)
	if err != nil || !strings.HasPrefix(date, cred[1]) {
		return nil, errSignatureMismatch
	}
	if d := now.Sub(signedAt); d > signatureMaxSkew || d < -signatureMaxSkew {
		return nil, &iamRefusal{"InvalidSignatureException", fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			date, now.Add(-signatureMaxSkew).UTC().Format("20060102T150405Z"), now.UTC().Format("20060102T150405Z"))}
	}

	// The same request as the client signed it: its method, path, query,
	// the headers it names, its body; signed again with the secret.
	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.EscapedPath(), nil)
	if err != nil {
		return nil, errSignatureMismatch
	}
	again.URL.RawQuery = r.URL.RawQuery
	for _, name := range strings.Split(fields["SignedHeaders"], ";") {
		switch name {
		case "host":
		case "content-length":
			again.ContentLength = int64(len(body))
		default:
			again.Header[http.CanonicalHeaderKey(name)] = r.Header.Values(name)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: p.AccessKeyID, SecretAccessKey: p.SecretAccessKey, SessionToken: p.SessionToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), "execute-api", localRegion, signedAt); err != nil {
		return nil, errSignatureMismatch
	}
	want := signatureOf(again.Header.Get("Authorization"))
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(fields["Signature"])) != 1 {
		return nil, errSignatureMismatch
	}
	return &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{
		AccessKey: p.AccessKeyID, AccountID: localAccount, CallerID: p.UserID, UserARN: p.UserARN, UserID: p.UserID,
	}, nil
}

// signatureOf is the Signature parameter of a SigV4 Authorization header.
func signatureOf(authz string) string {
	i := strings.Index(authz, "Signature=")
	if i < 0 {
		return ""
	}
	return authz[i+len("Signature="):]
}

// SignRequest signs req for an AWS_IAM route of the local API with the
// credentials of p, as the AWS SDK signs for execute-api (tests and
// scripts that call POST /auth/introspect).
func SignRequest(req *http.Request, body []byte, p IAMPrincipal, at time.Time) error {
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: p.AccessKeyID, SecretAccessKey: p.SecretAccessKey, SessionToken: p.SessionToken}
	if req.URL.Host == "" {
		return fmt.Errorf("sign %s: no host", req.URL)
	}
	return v4.NewSigner().SignHTTP(req.Context(), creds, req, hex.EncodeToString(sum[:]), "execute-api", localRegion, at)
}
