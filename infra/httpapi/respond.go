package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// WriteJSON answers status with v as JSON (application/json; charset=utf-8). Like
// JavaScript's JSON.stringify, it does not escape <, > and &.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// A value that cannot be encoded is a bug in the handler; never send half of it.
		slog.Error("httpapi: response not encodable", "error", err)
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"Internal server error"}`)
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteError answers status with {"error": msg}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, errorBody{Error: msg})
}

// WriteValidation answers 400 {"error":"Validation failed","message":message}, with
// "details" when details is non-empty (contract 2.3: shape 1 with details for schema
// failures, shape 2 without for inline checks).
func WriteValidation(w http.ResponseWriter, message string, details []Detail) {
	WriteJSON(w, http.StatusBadRequest, validationBody{Error: "Validation failed", Message: message, Details: details})
}

// InternalError logs err with the request id and answers 500 {"error":"Internal server
// error"}. The client never sees err.
func InternalError(w http.ResponseWriter, r *http.Request, err error) {
	Logger(r.Context()).Error("request failed", "error", err.Error())
	WriteError(w, http.StatusInternalServerError, "Internal server error")
}

// FormatTime renders t as the contract's timestamp: UTC with exactly three fractional
// digits and Z (JavaScript's toISOString), e.g. 2026-11-27T05:37:50.204Z.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type errorBody struct {
	Error string `json:"error"`
}

type validationBody struct {
	Error   string   `json:"error"`
	Message string   `json:"message"`
	Details []Detail `json:"details,omitempty"`
}

type errorWithMessage struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}
