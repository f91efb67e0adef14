package passkey

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authkit/lambda-auth/shared/auth"
)

// SignIn is the passkey sign-in with no username (discoverable
// credentials): a begin that hands out request options with a challenge
// and an empty allowCredentials, a finish that finds the credential by the
// id the browser answers with, checks the assertion and starts a session.
type SignIn struct {
	wa    *webauthn.WebAuthn
	store auth.PasskeyStore
	users auth.Users
	start *auth.SessionStart
	opt   auth.Options
	log   *slog.Logger
}

// NewSignIn builds the sign-in flow of relying party c: credentials and
// challenges in store, users read from users (a disabled user is refused),
// sessions started by start.
func NewSignIn(c Config, store auth.PasskeyStore, users auth.Users, start *auth.SessionStart, o auth.Options) (*SignIn, error) {
	if store == nil || users == nil || start == nil {
		return nil, errors.New("passkey: NewSignIn needs a store, users and a session start")
	}
	wa, err := newWebAuthn(c)
	if err != nil {
		return nil, err
	}
	o = withDefaults(o)
	return &SignIn{wa: wa, store: store, users: users, start: start, opt: o, log: o.Logger}, nil
}

// Begin hands out request options (JSON, {"publicKey": ...}) with a new
// challenge, user verification required and no allowCredentials: the
// browser offers the user's passkeys for this RP ID, in a dialog or, with
// mediation "conditional", in the username field's autofill.
func (s *SignIn) Begin(ctx context.Context) ([]byte, error) {
	assertion, sd, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("passkeys: begin sign-in: %w", err)
	}
	if err := putChallenge(ctx, s.store, s.opt, auth.CeremonySignIn, "", sd); err != nil {
		return nil, err
	}
	return json.Marshal(assertion)
}

// Finish checks the browser's answer (the PublicKeyCredential as JSON) to
// a challenge Begin gave, and starts a session for the credential's owner.
// previous is the refresh token the browser still holds, if any (its
// session ends first, as at a password login).
func (s *SignIn) Finish(ctx context.Context, body []byte, previous string, opts ...auth.LoginOption) (auth.Tokens, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return auth.Tokens{}, s.refuse(ctx, nil, refused("parse the assertion", err))
	}
	sd, err := takeChallenge(ctx, s.store, s.opt, auth.CeremonySignIn, "", parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return auth.Tokens{}, s.refuse(ctx, parsed.RawID, err)
	}
	if len(parsed.RawID) == 0 || len(parsed.RawID) > auth.MaxPasskeyIDBytes {
		return auth.Tokens{}, s.refuse(ctx, nil, fmt.Errorf("credential id of %d bytes: %w", len(parsed.RawID), auth.ErrPasskeyRefused))
	}
	stored, err := s.store.Passkey(ctx, parsed.RawID)
	if err != nil {
		return auth.Tokens{}, fmt.Errorf("passkeys: %w", errors.Join(auth.ErrUnavailable, err))
	}
	// WebAuthn L3 §7.2 steps 5-6: the credential is known, and the user
	// handle the authenticator returns is its owner's.
	if why := auth.PasskeyRefusal(stored, parsed.Response.UserHandle); why != "" {
		return auth.Tokens{}, s.refuse(ctx, parsed.RawID, fmt.Errorf("%s: %w", why, auth.ErrPasskeyRefused))
	}
	owner := &user{handle: stored.UserHandle, name: stored.Username, creds: []webauthn.Credential{credential(stored)}}
	_, cred, err := s.wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) { return owner, nil }, sd, parsed)
	if err != nil {
		return auth.Tokens{}, s.refuse(ctx, parsed.RawID, refused("check the assertion", err))
	}
	now := s.opt.Now()
	flags := parsed.Response.AuthenticatorData.Flags
	presented := parsed.Response.AuthenticatorData.Counter
	// WebAuthn L3 §7.2 step 22 (the library flags it as CloneWarning too).
	if auth.SignCountRegressed(stored.SignCount, presented) || cred.Authenticator.CloneWarning {
		if err := s.store.FlagPasskeyClone(ctx, stored.ID, presented, now); err != nil {
			s.log.ErrorContext(ctx, "passkey: flag a possible clone", "err", err)
		}
		s.log.WarnContext(ctx, "passkey sign count went back: credential flagged and refused (possible clone)",
			"sub", stored.UserID, "credential", shortID(stored.ID), "stored_count", stored.SignCount, "presented_count", presented)
		return auth.Tokens{}, auth.ErrPasskeyRefused
	}
	use := auth.PasskeyUse{SignCount: presented, UserPresent: flags.HasUserPresent(), UserVerified: flags.HasUserVerified(),
		BackupEligible: flags.HasBackupEligible(), BackupState: flags.HasBackupState(), At: now}
	if err := s.store.RecordPasskeyUse(ctx, stored.ID, stored.SignCount, use); err != nil {
		if errors.Is(err, auth.ErrPasskeyRefused) {
			return auth.Tokens{}, s.refuse(ctx, stored.ID, err)
		}
		return auth.Tokens{}, fmt.Errorf("passkeys: %w", errors.Join(auth.ErrUnavailable, err))
	}
	u, err := s.users.User(ctx, stored.Username)
	if err != nil {
		return auth.Tokens{}, fmt.Errorf("passkeys: read user: %w", errors.Join(auth.ErrUnavailable, err))
	}
	if u == nil || u.ID != stored.UserID {
		// The account was deleted, or its name now belongs to another.
		return auth.Tokens{}, s.refuse(ctx, stored.ID, fmt.Errorf("the credential's user is gone: %w", auth.ErrPasskeyRefused))
	}
	if u.Disabled {
		return auth.Tokens{}, s.refuse(ctx, stored.ID, fmt.Errorf("disabled user: %w", auth.ErrPasskeyRefused))
	}
	return s.start.Start(ctx, u, auth.PasskeyAMR(stored.BackupEligible), previous, opts...)
}

// refuse logs a refused sign-in (the credential's id prefix, never the
// answer) and returns err.
func (s *SignIn) refuse(ctx context.Context, id []byte, err error) error {
	if errors.Is(err, auth.ErrPasskeyRefused) {
		s.log.WarnContext(ctx, "passkey sign-in refused", "credential", shortID(id), "err", err)
	}
	return err
}

// shortID names a credential in logs by the first characters of its id:
// enough to find it, and an id is no secret.
func shortID(id []byte) string {
	s := base64.RawURLEncoding.EncodeToString(id)
	if len(s) > 12 {
		s = s[:12]
	}
	return s
}
