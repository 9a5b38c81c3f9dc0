package datakeys

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/devflow/backend/domain/eventlog"
)

// Store is an event log whose payloads k encrypts on append and decrypts on read: the
// wrapper for adapters that do not take a PayloadCipher themselves (EventStoreDB).
type Store struct {
	eventlog.Store
	k *Keyring
}

// Encrypting wraps log.
func Encrypting(log eventlog.Store, k *Keyring) *Store { return &Store{Store: log, k: k} }

// Append seals every payload, in the JSON form (the wrapped store takes JSON only),
// then appends.
func (s *Store) Append(ctx context.Context, appends ...eventlog.Append) ([]eventlog.AppendResult, error) {
	sealed, err := s.k.SealAll(ctx, appends)
	if err != nil {
		return nil, err
	}
	for _, a := range sealed {
		for i := range a.Events {
			if a.Events[i].Data, err = AsJSON(a.Events[i].Data); err != nil {
				return nil, fmt.Errorf("append: %w", err)
			}
		}
	}
	return s.Store.Append(ctx, sealed...)
}

// ReadStream reads and opens.
func (s *Store) ReadStream(ctx context.Context, streamID string, from uint64, max int) ([]eventlog.Envelope, error) {
	events, err := s.Store.ReadStream(ctx, streamID, from, max)
	if err != nil {
		return nil, err
	}
	return events, s.k.OpenAll(ctx, events)
}

// ReadAll reads and opens.
func (s *Store) ReadAll(ctx context.Context, after eventlog.Position, max int) ([]eventlog.Envelope, error) {
	events, err := s.Store.ReadAll(ctx, after, max)
	if err != nil {
		return nil, err
	}
	return events, s.k.OpenAll(ctx, events)
}

// SealAll returns appends with their payloads as stored (Seal).
func (k *Keyring) SealAll(ctx context.Context, appends []eventlog.Append) ([]eventlog.Append, error) {
	out := make([]eventlog.Append, len(appends))
	for i, a := range appends {
		out[i] = a
		out[i].Events = make([]eventlog.EventData, len(a.Events))
		for j, e := range a.Events {
			data, err := k.Seal(ctx, e)
			if err != nil {
				return nil, fmt.Errorf("append: %w", err)
			}
			e.Data = data
			out[i].Events[j] = e
		}
	}
	return out, nil
}

// minOpenPerCore keeps small reads on one goroutine: below it, handing work over costs
// about what it saves.
const minOpenPerCore = 256

// OpenAll opens every envelope (Open), a large read (a projection's batch, a rebuild's
// page) on every core.
func (k *Keyring) OpenAll(ctx context.Context, events []eventlog.Envelope) error {
	parts := max(1, min(runtime.GOMAXPROCS(0), len(events)/minOpenPerCore))
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			for i := p * len(events) / parts; i < (p+1)*len(events)/parts && errs[p] == nil; i++ {
				errs[p] = k.Open(ctx, &events[i])
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
