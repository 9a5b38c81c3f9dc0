package accounts

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/devflow/backend/domain/ids"
)

// TypeTimeZoneChanged is the event of a user choosing the time zone their days are
// counted in (the WakaTime-compatible reads' local days).
const TypeTimeZoneChanged = "TimeZoneChanged"

// DefaultTimeZone is every user's zone until they choose one.
const DefaultTimeZone = "UTC"

// ErrInvalidTimeZone is returned for a name that is not an IANA time zone.
var ErrInvalidTimeZone = errors.New("invalid time zone")

// ParseTimeZone accepts an IANA time zone name ("Europe/Berlin", "UTC"). "Local" is
// refused: it means the server's zone, not the user's.
func ParseTimeZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" || strings.TrimSpace(name) != name {
		return nil, ErrInvalidTimeZone
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, ErrInvalidTimeZone
	}
	return loc, nil
}

// TimeZoneChanged: a user chose a time zone. It is in the log, not only in the users
// table, so that a rebuilt duration read model counts each heartbeat in the zone that
// was the user's when it was folded, exactly as the live one did.
type TimeZoneChanged struct {
	UserID    ids.ID    `json:"user_id"`
	TimeZone  string    `json:"time_zone"`
	ChangedAt time.Time `json:"changed_at"`
}

var timeZoneNamespace = ids.MustParse("4f6b1d2a-8c3e-4e7a-9b15-c2d8e0a3f671")

func (TimeZoneChanged) EventType() string { return TypeTimeZoneChanged }
func (e TimeZoneChanged) user() ids.ID    { return e.UserID }

// subject: one change per user, zone and instant.
func (e TimeZoneChanged) subject() ids.ID {
	return ids.FromContent(timeZoneNamespace, []byte(e.UserID.String()+"/"+e.TimeZone+"/"+e.ChangedAt.UTC().Format(time.RFC3339Nano)))
}

// DecodeTimeZoneChanged reads a TimeZoneChanged payload of the given schema version.
func DecodeTimeZoneChanged(schemaVersion int, data []byte) (TimeZoneChanged, error) {
	var e TimeZoneChanged
	if schemaVersion != SchemaVersion {
		return e, fmt.Errorf("%s v%d: unknown schema version", TypeTimeZoneChanged, schemaVersion)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return TimeZoneChanged{}, err
	}
	if _, err := ParseTimeZone(e.TimeZone); err != nil {
		return TimeZoneChanged{}, fmt.Errorf("%s: %q: %w", TypeTimeZoneChanged, e.TimeZone, err)
	}
	return e, nil
}
