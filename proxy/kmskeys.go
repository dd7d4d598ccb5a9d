package proxy

import (
	"strings"
	"sync"
)

// keySet is the set of KMS key ids the proxy may use: Config.KMSKeyID and
// Config.AcceptKMSKeyIDs, and the ids KMS reported for data keys it
// generated under one of them (an alias resolves to a key ARN, which is
// what objects record). Objects record the id KMS reported, usually a key
// ARN, so a key ARN is also accepted when its bare key id
// ("arn:aws:kms:r:a:key/ID" for "ID") is in the set, and the other way
// round.
type keySet struct {
	mu  sync.RWMutex
	ids map[string]bool
}

func newKeySet(ids ...string) *keySet {
	s := &keySet{ids: make(map[string]bool, 2*len(ids))}
	for _, id := range ids {
		s.add(id)
	}
	return s
}

// add accepts id (and, for a key ARN, its bare key id).
func (s *keySet) add(id string) {
	if id == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id] = true
	if bare, ok := bareKeyID(id); ok {
		s.ids[bare] = true
	}
}

// accepts reports whether id names an accepted key.
func (s *keySet) accepts(id string) bool {
	if id == "" {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ids[id] {
		return true
	}
	bare, ok := bareKeyID(id)
	return ok && s.ids[bare]
}

// bareKeyID returns the key id of a KMS key ARN
// ("arn:<partition>:kms:<region>:<account>:key/<id>").
func bareKeyID(id string) (string, bool) {
	parts := strings.SplitN(id, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kms" {
		return "", false
	}
	bare, ok := strings.CutPrefix(parts[5], "key/")
	return bare, ok && bare != ""
}
