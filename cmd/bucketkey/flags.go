package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// listFlag is a repeatable string flag (--replica B=A --replica C=A). From
// the environment it takes a comma-separated list; from the config file a
// list or a single string.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// settings layers flag values: command line over environment
// (BUCKETKEY_<NAME>) over config file over defaults. It wraps a FlagSet so
// that every setting has one name, one parser and one default, whichever
// source sets it.
type settings struct {
	fs     *flag.FlagSet
	cmd    string
	file   string // --config, if the command has it
	origin map[string]string
}

func newSettings(cmd string) *settings {
	fs := flag.NewFlagSet("bucketkey "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line by the caller
	return &settings{fs: fs, cmd: cmd, origin: map[string]string{}}
}

// envName is the environment variable for a flag: BUCKETKEY_ + upper case,
// '-' as '_'.
func envName(flagName string) string {
	return "BUCKETKEY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// errHelp is returned when -h or --help was asked for.
var errHelp = flag.ErrHelp

// parse applies args, then the environment, then the config file named by
// --config (or BUCKETKEY_CONFIG) to every flag not set by a higher layer.
func (s *settings) parse(args []string, getenv func(string) (string, bool)) error {
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return err
	}
	if s.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (settings are flags: --name value)", s.fs.Arg(0))
	}
	s.fs.Visit(func(f *flag.Flag) { s.origin[f.Name] = "--" + f.Name })
	var file map[string]any
	if cf := s.fs.Lookup("config"); cf != nil {
		path := cf.Value.String()
		if _, ok := s.origin["config"]; !ok {
			if v, ok := getenv(envName("config")); ok && v != "" {
				path = v
				_ = cf.Value.Set(v)
				s.origin["config"] = envName("config")
			}
		}
		if path != "" {
			var err error
			if file, err = loadConfigFile(path); err != nil {
				return err
			}
			s.file = path
			if err := s.checkFileKeys(file); err != nil {
				return err
			}
		}
	}
	var err error
	s.fs.VisitAll(func(f *flag.Flag) {
		if err != nil {
			return
		}
		if _, set := s.origin[f.Name]; set || f.Name == "config" {
			return
		}
		if v, ok := getenv(envName(f.Name)); ok {
			if err = setFromString(f, v, true); err != nil {
				err = fmt.Errorf("%s: %w", envName(f.Name), err)
				return
			}
			s.origin[f.Name] = envName(f.Name)
			return
		}
		if v, ok := file[f.Name]; ok {
			if err = setFromFile(f, v); err != nil {
				err = fmt.Errorf("config file %s: %q: %w", s.file, f.Name, err)
				return
			}
			s.origin[f.Name] = fmt.Sprintf("%q in %s", f.Name, s.file)
		}
	})
	return err
}

func (s *settings) checkFileKeys(file map[string]any) error {
	var unknown []string
	for k := range file {
		if s.fs.Lookup(k) == nil || k == "config" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config file %s: unknown setting %q (settings are the flag names, e.g. upstream, bucket-key-ttl)", s.file, unknown[0])
	}
	return nil
}

// isSet reports whether any layer set the flag.
func (s *settings) isSet(name string) bool { _, ok := s.origin[name]; return ok }

// where names how a flag would be set, for "is required" messages.
func (s *settings) where(name string) string {
	w := fmt.Sprintf("--%s or %s", name, envName(name))
	if s.fs.Lookup("config") != nil {
		w += fmt.Sprintf(" or %q in the config file", name)
	}
	return w
}

// setFromString sets f from an environment value; list flags split on commas.
func setFromString(f *flag.Flag, v string, splitLists bool) error {
	if _, ok := f.Value.(*listFlag); ok && splitLists {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				if err := f.Value.Set(item); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := f.Value.Set(v); err != nil {
		return fmt.Errorf("invalid value for --%s: %v", f.Name, cleanFlagErr(err))
	}
	return nil
}

// setFromFile sets f from a decoded YAML/JSON value.
func setFromFile(f *flag.Flag, v any) error {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		if _, ok := f.Value.(*listFlag); !ok {
			return errors.New("a list is only allowed for repeatable settings")
		}
		for _, item := range x {
			s, err := scalarString(item)
			if err != nil {
				return err
			}
			if err := f.Value.Set(s); err != nil {
				return err
			}
		}
		return nil
	default:
		s, err := scalarString(v)
		if err != nil {
			return err
		}
		return setFromString(f, s, false)
	}
}

func scalarString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("want a string, number or boolean, got %T", v)
}

// cleanFlagErr strips the flag package's "parse error" wording.
func cleanFlagErr(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "strconv.") {
		msg = msg[i+2:]
	}
	return msg
}

// usage prints the flag set's defaults, one per flag, with its variable.
func (s *settings) usage(w io.Writer, synopsis string) {
	fmt.Fprintf(w, "usage: %s\n\n", synopsis)
	s.fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n      %s", line, help)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " [%s]", f.DefValue)
		}
		if s.cmd == "serve" || s.fs.Lookup("upstream") != nil { // serve and the commands with its settings
			fmt.Fprintf(w, " (%s)", envName(f.Name))
		}
		fmt.Fprintln(w)
	})
}
