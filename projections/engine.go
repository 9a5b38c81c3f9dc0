// Package projections folds the event log into PostgreSQL read models. The engine reads
// each batch of the log once per process, decodes each event once, and hands the batch
// to every projection this replica leads; each projection applies it and advances its
// own checkpoint in a transaction of its own (exactly-once), the projections side by
// side, with one runner per projection across all replicas. An event a projection
// cannot apply is parked, never retried forever. The engine also rebuilds projections
// blue/green and replays them into analysis schemas, through the same decode-and-apply
// path.
package projections

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/devflow/backend/domain/eventlog"
)

// Projection is one read model maintained from the log.
type Projection interface {
	// Name identifies the projection (checkpoint key, CLI argument).
	Name() string
	// Version changes whenever the read model's meaning changes; a newer version
	// makes the service rebuild the projection blue/green on start.
	Version() int
	// Tables lists the read-model tables the projection owns, its private state
	// tables included. They live in the public schema and must not depend on
	// sequences owned by other tables (rebuild recreates them with LIKE ... INCLUDING ALL).
	Tables() []string
	// Handles lists the event types Apply needs. Other events never reach it (and are
	// not decoded for it), though its checkpoint moves past them.
	Handles() []string
	// Apply folds a batch of handled events, in log order, inside the engine's
	// transaction. Statements whose answers it needs go through tx; the writes it only
	// needs done it queues on writes, which the engine sends together with the
	// checkpoint's in one round trip. SQL uses unqualified table names: the engine sets
	// search_path to the target schema. An error that is about the data (a PostgreSQL
	// data exception, integrity violation or program limit) makes the engine park the
	// event that causes it; any other error fails the batch, to be retried.
	Apply(ctx context.Context, tx pgx.Tx, events []Event, writes *pgx.Batch) error
}

// Checkpoint is how far a projection has got in the log.
type Checkpoint struct {
	Name     string
	Version  int
	Position eventlog.Position
	// Ordinal counts the log events up to and including Position.
	Ordinal   int64
	UpdatedAt time.Time
	Error     string
}

// Runner states reported by Status and used by readiness.
const (
	StateStarting   = "starting"
	StateRunning    = "running"    // this replica runs the projection
	StateHeld       = "held"       // another replica runs it
	StateRebuilding = "rebuilding" // this replica rebuilds it after a version change
	StateFailing    = "failing"    // the last batch failed; retrying from its checkpoint
	StateOutdated   = "outdated"   // the stored version is newer than this binary's
)

// Options tune the engine.
type Options struct {
	// BatchSize caps the events read and applied per transaction (METRICS_ETL_BATCH_SIZE).
	BatchSize int
	// IdleWait is the longest a caught-up reader sleeps before looking again when no
	// append notification arrives.
	IdleWait time.Duration
	// Linger is the shortest time between two reads of the log when the first was not
	// a full batch: a reader that keeps up would otherwise apply many small pages, each
	// with its fixed cost per projection (a transaction, its state reads), so at most
	// this much lag buys pages that are several times larger.
	Linger time.Duration
}

// retryDelay is how long a failing projection waits before it tries its batch again.
const retryDelay = time.Second

// Engine runs projections.
type Engine struct {
	pool        *pgxpool.Pool
	store       eventlog.Store
	log         *slog.Logger
	opts        Options
	projections []Projection

	joins chan *member // projections this replica has started to lead, for the reader

	mu       sync.Mutex
	states   map[string]string
	advanced chan struct{} // closed and replaced whenever the reader commits a batch
	cancel   context.CancelFunc
	done     sync.WaitGroup
}

// NewEngine returns an engine for the given projections; Start runs them.
func NewEngine(pool *pgxpool.Pool, store eventlog.Store, logger *slog.Logger, opts Options, projections []Projection) *Engine {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 5000
	}
	if opts.IdleWait <= 0 {
		opts.IdleWait = 500 * time.Millisecond
	}
	if opts.Linger <= 0 {
		opts.Linger = 100 * time.Millisecond
	}
	states := map[string]string{}
	for _, p := range projections {
		states[p.Name()] = StateStarting
	}
	return &Engine{pool: pool, store: store, log: logger, opts: opts, projections: projections,
		joins: make(chan *member), states: states, advanced: make(chan struct{})}
}

// Projections lists the engine's projections.
func (e *Engine) Projections() []Projection { return e.projections }

