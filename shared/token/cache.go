package token

import (
	"crypto/sha256"
	"sync"
	"unsafe"
)

// Cache remembers the claims of tokens its Verifier accepted, so a token
// seen before costs a SHA-256 and a map lookup instead of a signature
// check: a token's signature, issuer and audience never change. Its time
// claims (exp, nbf, iat) are checked again on every use, and revocation is
// the caller's business on every use. Only verified tokens enter.
//
// It holds at most Size entries, evicted oldest first: about 300 bytes
// each (claims and key), so the default of 10,000 is about 3 MB.
type Cache struct {
	v    *Verifier
	mu   sync.Mutex
	m    map[[sha256.Size]byte]*Claims
	ring [][sha256.Size]byte // keys in insertion order
	next int
}

// DefaultCacheSize is the number of tokens a Cache holds by default.
const DefaultCacheSize = 10_000

// NewCache returns a Cache of size entries in front of v.
func NewCache(v *Verifier, size int) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Cache{v: v, m: make(map[[sha256.Size]byte]*Claims, size), ring: make([][sha256.Size]byte, 0, size)}
}

// Verify is Verifier.Verify, remembered. The claims returned are shared
// between callers: read them, never change them.
func (c *Cache) Verify(raw string) (*Claims, error) {
	if len(raw) > MaxTokenBytes {
		return nil, ErrTooLarge
	}
	// The token's bytes in place: a []byte(raw) copy would be a heap
	// allocation on every call; Sum256 only reads them.
	key := sha256.Sum256(unsafe.Slice(unsafe.StringData(raw), len(raw)))
	c.mu.Lock()
	cl, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		if err := c.v.checkTimes(cl); err != nil {
			return nil, err
		}
		return cl, nil
	}
	cl, err := c.v.Verify(raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, key)
	} else {
		delete(c.m, c.ring[c.next])
		c.ring[c.next] = key
		c.next = (c.next + 1) % len(c.ring)
	}
	c.m[key] = cl
	return cl, nil
}

// Len is the number of tokens held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
