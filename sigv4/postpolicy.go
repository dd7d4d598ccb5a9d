package sigv4

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bucketkey/bucketkey/s3err"
)

// PostPolicy is a parsed SigV4 POST policy: when it expires and the
// conditions a browser-based upload's form must meet (S3 API reference,
// "Creating a POST policy").
type PostPolicy struct {
	Expiration time.Time
	Conditions []PostCondition
}

// PostCondition is one condition of a POST policy.
type PostCondition struct {
	// Op is "eq", "starts-with" or "content-length-range" (lower case).
	Op string
	// Field is the form field's name in lower case, without its "$"
	// (S3 compares field names case-insensitively); "" for
	// content-length-range. A condition whose field lacks the "$" names
	// no field and never holds, as on S3.
	Field string
	Value string
	// Min and Max bound the file size (content-length-range); when the
	// policy gave a bound S3 cannot read, the condition never holds.
	Min, Max int64
	// text is the condition as S3 prints it in its error messages, the
	// policy's own spelling: ["eq", "$key", "user/a.txt"].
	text   string
	valid  bool // content-length-range bounds were numbers
	dollar bool
}

// S3's POST errors that have no entry in s3err.
var (
	errInvalidPolicy = &s3err.Error{Code: "InvalidPolicyDocument", Status: 400, Message: "Invalid Policy: Invalid JSON."}
	errPolicyExpired = s3err.AccessDenied.With("Invalid according to Policy: Policy expired.")
)

func invalidPolicy(msg string) *s3err.Error { return errInvalidPolicy.With("Invalid Policy: " + msg) }

// maxPostPolicy bounds a decoded policy; the form fields before the file,
// the policy among them, are at most 20 KB on S3.
const maxPostPolicy = 20 << 10

// ParsePostPolicy decodes a POST policy from the base64 form field
// "policy". Errors are S3's 400 InvalidPolicyDocument with its messages.
func ParsePostPolicy(policyB64 string) (*PostPolicy, *s3err.Error) {
	raw, err := base64.StdEncoding.DecodeString(policyB64)
	if err != nil || len(raw) > maxPostPolicy {
		return nil, invalidPolicy("invalid Base64 encoding.")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		// S3's JSON parser (Jackson) on an empty document.
		return nil, invalidPolicy("Expecting '{' but found End-of-Input")
	}
	var top map[string]json.RawMessage
	if err := strictJSON(raw, &top); err != nil || top == nil {
		return nil, errInvalidPolicy
	}
	for k := range top {
		if k != "expiration" && k != "conditions" {
			return nil, invalidPolicy("Unexpected: '" + strings.ToLower(k) + "'")
		}
	}
	expRaw, ok := top["expiration"]
	if !ok {
		return nil, invalidPolicy("Policy missing expiration.")
	}
	condRaw, ok := top["conditions"]
	if !ok {
		return nil, invalidPolicy("Policy missing conditions.")
	}
	var exp string
	if err := json.Unmarshal(expRaw, &exp); err != nil {
		return nil, errInvalidPolicy
	}
	t, ok := parseExpiration(exp)
	if !ok {
		return nil, invalidPolicy("Invalid 'expiration' value: '" + exp + "'")
	}
	var conds []json.RawMessage
	if err := json.Unmarshal(condRaw, &conds); err != nil {
		return nil, invalidPolicy("Invalid 'conditions' value: must be a List.")
	}
	p := &PostPolicy{Expiration: t, Conditions: make([]PostCondition, 0, len(conds))}
	for _, c := range conds {
		pc, err := parseCondition(c)
		if err != nil {
			return nil, err
		}
		p.Conditions = append(p.Conditions, pc)
	}
	return p, nil
}

// strictJSON decodes b into v with numbers kept as json.Number, and
// refuses trailing data.
func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("sigv4: trailing data after the policy")
	}
	return nil
}