// Start launches the reader and one leader per projection. They stop when Stop is called.
func (e *Engine) Start(ctx context.Context) error {
	for _, p := range e.projections {
		if err := ensureCheckpoint(ctx, e.pool, p); err != nil {
			return err
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done.Add(1)
	go func() {
		defer e.done.Done()
		e.read(runCtx)
	}()
	for _, p := range e.projections {
		e.done.Add(1)
		go func() {
			defer e.done.Done()
			e.run(runCtx, p)
		}()
	}
	return nil
}

// Stop ends the reader and the leaders after the current batch (a batch is one
// transaction, so cancelling mid-batch rolls it back and loses nothing).
func (e *Engine) Stop(ctx context.Context) error {
	if e.cancel == nil {
		return nil
	}
	e.cancel()
	finished := make(chan struct{})
	go func() { e.done.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) setState(name, state string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.states[name] = state
}

// States reports each projection's runner state on this replica.
func (e *Engine) States() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.states)
}

// Ready is nil when this replica's engine can serve: every projection is run here
// (running, rebuilding, or failing and retrying) or by another replica. A failing
// projection or parked events do not make a replica unready (contract 3.2): no restart
// fixes them, and all replicas would go out of service for one bad event. Problems
// reports them instead.
func (e *Engine) Ready() error {
	states := e.States()
	for _, name := range slices.Sorted(maps.Keys(states)) {
		if states[name] == StateStarting {
			return fmt.Errorf("projection %s is starting", name)
		}
	}
	return nil
}

// Problems lists what an operator should look at, in a short sentence per projection:
// a failing or outdated runner, parked events. It is empty when there is none.
func (e *Engine) Problems(ctx context.Context) ([]string, error) {
	parked, err := e.ParkedCounts(ctx)
	if err != nil {
		return nil, err
	}
	states := e.States()
	var out []string
	for _, p := range e.projections {
		name := p.Name()
		switch states[name] {
		case StateFailing, StateOutdated:
			out = append(out, name+": "+states[name])
		}
		if n := parked[name]; n > 0 {
			out = append(out, fmt.Sprintf("%s: %d parked events", name, n))
		}
	}
	return out, nil
}

// member is a projection this replica leads, as the reader tracks it.
type member struct {
	p       Projection
	handles map[string]bool
	cp      Checkpoint    // as committed
	joined  bool          // reads the shared batches; otherwise it catches up on its own
	retryAt time.Time     // a failing member rests until then
	lost    chan struct{} // closed by the leader when its lock's connection broke
	left    chan struct{} // closed by the reader once it no longer applies for the member
}

func newMember(p Projection, cp Checkpoint) *member {
	return &member{p: p, handles: handled(p), cp: cp, lost: make(chan struct{}), left: make(chan struct{})}
}

// run holds the projection's leader lock on a dedicated connection while the reader
// applies the log for it; replicas that do not get the lock retry now and then.
func (e *Engine) run(ctx context.Context, p Projection) {
	log := e.log.With("projection", p.Name())
	for ctx.Err() == nil {
		err := e.lead(ctx, p, log)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Error("projection runner failed", "error", err)
			e.setState(p.Name(), StateFailing)
		}
		sleep(ctx, 2*time.Second)
	}
}

func (e *Engine) lead(ctx context.Context, p Projection, log *slog.Logger) error {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var leader bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey(p.Name())).Scan(&leader); err != nil {
		return err
	}
	if !leader {
		e.setState(p.Name(), StateHeld)
		return nil
	}
	defer func() {
		_, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, lockKey(p.Name()))
	}()
	log.Info("projection runner leading")

	cp, err := readCheckpoint(ctx, e.pool, p.Name())
	if err != nil {
		return err
	}
	switch {
	case cp.Version > p.Version():
		e.setState(p.Name(), StateOutdated)
		log.Warn("stored projection version is newer than this binary; not running it", "stored", cp.Version, "binary", p.Version())
		sleep(ctx, time.Minute)
		return nil
	case cp.Version == 0:
		// Never built: its tables are empty, so following the log from the start builds
		// it; there is no old read model to keep serving blue/green.
		if _, err := e.pool.Exec(ctx, `UPDATE projection_checkpoints SET version = $2 WHERE name = $1 AND version = 0`, p.Name(), p.Version()); err != nil {
			return err
		}
	case cp.Version < p.Version():
		e.setState(p.Name(), StateRebuilding)
		log.Info("projection version changed; rebuilding blue/green", "from", cp.Version, "to", p.Version())
		if err := Rebuild(ctx, e.pool, e.store, p, e.opts.BatchSize, logProgress(log)); err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
		if cp, err = readCheckpoint(ctx, e.pool, p.Name()); err != nil {
			return err
		}
	}

	m := newMember(p, cp)
	select {
	case e.joins <- m:
	case <-ctx.Done():
		return nil
	}
	e.setState(p.Name(), StateRunning)
	// Leadership lives on conn: if it breaks, the lock is gone, and the reader must stop
	// applying for p before another replica may start.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			<-m.left
			return nil
		case <-tick.C:
			if err := conn.Ping(ctx); err != nil {
				if ctx.Err() != nil {
					<-m.left
					return nil
				}
				close(m.lost)
				<-m.left
				return fmt.Errorf("leader connection lost: %w", err)
			}
		}
	}
}

