package guard

import (
	"fmt"
	"strings"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dpop"
)

// DPoPReplayEntries bounds the per-process record of accepted DPoP proofs
// when Config.DPoPReplay is nil (about 100 bytes an entry, kept for the
// proof's iat window).
const DPoPReplayEntries = 100_000

// proofVerifier is the DPoP check (RFC 9449 4.3) over Config.DPoPReplay,
// or nil (the DPoP scheme refused) without a PublicOrigin.
func (g *Guard) proofVerifier() (auth.ProofVerifier, error) {
	if g.cfg.PublicOrigin == "" {
		return nil, nil
	}
	o := g.cfg.PublicOrigin
	if !strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://") || strings.HasSuffix(o, "/") || strings.Count(o, "/") != 2 {
		return nil, fmt.Errorf("guard: PublicOrigin %q: scheme://host[:port], no path nor trailing slash", o)
	}
	replay := g.cfg.DPoPReplay
	if replay == nil {
		replay = dpop.NewMemoryReplay(DPoPReplayEntries, g.cfg.Now)
	}
	v, err := dpop.NewVerifier(dpop.WithReplay(replay), dpop.WithTimeFunc(g.cfg.Now))
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	g.dpopAlgs = strings.Join(v.Algorithms(), " ")
	return v, nil
}

// challenge is the WWW-Authenticate value of a refusal: for scheme (or,
// NoScheme, for every scheme taken), with error="code" when code is not
// "" (RFC 6750 3, RFC 9449 7.1: the DPoP challenge names the algorithms
// taken in algs).
func (g *Guard) challenge(scheme auth.Scheme, code string) string {
	errParam := ""
	if code != "" {
		errParam = `, error="` + code + `"`
	}
	bearer := `Bearer realm="api"` + errParam
	if g.dpopAlgs == "" {
		return bearer
	}
	d := `DPoP realm="api", algs="` + g.dpopAlgs + `"` + errParam
	switch scheme {
	case auth.Bearer:
		return bearer
	case auth.DPoP:
		return d
	}
	return bearer + ", " + d
}
