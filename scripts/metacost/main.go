// Command metacost measures what user-metadata headers cost an S3 backend:
// 4 KiB PutObjects at a fixed concurrency in interleaved variants, with the
// backend's CPU seconds (utime+stime from /proc/PID/stat) per PUT. It is
// benchmark tooling (BENCHMARKS.md, "Where goals are missed"), not product:
// bucketkey's envelope was 9 x-amz-meta-bk-* headers, and every x-amz-*
// header must be signed, so a backend canonicalises each of them; it is
// now packed in one (docs/FORMAT.md, "Metadata").
//
//	A  no metadata
//	B  the envelope's 9 headers, at their usual lengths (the per-field form)
//	C  one header holding the same bytes as B
//	D  B and an x-amz-checksum-crc64nvme of the body
//	E  the same fields packed in x-amz-meta-bk-v, as bucketkey writes them
//
// scripts/metacost.sh starts a versitygw for it; the credentials come from
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/crc64nvme"
)

func main() {
	endpoint := flag.String("endpoint", "", "backend URL, http://127.0.0.1:PORT (required)")
	pid := flag.Int("pid", 0, "the backend's process ID, for its CPU time (required)")
	n := flag.Int("n", 5000, "PUTs per run")
	conc := flag.Int("c", 16, "concurrency")
	rounds := flag.Int("rounds", 5, "interleaved rounds")
	variants := flag.String("variants", "ABCD", "variants to interleave")
	bucket := flag.String("bucket", "metacost", "bucket (created if missing)")
	flag.Parse()
	if *endpoint == "" || *pid == 0 {
		flag.Usage()
		os.Exit(2)
	}
	cl := s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               endpoint,
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		Retryer:                    aws.NopRetryer{},
		HTTPClient:                 &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	if _, err := cl.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		log.Printf("create bucket (it may exist): %v", err)
	}
	run(cl, *bucket, 'A', 500, *conc, *pid, -1) // warm-up

	ops, cpu := map[rune][]float64{}, map[rune][]float64{}
	for r := range *rounds {
		for _, v := range *variants {
			o, c := run(cl, *bucket, v, *n, *conc, *pid, r)
			ops[v], cpu[v] = append(ops[v], o), append(cpu[v], c)
			fmt.Printf("round %d variant %c: %.0f PUT/s, backend %.0f µs CPU per PUT\n", r, v, o, c)
		}
	}
	fmt.Println("variant  median PUT/s  median backend µs/PUT")
	for _, v := range *variants {
		fmt.Printf("%c  %8.0f  %8.0f\n", v, median(ops[v]), median(cpu[v]))
	}
}

// run makes n PUTs of variant v at concurrency conc: PUTs per second and
// the backend's CPU microseconds per PUT.
func run(cl *s3.Client, bucket string, v rune, n, conc, pid, round int) (perSecond, cpuMicros float64) {
	var next, errs atomic.Int64
	next.Store(-1)
	var wg sync.WaitGroup
	cpu0, t0 := cpuSeconds(pid), time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := make([]byte, 4096)
			for i := next.Add(1); i < int64(n); i = next.Add(1) {
				rand.Read(body)
				in := &s3.PutObjectInput{
					Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("%c/r%d/%06d", v, round, i)),
					Body: strings.NewReader(string(body)), ContentLength: aws.Int64(int64(len(body))),
					Metadata: metadata(v),
				}
				if v == 'D' {
					var c [8]byte
					binary.BigEndian.PutUint64(c[:], crc64nvme.Checksum(body))
					in.ChecksumCRC64NVME = aws.String(base64.StdEncoding.EncodeToString(c[:]))
				}
				if _, err := cl.PutObject(context.Background(), in); err != nil && errs.Add(1) <= 3 {
					log.Printf("PUT: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed, cpu1 := time.Since(t0).Seconds(), cpuSeconds(pid)
	if e := errs.Load(); e > 0 {
		log.Fatalf("variant %c: %d PUTs failed", v, e)
	}
	return float64(n) / elapsed, (cpu1 - cpu0) / float64(n) * 1e6
}

// metadata is variant v's user metadata.
func metadata(v rune) map[string]string {
	envelope := map[string]string{
		"bk-v":    "1",
		"bk-kid":  "arn:aws:kms:us-east-1:111122223333:key/" + randString(36),
		"bk-kb":   "metacost",
		"bk-wk":   randString(250),
		"bk-salt": randString(43),
		"bk-sk":   randString(64),
		"bk-size": "4096",
		"bk-ck":   "CRC64NVME:FULL_OBJECT:" + randString(11) + "=",
		"bk-ckt":  randString(22),
	}
	switch v {
	case 'A':
		return nil
	case 'B', 'D':
		return envelope
	case 'E':
		v := envelope["bk-v"]
		for _, name := range []string{"kid", "kb", "wk", "salt", "sk", "size", "ck", "ckt"} {
			v += " " + name + "=" + envelope["bk-"+name]
		}
		return map[string]string{"bk-v": v}
	case 'C':
		total := 0
		for k, val := range envelope {
			total += len(k) + len(val)
		}
		return map[string]string{"bk-all": randString(total)}
	}
	log.Fatalf("unknown variant %c", v)
	return nil
}

func randString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// cpuSeconds is the process's user and system CPU time (fields 14 and 15
// of /proc/PID/stat, in clock ticks of 1/100 s).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		log.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // from field 3
	ut, _ := strconv.ParseFloat(f[14-3], 64)
	st, _ := strconv.ParseFloat(f[15-3], 64)
	return (ut + st) / 100
}

func median(x []float64) float64 {
	y := slices.Clone(x)
	slices.Sort(y)
	if len(y)%2 == 1 {
		return y[len(y)/2]
	}
	return (y[len(y)/2-1] + y[len(y)/2]) / 2
}
