package main

import (
	"fmt"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// clientKeys is the proxy's table of clients: their secrets (the
// --client-access-key pair and the --credentials file) and the backend
// identities some are mapped to. reload replaces the table whole (on
// SIGHUP), so requests in flight keep the table they started with and new
// ones see the new one; it is safe for concurrent use. It implements
// sigv4.Credentials and proxy.Identities.
type clientKeys struct {
	staticAK, staticSK, path string
	t                        atomic.Pointer[credTable]
}

// reload reads the table again; on error the current one stays.
func (k *clientKeys) reload() error {
	t := &credTable{secrets: map[string]string{}, backend: map[string]aws.Credentials{}}
	if k.staticAK != "" {
		if err := checkKeyPair(k.staticAK, k.staticSK); err != nil {
			return fmt.Errorf("--client-access-key/--client-secret-key: %v", err)
		}
		t.secrets[k.staticAK] = k.staticSK
	}
	if k.path != "" {
		f, err := loadCredentials(k.path)
		if err != nil {
			return err
		}
		for ak, secret := range f.secrets {
			if _, dup := t.secrets[ak]; dup {
				return fmt.Errorf("access key %q is in both --client-access-key and --credentials", ak)
			}
			t.secrets[ak] = secret
		}
		t.backend = f.backend
	}
	k.t.Store(t)
	return nil
}

// Secret implements sigv4.Credentials.
func (k *clientKeys) Secret(ak string) (string, bool) {
	s, ok := k.t.Load().secrets[ak]
	return s, ok
}

// BackendIdentity implements proxy.Identities.
func (k *clientKeys) BackendIdentity(ak string) (aws.Credentials, bool) {
	c, ok := k.t.Load().backend[ak]
	return c, ok
}

// counts reports how many clients the table has, and how many of them are
// mapped to a backend identity of their own (for the log: never a key).
func (k *clientKeys) counts() (clients, mapped int) {
	t := k.t.Load()
	return len(t.secrets), len(t.backend)
}

// staticClientKeys is a table of one client pair, using the proxy's own
// backend identity (the in-process proxies of dev and the bulk commands).
func staticClientKeys(ak, sk string) *clientKeys {
	k := &clientKeys{staticAK: ak, staticSK: sk}
	k.t.Store(&credTable{secrets: map[string]string{ak: sk}, backend: map[string]aws.Credentials{}})
	return k
}
