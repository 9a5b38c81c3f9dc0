package httpapi

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// validText reports whether s is text every handler may put into SQL or a redirect:
// valid UTF-8 (PostgreSQL refuses anything else, lone surrogates included) without NUL
// (which PostgreSQL's text and jsonb cannot hold).
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// QueryText returns the first value of the query parameter name ("" when absent) and
// whether it is validText. Handlers that put a query value into SQL or a redirect
// take it from here and answer a false ok with their own 4xx; values that go through
// a strict parser first (ids, dates, digits) need not.
func QueryText(q url.Values, name string) (string, bool) {
	v := q.Get(name)
	return v, validText(v)
}

// textDetails returns an "encoding" detail for the first string or member name of doc
// (a ParseJSON document) that is not validText, or nil. ReadJSON refuses bodies that
// are not UTF-8 and encoding/json turns lone surrogate escapes into U+FFFD, so what
// this finds is "\u0000".
func textDetails(doc any, path string) []Detail {
	switch v := doc.(type) {
	case string:
		if !validText(v) {
			return []Detail{{
				InstancePath: path, SchemaPath: "#", Keyword: "encoding", Params: map[string]any{},
				Message: "must be valid Unicode text without NUL characters",
			}}
		}
	case []any:
		for i, e := range v {
			if d := textDetails(e, path+"/"+strconv.Itoa(i)); d != nil {
				return d
			}
		}
	case map[string]any:
		for k, e := range v {
			if d := textDetails(k, path); d != nil {
				return d
			}
			if d := textDetails(e, path+"/"+escapePointer(k)); d != nil {
				return d
			}
		}
	}
	return nil
}
