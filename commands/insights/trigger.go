package insights

import (
	"context"

	"github.com/devflow/backend/domain/ids"
	"github.com/devflow/backend/domain/recommendation"
)

// Demo creates the canned demo recommendation for user (9.11, decision D23): with any
// provider setting and whatever the cooldown, but only for a user with a session
// (otherwise ErrNoSession). It expires the user's pending recommendations in the same
// append, under the user's lock, so at most one stays pending (9.7).
func (e *Evaluator) Demo(ctx context.Context, user ids.ID) (ids.ID, error) {
	var id ids.ID
	err := e.d.Locker.WithUserLock(ctx, user, func(ctx context.Context) error {
		if err := e.d.Read.CatchUp(ctx); err != nil {
			return err
		}
		session, found, err := e.d.Sessions.Current(ctx, user)
		if err != nil {
			return err
		}
		if !found {
			return ErrNoSession
		}
		demo := recommendation.Demo(ids.New(), user, session.ID, e.d.Now())
		pos, err := e.persist(ctx, user, nil, &demo)
		if err != nil {
			return err
		}
		e.waitVisible(ctx, pos)
		id = demo.RecommendationID
		return nil
	})
	if err == nil {
		e.d.Log.Info("demo recommendation created", "user_id", user.String(), "recommendation_id", id.String())
	}
	return id, err
}
