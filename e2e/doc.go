// Package e2e holds bucketkey's end-to-end hardening tests: the proxy, built
// with proxy.New and served over HTTP, in front of real servers (versitygw
// for S3, local-kms for KMS, toxiproxy between them where a test injects
// faults), driven by aws-sdk-go-v2 and by hand-signed raw requests.
//
// The tests prove four things, each against the backend read directly:
//
//   - nobody gets in: requests that fail authentication get S3's error and
//     reach neither the backend nor KMS (auth_test.go, paths_test.go);
//   - nothing is lost: an upload that fails midway leaves the previous
//     version intact (lost_test.go);
//   - tampering at the backend is caught, and no unauthenticated byte is
//     ever delivered as a complete 200 (tamper_test.go);
//   - faults of KMS and of the backend give S3 errors promptly, the proxy
//     recovers by itself and leaks nothing (kmsfault_test.go,
//     backendfault_test.go), and it holds under load (soak_test.go).
//
// Run them with
//
//	go test -race ./e2e/
//
// and the long soak with
//
//	go test ./e2e/ -run Soak -soak=10m -soak-clients=64 -soak-max=16777216 -timeout=30m
//
// The package has no exported API: it exists for its tests.
package e2e
