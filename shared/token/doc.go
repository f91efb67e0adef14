// Package token issues and verifies the service's access tokens: JWTs with
// header typ "at+jwt" (RFC 9068) signed by an asymmetric key.
//
// It knows nothing of AWS: issuing goes through a Signer (KMS in production),
// verifying through a fixed set of public keys loaded once at init. Verification
// follows RFC 8725 (JWT BCP) and RFC 9068 section 4 and is deliberately strict:
// anything the service itself never produces is refused.
package token
