package dynamo

import (
	"time"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Window is auth.NoWindowLimit (auth.RevocationLookup): the revocation table keeps every
// entry until its own expiry, so a verifier reading it strongly consistent
// (strict mode, introspection, RFC 7009) may accept tokens of any lifetime
// the configuration allows.
func (s *Store) Window() time.Duration { return auth.NoWindowLimit }