// read is the one reader of the log in this process. Each round, a member behind the
// others (new, rebuilt or recovering from a failure) catches up by one batch of its own,
// never past the others, and joins them once it has reached them; then one batch after
// the joined members' checkpoint is read, decoded once and applied for all of them at
// once, each in its own transaction (see apply: one failing projection does not hold
// back the rest), while the next batch is read ahead.
func (e *Engine) read(ctx context.Context) {
	var members []*member
	defer func() {
		for _, m := range members {
			close(m.left)
		}
	}()
	// One decoder for the members catching up, one for the shared read, which a
	// prefetch uses while the current page is applied.
	var dec, shared decoder
	var ahead <-chan page
	defer func() {
		if ahead != nil {
			<-ahead
		}
	}()
	for ctx.Err() == nil {
		members = e.admit(ctx, members)
		if len(members) == 0 {
			continue
		}
		progressed := false
		var lingerUntil time.Time
		cursor, grouped := groupCursor(members)
		now := time.Now()
		for _, m := range members {
			if m.joined || now.Before(m.retryAt) {
				continue
			}
			if !grouped || !m.cp.Position.Less(cursor) {
				m.joined = true
				if !grouped {
					cursor, grouped = m.cp.Position, true
				}
				continue
			}
			n, err := e.step(ctx, &dec, []*member{m}, m.cp.Position, &cursor)
			if err != nil {
				e.log.Error("projection catch-up failed", "projection", m.p.Name(), "error", err)
				m.retryAt = time.Now().Add(retryDelay)
			}
			progressed = progressed || n > 0
			if !m.cp.Position.Less(cursor) {
				m.joined = true
			}
		}
		if group := joinedMembers(members); len(group) > 0 {
			// The page read ahead serves if it starts where the group is and was decoded
			// for every type the group handles; an empty one may predate the latest
			// appends, so it is read again.
			var pg page
			if ahead != nil {
				pg = <-ahead
				ahead = nil
			}
			if pg.from != cursor || pg.err != nil || len(pg.envs) == 0 || !pg.covers(group) {
				pg = e.fetch(ctx, &shared, cursor, handledBy(group))
			}
			if len(pg.envs) > 0 && pg.err == nil {
				// Behind (a full page): read the next page while this one is applied.
				// Keeping up: let the next page fill for the rest of Linger instead.
				full := len(pg.envs) == e.opts.BatchSize
				if full {
					ahead = e.prefetch(ctx, &shared, pg.last(), pg.types)
				}
				e.apply(ctx, group, &pg)
				if !full {
					lingerUntil = pg.readAt.Add(e.opts.Linger)
				}
			}
			if pg.err != nil && ctx.Err() == nil {
				e.log.Error("projection log read failed", "error", pg.err)
				sleep(ctx, retryDelay)
			}
			progressed = progressed || len(pg.envs) > 0
		}
		if progressed {
			e.signalAdvanced()
			if wait := time.Until(lingerUntil); wait > 0 {
				sleep(ctx, wait)
			}
			continue
		}
		e.idle(ctx, members)
	}
}

// admit takes the members the leaders hand over and drops those whose leadership was
// lost. With no member at all it waits for one.
func (e *Engine) admit(ctx context.Context, members []*member) []*member {
	kept := members[:0]
	for _, m := range members {
		select {
		case <-m.lost:
			close(m.left)
		default:
			kept = append(kept, m)
		}
	}
	members = kept
	for {
		if len(members) == 0 {
			select {
			case m := <-e.joins:
				members = append(members, m)
			case <-ctx.Done():
				return members
			}
			continue
		}
		select {
		case m := <-e.joins:
			members = append(members, m)
		default:
			return members
		}
	}
}

