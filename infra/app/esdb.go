package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/devflow/backend/domain/eventlog"
	"github.com/devflow/backend/infra/esdb"
)

func openEventStoreDB(lc fx.Lifecycle, url string, log *slog.Logger) (eventlog.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := esdb.New(ctx, url, log)
	if err != nil {
		return nil, fmt.Errorf("EventStoreDB: %w", err)
	}
	lc.Append(fx.StopHook(store.Close))
	log.Info("event log: EventStoreDB")
	return store, nil
}
