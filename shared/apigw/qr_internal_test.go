package apigw

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestQRErrorHoldsNoSecret: when the QR code of an otpauth URI cannot be
// rendered, neither the error nor the log line the handler writes for it
// holds the secret. The libraries' own errors quote the URI: url.Parse's
// for a control character, barcode's for content too long for a QR code.
func TestQRErrorHoldsNoSecret(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	for name, uri := range map[string]string{
		"unparsable": "otpauth://totp/ivy\x7f?secret=" + secret + "&issuer=x",
		"too long":   "otpauth://totp/ivy?issuer=x&secret=" + secret + strings.Repeat("A", 4000),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := qrDataURI(uri)
			if err == nil {
				t.Fatal("no error: the test renders nothing it should fail on")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error holds the secret: %v", err)
			}
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			r, _ := reply(context.Background(), log, err)
			if r.StatusCode != 500 || strings.Contains(r.Body, secret) {
				t.Errorf("answer %d %s, want 500 without the secret", r.StatusCode, r.Body)
			}
			if logs.Len() == 0 || strings.Contains(logs.String(), secret) {
				t.Errorf("log %q: want a line without the secret", logs.String())
			}
		})
	}
}
