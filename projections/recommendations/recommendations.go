// Package recommendations is the projection that folds recommendation events into the
// recommendations read model (pending and history, contract 3.19/3.20).
package recommendations

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/devflow/backend/domain/recommendation"
	"github.com/devflow/backend/projections"
)

// Name is the projection's name (checkpoint, WaitFor).
const Name = "recommendations"

// Version 1: the table of migration 00004.
const Version = 1

// Projection implements projections.Projection.
type Projection struct{}

// New returns the projection.
func New() Projection { return Projection{} }

func (Projection) Name() string     { return Name }
func (Projection) Version() int     { return Version }
func (Projection) Tables() []string { return []string{"recommendations"} }

// Handles implements projections.Projection.
func (Projection) Handles() []string {
	return []string{recommendation.EventIssued, recommendation.EventExpired, recommendation.EventAccepted,
		recommendation.EventDismissed, recommendation.EventSnoozed}
}

// SQL with unqualified names: the engine's search_path picks live or shadow tables.
const (
	insertIssued = `INSERT INTO recommendations (id, user_id, session_id, state_type, confidence_score,
		recommendation_type, recommendation_text, reasoning, evidence, triggered_rule, source, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (id) DO NOTHING`
	// A recommendation ends once (the stream's expected version guarantees it); the
	// guard keeps the first end should the log ever hold two.
	updateEnded = `UPDATE recommendations SET user_action = $2, acted_at = $3 WHERE id = $1 AND user_action IS NULL`
)

// Apply folds a batch of recommendation events.
func (Projection) Apply(_ context.Context, _ pgx.Tx, events []projections.Event, batch *pgx.Batch) error {
	for _, e := range events {
		switch p := e.Payload.(type) {
		case *recommendation.Issued:
			evidence, err := json.Marshal(p.Evidence)
			if err != nil {
				return err
			}
			var session any
			if !p.SessionID.IsNil() {
				session = p.SessionID
			}
			batch.Queue(insertIssued, p.RecommendationID, p.UserID, session, p.StateType, p.ConfidenceScore,
				p.RecommendationType, p.RecommendationText, p.Reasoning, string(evidence), p.TriggeredRule, p.Source, p.CreatedAt)
		case *recommendation.Ended:
			action, _ := recommendation.ActionOf(e.Type)
			batch.Queue(updateEnded, p.RecommendationID, string(action), p.At)
		}
	}
	return nil
}
