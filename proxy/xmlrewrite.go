package proxy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/bucketkey/bucketkey/checksum"
	"github.com/bucketkey/bucketkey/envelope"
)

// xmlRule edits the elements whose path ends with path (local names,
// outermost first): drop removes the element, replace rewrites its text
// (returning false leaves it as is). replaceIn is replace for edits that
// depend on the element's siblings (an entry's ETag on its Size, which
// comes later): it runs when the parent closes and gets the text of the
// parent's leaf children by local name.
type xmlRule struct {
	path      []string
	drop      bool
	replace   func(text string) (string, bool)
	replaceIn func(text string, siblings map[string]string) (string, bool)
	// dropIf drops the element when it reports true of the text of its
	// leaf children (by name).
	dropIf func(children map[string]string) bool
	// insert returns raw XML to add at the end of the element's content,
	// from the text of its leaf children (by name): elements the backend
	// cannot give, such as an upload's declared checksum.
	insert func(children map[string]string) string
}

// xmlDeferred is a replaceIn edit waiting for its parent to close.
type xmlDeferred struct {
	inner, end int64 // the element's text
	text       string
	rule       *xmlRule
}

type xmlSplice struct {
	from, to int64
	with     string
}

// maxXMLDoc bounds the XML documents the proxy reads whole: S3 list
// responses (1,000 entries of keys up to 1 KiB) and the XML bodies clients
// send are a few MiB at most.
const maxXMLDoc = 32 << 20

// rewriteXML applies rules to doc and returns the edited document. It
// edits bytes in place: everything it does not touch (declarations,
// namespaces, unknown elements, whitespace, escaping) is kept exactly, so
// fields a newer backend adds pass through. The document must be
// well-formed.
func rewriteXML(doc []byte, rules ...xmlRule) ([]byte, error) {
	e := &xmlEditor{doc: doc, rules: rules}
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		off := d.InputOffset()
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("proxy: XML: %w", err)
		}
		end := d.InputOffset()
		switch t := tok.(type) {
		case xml.StartElement:
			e.start(t, off, end)
		case xml.EndElement:
			if err := e.end(t, off, end); err != nil {
				return nil, err
			}
		case xml.CharData:
			if n := len(e.stack); n > 0 && (e.stack[n-1].rule != nil || n > 1 && e.stack[n-2].collect) {
				e.stack[n-1].text.Write(t)
			}
		}
	}
	if len(e.stack) > 0 {
		return nil, fmt.Errorf("proxy: XML: element %q not closed", e.stack[len(e.stack)-1].name)
	}
	return e.edited(), nil
}

// xmlOpen is an element rewriteXML is inside of.
type xmlOpen struct {
	name       string
	start      int64 // offset of '<'
	inner      int64 // offset just after the start tag
	rule       *xmlRule
	text       strings.Builder
	selfClosed bool
	// For parents of replaceIn elements: their leaf children's text
	// and the edits waiting for it.
	collect  bool
	leaves   map[string]string
	deferred []xmlDeferred
	hasChild bool
}

// xmlEditor is the state of one rewriteXML.
type xmlEditor struct {
	doc       []byte
	rules     []xmlRule
	stack     []*xmlOpen
	names     []string
	splices   []xmlSplice
	dropDepth int // stack depth of the element being dropped, 0 if none
}

func (e *xmlEditor) start(t xml.StartElement, off, end int64) {
	o := &xmlOpen{name: t.Name.Local, start: off, inner: end}
	o.selfClosed = end-off >= 2 && string(e.doc[end-2:end]) == "/>"
	if n := len(e.stack); n > 0 {
		e.stack[n-1].hasChild = true
	}
	e.stack = append(e.stack, o)
	e.names = append(e.names, o.name)
	if e.dropDepth == 0 {
		o.rule = matchRule(e.rules, e.names)
		if o.rule != nil && o.rule.drop {
			e.dropDepth = len(e.stack)
		}
		o.collect = parentOfReplaceIn(e.rules, e.names) || o.rule != nil && (o.rule.dropIf != nil || o.rule.insert != nil)
	}
}

