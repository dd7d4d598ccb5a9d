package sigv4

import (
	"net/http"
	"reflect"
	"testing"
)

func TestStripForUpstream(t *testing.T) {
	h := http.Header{
		"Authorization":                {"AWS4-HMAC-SHA256 ..."},
		"X-Amz-Content-Sha256":         {"UNSIGNED-PAYLOAD"},
		"X-Amz-Date":                   {"20240102T030405Z"},
		"X-Amz-Security-Token":         {"t"},
		"X-Amz-Decoded-Content-Length": {"5"},
		"X-Amz-Trailer":                {"x-amz-checksum-crc32"},
		"X-Amz-Sdk-Checksum-Algorithm": {"CRC32"},
		"X-Amz-Checksum-Crc32":         {"AAAAAA=="},
		"X-Amz-Checksum-Type":          {"FULL_OBJECT"},
		"X-Amz-Checksum-Mode":          {"ENABLED"},
		"Content-Md5":                  {"x"},
		"content-md5":                  {"x"}, // a map not built by net/http
		"Content-Encoding":             {"aws-chunked, gzip"},
		"Content-Type":                 {"text/plain"},
		"X-Amz-Meta-Color":             {"blue"},
		"X-Amz-Storage-Class":          {"STANDARD"},
		"Range":                        {"bytes=0-1"},
	}
	StripForUpstream(h)
	want := http.Header{
		"Content-Encoding":    {"gzip"},
		"Content-Type":        {"text/plain"},
		"X-Amz-Meta-Color":    {"blue"},
		"X-Amz-Storage-Class": {"STANDARD"},
		"Range":               {"bytes=0-1"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %v\nwant %v", h, want)
	}
	h = http.Header{"Content-Encoding": {"aws-chunked"}}
	StripForUpstream(h)
	if len(h) != 0 {
		t.Fatalf("aws-chunked alone should leave no Content-Encoding: %v", h)
	}
}
