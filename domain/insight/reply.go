package insight

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Reply is a provider's answer, in the shape of the LLM output schema (9.8).
type Reply struct {
	StateType          string     `json:"state_type"`
	ConfidenceScore    float64    `json:"confidence_score"`
	RecommendationType string     `json:"recommendation_type"`
	RecommendationText string     `json:"recommendation_text"`
	Reasoning          string     `json:"reasoning"`
	Evidence           []Evidence `json:"evidence"`
}

// Evidence is one cited metric (decision D7). Metric is always a string.
type Evidence struct {
	Metric string `json:"metric"`
	Value  Value  `json:"value"`
}

// Value is an evidence value: a JSON number or a JSON string.
type Value struct {
	num   float64
	str   string
	isNum bool
}

// Number and Text build the two kinds of values.
func Number(x float64) Value { return Value{num: x, isNum: true} }
func Text(s string) Value    { return Value{str: s} }

// IsNumber reports whether v is a number; Float returns it.
func (v Value) IsNumber() bool { return v.isNum }
func (v Value) Float() float64 { return v.num }
func (v Value) String() string {
	if v.isNum {
		return formatNumber(v.num)
	}
	return v.str
}

// MarshalJSON writes numbers in shortest form (145, 0.82) and strings as strings.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.isNum {
		return []byte(formatNumber(v.num)), nil
	}
	return json.Marshal(v.str)
}

// ErrBadValue is returned when an evidence value is neither a number nor a string.
var ErrBadValue = errors.New("evidence value must be a number or a string")

// UnmarshalJSON accepts a JSON number or a JSON string.
func (v *Value) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = Text(s)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return ErrBadValue
	}
	*v = Number(f)
	return nil
}
