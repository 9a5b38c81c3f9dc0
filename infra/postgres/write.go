package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/devflow/backend/domain/eventlog"
)

// staleVersionCode is the SQLSTATE lock_streams raises when a stream is not at the
// version the append assumed.
const staleVersionCode = "DF001"

// row is one event as stored, its stream version decided.
type row struct {
	id      [16]byte
	stream  string
	version int64
	typ     string
	schema  int32
	data    []byte
	sealed  []byte // nil: NULL (the payload is in data)
	meta    []byte
}

// streamLock is a stream an append writes, at the version the append assumes it is at.
type streamLock struct {
	stream  string
	version int64
}

const (
	lockSQL     = `SELECT lock_streams($1, $2)`
	copySQL     = `COPY events (event_id, stream_id, stream_version, event_type, schema_version, data, sealed, metadata) FROM STDIN (FORMAT binary)`
	completeSQL = `SELECT transaction_id, last_position FROM complete_append($1, $2)`
	// The two function calls are prepared once per connection (pgx remembers them),
	// so that an append does not parse and plan them again.
	lockStatement     = "devflow_lock_streams"
	completeStatement = "devflow_complete_append"
)

// CopyData messages start small, so that the server starts on the first rows early,
// and double up to maxCopyChunk, so that a large append takes few writes.
const (
	firstCopyChunk = 8 << 10
	maxCopyChunk   = 64 << 10
)

// write stores rows in one round trip on c (after one more, the first time on a
// connection, that prepares the two function calls): lock_streams (the expected-version
// check, which also takes the stream locks, in the order given: sorted), the binary
// COPY of the rows, complete_append (the streams' new versions, from the last row of
// each; the notification; the position), COMMIT when commit is set, and Sync. Without an
// open transaction the statements form the implicit transaction of the extended
// protocol, committed at Sync; any error rolls it all back. Within an open one (a
// caller's, or ours begun earlier) an error leaves it failed for the caller to roll
// back. A transport error closes the connection (the pool then drops it), since the
// protocol state is unknown.
//
// rows may be produced lazily: each chunk goes out as soon as it is full, so the server
// stores the first rows while the last are being made. Each stream's rows must come
// with versions counting up from its lock's. A row that comes with an error fails the
// COPY, and with it the whole append.
//
// pgx's CopyFrom cannot travel with other statements (and describes the table first,
// one more round trip), so the messages are written here with pgconn's frontend.
func write(ctx context.Context, c *pgx.Conn, locks []streamLock, rows iter.Seq2[row, error], commit bool) (eventlog.Position, error) {
	for _, st := range [...]struct{ name, sql string }{{lockStatement, lockSQL}, {completeStatement, completeSQL}} {
		if _, err := c.Prepare(ctx, st.name, st.sql); err != nil {
			return eventlog.Position{}, fmt.Errorf("append: prepare: %w", err)
		}
	}
	conn, types := c.PgConn(), c.TypeMap()
	streams := make([]string, len(locks))
	versions := make([]int64, len(locks))
	for i, l := range locks {
		streams[i], versions[i] = l.stream, l.version
	}
	lockParams, err := encodeParams(types, streams, versions)
	if err != nil {
		return eventlog.Position{}, err
	}
	fail := func(err error) (eventlog.Position, error) {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return eventlog.Position{}, fmt.Errorf("append: %w", err)
	}

	// A cancelled ctx interrupts a blocked write through the connection's deadline;
	// reads watch ctx themselves (ReceiveMessage).
	stop := context.AfterFunc(ctx, func() { _ = conn.Conn().SetWriteDeadline(time.Unix(1, 0)) })
	fe := conn.Frontend()
	execute := func(statement string, params [][]byte) {
		fe.SendBind(&pgproto3.Bind{PreparedStatement: statement, ParameterFormatCodes: []int16{pgtype.BinaryFormatCode}, Parameters: params})
		fe.SendExecute(&pgproto3.Execute{})
	}
	send := func(sql string) {
		fe.SendParse(&pgproto3.Parse{Query: sql})
		execute("", nil)
	}
	// The server takes the locks and starts the COPY while the first rows are made.
	execute(lockStatement, lockParams)
	send(copySQL)
	if err := fe.Flush(); err != nil {
		stop()
		return fail(err)
	}
	// The rows go out in CopyData messages as they are encoded, through one reused
	// buffer that starts with the message header (type and length).
	kept := copyBuffers.Get().(*[]byte)
	chunk := (*kept)[:0]
	defer func() { *kept = chunk[:0]; copyBuffers.Put(kept) }()
	chunkSize := firstCopyChunk
	flush := func() error {
		binary.BigEndian.PutUint32(chunk[1:5], uint32(len(chunk)-1))
		err := fe.SendUnbufferedEncodedCopyData(chunk)
		chunk = append(chunk[:0], 'd', 0, 0, 0, 0)
		chunkSize = min(2*chunkSize, maxCopyChunk)
		return err
	}
	chunk = appendCopyHeader(append(chunk, 'd', 0, 0, 0, 0))
	last := make([]int64, len(locks)) // each stream's last version written
	copy(last, versions)
	n := int64(0)
	var rowErr error
	for r, err := range rows {
		if err != nil {
			rowErr = err
			break
		}
		chunk = appendCopyRow(chunk, r)
		n++
		if i := slices.Index(streams, r.stream); i >= 0 {
			last[i] = r.version
		}
		if len(chunk) >= chunkSize {
			if err := flush(); err != nil {
				stop()
				return fail(err)
			}
		}
	}
	if rowErr != nil {
		// The server rolls back on CopyFail and skips to the Sync.
		fe.Send(&pgproto3.CopyFail{Message: "append: a row could not be made"})
	} else {
		chunk = appendCopyTrailer(chunk)
		if err := flush(); err != nil {
			stop()
			return fail(err)
		}
		fe.Send(&pgproto3.CopyDone{})
	}
	versionParams, err := encodeParams(types, streams, last)
	if err != nil {
		stop()
		return fail(err)
	}
	execute(completeStatement, versionParams)
	if commit {
		send("COMMIT")
	}
	fe.SendSync(&pgproto3.Sync{})
	err = fe.Flush()
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		return fail(err)
	}
	_ = conn.Conn().SetWriteDeadline(time.Time{})

	// Replies until ReadyForQuery: after an error the server skips everything up to
	// the Sync, so the first error is the one to report.
	var pos eventlog.Position
	var serverErr error
	copied := int64(-1)
	for {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			return fail(err)
		}
		switch msg := msg.(type) {
		case *pgproto3.ErrorResponse:
			if serverErr == nil {
				serverErr = pgconn.ErrorResponseToPgError(msg)
			}
		case *pgproto3.CommandComplete:
			if bytes.HasPrefix(msg.CommandTag, []byte("COPY ")) {
				copied = pgconn.NewCommandTag(string(msg.CommandTag)).RowsAffected()
			}
		case *pgproto3.DataRow:
			if len(msg.Values) == 2 {
				if pos, err = parsePosition(msg.Values[0], msg.Values[1]); err != nil {
					serverErr = err
				}
			}
		case *pgproto3.ReadyForQuery:
			if rowErr != nil {
				return eventlog.Position{}, rowErr
			}
			if serverErr != nil {
				return eventlog.Position{}, serverErr
			}
			if copied != n {
				return eventlog.Position{}, fmt.Errorf("append: copied %d events of %d", copied, n)
			}
			return pos, nil
		}
	}
}

