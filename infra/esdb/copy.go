package esdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/devflow/backend/domain/eventlog"
)

// CopyStats counts what Copy did.
type CopyStats struct {
	Copied  int64 // events written to EventStoreDB
	Present int64 // events found already copied (a resumed or repeated copy)
}

// Copy appends the whole of log (the PostgreSQL event log of a deployment switching to
// EventStoreDB) to the store, in log order, keeping every event's id, stream, stream
// version, type, data and metadata. Only the position and recorded-at change: they are
// EventStoreDB's own. Each event is appended with its own stream version as the
// expectation, so the copy is resumable and repeatable: an event already at its version
// with its id is counted as present, and anything else at that version is an error
// (the target holds a different history). progress, if not nil, is called after each
// batch.
//
// It copies up to the source's head when it starts. A read can come back empty before
// that while an older transaction is still open on the source's server; it then waits.
func (s *Store) Copy(ctx context.Context, log eventlog.Store, batch int, progress func(CopyStats)) (CopyStats, error) {
	var stats CopyStats
	head, err := log.Head(ctx)
	if err != nil {
		return stats, fmt.Errorf("copy: read source head: %w", err)
	}
	for after := eventlog.Start; after.Less(head); {
		events, err := log.ReadAll(ctx, after, batch)
		if err != nil {
			return stats, fmt.Errorf("copy: read source: %w", err)
		}
		if len(events) == 0 {
			if err := log.WaitForAppend(ctx, 50*time.Millisecond); err != nil {
				return stats, err
			}
			continue
		}
		// Runs of one stream's consecutive events go in one append.
		for start := 0; start < len(events); {
			end := start + 1
			for end < len(events) && events[end].StreamID == events[start].StreamID {
				end++
			}
			if err := s.copyRun(ctx, events[start:end], &stats); err != nil {
				return stats, err
			}
			start = end
		}
		after = events[len(events)-1].Position
		if progress != nil {
			progress(stats)
		}
	}
	return stats, nil
}

func (s *Store) copyRun(ctx context.Context, run []eventlog.Envelope, stats *CopyStats) error {
	first := run[0]
	// What an earlier copy already wrote of this run must be the run's beginning.
	stored, err := s.ReadStream(ctx, first.StreamID, first.StreamVersion, len(run))
	if err != nil && !errors.Is(err, eventlog.ErrStreamNotFound) {
		return fmt.Errorf("copy: %w", err)
	}
	for i := range stored {
		if stored[i].ID != run[i].ID {
			return fmt.Errorf("copy: stream %s holds another event than the source at version %d", first.StreamID, run[i].StreamVersion)
		}
	}
	stats.Present += int64(len(stored))
	rest := run[len(stored):]
	if len(rest) == 0 {
		return nil
	}
	expected := eventlog.NoStream()
	if v := rest[0].StreamVersion; v > 0 {
		expected = eventlog.Exact(v - 1)
	}
	data := make([]eventlog.EventData, len(rest))
	for i, e := range rest {
		if e.StreamVersion != rest[0].StreamVersion+uint64(i) {
			return fmt.Errorf("copy: stream %s: version %d is not consecutive in the source", e.StreamID, e.StreamVersion)
		}
		data[i] = eventlog.EventData{ID: e.ID, Type: e.Type, SchemaVersion: e.SchemaVersion, Data: e.Data, Metadata: e.Metadata}
	}
	res, err := s.Append(ctx, eventlog.Append{StreamID: first.StreamID, Expected: expected, Events: data})
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if res[0].Duplicates > 0 {
		// The id is in the stream at another version: the target's history differs.
		return fmt.Errorf("copy: stream %s already holds events of the source at other versions", first.StreamID)
	}
	stats.Copied += int64(res[0].Appended)
	return nil
}