// parseExpiration reads S3's ISO 8601 UTC form, with or without
// fractional seconds ("2015-12-30T12:00:00.000Z", "2015-12-30T12:00:00Z");
// an offset other than Z is refused, as S3 refuses it.
func parseExpiration(s string) (time.Time, bool) {
	if !strings.HasSuffix(s, "Z") {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// parseCondition parses one element of "conditions": an object with one
// property (exact match) or an array [op, "$field", value] /
// ["content-length-range", min, max].
func parseCondition(raw json.RawMessage) (PostCondition, *s3err.Error) {
	var c PostCondition
	switch t := bytes.TrimLeft(raw, " \t\r\n"); {
	case len(t) > 0 && t[0] == '{':
		var m map[string]json.RawMessage
		if err := strictJSON(raw, &m); err != nil {
			return c, errInvalidPolicy
		}
		if len(m) != 1 {
			return c, invalidPolicy("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
		}
		for k, v := range m {
			if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
				return c, errInvalidPolicy
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return c, invalidPolicy("Invalid Simple-Condition: value must be a string.")
			}
			c = PostCondition{Op: "eq", Field: strings.ToLower(k), Value: s, dollar: true}
			c.text = conditionText("eq", "$"+k, s)
		}
		return c, nil
	case len(t) > 0 && t[0] == '[':
		var items []json.RawMessage
		if err := strictJSON(raw, &items); err != nil {
			return c, errInvalidPolicy
		}
		return parseArrayCondition(items)
	}
	return c, invalidPolicy("Invalid condition test: must be a List or Object.")
}

func parseArrayCondition(items []json.RawMessage) (PostCondition, *s3err.Error) {
	var c PostCondition
	if len(items) == 0 {
		return c, invalidPolicy("Invalid Condition: missing operation identifier.")
	}
	var op string
	if err := json.Unmarshal(items[0], &op); err != nil {
		return c, invalidPolicy("Invalid Condition: missing operation identifier.")
	}
	c.Op = strings.ToLower(op)
	switch c.Op {
	case "eq", "starts-with":
	case "content-length-range":
		return parseRange(op, items)
	default:
		return c, invalidPolicy("Invalid Condition: unknown operation '" + op + "'.")
	}
	if len(items) != 3 {
		return c, invalidPolicy("Invalid " + op + ": wrong number of arguments.")
	}
	var field string
	if err := json.Unmarshal(items[1], &field); err != nil {
		return c, errInvalidPolicy
	}
	if err := json.Unmarshal(items[2], &c.Value); err != nil {
		return c, errInvalidPolicy
	}
	c.dollar = strings.HasPrefix(field, "$")
	c.Field = strings.ToLower(strings.TrimPrefix(field, "$"))
	c.text = conditionText(op, field, c.Value)
	return c, nil
}

// parseRange parses ["content-length-range", min, max]; the bounds may be
// integers or strings of digits (S3 takes both). Bounds S3 cannot read
// make a condition that never holds (403); a negative one, or a float, is
// a malformed policy (400).
func parseRange(op string, items []json.RawMessage) (PostCondition, *s3err.Error) {
	c := PostCondition{Op: "content-length-range"}
	if len(items) != 3 {
		return c, invalidPolicy("Invalid " + op + ": wrong number of arguments.")
	}
	var texts [2]string
	var vals [2]int64
	c.valid = true
	for i, it := range items[1:] {
		var v any
		if err := strictJSON(it, &v); err != nil {
			return c, errInvalidPolicy
		}
		switch x := v.(type) {
		case json.Number:
			n, err := strconv.ParseInt(x.String(), 10, 64)
			if err != nil || n < 0 {
				return c, errInvalidPolicy
			}
			vals[i], texts[i] = n, x.String()
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil || n < 0 || !allDigits(x) {
				c.valid = false
			}
			vals[i], texts[i] = n, strconv.Quote(x)
		default:
			return c, errInvalidPolicy
		}
	}
	c.Min, c.Max = vals[0], vals[1]
	c.text = "[" + strconv.Quote(op) + ", " + texts[0] + ", " + texts[1] + "]"
	return c, nil
}

func conditionText(op, field, value string) string {
	return "[" + strconv.Quote(op) + ", " + strconv.Quote(field) + ", " + strconv.Quote(value) + "]"
}

// LengthRange returns the file size bounds of the policy's
// content-length-range conditions (all of them apply), and whether it has
// any.
func (p *PostPolicy) LengthRange() (min, max int64, ok bool) {
	min, max = 0, -1
	for _, c := range p.Conditions {
		if c.Op != "content-length-range" || !c.valid {
			continue
		}
		if !ok || c.Min > min {
			min = c.Min
		}
		if !ok || c.Max < max {
			max = c.Max
		}
		ok = true
	}
	return min, max, ok
}

// postExempt are the fields no condition needs to cover.
func postExempt(name string) bool {
	switch name {
	case "x-amz-signature", "file", "policy":
		return true
	}
	return strings.HasPrefix(name, "x-ignore-")
}

// Check applies the policy to a form at time now: the expiration, every
// condition, the file's size, and S3's rule that every field but
// x-amz-signature, file, policy and x-ignore-* is covered by a condition.
// form maps lower-case field names to values (with key's ${filename}
// already substituted); bucket is the bucket the request addresses, which
// "bucket" conditions compare against. Failures are S3's: 403
// AccessDenied "Invalid according to Policy: ...", 400 EntityTooSmall or
// EntityTooLarge.
func (p *PostPolicy) Check(form map[string]string, bucket string, size int64, now time.Time) *s3err.Error {
	if now.After(p.Expiration) {
		return errPolicyExpired
	}
	covered := make(map[string]bool, len(p.Conditions))
	for _, c := range p.Conditions {
		if c.Op == "content-length-range" {
			if err := c.checkSize(size); err != nil {
				return err
			}
			continue
		}
		covered[c.Field] = true
		v, ok := form[c.Field]
		if c.Field == "bucket" {
			v, ok = bucket, true
		}
		if !c.dollar || !ok || !c.holds(v) {
			return conditionFailed(c.text)
		}
	}
	for name := range form {
		if !covered[name] && !postExempt(name) {
			return s3err.AccessDenied.With("Invalid according to Policy: Extra input fields: " + name)
		}
	}
	return nil
}

func conditionFailed(text string) *s3err.Error {
	return s3err.AccessDenied.With("Invalid according to Policy: Policy Condition failed: " + text)
}

func (c *PostCondition) holds(v string) bool {
	if c.Op == "eq" {
		return v == c.Value
	}
	if c.Field == "content-type" {
		// S3: a Content-Type with commas is a list, each of whose
		// values must meet the condition.
		for item := range strings.SplitSeq(v, ",") {
			if !strings.HasPrefix(strings.TrimSpace(item), c.Value) {
				return false
			}
		}
		return true
	}
	return strings.HasPrefix(v, c.Value)
}

func (c *PostCondition) checkSize(size int64) *s3err.Error {
	switch {
	case !c.valid:
		return conditionFailed(c.text)
	case size > c.Max:
		return s3err.EntityTooLarge.With("Your proposed upload exceeds the maximum allowed size").
			WithExtra("ProposedSize", strconv.FormatInt(size, 10)).
			WithExtra("MaxSizeAllowed", strconv.FormatInt(c.Max, 10))
	case size < c.Min:
		return s3err.EntityTooSmall.With("Your proposed upload is smaller than the minimum allowed size").
			WithExtra("ProposedSize", strconv.FormatInt(size, 10)).
			WithExtra("MinSizeAllowed", strconv.FormatInt(c.Min, 10))
	}
	return nil
}
