package recommendation

import "time"

// Latest is what the cooldown needs of a user's newest recommendation (by created_at,
// demo ones included).
type Latest struct {
	CreatedAt time.Time
	Action    Action    // "" while pending
	ActedAt   time.Time // when Action happened
}

// Cooldown is the policy of decision D3.
type Cooldown struct {
	Pending time.Duration // INSIGHT_COOLDOWN_MINUTES
	Snooze  time.Duration // SNOOZE_DURATION_MINUTES
}

// Blocks reports whether the latest recommendation keeps a new evaluation away at now:
// a pending one until Pending after its creation, a snoozed one until Snooze after the
// snooze action; accepted, dismissed and expired ones (and none at all) never block.
func (c Cooldown) Blocks(latest *Latest, now time.Time) bool {
	if latest == nil {
		return false
	}
	switch latest.Action {
	case "":
		return now.Sub(latest.CreatedAt) < c.Pending
	case Snoozed:
		return now.Sub(latest.ActedAt) < c.Snooze
	}
	return false
}
