package keycache_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/bucketkey/bucketkey/keycache"
)

// TestKeysPrintRedacted prints keys every way a log line might and checks
// the key bytes never appear, in any encoding.
func TestKeysPrintRedacted(t *testing.T) {
	pt := []byte("0123456789abcdef0123456789ABCDEF") // printable, to catch %s too
	wrapped := []byte{1, 2, 3}
	k := keycache.Key{Plaintext: pt, Wrapped: wrapped, KeyID: "arn:k"}
	gk := keycache.GeneratedKey{Plaintext: pt, Wrapped: wrapped, KeyID: "arn:k"}
	var logBuf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))
	logger.Info("key", "k", k, "gk", gk)
	jk, _ := json.Marshal(k)
	jgk, _ := json.Marshal(struct{ G keycache.GeneratedKey }{gk})
	outs := map[string]string{
		"slog": logBuf.String(), "json Key": string(jk), "json GeneratedKey": string(jgk),
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outs[verb+" Key"] = fmt.Sprintf(verb, k)
		outs[verb+" *Key"] = fmt.Sprintf(verb, &k)
		outs[verb+" GeneratedKey"] = fmt.Sprintf(verb, gk)
		outs[verb+" in struct"] = fmt.Sprintf(verb, struct {
			K  keycache.Key
			GK *keycache.GeneratedKey
		}{k, &gk})
		outs[verb+" in slice"] = fmt.Sprintf(verb, []keycache.Key{k})
	}
	forms := append(keyEncodings(pt), fmt.Sprint(pt[:4]), "48 49 50 51")
	for name, out := range outs {
		for _, f := range forms {
			if strings.Contains(out, f) {
				t.Errorf("%s prints key bytes (%q): %s", name, f, out)
			}
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s does not say REDACTED: %s", name, out)
		}
	}
	if !strings.Contains(k.String(), `KeyID:"arn:k"`) || !strings.Contains(k.String(), "Wrapped:[3 bytes]") {
		t.Errorf("String lost the useful parts: %s", k)
	}
}

func TestErrorKinds(t *testing.T) {
	for kind, want := range map[keycache.ErrorKind]string{
		keycache.KindUnavailable: "unavailable", keycache.KindThrottled: "throttled", keycache.KindDenied: "denied", keycache.KindInvalid: "invalid", 0: "unknown",
	} {
		if kind.String() != want {
			t.Errorf("%d.String() = %q, want %q", kind, kind.String(), want)
		}
	}
	cause := errors.New("boom")
	err := fmt.Errorf("proxy: %w", keycache.NewError(keycache.KindThrottled, keycache.OpDecrypt, cause))
	if keycache.KindOf(err) != keycache.KindThrottled || !errors.Is(err, cause) {
		t.Errorf("wrapped *Error lost kind or cause: %v", err)
	}
	if got := err.Error(); got != "proxy: keycache: Decrypt: boom" {
		t.Errorf("Error() = %q", got)
	}
	if keycache.KindOf(cause) != 0 || keycache.KindOf(nil) != 0 {
		t.Error("KindOf of a foreign error is not 0")
	}
}
