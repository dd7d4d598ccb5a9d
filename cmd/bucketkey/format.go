package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// count formats a request count with thousands separators: 1,296,000.
func count(f float64) string {
	n := int64(math.Round(f))
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// dollars formats an amount: cents from $1, four decimals from a cent, six
// below (one KMS request costs $0.000003, so short sessions cost fractions
// of a cent and must not all read $0.00).
func dollars(d float64) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d == 0:
		s = "$0"
	case d >= 1:
		whole := math.Floor(d)
		cents := math.Round((d - whole) * 100)
		if cents == 100 {
			whole, cents = whole+1, 0
		}
		s = "$" + count(whole) + "." + leftPad(strconv.Itoa(int(cents)), 2)
	case d >= 0.01:
		s = "$" + strconv.FormatFloat(d, 'f', 4, 64)
	default:
		s = "$" + strconv.FormatFloat(d, 'f', 6, 64)
	}
	if neg {
		return "-" + s
	}
	return s
}

func leftPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}

// percent formats a ratio: 99.88%, or three decimals when it is a rounding
// away from 100%.
func percent(r float64) string {
	p := r * 100
	if p > 99.9 && p < 100 {
		return strconv.FormatFloat(math.Floor(p*1000)/1000, 'f', 3, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 2, 64) + "%"
}

// num formats a rate or price without trailing zeros.
func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// duration rounds an uptime for humans.
func duration(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return d.Round(time.Minute).String()
	case d >= time.Minute:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Millisecond).String()
}

// table prints rows as columns separated by two spaces: the first column
// left-aligned (labels), the others right-aligned (numbers).
func table(out io.Writer, rows [][]string) {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if i == 0 {
				b.WriteString(cell + pad)
			} else {
				b.WriteString("  " + pad + cell)
			}
		}
		fmt.Fprintln(out, strings.TrimRight(b.String(), " "))
	}
}
