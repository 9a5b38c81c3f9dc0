package accounts

import (
	"context"
	"time"

	"github.com/devflow/backend/domain/accounts"
	"github.com/devflow/backend/domain/ids"
)

// TimeZones stores users' time zones.
type TimeZones interface {
	// SetTimeZone stores the user's zone and its TimeZoneChanged event atomically;
	// accounts.ErrUserNotFound when the user is gone.
	SetTimeZone(ctx context.Context, e accounts.TimeZoneChanged) error
}

// SetTimeZoneHandler sets the time zone a user's days are counted in.
type SetTimeZoneHandler struct {
	zones TimeZones
	now   func() time.Time
}

// NewSetTimeZoneHandler builds the handler; now defaults to time.Now.
func NewSetTimeZoneHandler(zones TimeZones, now func() time.Time) SetTimeZoneHandler {
	if zones == nil {
		panic("accounts: nil dependency")
	}
	return SetTimeZoneHandler{zones: zones, now: clockOrNow(now)}
}

// Handle sets the zone; accounts.ErrInvalidTimeZone for a name that is not an IANA zone.
func (h SetTimeZoneHandler) Handle(ctx context.Context, userID ids.ID, name string) error {
	if _, err := accounts.ParseTimeZone(name); err != nil {
		return err
	}
	return h.zones.SetTimeZone(ctx, accounts.TimeZoneChanged{UserID: userID, TimeZone: name, ChangedAt: h.now().UTC()})
}
