package sigv4

import "testing"

func TestKeyCacheBounded(t *testing.T) {
	var c keyCache
	for i := 0; i < 3*maxCachedKeys; i++ {
		region := "r" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		if k := c.get("secret", "20240102", region, "s3"); k.key != deriveKey("secret", "20240102", region, "s3") {
			t.Fatal("cached key differs from the derived one")
		}
		if len(c.m) > maxCachedKeys {
			t.Fatalf("cache grew to %d", len(c.m))
		}
	}
}
