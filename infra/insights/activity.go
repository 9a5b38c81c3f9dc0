package insights

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	cmdinsights "github.com/devflow/backend/commands/insights"
	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/insight"
	"github.com/devflow/backend/queries/metrics"
	"github.com/devflow/backend/queries/sessions"
)

// topFilesInInput is how many of today's top files the provider input carries (9.5).
const topFilesInInput = 5

// Activity reads the telemetry area's read models for the insights: the current
// session, today's metrics and the users active in the scheduler's window.
type Activity struct {
	pool    *pgxpool.Pool
	metrics *metrics.Queries
}

// NewActivity builds the adapter over pool.
func NewActivity(pool *pgxpool.Pool) *Activity {
	return &Activity{pool: pool, metrics: metrics.New(pool)}
}

// Current is the user's session with the latest start time (9.1 step 3).
func (a *Activity) Current(ctx context.Context, user ids.ID) (cmdinsights.Session, bool, error) {
	s, err := sessions.Current(ctx, a.pool, user)
	if errors.Is(err, sessions.ErrNoSession) {
		return cmdinsights.Session{}, false, nil
	}
	if err != nil {
		return cmdinsights.Session{}, false, err
	}
	return cmdinsights.Session{ID: s.ID, StartTime: s.StartTime}, true, nil
}

// Day is the user's metrics of the UTC day of day (9.1 step 4); no data is zeros.
func (a *Activity) Day(ctx context.Context, user ids.ID, day time.Time) (insight.Today, error) {
	d := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	r := metrics.Range{From: d, To: d}
	churn, err := a.metrics.ChurnDaily(ctx, user, r)
	if err != nil {
		return insight.Today{}, err
	}
	switches, err := a.metrics.SwitchesDaily(ctx, user, r, topFilesInInput)
	if err != nil {
		return insight.Today{}, err
	}
	today := insight.Today{LinesAdded: churn.LinesAdded, LinesDeleted: churn.LinesDeleted,
		SwitchCount: switches.SwitchCount, RapidSwitchCount: switches.RapidSwitchCount, TopFiles: []insight.FileCount{}}
	for _, f := range switches.TopFiles {
		today.TopFiles = append(today.TopFiles, insight.FileCount{Path: f.Path, Count: f.Count})
	}
	return today, nil
}

// ActiveSince lists the users with an event timestamped after since (9.12).
func (a *Activity) ActiveSince(ctx context.Context, since time.Time) ([]ids.ID, error) {
	return sessions.ActiveSince(ctx, a.pool, since)
}