// groupCursor is where the joined members' next shared batch starts: the lowest of
// their checkpoints (they are equal unless a member joined ahead of the others).
func groupCursor(members []*member) (eventlog.Position, bool) {
	var cursor eventlog.Position
	found := false
	for _, m := range members {
		if m.joined && (!found || m.cp.Position.Less(cursor)) {
			cursor, found = m.cp.Position, true
		}
	}
	return cursor, found
}

func joinedMembers(members []*member) []*member {
	var out []*member
	for _, m := range members {
		if m.joined {
			out = append(out, m)
		}
	}
	return out
}

// idle sleeps until the log may have moved. Committed events may still wait behind an
// older open transaction (the reader horizon): then it looks again soon rather than
// sleeping until the next append is announced; a failing member wakes it for its retry.
func (e *Engine) idle(ctx context.Context, members []*member) {
	wait := e.opts.IdleWait
	if head, err := e.store.Head(ctx); err == nil {
		for _, m := range members {
			if m.cp.Position.Less(head) && !time.Now().Before(m.retryAt) {
				wait = 20 * time.Millisecond
			}
		}
	}
	for _, m := range members {
		if d := time.Until(m.retryAt); d > 0 && d < wait {
			wait = d
		}
	}
	_ = e.store.WaitForAppend(ctx, wait)
}

// page is one read of the log after from, decoded for the event types in types.
type page struct {
	readAt time.Time
	from   eventlog.Position
	envs   []eventlog.Envelope
	events []Event
	failed map[int]error
	types  map[string]bool
	err    error
}

// last is the position of the page's last event.
func (pg *page) last() eventlog.Position { return pg.envs[len(pg.envs)-1].Position }

// covers reports whether the page was decoded for every type the members handle.
func (pg *page) covers(members []*member) bool {
	for _, m := range members {
		for t := range m.handles {
			if !pg.types[t] {
				return false
			}
		}
	}
	return true
}

func handledBy(members []*member) map[string]bool {
	types := map[string]bool{}
	for _, m := range members {
		maps.Copy(types, m.handles)
	}
	return types
}

// fetch reads one batch after from and decodes it for types.
func (e *Engine) fetch(ctx context.Context, dec *decoder, from eventlog.Position, types map[string]bool) page {
	readAt := time.Now()
	envs, err := e.store.ReadAll(ctx, from, e.opts.BatchSize)
	pg := page{readAt: readAt, from: from, envs: envs, types: types, err: err}
	if err == nil && len(envs) > 0 {
		pg.events, pg.failed = dec.decode(envs, types)
	}
	return pg
}

// prefetch fetches the next batch in the background while the current one is applied,
// so reading and decoding the log overlap with writing the read models.
func (e *Engine) prefetch(ctx context.Context, dec *decoder, from eventlog.Position, types map[string]bool) <-chan page {
	ch := make(chan page, 1)
	go func() { ch <- e.fetch(ctx, dec, from, types) }()
	return ch
}

// step reads one batch after from and applies it for members (a member catching up on
// its own, with until: never past that position). It returns how many events it read.
func (e *Engine) step(ctx context.Context, dec *decoder, members []*member, from eventlog.Position, until *eventlog.Position) (int, error) {
	pg := e.fetch(ctx, dec, from, handledBy(members))
	if pg.err != nil || len(pg.envs) == 0 {
		return 0, pg.err
	}
	if until != nil {
		n, _ := slices.BinarySearchFunc(pg.envs, *until, func(env eventlog.Envelope, pos eventlog.Position) int {
			if pos.Less(env.Position) {
				return 1
			}
			return -1
		})
		pg.envs, pg.events = pg.envs[:n], pg.events[:n]
		if n == 0 {
			return 0, nil
		}
	}
	e.apply(ctx, members, &pg)
	return len(pg.envs), nil
}

