package kmssign

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// macAPI is the part of the KMS client DeriveKey uses.
type macAPI interface {
	GenerateMac(ctx context.Context, in *kms.GenerateMacInput, opts ...func(*kms.Options)) (*kms.GenerateMacOutput, error)
}

// DeriveKey returns a 32-byte secret computed inside KMS: HMAC-SHA-256
// (RFC 2104) of label under the HMAC_256 key keyID. The HMAC key never
// leaves KMS; the same key and label give the same secret in every
// container, so functions agree on it without storing it anywhere. Call it
// once at init: it is one GenerateMac call.
//
// The service keys its refresh token successors and login throttle keys with
// it (shared/auth), so that neither a reader of the tables nor a holder of
// an old refresh token can compute them.
func DeriveKey(ctx context.Context, client macAPI, keyID, label string) ([]byte, error) {
	out, err := client.GenerateMac(ctx, &kms.GenerateMacInput{
		KeyId:        &keyID,
		Message:      []byte(label),
		MacAlgorithm: kmstypes.MacAlgorithmSpecHmacSha256,
	})
	if err != nil {
		return nil, fmt.Errorf("derive key from %s: %w", keyID, err)
	}
	if len(out.Mac) != 32 {
		return nil, fmt.Errorf("derive key from %s: %d-byte MAC, want 32", keyID, len(out.Mac))
	}
	return out.Mac, nil
}
