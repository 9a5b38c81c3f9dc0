// Package recommendations reads the recommendations read model: a user's pending
// recommendation, their history, and what the insight commands need to decide (the
// pending ids to expire, the latest one for the cooldown).
package recommendations

import (
	"context"
	"time"

	"github.com/georgysavva/scany/v2/pgxscan"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/insight"
	"github.com/devflow/backend/domain/recommendation"
)

// View is one recommendation as the API shows it (3.19).
type View struct {
	ID                 ids.ID             `db:"id"`
	StateType          string             `db:"state_type"`
	ConfidenceScore    float64            `db:"confidence_score"`
	RecommendationType string             `db:"recommendation_type"`
	RecommendationText string             `db:"recommendation_text"`
	Reasoning          *string            `db:"reasoning"`
	Evidence           []insight.Evidence `db:"evidence"`
	TriggeredRule      *string            `db:"triggered_rule"`
	Source             string             `db:"source"`
	UserAction         *string            `db:"user_action"`
	CreatedAt          time.Time          `db:"created_at"`
}

const columns = `id, state_type, confidence_score, recommendation_type, recommendation_text, reasoning,
	evidence, triggered_rule, source, user_action, created_at`

// Max and default list sizes (3.20).
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// Pending returns the user's newest recommendation without an action, or nil.
func Pending(ctx context.Context, db pgxscan.Querier, user ids.ID) (*View, error) {
	var v View
	err := pgxscan.Get(ctx, db, &v, `SELECT `+columns+` FROM recommendations
		WHERE user_id = $1 AND user_action IS NULL ORDER BY created_at DESC, seq DESC LIMIT 1`, user)
	if pgxscan.NotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// List returns up to limit of the user's recommendations, newest first.
func List(ctx context.Context, db pgxscan.Querier, user ids.ID, limit int) ([]View, error) {
	views := []View{}
	err := pgxscan.Select(ctx, db, &views, `SELECT `+columns+` FROM recommendations
		WHERE user_id = $1 ORDER BY created_at DESC, seq DESC LIMIT $2`, user, limit)
	return views, err
}

// PendingIDs lists every pending recommendation of the user (by the invariant of 9.7
// at most one, but expiry handles any number).
func PendingIDs(ctx context.Context, db pgxscan.Querier, user ids.ID) ([]ids.ID, error) {
	var out []ids.ID
	err := pgxscan.Select(ctx, db, &out, `SELECT id FROM recommendations WHERE user_id = $1 AND user_action IS NULL ORDER BY created_at, seq`, user)
	return out, err
}

// Latest returns what the cooldown needs of the user's newest recommendation, or nil.
func Latest(ctx context.Context, db pgxscan.Querier, user ids.ID) (*recommendation.Latest, error) {
	var row struct {
		CreatedAt  time.Time  `db:"created_at"`
		UserAction *string    `db:"user_action"`
		ActedAt    *time.Time `db:"acted_at"`
	}
	err := pgxscan.Get(ctx, db, &row, `SELECT created_at, user_action, acted_at FROM recommendations
		WHERE user_id = $1 ORDER BY created_at DESC, seq DESC LIMIT 1`, user)
	if pgxscan.NotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l := &recommendation.Latest{CreatedAt: row.CreatedAt}
	if row.UserAction != nil {
		l.Action = recommendation.Action(*row.UserAction)
	}
	if row.ActedAt != nil {
		l.ActedAt = *row.ActedAt
	}
	return l, nil
}
