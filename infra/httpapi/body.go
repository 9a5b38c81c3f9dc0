package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
)

// MaxBodyBytes is the body limit of every endpoint except POST /telemetry (1 MiB).
const MaxBodyBytes int64 = 1 << 20

var emptyObject = []byte("{}")

// ReadBody is ReadBodyLimit with the 1 MiB limit.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	return ReadBodyLimit(w, r, MaxBodyBytes)
}

// ReadBodyLimit returns the request body under the contract's rules (2.2): a body whose
// media type is not application/json or *+json is ignored and reads as {}; an empty body
// reads as {}; a body over limit bytes is answered with 413 and ok=false. The bytes are
// not checked for JSON syntax. On ok=false the response has been written.
func ReadBodyLimit(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if !isJSONMediaType(r.Header.Get("Content-Type")) {
		return emptyObject, true
	}
	if r.ContentLength > limit {
		writeTooLarge(w, limit)
		return nil, false
	}
	var body []byte
	var err error
	if r.ContentLength >= 0 {
		// The announced length, read into a buffer of exactly that size (the server
		// ends the body there).
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	}
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeTooLarge(w, limit)
			return nil, false
		}
		// The client stopped sending mid-body: what arrived is not a JSON document.
		writeMalformed(w)
		return nil, false
	}
	if len(body) == 0 {
		return emptyObject, true
	}
	return body, true
}

// DecodeJSON reads the body (ReadBody rules, 1 MiB) into dst with encoding/json. Bad
// syntax gets 400 "malformed JSON"; a value of the wrong JSON type for a field of dst
// gets 400 with one schema-style detail. Decode into json.RawMessage or any fields where
// an endpoint must answer a wrong type with its own message. On false the response has
// been written.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	body, ok := ReadBody(w, r)
	if !ok {
		return false
	}
	if !json.Valid(body) {
		writeMalformed(w)
		return false
	}
	if err := json.Unmarshal(body, dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			want := jsonTypeName(typeErr.Type)
			path := ""
			if typeErr.Field != "" {
				path = "/" + strings.ReplaceAll(typeErr.Field, ".", "/")
			}
			WriteValidation(w, SchemaMismatch, []Detail{{
				InstancePath: path, SchemaPath: "#", Keyword: "type",
				Params: map[string]any{"type": want}, Message: "must be " + want,
			}})
			return false
		}
		writeMalformed(w)
		return false
	}
	return true
}

// ParseJSON decodes one JSON document into generic values (objects, arrays, strings,
// bools, nil, and json.Number for numbers, so 240.0 and big integers survive exactly).
// Trailing data after the document is an error.
func ParseJSON(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("invalid data after the JSON document")
	}
	return doc, nil
}

// ValidateBody is ValidateBodyLimit with the 1 MiB limit.
func ValidateBody(w http.ResponseWriter, r *http.Request, schemaName string) (any, bool) {
	return ValidateBodyLimit(w, r, schemaName, MaxBodyBytes)
}

// ValidateBodyLimit reads the body (ReadBodyLimit rules), parses it with ParseJSON and
// validates it against the named request schema. It answers 413, 400 "malformed JSON" or
// 400 with details (contract 2.3 shape 1) and returns ok=false, or returns the parsed
// document: a map[string]any for every schema the service has.
func ValidateBodyLimit(w http.ResponseWriter, r *http.Request, schemaName string, limit int64) (any, bool) {
	schemas, err := RequestSchemas()
	if err != nil {
		InternalError(w, r, err)
		return nil, false
	}
	body, ok := ReadBodyLimit(w, r, limit)
	if !ok {
		return nil, false
	}
	doc, err := ParseJSON(body)
	if err != nil {
		writeMalformed(w)
		return nil, false
	}
	if details := schemas.Validate(schemaName, doc); details != nil {
		WriteValidation(w, SchemaMismatch, details)
		return nil, false
	}
	return doc, true
}

// isJSONMediaType applies the Content-Type rule: application/json or any type ending in
// +json, parameters ignored, any letter case.
func isJSONMediaType(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	return mt == "application/json" || (strings.HasSuffix(mt, "+json") && strings.Contains(mt, "/"))
}

func writeTooLarge(w http.ResponseWriter, limit int64) {
	WriteJSON(w, http.StatusRequestEntityTooLarge, errorWithMessage{
		Error: "Payload too large", Message: fmt.Sprintf("request body exceeds %d bytes", limit),
	})
}

func writeMalformed(w http.ResponseWriter) {
	WriteValidation(w, "malformed JSON", nil)
}

// jsonTypeName names a Go type the way JSON Schema names types.
func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	}
	return t.Kind().String()
}