// apply applies a fetched page for every member, each in a transaction of its own and
// all at once: a member's writes and its checkpoint commit together (exactly-once), a
// slow projection costs the page its own time instead of adding it to the others', and
// one that fails is rolled back alone and retries from its checkpoint while the others
// go on.
func (e *Engine) apply(ctx context.Context, members []*member, pg *page) {
	results := make([]applied, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		sh := shareOf(m, pg.events, pg.failed)
		wg.Go(func() { results[i] = applyMember(ctx, e.pool, m, sh) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // stopping: whatever did not commit is applied again by the next runner
	}
	for i, m := range members {
		r := results[i]
		switch {
		case r.err != nil:
			m.joined, m.retryAt = false, time.Now().Add(retryDelay)
			m.cp.Error = r.err.Error()
			e.setState(m.p.Name(), StateFailing)
			e.log.Error("projection batch failed; retrying from its checkpoint", "projection", m.p.Name(), "error", r.err)
		case r.moved:
			m.joined = false // another runner moved the checkpoint: read it again
			cp, err := readCheckpoint(ctx, e.pool, m.p.Name())
			if err != nil {
				m.retryAt = time.Now().Add(retryDelay)
				e.log.Error("projection checkpoint unreadable", "projection", m.p.Name(), "error", err)
				continue
			}
			m.cp = cp
		default:
			m.cp = r.cp
			e.setState(m.p.Name(), StateRunning)
			for _, pk := range r.parked {
				e.log.Error("projection event parked", "projection", m.p.Name(), "event_id", pk.event.ID.String(),
					"event_type", pk.event.Type, "position", pk.event.Position.String(), "error", pk.err)
			}
		}
	}
}

// share is what one member takes from a page: the events after its checkpoint that it
// handles, the ones of those that could not be decoded, and how far it moves.
type share struct {
	events  []Event
	parked  []parkedEvent
	counted int               // log events after the member's checkpoint, handled or not
	last    eventlog.Position // the checkpoint after the page
}

func shareOf(m *member, events []Event, failed map[int]error) share {
	// Runs of one type are the usual case (one request's events): look the type up once
	// a run. The first pass sizes the share, which for most members is most of the page.
	var lastType string
	var handled bool
	handles := func(t string) bool {
		if t != lastType {
			lastType, handled = t, m.handles[t]
		}
		return handled
	}
	from := 0 // the events up to the member's checkpoint were applied before it joined
	for from < len(events) && !m.cp.Position.Less(events[from].Position) {
		from++
	}
	n := 0
	for i := from; i < len(events); i++ {
		if handles(events[i].Type) {
			n++
		}
	}
	sh := share{events: make([]Event, 0, n)}
	for i := from; i < len(events); i++ {
		ev := &events[i]
		sh.counted++
		sh.last = ev.Position
		switch {
		case !handles(ev.Type):
		case failed[i] != nil:
			sh.parked = append(sh.parked, parkedEvent{*ev, failed[i]})
		default:
			sh.events = append(sh.events, *ev)
		}
	}
	return sh
}

// applied is what applying a page did for one member.
type applied struct {
	cp     Checkpoint // the checkpoint after the page
	parked []parkedEvent
	moved  bool  // someone else moved the checkpoint; nothing was applied
	err    error // the page failed for this member and was rolled back
}

// applyMember applies m's share of a page. Should the projection fail on it, the share
// is applied again halving it in savepoints (applyIsolating), so that an event it cannot
// apply is parked and the rest commit; a failure even then is recorded on the checkpoint.
func applyMember(ctx context.Context, pool *pgxpool.Pool, m *member, sh share) applied {
	if sh.counted == 0 {
		return applied{cp: m.cp}
	}
	if len(sh.events) == 0 && len(sh.parked) == 0 {
		return passShare(ctx, pool, m, sh)
	}
	r, err := commitShare(ctx, pool, m, sh, false)
	if err != nil && ctx.Err() == nil {
		r, err = commitShare(ctx, pool, m, sh, true)
	}
	if err != nil {
		if ctx.Err() == nil {
			_, _ = pool.Exec(ctx, `UPDATE projection_checkpoints SET error = $2 WHERE name = $1`, m.p.Name(), err.Error())
		}
		return applied{err: err}
	}
	return r
}

// passShare moves m's checkpoint past a share it has nothing to apply of, in one
// statement that moves it only from where m has it (else someone else moved it).
func passShare(ctx context.Context, pool *pgxpool.Pool, m *member, sh share) applied {
	tag, err := pool.Exec(ctx, advanceCheckpoint, advanceArgs(m, sh)...)
	switch {
	case err != nil:
		return applied{err: err}
	case tag.RowsAffected() == 0:
		return applied{moved: true}
	}
	var r applied
	r.advance(m, sh, nil)
	return r
}

// commitShare applies m's share and moves its checkpoint in one transaction, in a
// handful of round trips: lock the checkpoint, the projection's reads, and its writes
// with the parked events and the checkpoint's move. Isolating, it parks the events the
// projection cannot apply instead of failing on them.
//
// The commit does not wait for its WAL to reach the disk (synchronous_commit off): a
// read model is derived from the log, and a crash that loses the last commits loses the
// checkpoint's moves with the writes they cover, which are then applied again.
func commitShare(ctx context.Context, pool *pgxpool.Pool, m *member, sh share, isolating bool) (applied, error) {
	var r applied
	name := m.p.Name()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var locked Checkpoint
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('search_path', 'public', true), set_config('synchronous_commit', 'off', true)`)
		b.Queue(selectCheckpoint+` FOR UPDATE`, name).QueryRow(func(row pgx.Row) (err error) {
			locked, err = scanCheckpoint(row)
			return err
		})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("lock checkpoint %s: %w", name, err)
		}
		if locked.Position != m.cp.Position {
			r.moved = true
			return nil
		}
		parked := sh.parked
		end := &pgx.Batch{}
		if isolating {
			more, err := applyIsolating(ctx, tx, m.p, "public", sh.events)
			if err != nil {
				return err
			}
			parked = append(slices.Clip(parked), more...)
		} else if len(sh.events) > 0 {
			if err := m.p.Apply(ctx, tx, sh.events, end); err != nil {
				return fmt.Errorf("apply %s: %w", name, err)
			}
		}
		queuePark(end, name, parked)
		end.Queue(advanceCheckpoint, advanceArgs(m, sh)...)
		if err := tx.SendBatch(ctx, end).Close(); err != nil {
			return fmt.Errorf("apply %s: %w", name, err)
		}
		r.advance(m, sh, parked)
		return nil
	})
	return r, err
}

func (r *applied) advance(m *member, sh share, parked []parkedEvent) {
	r.cp = m.cp
	r.cp.Position, r.cp.Ordinal, r.cp.Error, r.cp.UpdatedAt = sh.last, m.cp.Ordinal+int64(sh.counted), "", time.Now()
	r.parked = parked
}

// advanceCheckpoint moves a member's checkpoint past its share of a page, from where the
// member has it.
const advanceCheckpoint = `UPDATE projection_checkpoints
	SET commit_pos = $2, prepare_pos = $3, ordinal = ordinal + $4, updated_at = now(), error = NULL
	WHERE name = $1 AND commit_pos = $5 AND prepare_pos = $6`

func advanceArgs(m *member, sh share) []any {
	return []any{m.p.Name(), int64(sh.last.Commit), int64(sh.last.Prepare), sh.counted,
		int64(m.cp.Position.Commit), int64(m.cp.Position.Prepare)}
}

func (e *Engine) signalAdvanced() {
	e.mu.Lock()
	defer e.mu.Unlock()
	close(e.advanced)
	e.advanced = make(chan struct{})
}

// WaitFor blocks until projection name has applied the log up to pos (read-your-writes
// after an append), on whichever replica runs it.
func (e *Engine) WaitFor(ctx context.Context, name string, pos eventlog.Position) error {
	for {
		e.mu.Lock()
		advanced := e.advanced
		e.mu.Unlock()
		cp, err := readCheckpoint(ctx, e.pool, name)
		if err != nil {
			return err
		}
		if !cp.Position.Less(pos) {
			return nil
		}
		select {
		case <-advanced:
		case <-time.After(20 * time.Millisecond): // another replica may be the runner
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Checkpoint reads a projection's checkpoint.
func (e *Engine) Checkpoint(ctx context.Context, name string) (Checkpoint, error) {
	return readCheckpoint(ctx, e.pool, name)
}

// Step applies at most one batch of projection p into the public schema, through the
// engine's read, decode and apply path, and returns how many log events it passed. It
// is for tests and tools that drive a projection by hand, without leading it.
func Step(ctx context.Context, pool *pgxpool.Pool, store eventlog.Store, p Projection, batchSize int) (int, error) {
	cp, err := readCheckpoint(ctx, pool, p.Name())
	if err != nil {
		return 0, err
	}
	e := &Engine{pool: pool, store: store, log: slog.New(slog.DiscardHandler), opts: Options{BatchSize: batchSize},
		states: map[string]string{}, advanced: make(chan struct{})}
	m := newMember(p, cp)
	var dec decoder
	n, err := e.step(ctx, &dec, []*member{m}, cp.Position, nil)
	if err == nil && m.cp.Error != "" {
		err = errors.New(m.cp.Error)
	}
	return n, err
}

func ensureCheckpoint(ctx context.Context, pool *pgxpool.Pool, p Projection) error {
	// Version 0 marks a projection never built: its first runner follows the log from
	// the start.
	_, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (name, version) VALUES ($1, 0) ON CONFLICT DO NOTHING`, p.Name())
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", p.Name(), err)
	}
	return nil
}

