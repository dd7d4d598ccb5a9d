package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// maxConfigFile bounds a config file; real ones are a few hundred bytes.
const maxConfigFile = 1 << 20

// loadConfigFile reads a YAML (or JSON, which is YAML) config file whose keys
// are the flag names:
//
//	upstream: https://s3.eu-west-1.amazonaws.com
//	upstream-region: eu-west-1
//	kms-key-id: arn:aws:kms:eu-west-1:111122223333:key/...
//	bucket-key-ttl: 10m
//	replica: [photos-replica=photos]
func loadConfigFile(path string) (map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(b) > maxConfigFile {
		return nil, fmt.Errorf("config file %s: larger than %d bytes", path, maxConfigFile)
	}
	m, err := parseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return m, nil
}

// parseConfig decodes one YAML/JSON mapping of setting names to scalars or
// lists of scalars. An empty document is an empty mapping.
func parseConfig(b []byte) (map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]any{}, nil
		}
		return nil, fmt.Errorf("not a YAML or JSON mapping of settings: %v", firstLine(err.Error()))
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if m == nil {
		m = map[string]any{}
	}
	for k, v := range m {
		switch x := v.(type) {
		case nil:
		case []any:
			for _, item := range x {
				if _, err := scalarString(item); err != nil {
					return nil, fmt.Errorf("%q: a list of strings, numbers or booleans only", k)
				}
			}
		default:
			if _, err := scalarString(v); err != nil {
				return nil, fmt.Errorf("%q: nested settings are not supported", k)
			}
		}
	}
	return m, nil
}

func firstLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
