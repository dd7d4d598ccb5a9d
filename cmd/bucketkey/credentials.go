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

	"github.com/aws/aws-sdk-go-v2/aws"
)

// maxCredentialsFile bounds a credentials file (about 10,000 key pairs).
const maxCredentialsFile = 1 << 20

// loadCredentials reads the client credentials file given to
// --credentials.
func loadCredentials(path string) (*credTable, error) {
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
	t, err := parseCredentialTable(b)
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return t, nil
}

// credTable is a parsed credentials file: each client's secret, and the
// backend identity of the clients mapped to one.
type credTable struct {
	secrets map[string]string
	backend map[string]aws.Credentials
}

// parseCredentials parses a credentials file and returns its clients'
// secrets (parseCredentialTable).
func parseCredentials(b []byte) (map[string]string, error) {
	t, err := parseCredentialTable(b)
	if err != nil {
		return nil, err
	}
	return t.secrets, nil
}

// backendLine parses the lines that map a client to a backend identity:
//
//	client_key client_secret backend_key backend_secret
//	client_key client_secret =
//
// (fields separated by spaces or tabs; "=" for the client's own pair used
// at the backend). ok is false for any other line.
func backendLine(text string) (ak, secret string, creds aws.Credentials, ok bool, err error) {
	f := strings.Fields(text)
	switch {
	case len(f) == 3 && f[2] == "=":
		f = append(f[:2], f[0], f[1])
	case len(f) == 4:
	default:
		return "", "", creds, false, nil
	}
	if err := checkKeyPair(f[0], f[1]); err != nil {
		return "", "", creds, true, err
	}
	if err := checkKeyPair(f[2], f[3]); err != nil {
		return "", "", creds, true, fmt.Errorf("backend identity of %q: %w", f[0], err)
	}
	return f[0], f[1], aws.Credentials{AccessKeyID: f[2], SecretAccessKey: f[3], Source: "bucketkey credentials file"}, true, nil
}

// parseCredentialTable parses client credentials in one of two formats:
//
//	# one pair per line, access key and secret separated by the first ':'
//	app-one:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
//	# or a client mapped to its own backend identity (backendLine)
//	app-two je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY backend-two Bk7MtGbClwBF/EXAMPLEKEY
//	app-three ke7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY =
//
// or a JSON object {"app-one": "wJalr...", "app-two": "je7Mt..."} (no
// mappings). Blank lines and lines starting with '#' are ignored; spaces
// around keys and secrets are trimmed. Errors name the line, never a
// secret.
func parseCredentialTable(b []byte) (*credTable, error) {
	t := &credTable{secrets: map[string]string{}, backend: map[string]aws.Credentials{}}
	if tb := bytes.TrimSpace(b); len(tb) > 0 && tb[0] == '{' {
		var m map[string]string
		if err := json.Unmarshal(tb, &m); err != nil {
			return nil, errors.New("not a JSON object of access key to secret strings")
		}
		for ak, secret := range m {
			if err := checkKeyPair(strings.TrimSpace(ak), strings.TrimSpace(secret)); err != nil {
				return nil, fmt.Errorf("access key %q: %w", printable(ak), err)
			}
			t.secrets[strings.TrimSpace(ak)] = strings.TrimSpace(secret)
		}
		if len(t.secrets) == 0 {
			return nil, errors.New("no credentials")
		}
		if len(t.secrets) != len(m) {
			return nil, errors.New("an access key appears twice (after trimming spaces)")
		}
		return t, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxCredentialsFile)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		ak, secret, creds, mapped, err := backendLine(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if !mapped {
			var ok bool
			if ak, secret, ok = strings.Cut(text, ":"); !ok {
				return nil, fmt.Errorf("line %d: want access-key:secret, or access-key secret backend-key backend-secret", line)
			}
			ak, secret = strings.TrimSpace(ak), strings.TrimSpace(secret)
			if err := checkKeyPair(ak, secret); err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
		}
		if _, dup := t.secrets[ak]; dup {
			return nil, fmt.Errorf("line %d: access key %q appears twice", line, ak)
		}
		t.secrets[ak] = secret
		if mapped {
			t.backend[ak] = creds
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t.secrets) == 0 {
		return nil, errors.New("no credentials")
	}
	return t, nil
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
