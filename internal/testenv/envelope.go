package testenv

import (
	"maps"
	"slices"
	"strings"
)

// envelopeOrder is the order of the envelope's fields after the version
// in packed metadata (docs/FORMAT.md, "Metadata"), written down here from
// the document rather than taken from package envelope, so that tests
// which edit stored metadata check the format, not the code.
var envelopeOrder = []string{"kid", "kb", "wk", "ctx", "salt", "sk", "mp", "size", "ck", "ckt"}

// EnvelopeFields returns a copy of an object's user metadata, as SDKs
// return it (lower-case names without "x-amz-meta-"), with a packed
// envelope ("bk-v" holding "1 kid=... kb=... ...") spelled out a field
// each: "bk-v" the version, "bk-kid" the key id, and so on. Metadata
// stored a header per field comes back as it is. Tests read and edit
// envelope fields by name through it, whichever form the proxy wrote.
func EnvelopeFields(md map[string]string) map[string]string {
	out := maps.Clone(md)
	v, ok := md["bk-v"]
	if !ok || !strings.Contains(v, " ") {
		return out
	}
	items := strings.Split(v, " ")
	out["bk-v"] = items[0]
	for _, item := range items[1:] {
		name, value, _ := strings.Cut(item, "=")
		out["bk-"+name] = value
	}
	return out
}

// PackEnvelope is the inverse of EnvelopeFields: a copy of md with its
// "bk-*" fields packed into "bk-v" as the proxy writes them (the version,
// then name=value in the document's order, then any field the document
// does not name, sorted), edits and all. Without a "bk-v" the fields stay
// a header each.
func PackEnvelope(md map[string]string) map[string]string {
	out := maps.Clone(md)
	v, ok := md["bk-v"]
	if !ok {
		return out
	}
	var others []string
	for k := range md {
		if name, isField := strings.CutPrefix(k, "bk-"); isField && k != "bk-v" && !slices.Contains(envelopeOrder, name) {
			others = append(others, name)
		}
	}
	slices.Sort(others)
	for _, name := range append(slices.Clone(envelopeOrder), others...) {
		if value, ok := md["bk-"+name]; ok {
			v += " " + name + "=" + value
			delete(out, "bk-"+name)
		}
	}
	out["bk-v"] = v
	return out
}
