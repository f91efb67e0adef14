package token

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"math/big"
)

// newVerifyKey binds a checked key (checkKeyAlg) to its algorithm.
func newVerifyKey(k PublicKey) verifyKey {
	vk := verifyKey{alg: k.Alg}
	switch key := k.Key.(type) {
	case *ecdsa.PublicKey:
		vk.ec = key
		vk.size = (key.Curve.Params().BitSize + 7) / 8
		vk.halfOrder = new(big.Int).Rsh(key.Curve.Params().N, 1).FillBytes(make([]byte, vk.size))
	case *rsa.PublicKey:
		vk.rsa = key
	}
	return vk
}

// verify checks sig over signingInput with the standard library's
// primitives, as golang-jwt's signing methods do, plus one rule of ours.
//
// ECDSA signatures must have the fixed-size R||S form (RFC 7518 3.4), so a
// DER signature is refused; R or S of zero are refused (CVE-2022-21449; so
// does crypto/ecdsa). Our signer emits low S only, so the high-S twin of a
// valid signature (same token, other bytes) is refused too. RSA-PSS needs a
// salt as long as the hash (32 bytes for PS256, RFC 7518 3.5), which is what
// AWS KMS uses; golang-jwt's PS256 accepts any length.
func (k *verifyKey) verify(signingInput, sig []byte) bool {
	if k.rsa != nil {
		d := sha256.Sum256(signingInput)
		if k.alg == "PS256" {
			return rsa.VerifyPSS(k.rsa, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, d[:], sig) == nil
	}
	if len(sig) != 2*k.size {
		return false
	}
	r, s := sig[:k.size], sig[k.size:]
	if allZero(r) || allZero(s) || bytes.Compare(s, k.halfOrder) > 0 {
		return false
	}
	var der [2 + 2*(3+66)]byte // ES512: two INTEGERs of up to 67 bytes
	sigDER := AppendDERSignature(der[:0], r, s)
	switch k.alg {
	case "ES384":
		d := sha512.Sum384(signingInput)
		return ecdsa.VerifyASN1(k.ec, d[:], sigDER)
	case "ES512":
		d := sha512.Sum512(signingInput)
		return ecdsa.VerifyASN1(k.ec, d[:], sigDER)
	}
	d := sha256.Sum256(signingInput)
	return ecdsa.VerifyASN1(k.ec, d[:], sigDER)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// AppendDERSignature appends the ASN.1 DER form of an ECDSA signature,
// SEQUENCE { INTEGER r, INTEGER s }, for r and s big-endian, unsigned and
// not zero (up to 66-byte values: P-521). shared/dpop checks DPoP proofs
// with it too.
func AppendDERSignature(dst, r, s []byte) []byte {
	r, s = bytes.TrimLeft(r, "\x00"), bytes.TrimLeft(s, "\x00")
	n := derIntLen(r) + derIntLen(s)
	dst = append(dst, 0x30) // SEQUENCE
	if n >= 0x80 {
		dst = append(dst, 0x81) // one length byte follows (n < 256)
	}
	dst = append(dst, byte(n))
	dst = appendDERInt(dst, r)
	return appendDERInt(dst, s)
}

// derIntLen is the size of a DER INTEGER holding v (< 128 bytes).
func derIntLen(v []byte) int {
	if v[0]&0x80 != 0 {
		return 2 + 1 + len(v)
	}
	return 2 + len(v)
}

func appendDERInt(dst, v []byte) []byte {
	dst = append(dst, 0x02) // INTEGER
	if v[0]&0x80 != 0 {
		return append(append(dst, byte(len(v)+1), 0), v...) // a leading 0: positive
	}
	return append(append(dst, byte(len(v))), v...)
}

// same tells whether k is the key (and algorithm) vk was made from.
func (vk verifyKey) same(k PublicKey) bool {
	if vk.alg != k.Alg {
		return false
	}
	switch key := k.Key.(type) {
	case *ecdsa.PublicKey:
		return vk.ec != nil && vk.ec.Equal(key)
	case *rsa.PublicKey:
		return vk.rsa != nil && vk.rsa.Equal(key)
	}
	return false
}
