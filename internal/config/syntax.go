package config

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlSyntax matches yaml.v3's syntax errors: "yaml: line N: MSG", or
// "yaml: MSG" when it names no line.
var yamlSyntax = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// locateBudget bounds the bytes SyntaxError parses again to find a line,
// so that a mistake in a large file costs a bounded amount of work.
const locateBudget = 2 << 20

// SyntaxError turns a yaml.v3 syntax error in data into an *Error naming
// name and the line of the mistake.
//
// yaml.v3's own line is not always that line: for parser errors it prints
// a zero-based line ("did not find expected key" one line too early), it
// prints the line where the enclosing construct started (a block mapping,
// a flow sequence) instead of the line with the mistake, and when that
// construct starts on line 1 it prints the line where it noticed the
// problem (an unclosed quote on line 1 is reported at the end of the
// file), or no line at all. The line is therefore found again: it is the
// first line L such that the first L lines alone fail with the same
// message at the same yaml.v3 position. That is where a reader of the
// file, going down it, meets the mistake. When the mistake shows only at
// the end of the file (an unclosed quote or bracket), the first line from
// which the file fails with the same message is the one where the quote
// or bracket was opened.
func SyntaxError(name string, data []byte, err error) *Error {
	m := yamlSyntax.FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{File: name, Msg: tidy(strings.TrimPrefix(err.Error(), "yaml: ")), Err: err}
	}
	reported, _ := strconv.Atoi(m[1])
	msg := m[2]
	line := locateSyntax(data, msg)
	if line == 0 {
		line = reported
	}
	return &Error{File: name, Line: line, Msg: tidy(msg), Err: err}
}

// locateSyntax returns the line of the syntax error msg in data, or 0
// when it cannot tell.
func locateSyntax(data []byte, msg string) int {
	wantLine, wantMsg, failed := syntaxProblem(data)
	if !failed || wantMsg != msg {
		return 0
	}
	// Whether yaml.v3's mark is the end of the stream: then it moves with
	// blank lines added at the end.
	endLine, _, _ := syntaxProblem(append(data[:len(data):len(data)], "\n\n"...))
	atEnd := endLine != wantLine
	ends := lineEnds(data)
	// Each prefix is followed by more blank lines than the file has lines,
	// so that its end-of-stream mark is below every line of the file and
	// no failure caused by the cut shares a line with the file's own.
	pad := bytes.Repeat([]byte("\n"), len(ends)+2)
	budget := locateBudget
	// same says whether the first line lines fail like the whole file:
	// with msg where it fails, or with msg anywhere when its mark is the end.
	same := func(line int) (ok, exact bool) {
		end := ends[line-1]
		l, m, failed := syntaxProblem(append(data[:end:end], pad...))
		budget -= end + len(pad)
		ok = failed && m == msg && (atEnd || l == wantLine)
		return ok, ok && l == wantLine
	}
	// Unless the mark is the end, it is at or below the line of the
	// construct the mistake is in, which yaml.v3 printed zero-based at
	// worst: no prefix ending above it fails in the same place.
	line := 1
	if !atEnd && wantLine > 2 {
		line = wantLine - 1
	}
	// Line by line while that is cheap, which finds the first such line
	// even where a shorter cut fails the same way and a longer one does
	// not (a flow sequence cut after a comma).
	first := 0
	for ; line <= len(ends) && budget > 0; line++ {
		ok, exact := same(line)
		if exact {
			return line
		}
		if ok && first == 0 {
			first = line
		}
	}
	if first != 0 || line > len(ends) {
		// The whole file's mark is its end, which no prefix shares: the
		// mistake is something left open, where it was opened.
		return first
	}
	// In a large file, bisect the rest: once a prefix holds the mistake,
	// every longer one fails the same way.
	lo, hi := line, len(ends)
	for lo < hi {
		mid := lo + (hi-lo)/2
		if ok, _ := same(mid); ok {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// lineEnds returns where each line of data ends, its line break
// included, counting lines as yaml.v3 does: \r\n, \r, \n, and U+0085,
// U+2028 and U+2029 in UTF-8 each end one.
func lineEnds(data []byte) []int {
	var ends []int
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
			i++
			ends = append(ends, i+1)
		case data[i] == '\r' || data[i] == '\n':
			ends = append(ends, i+1)
		case data[i] == 0xC2 && i+1 < len(data) && data[i+1] == 0x85:
			i++
			ends = append(ends, i+1)
		case data[i] == 0xE2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9):
			i += 2
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	return ends
}

// syntaxProblem parses every document of data as nodes and returns the
// line yaml.v3 printed (0 for none) and its message; failed is false when
// data is well-formed YAML.
func syntaxProblem(data []byte) (line int, msg string, failed bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return 0, "", false
		}
		if err != nil {
			m := yamlSyntax.FindStringSubmatch(err.Error())
			if m == nil {
				return 0, err.Error(), true
			}
			line, _ := strconv.Atoi(m[1])
			return line, m[2], true
		}
	}
}
