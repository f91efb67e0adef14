// Package dpop checks OAuth 2.0 DPoP proofs (RFC 9449): a JWT the client
// signs, per request, with a key it never sends, so that a token bound to
// that key (cnf.jkt, section 6.1) is worthless to whoever steals it.
//
// It holds the pieces the token endpoint and the authorizer use, none of
// them wired yet: Verifier checks a proof (section 4.3, each step cited
// where it is done) and returns its key's RFC 7638 Thumbprint; Nonces makes
// and checks stateless server nonces (sections 8 and 9); Replay remembers
// accepted proofs (section 11.1), with MemoryReplay for one process. It
// imports the standard library, shared/jsonscan and shared/token (the
// ECDSA signature's DER form), and knows nothing
// of AWS: the request's public URL comes from the caller (apigw.PublicURL).
//
// A proof shows that its sender holds the private half of the key it
// carries; it cannot show that the key is sound. A client that picks a weak
// key (an RSA modulus that is prime, an Ed25519 point of small order)
// weakens only its own binding, and nothing here tries to tell.
//
// # Replay across containers
//
// A proof is accepted only while its iat is inside the window (by default
// one minute back, ten seconds ahead), so a replay store only has to hold a
// proof that long. What it bounds depends on where it lives:
//
//   - MemoryReplay, one per process: a proof is accepted at most once per
//     container. Lambda runs one request per container at a time and
//     scales out under load, so a thief who replays a captured proof while
//     it is fresh gets it accepted by up to N containers, N being the
//     function's concurrency (its reserved concurrency bounds it), and only
//     within the window, only for the method and URL the proof names and,
//     at a resource, only with the token whose hash it carries.
//   - A shared store (the wiring increment): a DynamoDB conditional
//     PutItem of (jkt, jti) with attribute_not_exists and a TTL of the
//     window's end makes a proof accepted once in the whole fleet, for one
//     write per request (about one write unit, a few milliseconds), and
//     makes every check depend on DynamoDB being up.
//   - Server nonces (WithNonces) shorten the window to the nonce's life
//     (one to two steps) whatever the client's clock, and combine with
//     either store.
package dpop
