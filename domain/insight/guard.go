package insight

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrHallucination is wrapped by every guard failure; the message says what failed.
var ErrHallucination = errors.New("reply cites values not in the input")

// Guard is the hallucination guard of 9.9 (decision D4): a reply passes only when every
// evidence item cites an input value and every number written in its text is an input
// value. A failure is not an error of the call: the caller downgrades the reply.
func Guard(in Input, r Reply) error {
	if err := CheckEvidence(in, r.Evidence); err != nil {
		return err
	}
	return CheckText(in, r.RecommendationText)
}

// candidates are the values evidence may cite; a nil entry is a null candidate.
func (in Input) candidates() map[string]*Value {
	num := func(x float64) *Value { v := Number(x); return &v }
	c := map[string]*Value{
		MetricLinesAdded:       num(float64(in.Today.LinesAdded)),
		MetricLinesDeleted:     num(float64(in.Today.LinesDeleted)),
		MetricSwitchCount:      num(float64(in.Today.SwitchCount)),
		MetricRapidSwitchCount: num(float64(in.Today.RapidSwitchCount)),
		MetricDurationMinutes:  num(float64(in.Session.DurationMinutes)),
		MetricChurnRatio:       nil,
		MetricTopFile:          nil,
	}
	if in.Today.ChurnRatio != nil {
		c[MetricChurnRatio] = num(*in.Today.ChurnRatio)
	}
	if in.TopFile != nil {
		v := Text(*in.TopFile)
		c[MetricTopFile] = &v
	}
	return c
}

// CheckEvidence is the evidence check of 9.9: each item names a non-null candidate;
// numbers compare after rounding to 2 decimals, anything else by string form.
func CheckEvidence(in Input, evidence []Evidence) error {
	cands := in.candidates()
	for _, e := range evidence {
		c, known := cands[e.Metric]
		if !known {
			return fmt.Errorf("%w: evidence metric %q is not an input metric", ErrHallucination, e.Metric)
		}
		if c == nil {
			return fmt.Errorf("%w: evidence cites %s, which is null in the input", ErrHallucination, e.Metric)
		}
		if c.IsNumber() && e.Value.IsNumber() {
			if Round2(c.Float()) != Round2(e.Value.Float()) {
				return fmt.Errorf("%w: evidence %s=%s, input has %s", ErrHallucination, e.Metric, e.Value, c)
			}
			continue
		}
		if c.String() != e.Value.String() {
			return fmt.Errorf("%w: evidence %s=%q, input has %q", ErrHallucination, e.Metric, e.Value.String(), c.String())
		}
	}
	return nil
}

// inputNumbers are all JSON numbers of the input object (9.9, text check).
func (in Input) inputNumbers() []float64 {
	t := in.Today
	nums := []float64{float64(in.Session.DurationMinutes), float64(t.LinesAdded), float64(t.LinesDeleted),
		float64(t.SwitchCount), float64(t.RapidSwitchCount)}
	if t.ChurnRatio != nil {
		nums = append(nums, *t.ChurnRatio)
	}
	for _, f := range in.TopFiles {
		nums = append(nums, float64(f.Count))
	}
	return nums
}

// CheckText is the text check of 9.9: after removing every top_files path and base
// name, each number written in text must match an input value, either after rounding
// both to 2 decimals or as the integer part of the input value.
func CheckText(in Input, text string) error {
	inputs := in.inputNumbers()
	for _, w := range WrittenNumbers(StripFileNames(in, text)) {
		if !matchesAny(w, inputs) {
			return fmt.Errorf("%w: text writes %s, which is not an input value", ErrHallucination, formatNumber(w))
		}
	}
	return nil
}

func matchesAny(t float64, inputs []float64) bool {
	for _, v := range inputs {
		if Round2(t) == Round2(v) || t == math.Trunc(v) {
			return true
		}
	}
	return false
}

// StripFileNames removes every occurrence of each top_files path and then of each base
// name (the part after the last "/"), so digits inside cited file names are not
// numbers. Paths go first because a base name is part of its path.
func StripFileNames(in Input, text string) string {
	for _, f := range in.TopFiles {
		if f.Path != "" {
			text = strings.ReplaceAll(text, f.Path, "")
		}
	}
	for _, f := range in.TopFiles {
		if base := baseName(f.Path); base != "" {
			text = strings.ReplaceAll(text, base, "")
		}
	}
	return text
}

func baseName(path string) string { return path[strings.LastIndex(path, "/")+1:] }

// WrittenNumbers scans text for written numbers as 9.9 defines them: a maximal run of
// digits, optionally followed by "." and more digits, not directly preceded by a
// letter, digit, "_" or "." and not directly followed by a letter, digit or "_". A
// leading sign is not part of the number. So "3-hour" holds 3, "v2" and "2nd" hold
// none, "1,200" holds 1 and 200 and "82%" holds 82.
func WrittenNumbers(text string) []float64 {
	var out []float64
	prev := rune(-1) // the rune before position i
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !isASCIIDigit(r) {
			prev = r
			i += size
			continue
		}
		start := i
		end := scanDigits(text, i)
		if end+1 < len(text) && text[end] == '.' && isASCIIDigit(rune(text[end+1])) {
			end = scanDigits(text, end+1)
		}
		next, _ := utf8.DecodeRuneInString(text[end:]) // RuneError at the end: no neighbour
		if !blocksBefore(prev) && !blocksAfter(next, end == len(text)) {
			if f, err := strconv.ParseFloat(text[start:end], 64); err == nil {
				out = append(out, f)
			}
		}
		prev, _ = utf8.DecodeLastRuneInString(text[:end])
		i = end
	}
	return out
}

func isASCIIDigit(r rune) bool { return r >= '0' && r <= '9' }

func scanDigits(s string, i int) int {
	for i < len(s) && isASCIIDigit(rune(s[i])) {
		i++
	}
	return i
}

func blocksBefore(r rune) bool {
	return r != -1 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '.')
}

func blocksAfter(r rune, atEnd bool) bool {
	return !atEnd && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_')
}

// DowngradedText is the text of a downgraded reply (9.9).
const DowngradedText = "Keep going — nothing concerning in the recent activity."

// Downgrade turns a reply that failed the guard into a normal outcome (9.9): low
// confidence, no evidence, reasoning kept.
func Downgrade(r Reply) Reply {
	return Reply{
		StateType:          StateNormal,
		ConfidenceScore:    math.Min(r.ConfidenceScore, 0.3),
		RecommendationType: RecExecute,
		RecommendationText: DowngradedText,
		Reasoning:          r.Reasoning,
		Evidence:           []Evidence{},
	}
}
