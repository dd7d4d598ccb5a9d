package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/bucketkey/bucketkey/internal/bulk"
	"github.com/bucketkey/bucketkey/proxy"
)

const (
	encryptSynopsis = "bucketkey encrypt-existing s3://BUCKET[/PREFIX] [serve's settings] [--concurrency N] [--state FILE] [--restart] [--dry-run] [--quiet]"
	rotateSynopsis  = "bucketkey rotate s3://BUCKET[/PREFIX] --to-kms-key-id K [--from-kms-key-id K] [--data-keys] [serve's settings] [--concurrency N] [--state FILE] [--restart] [--dry-run] [--quiet]"
	verifySynopsis  = "bucketkey verify s3://BUCKET[/PREFIX] [--json] [serve's settings] [--concurrency N] [--state FILE] [--restart] [--quiet]"
)

// Outcomes the bulk commands count.
const (
	outEncrypted      = "encrypted"
	outAlreadyEncrypt = "already-encrypted"
	outRotated        = "rotated"
	outAlreadyRotated = "already-under-target-key"
	outOtherKey       = "under-another-key"
	outLegacy         = "legacy-plaintext"
	outGone           = "deleted-meanwhile"
	outWould          = "would-change"
)

// bulkMain is the body every bulk command shares: parse, start the
// command's proxy, walk, summarise.
func bulkMain(ctx context.Context, name, synopsis string, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool),
	extra func(*flag.FlagSet), check func(*bulkCommand) error, keyID func() string,
	do func(br *bulkRun) func(context.Context, bulk.Object) (bulk.Result, error),
	after func(br *bulkRun, sum bulk.Summary, code int), bad ...string) int {
	stderr = &lockedWriter{w: stderr} // workers, progress and the proxy's log share it
	b, code, err := parseBulk(name, synopsis, args, stdout, getenv, extra)
	if err != nil {
		if errors.Is(err, errHelp) {
			return code
		}
		return configError(stderr, name, err)
	}
	if check != nil {
		if err := check(b); err != nil {
			return configError(stderr, name, err)
		}
	}
	br, err := startBulk(ctx, b, keyID(), stderr)
	if err != nil {
		return configError(stderr, name, err)
	}
	sum, werr := br.walk(ctx, stderr, do(br))
	br.stop()
	kms, base := br.kmsRequests()
	out := stdout
	if b.opts.JSON {
		out = stderr // stdout is the JSON document
	}
	code = printSummary(out, b, sum, werr, kms, base, bad...)
	if after != nil {
		after(br, sum, code)
	}
	return code
}

func noKey() string { return "" }

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// inspectOrGone inspects key; an object deleted since it was listed is
// finished (outGone), other errors fail it. o is nil unless it exists.
func (br *bulkRun) inspectOrGone(ctx context.Context, key string) (o *storedObject, res bulk.Result, err error) {
	o, err = br.inspect(ctx, key)
	if errors.Is(err, errGone) {
		return nil, bulk.Result{Outcome: outGone}, nil
	}
	return o, res, err
}

// runEncryptExisting is `bucketkey encrypt-existing`: objects without an
// envelope (written before the proxy) are encrypted in place.
func runEncryptExisting(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	return bulkMain(ctx, "encrypt-existing", encryptSynopsis, args, stdout, stderr, getenv, nil, nil, noKey,
		func(br *bulkRun) func(context.Context, bulk.Object) (bulk.Result, error) {
			return func(ctx context.Context, obj bulk.Object) (bulk.Result, error) {
				o, res, err := br.inspectOrGone(ctx, obj.Key)
				switch {
				case o == nil:
					return res, err
				case o.encrypted:
					return bulk.Result{Outcome: outAlreadyEncrypt}, nil
				case br.cmd.opts.DryRun:
					return bulk.Result{Outcome: outWould, Bytes: o.size}, nil
				}
				n, err := br.rewrite(ctx, o)
				if err != nil {
					return bulk.Result{}, err
				}
				return bulk.Result{Outcome: outEncrypted, Bytes: n}, nil
			}
		},
		func(br *bulkRun, sum bulk.Summary, code int) {
			if code != exitOK || br.cmd.opts.DryRun {
				return
			}
			if br.cmd.prefix == "" {
				fmt.Fprintf(stdout, "every object in s3://%s is now encrypted: run `bucketkey verify s3://%s`, then serve it without --mixed-bucket %s\n",
					br.cmd.bucket, br.cmd.bucket, br.cmd.bucket)
			} else {
				fmt.Fprintf(stdout, "every object under s3://%s/%s is now encrypted; the bucket needs --mixed-bucket until all of it is\n", br.cmd.bucket, br.cmd.prefix)
			}
		})
}

