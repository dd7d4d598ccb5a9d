package keycache

// Hooks for the external tests (package keycache_test), which run the
// cache over the real providers in keycache/awskms and keycache/localkey
// (importing them from package keycache itself would be a cycle).

// WaitBackground waits for c's background refreshes to finish.
func WaitBackground(c *Cache) { c.bg.Wait() }

// RemoveExpired runs c's sweep of expired entries now, returning how many
// it removed.
func RemoveExpired(c *Cache) int { return c.removeExpired() }