func parsePosition(txid, position []byte) (eventlog.Position, error) {
	commit, err := strconv.ParseUint(string(txid), 10, 64)
	if err != nil {
		return eventlog.Position{}, fmt.Errorf("append: transaction id %q: %w", txid, err)
	}
	prepare, err := strconv.ParseUint(string(position), 10, 64)
	if err != nil {
		return eventlog.Position{}, fmt.Errorf("append: position %q: %w", position, err)
	}
	return eventlog.Position{Commit: commit, Prepare: prepare}, nil
}

// encodeParams encodes a text[] and a bigint[] parameter in binary.
func encodeParams(types *pgtype.Map, streams []string, versions []int64) ([][]byte, error) {
	a, err := types.Encode(pgtype.TextArrayOID, pgtype.BinaryFormatCode, streams, nil)
	if err != nil {
		return nil, fmt.Errorf("append: encode streams: %w", err)
	}
	b, err := types.Encode(pgtype.Int8ArrayOID, pgtype.BinaryFormatCode, versions, nil)
	if err != nil {
		return nil, fmt.Errorf("append: encode versions: %w", err)
	}
	return [][]byte{a, b}, nil
}

// copySignature starts PostgreSQL's binary COPY format.
const copySignature = "PGCOPY\n\xff\r\n\x00"

// The binary COPY format: a header (signature, flags, extension length), per row the
// field count and each field as length and bytes (json's binary form is its text), and
// a trailer.
func appendCopyHeader(buf []byte) []byte {
	buf = append(buf, copySignature...)
	return binary.BigEndian.AppendUint64(buf, 0)
}

func appendCopyRow(buf []byte, r row) []byte {
	be := binary.BigEndian
	buf = be.AppendUint16(buf, 8)
	buf = append(be.AppendUint32(buf, 16), r.id[:]...)
	buf = append(be.AppendUint32(buf, uint32(len(r.stream))), r.stream...)
	buf = be.AppendUint64(be.AppendUint32(buf, 8), uint64(r.version))
	buf = append(be.AppendUint32(buf, uint32(len(r.typ))), r.typ...)
	buf = be.AppendUint32(be.AppendUint32(buf, 4), uint32(r.schema))
	buf = append(be.AppendUint32(buf, uint32(len(r.data))), r.data...)
	if r.sealed == nil {
		buf = be.AppendUint32(buf, 0xffffffff) // NULL
	} else {
		buf = append(be.AppendUint32(buf, uint32(len(r.sealed))), r.sealed...)
	}
	return append(be.AppendUint32(buf, uint32(len(r.meta))), r.meta...)
}

func appendCopyTrailer(buf []byte) []byte { return binary.BigEndian.AppendUint16(buf, 0xffff) }

// copyBuffers keeps chunk buffers between appends, so that a warm append writes into
// room it has.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, maxCopyChunk+64<<10); return &b }}

// versionCache remembers the versions this store committed streams at, so that the
// next append to such a stream can assume its version instead of reading it. Another
// writer (a replica) makes an entry stale; lock_streams then fails the assumption
// and the append takes the locking path. The least recently used stream goes first
// when it is full.
type versionCache struct{ lru *lru.Cache[string, int64] }

const maxCachedVersions = 1 << 16

func newVersionCache() versionCache {
	c, err := lru.New[string, int64](maxCachedVersions)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return versionCache{c}
}

func (c versionCache) get(stream string) (int64, bool) { return c.lru.Get(stream) }

func (c versionCache) remember(stream string, version int64) { c.lru.Add(stream, version) }

func (c versionCache) forget(stream string) { c.lru.Remove(stream) }