func (e *xmlEditor) end(t xml.EndElement, off, end int64) error {
	if len(e.stack) == 0 || e.stack[len(e.stack)-1].name != t.Name.Local {
		return fmt.Errorf("proxy: XML: unexpected end element %q", t.Name.Local)
	}
	o := e.stack[len(e.stack)-1]
	depth := len(e.stack)
	e.stack, e.names = e.stack[:depth-1], e.names[:depth-1]
	var parent *xmlOpen
	if depth > 1 {
		parent = e.stack[depth-2]
	}
	editable := e.dropDepth == 0 && o.rule != nil // not inside a dropped element
	dropIf := editable && o.rule.dropIf != nil && o.rule.dropIf(o.leaves)
	switch {
	case e.dropDepth == depth:
		e.splices = append(e.splices, xmlSplice{from: o.start, to: end})
		e.dropDepth = 0
	case dropIf:
		kept := e.splices[:0]
		for _, s := range e.splices {
			if s.from < o.start {
				kept = append(kept, s)
			}
		}
		e.splices = append(kept, xmlSplice{from: o.start, to: end})
		o.deferred = nil
	case e.dropDepth == 0 && o.rule != nil && o.rule.replace != nil && !o.selfClosed:
		if s, ok := o.rule.replace(o.text.String()); ok {
			e.splices = append(e.splices, xmlSplice{from: o.inner, to: off, with: escapeXMLText(s)})
		}
	case e.dropDepth == 0 && o.rule != nil && o.rule.replaceIn != nil && !o.selfClosed && parent != nil:
		parent.deferred = append(parent.deferred, xmlDeferred{inner: o.inner, end: off, text: o.text.String(), rule: o.rule})
	}
	if parent != nil && parent.collect && !o.hasChild {
		if parent.leaves == nil {
			parent.leaves = make(map[string]string)
		}
		parent.leaves[o.name] = o.text.String()
	}
	if editable && !dropIf && o.rule.insert != nil && !o.selfClosed {
		if x := o.rule.insert(o.leaves); x != "" {
			e.splices = append(e.splices, xmlSplice{from: off, to: off, with: x})
		}
	}
	for _, d := range o.deferred {
		if s, ok := d.rule.replaceIn(d.text, o.leaves); ok {
			e.splices = append(e.splices, xmlSplice{from: d.inner, to: d.end, with: escapeXMLText(s)})
		}
	}
	return nil
}

// edited is the document with the splices applied.
func (e *xmlEditor) edited() []byte {
	if len(e.splices) == 0 {
		return e.doc
	}
	sort.Slice(e.splices, func(i, j int) bool { return e.splices[i].from < e.splices[j].from })
	var out bytes.Buffer
	out.Grow(len(e.doc))
	var at int64
	for _, s := range e.splices {
		out.Write(e.doc[at:s.from])
		out.WriteString(s.with)
		at = s.to
	}
	out.Write(e.doc[at:])
	return out.Bytes()
}

func matchRule(rules []xmlRule, names []string) *xmlRule {
	for i := range rules {
		if pathEndsWith(names, rules[i].path) {
			return &rules[i]
		}
	}
	return nil
}

// parentOfReplaceIn reports whether the element at names is the parent of
// elements a replaceIn rule edits.
func parentOfReplaceIn(rules []xmlRule, names []string) bool {
	for _, r := range rules {
		if r.replaceIn != nil && len(r.path) > 1 && pathEndsWith(names, r.path[:len(r.path)-1]) {
			return true
		}
	}
	return false
}

func pathEndsWith(names, p []string) bool {
	if len(p) > len(names) {
		return false
	}
	tail := names[len(names)-len(p):]
	for j := range p {
		if p[j] != tail[j] {
			return false
		}
	}
	return true
}

func escapeXMLText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// plaintextSizeText rewrites a ciphertext size to the plaintext size from
// the size algebra. Sizes no ciphertext can have (objects written before
// the proxy) are left alone.
func plaintextSizeText(s string) (string, bool) {
	c, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || c < 0 {
		return "", false
	}
	n, err := envelope.PlaintextSize(c, 0)
	if err != nil {
		return "", false
	}
	return strconv.FormatInt(n, 10), true
}

// sizeRule rewrites <Size> under parent to the plaintext size.
func sizeRule(parent string) xmlRule {
	return xmlRule{path: []string{parent, "Size"}, replace: plaintextSizeText}
}

// checksumElements are the checksum elements S3 puts in parts, listings
// and results; for encrypted data they describe ciphertext (or nothing the
// backend can verify), so the proxy removes them.
var checksumElements = func() []string {
	names := []string{"ChecksumType", "ChecksumAlgorithm"}
	for _, a := range checksum.All {
		names = append(names, a.XMLElement())
	}
	return names
}()

// dropChecksums drops checksum elements directly under parent.
func dropChecksums(parent string) []xmlRule {
	rules := make([]xmlRule, 0, len(checksumElements))
	for _, c := range checksumElements {
		rules = append(rules, xmlRule{path: []string{parent, c}, drop: true})
	}
	return rules
}
