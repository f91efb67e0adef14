package kmssign

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// cryptAPI is the part of the KMS client a SecretBox uses.
type cryptAPI interface {
	Encrypt(ctx context.Context, in *kms.EncryptInput, opts ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// SecretBox seals second-factor secrets with a symmetric KMS key
// (SYMMETRIC_DEFAULT): one Encrypt per enrolment, one Decrypt per code
// checked. The encryption context names the purpose and the user
// (AWS KMS Developer Guide, "Encryption context"): a sealed secret copied
// to another user's record does not open, and CloudTrail logs say whose
// secret was opened. It implements auth.SecretBox.
type SecretBox struct {
	client cryptAPI
	keyID  string
}

// NewSecretBox is a box over the symmetric key keyID (TOTP_KEY_ID).
func NewSecretBox(client cryptAPI, keyID string) *SecretBox {
	return &SecretBox{client: client, keyID: keyID}
}

func totpContext(userID string) map[string]string {
	return map[string]string{"purpose": "totp", "user_id": userID}
}

// Seal encrypts secret for userID.
func (b *SecretBox) Seal(ctx context.Context, userID string, secret []byte) ([]byte, error) {
	out, err := b.client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(b.keyID), Plaintext: secret,
		EncryptionContext: totpContext(userID), EncryptionAlgorithm: kmstypes.EncryptionAlgorithmSpecSymmetricDefault})
	if err != nil {
		return nil, fmt.Errorf("KMS encrypt: %w", err)
	}
	return out.CiphertextBlob, nil
}

// Open decrypts what Seal sealed for userID; naming the key makes KMS
// refuse a ciphertext of another key.
func (b *SecretBox) Open(ctx context.Context, userID string, sealed []byte) ([]byte, error) {
	out, err := b.client.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(b.keyID), CiphertextBlob: sealed,
		EncryptionContext: totpContext(userID), EncryptionAlgorithm: kmstypes.EncryptionAlgorithmSpecSymmetricDefault})
	if err != nil {
		return nil, fmt.Errorf("KMS decrypt: %w", err)
	}
	return out.Plaintext, nil
}