// runRotate is `bucketkey rotate`: every encrypted object (of
// --from-kms-key-id, if given) is re-wrapped under --to-kms-key-id with a
// metadata-only copy in place, or with --data-keys re-encrypted under a
// fresh data key (its bytes read and written again).
func runRotate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	var to, from string
	var dataKeys bool
	var learned atomic.Value // the ARN KMS reports for --to-kms-key-id
	learned.Store("")
	return bulkMain(ctx, "rotate", rotateSynopsis, args, stdout, stderr, getenv,
		func(fs *flag.FlagSet) {
			fs.StringVar(&to, "to-kms-key-id", "", "KMS key `id`, ARN or alias to re-wrap every object under (required)")
			fs.StringVar(&from, "from-kms-key-id", "", "only rotate objects whose bucket key this KMS key `id` or ARN wrapped")
			fs.BoolVar(&dataKeys, "data-keys", false, "also replace every object's data key: reads and writes every byte again")
		},
		func(b *bulkCommand) error {
			if from != "" {
				// Objects of --from-kms-key-id are read, so accepted.
				b.r.KMSAccept = append(b.r.KMSAccept, from)
			}
			if to == "" {
				return errors.New("--to-kms-key-id is required")
			}
			if b.r.KMSLocalKey != "" {
				return errors.New("rotate needs AWS KMS (--kms-key-id); a local master key has one key only")
			}
			return nil
		},
		func() string { return to },
		func(br *bulkRun) func(context.Context, bulk.Object) (bulk.Result, error) {
			return func(ctx context.Context, obj bulk.Object) (bulk.Result, error) {
				o, res, err := br.inspectOrGone(ctx, obj.Key)
				switch {
				case o == nil:
					return res, err
				case !o.encrypted:
					return bulk.Result{Outcome: outLegacy}, nil
				case from != "" && !sameKMSKey(o.keyID, from):
					return bulk.Result{Outcome: outOtherKey}, nil
				case !dataKeys && (sameKMSKey(o.keyID, to) || o.keyID == learned.Load().(string)):
					return bulk.Result{Outcome: outAlreadyRotated}, nil
				case br.cmd.opts.DryRun:
					return bulk.Result{Outcome: outWould, Bytes: o.size}, nil
				}
				if dataKeys {
					n, err := br.rewrite(ctx, o)
					if err != nil {
						return bulk.Result{}, err
					}
					return bulk.Result{Outcome: outRotated, Bytes: n}, nil
				}
				kid, err := br.rewrapInPlace(ctx, o, to)
				if err != nil {
					return bulk.Result{}, err
				}
				learned.Store(kid)
				return bulk.Result{Outcome: outRotated}, nil
			}
		}, nil)
}

// verifyLine is one object of `bucketkey verify --json`.
type verifyLine struct {
	Key     string `json:"key"`
	Verdict string `json:"verdict"`
	Check   string `json:"check,omitempty"`
	KeyID   string `json:"kms_key_id,omitempty"`
	Bytes   int64  `json:"bytes"`
	Error   string `json:"error,omitempty"`
}

// runVerify is `bucketkey verify`: every object is read through the
// envelope and judged authenticated, legacy plaintext, tampered or
// unreadable.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	var jsonOut bool
	var mu sync.Mutex
	emit := func(l verifyLine, show bool) {
		mu.Lock()
		defer mu.Unlock()
		if jsonOut {
			b, _ := json.Marshal(l)
			fmt.Fprintf(stdout, "%s\n", b)
		} else if show {
			line := fmt.Sprintf("%s: %s", l.Key, l.Verdict)
			if l.Check != "" {
				line += ": " + l.Check
			}
			fmt.Fprintln(stdout, line)
		}
	}
	return bulkMain(ctx, "verify", verifySynopsis, args, stdout, stderr, getenv,
		func(fs *flag.FlagSet) {
			fs.BoolVar(&jsonOut, "json", false, "one JSON object per object on stdout (the summary goes to stderr)")
		},
		nil, noKey,
		func(br *bulkRun) func(context.Context, bulk.Object) (bulk.Result, error) {
			br.cmd.opts.JSON = jsonOut
			return func(ctx context.Context, obj bulk.Object) (bulk.Result, error) {
				if br.cmd.opts.DryRun {
					return bulk.Result{Outcome: outWould}, nil
				}
				v, err := br.srv.proxy.VerifyObject(ctx, br.cmd.bucket, obj.Key)
				if err != nil {
					if ctx.Err() == nil {
						emit(verifyLine{Key: obj.Key, Verdict: "failed", Error: trimErr(err)}, false)
					}
					return bulk.Result{}, err
				}
				emit(verifyLine{Key: obj.Key, Verdict: string(v.Verdict), Check: v.Check, KeyID: v.KeyID, Bytes: v.Bytes},
					v.Verdict != proxy.Authenticated && v.Verdict != proxy.Missing)
				return bulk.Result{Outcome: string(v.Verdict), Bytes: v.Bytes}, nil
			}
		}, nil, string(proxy.Tampered), string(proxy.Unreadable))
}
