package dynamo

import "time"

// Window is 0 (auth.RevocationLookup): the revocation table keeps every
// entry until its own expiry, so a verifier reading it strongly consistent
// (strict mode, introspection, RFC 7009) may accept tokens of any lifetime
// the configuration allows.
func (s *Store) Window() time.Duration { return 0 }
