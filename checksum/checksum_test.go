package checksum

import (
	"encoding/base64"
	"strings"
	"testing"
)

// The xxHash vectors come from the reference C library (libxxhash 0.8.1,
// XXH64 and XXH3 with seed 0, digests big-endian), the CRC and SHA ones
// from aws-sdk-go-v2's tests and coreutils; "Hello world" under XXHASH64 is
// awslabs/aws-checksums' own test vector.
func TestVectors(t *testing.T) {
	ramp := make([]byte, 1000)
	for i := range ramp {
		ramp[i] = byte(i % 251)
	}
	for _, tc := range []struct {
		alg  Algorithm
		in   string
		want string
	}{
		{CRC32, "hello world", "DUoRhQ=="},
		{CRC32C, "hello world", "yZRlqg=="},
		{CRC64NVME, "hello world", "jSnVw/bqjr4="},
		{SHA1, "hello world", "Kq5sNclPz7QV2+lfQIuc6R7oRu0="},
		{SHA256, "hello world", "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="},
		{SHA512, "hello world", "MJ7MSJwS1utMxA9QyQLytNDtd+5RGnx6m808qG1M2G+YndNbxf9JlnDaNCVbRbDP2DDoH2Bdz33FVC6TrpzXbw=="},
		{MD5, "hello world", "XrY7u+Ae7tCTyyK7j1rNww=="},
		{XXHASH64, "", "70bbN1HY6Zk="},
		{XXHASH64, "Hello world", "xQCwyRKzdtg="},
		{XXHASH64, string(ramp), "8wbwSqiLVNM="},
		{XXHASH3, "", "LQaABTjTlMI="},
		{XXHASH3, "hello world", "1Eex6kDmmIs="},
		{XXHASH3, string(ramp), "M+9wP7KyDtE="},
		{XXHASH128, "", "maoG0wFHmNhgAcMkRo1Jfw=="},
		{XXHASH128, "hello world", "340J6T+HSQCpm4d1zBW2xw=="},
		{XXHASH128, string(ramp), "GL9BvIIp4ncz73A/srIO0Q=="},
	} {
		if got := Encode(tc.alg.Sum([]byte(tc.in))); got != tc.want {
			t.Errorf("%v(%.12q) = %s, want %s", tc.alg, tc.in, got, tc.want)
		}
		// In two writes, to check that state carries over.
		h := tc.alg.New()
		h.Write([]byte(tc.in[:len(tc.in)/3]))
		h.Write([]byte(tc.in[len(tc.in)/3:]))
		if got := Encode(h.Sum(nil)); got != tc.want {
			t.Errorf("%v(%.12q) in two writes = %s, want %s", tc.alg, tc.in, got, tc.want)
		}
		if h.Size() != tc.alg.Size() {
			t.Errorf("%v: hash size %d, table %d", tc.alg, h.Size(), tc.alg.Size())
		}
	}
}

func TestNames(t *testing.T) {
	for _, a := range All {
		if ByName(strings.ToLower(a.String())) != a || ByHeader(strings.ToUpper(a.Header())) != a {
			t.Errorf("%v: names do not map back", a)
		}
		if a.Header() != "x-amz-checksum-"+strings.ToLower(a.String()) || a.XMLElement() != "Checksum"+a.String() {
			t.Errorf("%v: header %s, XML %s", a, a.Header(), a.XMLElement())
		}
	}
	for _, s := range []string{"", "blake3", "SHA384", "x-amz-checksum-type", "x-amz-checksum-mode", "x-amz-checksum-algorithm"} {
		if ByName(s) != None || ByHeader(s) != None {
			t.Errorf("%q maps to an algorithm", s)
		}
	}
}

func TestDecode(t *testing.T) {
	good := base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 4})
	for _, tc := range []struct {
		alg Algorithm
		in  string
		ok  bool
	}{
		{CRC32, good, true},
		{CRC32, "AQIDBA", false},    // no padding
		{CRC32, "AQIDBQ==", true},   // another value
		{CRC32, "AQIDBR==", false},  // non-zero trailing bits
		{CRC32, "AQID", false},      // 3 bytes
		{CRC32, "AQIDBAU=", false},  // 5 bytes
		{CRC32, "AQ\nDBA==", false}, // a line break
		{CRC32, "AQ-DBA==", false},  // base64url
		{None, good, false},
		{SHA512, base64.StdEncoding.EncodeToString(make([]byte, 64)), true},
		{XXHASH128, base64.StdEncoding.EncodeToString(make([]byte, 16)), true},
		{XXHASH128, base64.StdEncoding.EncodeToString(make([]byte, 8)), false},
	} {
		if _, ok := tc.alg.Decode(tc.in); ok != tc.ok {
			t.Errorf("%v.Decode(%q) ok=%v, want %v", tc.alg, tc.in, ok, tc.ok)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(uint8(1), "AQIDBA==")
	f.Add(uint8(10), "maoG0wFHmNhgAcMkRo1Jfw==")
	f.Fuzz(func(t *testing.T, a uint8, s string) {
		alg := Algorithm(a % uint8(len(All)+1))
		b, ok := alg.Decode(s)
		if !ok {
			return
		}
		if len(b) != alg.Size() || Encode(b) != s {
			t.Fatalf("%v.Decode(%q) = %x, not canonical", alg, s, b)
		}
	})
}
