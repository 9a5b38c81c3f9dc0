package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/devflow/backend/domain/insight"
)

// replySchema is the 9.8 output schema, compiled once for the whole process.
var replySchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(insight.OutputSchema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("devflow:insight-reply.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("devflow:insight-reply.json")
})

// Reply validation failures.
var (
	ErrEmptyReply      = errors.New("empty reply")
	ErrNotJSON         = errors.New("reply is not JSON")
	ErrSchemaViolation = errors.New("reply violates the output schema")
)

// ParseReply validates a model's raw reply against the 9.8 schema and decodes it. The
// schema is applied to the raw JSON (not to a decoded struct), so unknown fields,
// wrong types and missing fields are all caught.
func ParseReply(raw string) (insight.Reply, error) {
	if strings.TrimSpace(raw) == "" {
		return insight.Reply{}, ErrEmptyReply
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
	if err != nil {
		return insight.Reply{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	sch, err := replySchema()
	if err != nil {
		return insight.Reply{}, fmt.Errorf("compile output schema: %w", err)
	}
	if err := sch.Validate(doc); err != nil {
		return insight.Reply{}, fmt.Errorf("%w: %v", ErrSchemaViolation, err)
	}
	var r insight.Reply
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	if err := dec.Decode(&r); err != nil { // valid per schema, so this only fails on bugs
		return insight.Reply{}, fmt.Errorf("%w: %v", ErrSchemaViolation, err)
	}
	return r, nil
}

// geminiKeywords are the JSON-Schema keywords Gemini's responseJsonSchema accepts.
var geminiKeywords = map[string]bool{
	"type": true, "format": true, "title": true, "description": true, "enum": true, "items": true,
	"minItems": true, "maxItems": true, "minimum": true, "maximum": true, "anyOf": true,
	"properties": true, "additionalProperties": true, "required": true,
}

// responseSchema is the 9.8 schema in the dialect Gemini accepts (9.6): a type list
// becomes anyOf, and keywords Gemini does not support (the string lengths) are left
// out; the local validation still enforces them.
func responseSchema() any {
	var doc map[string]any
	if err := json.Unmarshal([]byte(insight.OutputSchema), &doc); err != nil {
		panic(err) // a constant of this module
	}
	return toGemini(doc)
}

func toGemini(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, sub := range v {
			if !geminiKeywords[k] {
				continue
			}
			if k == "properties" {
				props := map[string]any{}
				for name, s := range sub.(map[string]any) {
					props[name] = toGemini(s)
				}
				out[k] = props
				continue
			}
			out[k] = toGemini(sub)
		}
		if types, ok := out["type"].([]any); ok {
			delete(out, "type")
			var alts []any
			for _, t := range types {
				alts = append(alts, map[string]any{"type": t})
			}
			out["anyOf"] = alts
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, sub := range v {
			out[i] = toGemini(sub)
		}
		return out
	}
	return v
}
