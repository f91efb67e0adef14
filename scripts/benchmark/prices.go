package main

import "github.com/authkit/lambda-auth/scripts/fleetsim/fleet"

// AWS prices the cost model uses: us-east-1, on demand, first pricing tier,
// no free tier. Read on 2026-11-28; check them before relying on them. The
// DynamoDB request unit prices live in scripts/fleetsim/fleet (the fleet
// simulation's cost too).
type price struct {
	what   string
	usd    float64 // per unit
	unit   string
	source string
}

var (
	priceLambdaRequest = price{"Lambda requests", 0.20 / 1e6, "request",
		"https://aws.amazon.com/lambda/pricing/ ($0.20 per 1M requests; the page's table is rendered by script, the figures were read from https://cloudchipr.com/blog/aws-lambda-pricing and https://git.mcrn.ar/mariano/lambda_local_runner docs, which quote it)"}
	priceLambdaArmGBs = price{"Lambda duration, arm64", 0.0000133334, "GB-second",
		"https://aws.amazon.com/lambda/pricing/ (Arm, first 7.5 billion GB-s per month; same third-party quotes as above)"}
	priceHTTPAPI = price{"API Gateway HTTP API", 1.00 / 1e6, "request",
		"https://docs.aws.amazon.com/whitepapers/latest/best-practices-api-gateway-private-apis-integration/cost-optimization.html (first 300M requests per month, us-east-1)"}
	priceRRU = price{"DynamoDB on-demand read request unit", fleet.USDPerRRU, "RRU",
		"https://airbyte.com/data-engineering-resources/dynamodb-pricing (us-east-1, after the November 2024 on-demand price cut; the AWS page https://aws.amazon.com/dynamodb/pricing/on-demand/ was not readable here)"}
	priceWRU     = price{"DynamoDB on-demand write request unit", fleet.USDPerWRU, "WRU", priceRRU.source}
	priceKMSAsym = price{"KMS asymmetric request (ECC, RSA 3072/4096)", 0.15 / 1e4, "request",
		"https://aws.amazon.com/kms/pricing/ (\"$0.15 per 10,000 asymmetric requests except RSA 2048\"; quoted from memory of that page, whose table was not in the text read here; consistent with https://www.factualminds.com/blog/aws-kms-pricing-keys-requests-multi-region/ , \"asymmetric operations at 5x the symmetric rate\" of $0.03 per 10,000; one other guide, wring.co, lists $0.03 for ECC: verify)"}
	priceKMSRSA2048 = price{"KMS asymmetric request, RSA 2048", 0.03 / 1e4, "request",
		"https://aws.amazon.com/kms/pricing/ (\"$0.03 per 10,000 requests involving RSA 2048 keys\"; from memory of that page, as above)"}
)

// vCPUMemoryMB is the memory size at which a Lambda function gets one full
// vCPU; CPU share scales linearly with memory below it
// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
const vCPUMemoryMB = 1769

// kmsSignQuota is the default KMS Sign rate this report compares with, per
// account and region (the figure; the quotas differ for ECC and RSA
// keys and by region: https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html).
const kmsSignQuota = 1000
