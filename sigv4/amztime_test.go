package sigv4

import "testing"

func TestParseAmzDate(t *testing.T) {
	for in, ok := range map[string]bool{
		"20130524T000000Z": true,
		"20240229T235959Z": true,
		"20230229T000000Z": false,
		"20131324T000000Z": false,
		"20130524T240000Z": false,
		"20130524T000000":  false,
		"2013-05-24T00:00": false,
		"2013052AT000000Z": false,
		"20130524X000000Z": false,
	} {
		if _, got := parseAmzDate(in); got != ok {
			t.Errorf("parseAmzDate(%q) ok = %v", in, got)
		}
	}
}
