package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"log/slog"
	"time"

	"github.com/pquerna/otp"

	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/metrics"
)

type loginMFARequest struct {
	MFAToken           string `json:"mfa_token"`
	Code               string `json:"code"`
	RecoveryCode       string `json:"recovery_code"`
	RefreshTokenInBody bool   `json:"refresh_token_in_body"`
}

// LoginMFA handles POST /auth/login/mfa: the second step of a password
// login that answered 403 mfa_required, with the challenge (mfa_token)
// and a TOTP code or a recovery code. It answers as login does; every
// answer is counted by its outcome (metrics.SecondFactor). With WithDPoP,
// this request's DPoP proof binds the session as at login (and
// DPoPMode required refuses one without a proof here too).
func LoginMFA(svc *auth.Login, ck CookieConfig, log *slog.Logger, met *metrics.Recorder, opts ...TokenEndpointOption) Handler {
	e := newTokenEndpoint(ck, log, met, opts)
	return e.signIn(met.SecondFactor, func(req Request) (signInRequest, error) {
		var in loginMFARequest
		if err := decodeJSON(req, &in, false); err != nil {
			return signInRequest{}, err
		}
		if in.MFAToken == "" {
			return signInRequest{}, badRequest("mfa_token is required (from the 403 mfa_required answer of POST /auth/login)")
		}
		// The session keeps the User-Agent of the password step (its
		// challenge holds it).
		start := func(ctx context.Context, previous, jkt string) (auth.Tokens, error) {
			return svc.FinishMFA(ctx, in.MFAToken, in.Code, in.RecoveryCode, previous, auth.WithDPoPKey(jkt))
		}
		return signInRequest{refreshTokenInBody: in.RefreshTokenInBody, start: start}, nil
	})
}

type changePasswordRequest struct {
	CurrentPassword    string `json:"current_password"`
	NewPassword        string `json:"new_password"`
	Code               string `json:"code"`          // the TOTP code, for a user with a second factor
	RecoveryCode       string `json:"recovery_code"` // or a recovery code
	RefreshTokenInBody bool   `json:"refresh_token_in_body"`
}

// ChangePassword handles POST /auth/password behind the authorizer: the
// current password and the new one (and a TOTP code or a recovery code
// when the user has a second factor); every session of the user ends and
// the caller's device goes on in a new session, whose tokens it answers
// (the refresh token in the cookie, or in the body for other clients).
func ChangePassword(svc *auth.Login, ck CookieConfig, log *slog.Logger, met *metrics.Recorder) Handler {
	return protectedRoute(log, met, func(ctx context.Context, req Request, id Identity) (Response, error) {
		var in changePasswordRequest
		if err := decodeJSON(req, &in, false); err != nil {
			return Response{}, err
		}
		if in.CurrentPassword == "" || in.NewPassword == "" {
			return Response{}, badRequest("current_password and new_password are required")
		}
		if err := checkRefreshTokenInBody(req, in.RefreshTokenInBody); err != nil {
			return Response{}, err
		}
		t, err := svc.ChangePassword(ctx, id.Caller(), auth.PasswordChange{Current: in.CurrentPassword, Next: in.NewPassword,
			Code: in.Code, RecoveryCode: in.RecoveryCode}, auth.WithUserAgent(userAgent(req)))
		if err != nil {
			return Response{}, err
		}
		return tokenResponse(t, ck, in.RefreshTokenInBody, time.Now()), nil
	})
}

// TOTPStatus is the body of GET /auth/mfa/totp.
type TOTPStatus struct {
	Active        bool `json:"active"`
	Pending       bool `json:"pending"`
	RecoveryCodes int  `json:"recovery_codes"`
}

// TOTPEnrolment is the body of POST /auth/mfa/totp: the secret for typing,
// the otpauth URI, and the URI as a QR code (a PNG data URI, rendered
// here: a page needs no QR library).
type TOTPEnrolment struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
	QRCode     string `json:"qr_code"`
}

// RecoveryCodes is the body of POST /auth/mfa/totp/confirm: shown once.
type RecoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

type totpRequest struct {
	Label        string `json:"label"`
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

// TOTP handles the TOTP routes behind the authorizer, by route key:
// GET /auth/mfa/totp (status), POST /auth/mfa/totp (enrol: {"label"}),
// POST /auth/mfa/totp/confirm ({"code"}: the recovery codes) and DELETE
// /auth/mfa/totp ({"code"} or {"recovery_code"}, and a recent sign-in).
func TOTP(svc *auth.TOTP, log *slog.Logger, met *metrics.Recorder) Handler {
	return protectedRoute(log, met, func(ctx context.Context, req Request, id Identity) (Response, error) {
		var in totpRequest
		if req.RouteKey != "GET /auth/mfa/totp" {
			if err := decodeJSON(req, &in, true); err != nil {
				return Response{}, err
			}
		}
		c := id.Caller()
		switch req.RouteKey {
		case "GET /auth/mfa/totp":
			st, err := svc.Status(ctx, c.UserID)
			if err != nil {
				return Response{}, err
			}
			return JSON(200, TOTPStatus{Active: st.Active, Pending: st.Pending, RecoveryCodes: st.RecoveryCodes}), nil
		case "POST /auth/mfa/totp":
			e, err := svc.Enrol(ctx, c, in.Label)
			if err != nil {
				return Response{}, err
			}
			qr, err := qrDataURI(e.URI)
			if err != nil {
				return Response{}, err
			}
			return JSON(201, TOTPEnrolment{Secret: e.Secret, OTPAuthURI: e.URI, QRCode: qr}), nil
		case "POST /auth/mfa/totp/confirm":
			codes, err := svc.Confirm(ctx, c, in.Code)
			if err != nil {
				return Response{}, err
			}
			return JSON(200, RecoveryCodes{RecoveryCodes: codes}), nil
		case "DELETE /auth/mfa/totp":
			if err := svc.Remove(ctx, c, in.Code, in.RecoveryCode); err != nil {
				return Response{}, err
			}
			return NoContent(), nil
		}
		return Response{}, &requestError{404, "not_found", "no such route"}
	})
}

// qrDataURI renders an otpauth URI as a QR code PNG (github.com/pquerna/otp
// with github.com/boombuler/barcode), as a data: URI. Its errors hold
// neither the URI nor the errors of the libraries, which quote it (a
// *url.Error, barcode's "No encoding found to encode ..."): the URI holds
// the secret, and the error is logged.
func qrDataURI(uri string) (string, error) {
	k, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return "", errors.New("render the QR code: parse the otpauth URI")
	}
	img, err := k.Image(200, 200)
	if err != nil {
		return "", errors.New("render the QR code: encode the otpauth URI")
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return "", fmt.Errorf("render the QR code: encode PNG: %w", err) // image/png's errors hold no pixel data
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()), nil
}
