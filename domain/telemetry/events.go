// Package telemetry is the domain of the editor extension's activity telemetry: the
// events it becomes in the log, their content-derived ids (decision D16), the session
// ownership rule (decision D17), validation of the six client event types (4.4), and
// the line-counting formulas (decision D25). It is pure Go: no I/O.
//
// Each telemetry session is one stream, "session-<session uuid>". Its first event is
// SessionStarted{owner, start_time}; the client's events follow, one domain event each,
// with the client's JSON kept whole (unknown fields too) so later formulas can use
// fields nobody reads today.
package telemetry

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/devflow/backend/domain/ids"
)

// SchemaVersion is the schema version of every telemetry event type.
const SchemaVersion = 1

// Event types in the log.
const (
	TypeSessionStarted      = "SessionStarted"
	TypeTextChanged         = "TextChanged"
	TypeFileSaved           = "FileSaved"
	TypeEditorSwitched      = "EditorSwitched"
	TypeDebugSessionStarted = "DebugSessionStarted"
	TypeTerminalOpened      = "TerminalOpened"
	TypeGitActivityObserved = "GitActivityObserved"
)

// Client event types (the "type" field the extension sends).
const (
	ClientTextChange        = "text_change"
	ClientFileSave          = "file_save"
	ClientEditorSwitch      = "editor_switch"
	ClientDebugSessionStart = "debug_session_start"
	ClientTerminalOpen      = "terminal_open"
	ClientGitActivity       = "git_activity"
)

// clientTypes pairs each client type with its event type in the log.
var clientTypes = [...][2]string{
	{ClientTextChange, TypeTextChanged},
	{ClientFileSave, TypeFileSaved},
	{ClientEditorSwitch, TypeEditorSwitched},
	{ClientDebugSessionStart, TypeDebugSessionStarted},
	{ClientTerminalOpen, TypeTerminalOpened},
	{ClientGitActivity, TypeGitActivityObserved},
}

// EventType maps a client type to its event type ("" for an unknown type).
func EventType(clientType string) string {
	for _, t := range clientTypes {
		if t[0] == clientType {
			return t[1]
		}
	}
	return ""
}

// IsClientEvent reports whether an event type is one of the six client event types.
func IsClientEvent(eventType string) bool {
	for _, t := range clientTypes {
		if t[1] == eventType {
			return true
		}
	}
	return false
}

const streamPrefix = "session-"

// StreamID is the stream of a telemetry session.
func StreamID(session ids.ID) string { return streamPrefix + session.String() }

// SessionFromStream parses a stream id made by StreamID.
func SessionFromStream(streamID string) (ids.ID, bool) {
	rest, ok := strings.CutPrefix(streamID, streamPrefix)
	if !ok {
		return ids.Nil, false
	}
	id, err := ids.Parse(rest)
	return id, err == nil
}

// eventNamespace and quarantineNamespace seed the content-derived ids.
var (
	eventNamespace      = ids.MustParse("5b0f1c8e-6f1a-4f43-9a53-2f7c0e3d9a11")
	quarantineNamespace = ids.MustParse("c3d4e9a0-21b7-4c5e-8f60-7a1d2b3c4e5f")
	sessionNamespace    = ids.MustParse("8e2a7c61-0d4b-4b9e-a5f3-16c9d0e4b7a2")
)

// EventID is the id of a client event sent by user: the same user sending the same
// canonical content always gets the same id, so a resend is a duplicate (decision D16).
// buf is scratch space; the result does not alias it.
//
// It is ids.FromContent(eventNamespace, user + canonical), computed without
// allocating on the hot path of ingest.
func EventID(user ids.ID, canonical []byte, buf []byte) (ids.ID, []byte) {
	buf = append(append(append(buf[:0], eventNamespace[:]...), user[:]...), canonical...)
	sum := sha256.Sum256(buf)
	var id ids.ID
	copy(id[:], sum[:])
	id[6] = id[6]&0x0f | 0x50
	id[8] = id[8]&0x3f | 0x80
	return id, buf
}

// QuarantineID keys a quarantined (invalid) event the same way, so a resent invalid
// event is stored once.
func QuarantineID(user ids.ID, canonical []byte) ids.ID {
	return ids.FromContent(quarantineNamespace, append(append([]byte{}, user[:]...), canonical...))
}

// SessionStartedID is the id of a session's first event. It depends on the session and
// its creator only, so when the same user's identical requests race to create a
// session, the loser's SessionStarted is a duplicate rather than a conflict.
func SessionStartedID(session, owner ids.ID) ids.ID {
	return ids.FromContent(sessionNamespace, append(append([]byte{}, session[:]...), owner[:]...))
}

// SessionStarted opens a session stream and records its owner (decision D17).
//
// Schema versions: 1 held owner and start_time; 2 adds source, the ingest channel that
// opened the session, so sessions opened by other editors' clients can be told apart.
// DecodeSessionStarted upcasts version 1 (every such session came from the extension).
type SessionStarted struct {
	Owner     ids.ID    `json:"owner"`
	StartTime time.Time `json:"start_time"`
	Source    string    `json:"source"`
}

// SessionStartedVersion is the schema version of the SessionStarted payloads written now.
const SessionStartedVersion = 2

// SourceExtension is the source of sessions opened through POST /telemetry.
const SourceExtension = "extension"

// ErrUnknownSchemaVersion is returned for a payload version this binary cannot read.
var ErrUnknownSchemaVersion = errors.New("unknown schema version")

// DecodeSessionStarted reads a SessionStarted payload of the given schema version,
// upcasting older versions to the current shape.
func DecodeSessionStarted(schemaVersion int, data []byte) (SessionStarted, error) {
	var e SessionStarted
	if schemaVersion < 1 || schemaVersion > SessionStartedVersion {
		return e, fmt.Errorf("SessionStarted v%d: %w", schemaVersion, ErrUnknownSchemaVersion)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return SessionStarted{}, err
	}
	if schemaVersion == 1 {
		e.Source = SourceExtension
	}
	e.StartTime = e.StartTime.UTC()
	return e, nil
}

// AppendRecorded writes the payload of a client event as stored in the log:
// {"machine_timestamp": <the envelope's send time>, "event": <the client's event>}.
// The client's JSON is copied as sent (jsonb keeps every field, unknown ones too).
func AppendRecorded(dst []byte, machineTimestamp []byte, event []byte) []byte {
	dst = append(dst, `{"machine_timestamp":`...)
	dst = append(dst, machineTimestamp...) // a validated date-time, quotes included
	dst = append(dst, `,"event":`...)
	dst = append(dst, event...)
	return append(dst, '}')
}

// ErrSessionOwnedByAnotherUser is the ownership conflict of decision D17.
var ErrSessionOwnedByAnotherUser = errors.New("session ownership conflict")
