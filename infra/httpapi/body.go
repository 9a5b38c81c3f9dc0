package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes is the body limit of every endpoint except POST /telemetry (1 MiB).
const MaxBodyBytes int64 = 1 << 20

var emptyObject = []byte("{}")

// ReadBody is ReadBodyLimit with the 1 MiB limit.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	return ReadBodyLimit(w, r, MaxBodyBytes)
}

// ReadBodyLimit is ReadBodyInto with a buffer of its own.
func ReadBodyLimit(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	return ReadBodyInto(w, r, limit, nil)
}

// ReadBodyInto returns the request body under the contract's rules (2.2): a body whose
// media type is not application/json or *+json is ignored and reads as {}; an empty
// body reads as {}; a body over limit bytes is answered with 413 and ok=false. The
// body is appended to buf[:0] (pass a buffer kept from an earlier request to reuse its
// room), which grows as bytes arrive, never sized by the announced length alone: a
// client that announces 8 MiB and sends ten bytes costs little. A body that arrives
// too slowly (BodyLimits) gets 408; one beyond the body budget gets 429 with
// Retry-After. The bytes are not checked for JSON syntax. On ok=false the response has
// been written.
func ReadBodyInto(w http.ResponseWriter, r *http.Request, limit int64, buf []byte) ([]byte, bool) {
	if !isJSONMediaType(r.Header.Get("Content-Type")) {
		return emptyObject, true
	}
	if r.ContentLength > limit {
		writeTooLarge(w, limit)
		return nil, false
	}
	if r.ContentLength == 0 {
		return emptyObject, true
	}
	src, counted := r.Body, r.ContentLength
	if counted < 0 {
		// Unknown length (chunked): the limit counts against the budget and is enforced
		// while reading.
		src, counted = http.MaxBytesReader(w, r.Body, limit), limit
	}
	if !reserveBody(w, r, counted) {
		return nil, false
	}
	body, err := readGrowing(src, r.ContentLength, buf[:0])
	if err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			writeTooLarge(w, limit)
		case errors.Is(err, os.ErrDeadlineExceeded):
			WriteJSON(w, http.StatusRequestTimeout, errorWithMessage{
				Error: "Request timeout", Message: "request body arrived too slowly",
			})
		default:
			// The client stopped sending mid-body: what arrived is not a JSON document.
			writeMalformed(w)
		}
		return nil, false
	}
	if len(body) == 0 {
		return emptyObject, true
	}
	return body, true
}

// firstBodyBuffer is the room a body gets before any of it has arrived.
const firstBodyBuffer = 16 << 10

// readGrowing appends src to buf until EOF or, when declared is not negative, until
// declared bytes have arrived (the server ends the body there). The room doubles as
// bytes arrive, capped at what is still announced, so the last step leaves no slack.
func readGrowing(src io.Reader, declared int64, buf []byte) ([]byte, error) {
	for declared < 0 || int64(len(buf)) < declared {
		if len(buf) == cap(buf) {
			more := max(len(buf), firstBodyBuffer)
			if declared >= 0 {
				more = int(min(int64(more), declared-int64(len(buf))))
			}
			buf = slices.Grow(buf, more)
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// ReadJSON reads the body (ReadBody rules, 1 MiB) and parses it with ParseJSON. It
// answers 400 "malformed JSON" for a body that is not JSON (or not UTF-8, RFC 8259
// 8.1), and 400 with an "encoding" detail for a string or member name holding NUL,
// which no handler could store. On false the response has been written.
func ReadJSON(w http.ResponseWriter, r *http.Request) (any, bool) {
	body, ok := ReadBody(w, r)
	if !ok {
		return nil, false
	}
	if !utf8.Valid(body) {
		writeMalformed(w)
		return nil, false
	}
	doc, err := ParseJSON(body)
	if err != nil {
		writeMalformed(w)
		return nil, false
	}
	if details := textDetails(doc, ""); details != nil {
		WriteValidation(w, SchemaMismatch, details)
		return nil, false
	}
	return doc, true
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

// ValidateBody reads the body (ReadJSON rules) and validates it against the named
// request schema. It answers 413, 400 "malformed JSON" or 400 with details (contract
// 2.3 shape 1) and returns ok=false, or returns the parsed document: a map[string]any
// for every schema the service has.
func ValidateBody(w http.ResponseWriter, r *http.Request, schemaName string) (any, bool) {
	schemas, err := RequestSchemas()
	if err != nil {
		InternalError(w, r, err)
		return nil, false
	}
	doc, ok := ReadJSON(w, r)
	if !ok {
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