const selectCheckpoint = `SELECT name, version, commit_pos, prepare_pos, ordinal, updated_at, coalesce(error, '') FROM projection_checkpoints WHERE name = $1`

func scanCheckpoint(row pgx.Row) (Checkpoint, error) {
	var cp Checkpoint
	var commit, prepare int64
	err := row.Scan(&cp.Name, &cp.Version, &commit, &prepare, &cp.Ordinal, &cp.UpdatedAt, &cp.Error)
	cp.Position = eventlog.Position{Commit: uint64(commit), Prepare: uint64(prepare)}
	return cp, err
}

func readCheckpoint(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string) (Checkpoint, error) {
	cp, err := scanCheckpoint(db.QueryRow(ctx, selectCheckpoint, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return cp, fmt.Errorf("projection %q has no checkpoint", name)
	}
	return cp, err
}

func lockCheckpoint(ctx context.Context, tx pgx.Tx, name string) (Checkpoint, error) {
	cp, err := scanCheckpoint(tx.QueryRow(ctx, selectCheckpoint+` FOR UPDATE`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return cp, fmt.Errorf("projection %q has no checkpoint", name)
	}
	return cp, err
}

// lockKey is the advisory lock a projection's runner holds while it leads.
func lockKey(name string) int64 { return advisoryKey("devflow-projection:" + name) }

// MaintenanceLockKey is the advisory lock held by a rebuild of a projection and by an
// ETL run (POST /metrics/etl/run), so that either sees the other in flight anywhere in
// the deployment.
func MaintenanceLockKey(name string) int64 {
	return advisoryKey("devflow-projection-maintenance:" + name)
}

// advisoryKey is a stable 64-bit hash of a namespaced name.
func advisoryKey(s string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return int64(h.Sum64())
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Status is a projection's progress as operators see it.
type Status struct {
	Checkpoint
	BinaryVersion int    // the version this binary builds
	State         string // this replica's runner state
	Head          eventlog.Position
	LagEvents     int64   // events between the checkpoint and the head
	LagSeconds    float64 // age of the oldest event not yet applied (see Status); 0 when caught up
	Parked        int64   // events parked because the projection could not apply them
}

// Status reports every projection's checkpoint against the log head.
func (e *Engine) Status(ctx context.Context) ([]Status, error) {
	head, err := e.store.Head(ctx)
	if err != nil {
		return nil, err
	}
	parked, err := e.ParkedCounts(ctx)
	if err != nil {
		return nil, err
	}
	states := e.States()
	// Projections that read the log together share a checkpoint: count its lag once.
	lags := map[eventlog.Position]lag{}
	out := make([]Status, 0, len(e.projections))
	for _, p := range e.projections {
		cp, err := readCheckpoint(ctx, e.pool, p.Name())
		if err != nil {
			cp = Checkpoint{Name: p.Name()} // never started: the whole log is lag
		}
		s := Status{Checkpoint: cp, BinaryVersion: p.Version(), State: states[p.Name()], Head: head, Parked: parked[p.Name()]}
		l, ok := lags[cp.Position]
		if !ok {
			if l, err = e.lagOf(ctx, cp, head); err != nil {
				return nil, err
			}
			lags[cp.Position] = l
		}
		s.LagEvents, s.LagSeconds = l.events, l.seconds
		out = append(out, s)
	}
	return out, nil
}

type lag struct {
	events  int64
	seconds float64
}

// lagOf is how far checkpoint cp is behind head: the events between them, and the age of
// the oldest of them (committed, whether or not the reader may take it yet).
func (e *Engine) lagOf(ctx context.Context, cp Checkpoint, head eventlog.Position) (lag, error) {
	bl, err := e.store.Backlog(ctx, cp.Position, head)
	if err != nil || bl.Events == 0 {
		return lag{}, err
	}
	return lag{events: bl.Events, seconds: max(0, time.Since(bl.Oldest).Seconds())}, nil
}
