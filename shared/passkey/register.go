package passkey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authkit/lambda-auth/shared/auth"
)

// Registration is a signed-in user's passkeys: register one (a begin that
// hands out creation options and a challenge, a finish that checks the
// attestation), list them, remove one. Registering and removing need a
// sign-in within auth.RecentSignIn: a passkey is a way in, and removing
// one can push the user back to a phishable password, so neither is left
// to a stolen access token or an unattended browser. Removing a passkey
// ends no session (those it started end as any other, from the session
// list).
type Registration struct {
	wa       *webauthn.WebAuthn
	store    auth.PasskeyStore
	sessions auth.Sessions
	opt      auth.Options
	log      *slog.Logger
}

// NewRegistration builds the registration flow of relying party c: it
// stores credentials and challenges in store and reads the caller's
// session (its sign-in time, its username) from sessions.
func NewRegistration(c Config, store auth.PasskeyStore, sessions auth.Sessions, o auth.Options) (*Registration, error) {
	if store == nil || sessions == nil {
		return nil, errors.New("passkey: NewRegistration needs a store and sessions")
	}
	wa, err := newWebAuthn(c)
	if err != nil {
		return nil, err
	}
	o = withDefaults(o)
	return &Registration{wa: wa, store: store, sessions: sessions, opt: o, log: o.Logger}, nil
}

func withDefaults(o auth.Options) auth.Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// recentSession reads the caller's session and checks that its sign-in is
// recent (RFC 9470: otherwise insufficient_user_authentication, max_age).
func (r *Registration) recentSession(ctx context.Context, userID, sid string) (*auth.Session, error) {
	sess, err := r.sessions.Session(ctx, sid)
	if err != nil {
		return nil, fmt.Errorf("passkeys: read session: %w", errors.Join(auth.ErrUnavailable, err))
	}
	if sess == nil || sess.UserID != userID || !sess.RevokedAt.IsZero() {
		return nil, auth.ErrInvalidToken
	}
	if age := auth.SignInAge(sess, r.opt.Now()); age > auth.RecentSignIn {
		r.log.InfoContext(ctx, "passkeys: sign-in too old", "sub", userID, "sid", sid, "age", age.Round(1e9).String())
		return nil, &auth.StaleSignInError{MaxAge: auth.RecentSignIn}
	}
	return sess, nil
}

// Begin starts a registration for the caller: the creation options
// (JSON, {"publicKey": ...}) with a new challenge, the user's handle, and
// their passkeys as excludeCredentials (one authenticator holds one
// passkey of a user, WebAuthn L3 §5.4.3).
func (r *Registration) Begin(ctx context.Context, userID, sid string) ([]byte, error) {
	sess, err := r.recentSession(ctx, userID, sid)
	if err != nil {
		return nil, err
	}
	handle, err := r.store.PasskeyUserHandle(ctx, userID, randomHandle())
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", errors.Join(auth.ErrUnavailable, err))
	}
	existing, err := r.store.UserPasskeys(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", errors.Join(auth.ErrUnavailable, err))
	}
	u := &user{handle: handle, name: sess.Username}
	var exclude []protocol.CredentialDescriptor
	for i := range existing {
		c := credential(&existing[i])
		exclude = append(exclude, c.Descriptor())
	}
	creation, sd, err := r.wa.BeginRegistration(u, webauthn.WithExclusions(exclude),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	if err != nil {
		return nil, fmt.Errorf("passkeys: begin registration: %w", err)
	}
	if err := putChallenge(ctx, r.store, r.opt, auth.CeremonyRegister, userID, sd); err != nil {
		return nil, err
	}
	return json.Marshal(creation)
}

// Finish checks the browser's answer (the PublicKeyCredential as JSON)
// to a challenge Begin gave this user, and stores the new credential.
func (r *Registration) Finish(ctx context.Context, userID, sid string, body []byte) (*auth.Passkey, error) {
	sess, err := r.recentSession(ctx, userID, sid)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return nil, r.refuse(ctx, userID, refused("parse the attestation", err))
	}
	sd, err := takeChallenge(ctx, r.store, r.opt, auth.CeremonyRegister, userID, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return nil, r.refuse(ctx, userID, err)
	}
	u := &user{handle: sd.UserID, name: sess.Username}
	cred, err := r.wa.CreateCredential(u, sd, parsed)
	if err != nil {
		return nil, r.refuse(ctx, userID, refused("check the attestation", err))
	}
	if len(cred.ID) > auth.MaxPasskeyIDBytes {
		return nil, r.refuse(ctx, userID, fmt.Errorf("credential id of %d bytes: %w", len(cred.ID), auth.ErrPasskeyRefused))
	}
	now := r.opt.Now()
	p := &auth.Passkey{
		ID: cred.ID, UserID: userID, Username: sess.Username, UserHandle: sd.UserID, PublicKey: cred.PublicKey,
		SignCount: cred.Authenticator.SignCount, UserPresent: cred.Flags.UserPresent, UserVerified: cred.Flags.UserVerified,
		BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		AAGUID: cred.Authenticator.AAGUID, AttestationFormat: cred.AttestationFormat,
		Attachment: string(parsed.AuthenticatorAttachment), CreatedAt: now, LastUsedAt: now,
	}
	for _, t := range cred.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	if err := r.store.CreatePasskey(ctx, p); err != nil {
		if errors.Is(err, auth.ErrPasskeyExists) {
			return nil, r.refuse(ctx, userID, fmt.Errorf("credential id already registered: %w", auth.ErrPasskeyRefused))
		}
		return nil, fmt.Errorf("passkeys: %w", errors.Join(auth.ErrUnavailable, err))
	}
	r.log.InfoContext(ctx, "passkey registered", "sub", userID, "credential", shortID(p.ID),
		"backup_eligible", p.BackupEligible, "attachment", p.Attachment)
	return p, nil
}

func (r *Registration) refuse(ctx context.Context, userID string, err error) error {
	if errors.Is(err, auth.ErrPasskeyRefused) {
		r.log.WarnContext(ctx, "passkey registration refused", "sub", userID, "err", err)
	}
	return err
}

// List returns the caller's passkeys, newest first.
func (r *Registration) List(ctx context.Context, userID string) ([]auth.Passkey, error) {
	list, err := r.store.UserPasskeys(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", errors.Join(auth.ErrUnavailable, err))
	}
	return list, nil
}

// Delete removes one of the caller's passkeys, with a recent sign-in.
func (r *Registration) Delete(ctx context.Context, userID, sid string, id []byte) error {
	if len(id) == 0 || len(id) > auth.MaxPasskeyIDBytes {
		return auth.ErrPasskeyNotFound
	}
	if _, err := r.recentSession(ctx, userID, sid); err != nil {
		return err
	}
	if err := r.store.DeletePasskey(ctx, userID, id); err != nil {
		if errors.Is(err, auth.ErrPasskeyNotFound) {
			return err
		}
		return fmt.Errorf("passkeys: %w", errors.Join(auth.ErrUnavailable, err))
	}
	r.log.InfoContext(ctx, "passkey removed", "sub", userID, "credential", shortID(id))
	return nil
}
