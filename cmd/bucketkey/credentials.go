package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxCredentialsFile bounds a credentials file (about 10,000 key pairs).
const maxCredentialsFile = 1 << 20

// loadCredentials reads the client credentials file given to --credentials.
func loadCredentials(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialsFile+1))
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	if len(b) > maxCredentialsFile {
		return nil, fmt.Errorf("credentials file %s: larger than %d bytes", path, maxCredentialsFile)
	}
	creds, err := parseCredentials(b)
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return creds, nil
}

// parseCredentials parses client credentials in one of two formats:
//
//	# one pair per line, access key and secret separated by the first ':'
//	app-one:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
//	app-two:je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY
//
// or a JSON object {"app-one": "wJalr...", "app-two": "je7Mt..."}. Blank
// lines and lines starting with '#' are ignored; spaces around keys and
// secrets are trimmed. Errors name the line, never a secret.
func parseCredentials(b []byte) (map[string]string, error) {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var m map[string]string
		if err := json.Unmarshal(t, &m); err != nil {
			return nil, errors.New("not a JSON object of access key to secret strings")
		}
		creds := make(map[string]string, len(m))
		for ak, secret := range m {
			if err := checkKeyPair(strings.TrimSpace(ak), strings.TrimSpace(secret)); err != nil {
				return nil, fmt.Errorf("access key %q: %w", printable(ak), err)
			}
			creds[strings.TrimSpace(ak)] = strings.TrimSpace(secret)
		}
		if len(creds) == 0 {
			return nil, errors.New("no credentials")
		}
		if len(creds) != len(m) {
			return nil, errors.New("an access key appears twice (after trimming spaces)")
		}
		return creds, nil
	}
	creds := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxCredentialsFile)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		ak, secret, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want access-key:secret", line)
		}
		ak, secret = strings.TrimSpace(ak), strings.TrimSpace(secret)
		if err := checkKeyPair(ak, secret); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if _, dup := creds[ak]; dup {
			return nil, fmt.Errorf("line %d: access key %q appears twice", line, ak)
		}
		creds[ak] = secret
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(creds) == 0 {
		return nil, errors.New("no credentials")
	}
	return creds, nil
}

// checkKeyPair accepts what SigV4 can carry: an access key is one token of
// printable ASCII without '/' (it is the first field of the credential
// scope), a secret is non-empty printable ASCII.
func checkKeyPair(ak, secret string) error {
	if ak == "" {
		return errors.New("empty access key")
	}
	for _, c := range []byte(ak) {
		if c <= ' ' || c > '~' || c == '/' || c == ',' || c == '=' {
			return errors.New("access key must be printable ASCII without spaces, '/', ',' or '='")
		}
	}
	if secret == "" {
		return fmt.Errorf("access key %q: empty secret", ak)
	}
	for _, c := range []byte(secret) {
		if c < ' ' || c > '~' {
			return fmt.Errorf("access key %q: secret must be printable ASCII", ak)
		}
	}
	return nil
}

// printable shortens and sanitises an access key for an error message.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, s)
}
