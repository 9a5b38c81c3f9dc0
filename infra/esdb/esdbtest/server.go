// Package esdbtest is a test double for EventStoreDB: an in-process gRPC server on a
// loopback port that implements the client module's own generated Streams service, just
// the calls devFlow's adapter makes, with the server semantics the adapter relies on:
//
//   - Append with expected revision any, no-stream or an exact revision, and the server's
//     idempotency rules: a retried batch whose ids are already where the expectation
//     points (or, with any, wherever its first id is) succeeds without writing; a batch
//     that is only partly stored is a wrong-expected-version.
//   - Read of one stream forwards/backwards from a revision, start or end, with
//     StreamNotFound for a stream without events.
//   - Read of $all forwards/backwards from a position, start or end. Positions are
//     sparse byte offsets (not 1, 2, 3), so code that assumes dense positions breaks.
//   - Subscribe to $all from the end, with an event-type or stream filter (regex or
//     prefixes).
//
// It is a fixture, not a product: one in-memory log, no persistence, no links, no
// checkpoints on filtered subscriptions, no deletes, no security. Anything else the
// client asks for fails with codes.Unimplemented, so a test that strays off the
// supported surface fails loudly instead of passing against invented behaviour.
package esdbtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Start runs a fresh, empty double for the test and returns its connection string
// (insecure, single node). The server stops when the test ends.
func Start(t testing.TB) string {
	t.Helper()
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("esdbtest: %v", err)
	}
	t.Cleanup(s.Close)
	return s.URL()
}

// Server is a running double.
type Server struct {
	grpc *grpc.Server
	addr string
	log  *eventLog
}

// Listen starts a double on addr ("127.0.0.1:0" picks a free port).
func Listen(addr string) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	// The client pings every 10s even without calls; allow it, as EventStoreDB does.
	g := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}))
	l := &eventLog{next: 1024, streams: map[string][]int{}, subs: map[*subscriber]struct{}{}}
	streams.RegisterStreamsServer(g, &streamsServer{log: l})
	go func() { _ = g.Serve(lis) }()
	return &Server{grpc: g, addr: lis.Addr().String(), log: l}, nil
}

// URL is the connection string for the esdb client.
func (s *Server) URL() string { return "esdb://" + s.addr + "?tls=false" }

// Close stops the server, ending open subscriptions.
func (s *Server) Close() { s.grpc.Stop() }

// record is one stored event.
type record struct {
	most, least int64 // the event id as the protocol's structured UUID
	stream      string
	revision    uint64
	position    uint64 // commit and prepare position alike, as for a non-transactional write
	eventType   string
	contentType string
	created     int64 // .NET ticks (100ns) since the Unix epoch, as the server sends it
	data        []byte
	meta        []byte
}

type eventLog struct {
	mu      sync.Mutex
	records []record         // $all, in order
	streams map[string][]int // stream name -> indexes into records, by revision
	next    uint64           // the position the next record takes
	subs    map[*subscriber]struct{}
}

type subscriber struct {
	match func(*record) bool
	ch    chan record
	lost  bool // fell too far behind; the server drops it
}

type streamsServer struct {
	streams.UnimplementedStreamsServer
	log *eventLog
}

func (s *streamsServer) Append(stream streams.Streams_AppendServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "append must start with options")
	}
	var msgs []*streams.AppendReq_ProposedMessage
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		msg := req.GetProposedMessage()
		if msg == nil || msg.GetId().GetStructured() == nil {
			return status.Error(codes.InvalidArgument, "expected a proposed message with a structured id")
		}
		msgs = append(msgs, msg)
	}
	resp, err := s.log.append(string(opts.GetStreamIdentifier().GetStreamName()), opts, msgs)
	if err != nil {
		return err
	}
	return stream.SendAndClose(resp)
}

func (l *eventLog) append(name string, opts *streams.AppendReq_Options, msgs []*streams.AppendReq_ProposedMessage) (*streams.AppendResp, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	revs := l.streams[name]
	current := int64(len(revs)) - 1
	var expected int64
	expectAny := false
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Any:
		expectAny = true
	case *streams.AppendReq_Options_NoStream:
		expected = -1
	case *streams.AppendReq_Options_Revision:
		expected = int64(e.Revision)
	default:
		return nil, status.Errorf(codes.Unimplemented, "esdbtest: expected revision %T", e)
	}

	// Idempotency as the server does it: find where the batch would already be stored
	// (right after the expected revision, or with any wherever its first id is).
	stored := int64(-1)
	switch {
	case len(msgs) == 0:
	case expectAny:
		stored = l.find(revs, msgs[0])
	case expected < current:
		stored = expected + 1
	}
	if stored >= 0 {
		if !l.holds(revs, stored, msgs) {
			return wrongExpected(opts, current), nil
		}
		last := l.records[revs[stored+int64(len(msgs))-1]]
		return success(last.revision, last.position), nil
	}
	if !expectAny && expected != current {
		return wrongExpected(opts, current), nil
	}
	if len(msgs) == 0 {
		if current < 0 {
			return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: &streams.AppendResp_Success{
				CurrentRevisionOption: &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}},
				PositionOption:        &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}}}}, nil
		}
		last := l.records[revs[current]]
		return success(last.revision, last.position), nil
	}

	created := time.Now().UnixNano() / 100
	for _, m := range msgs {
		id := m.GetId().GetStructured()
		r := record{most: id.MostSignificantBits, least: id.LeastSignificantBits, stream: name,
			revision: uint64(len(l.streams[name])), position: l.next,
			eventType: m.GetMetadata()["type"], contentType: m.GetMetadata()["content-type"],
			created: created, data: m.GetData(), meta: m.GetCustomMetadata()}
		// Records take room in the transaction file: positions are sparse offsets.
		l.next += uint64(100 + len(r.stream) + len(r.eventType) + len(r.data) + len(r.meta))
		l.records = append(l.records, r)
		l.streams[name] = append(l.streams[name], len(l.records)-1)
		l.publish(r)
	}
	last := l.records[len(l.records)-1]
	return success(last.revision, last.position), nil
}

// find returns the revision of the event with msg's id in the stream, or -1.
func (l *eventLog) find(revs []int, msg *streams.AppendReq_ProposedMessage) int64 {
	id := msg.GetId().GetStructured()
	for rev, i := range revs {
		if r := &l.records[i]; r.most == id.MostSignificantBits && r.least == id.LeastSignificantBits {
			return int64(rev)
		}
	}
	return -1
}

// holds reports whether the stream holds exactly msgs' ids from revision from on.
func (l *eventLog) holds(revs []int, from int64, msgs []*streams.AppendReq_ProposedMessage) bool {
	if from+int64(len(msgs)) > int64(len(revs)) {
		return false
	}
	for i, m := range msgs {
		id := m.GetId().GetStructured()
		r := &l.records[revs[from+int64(i)]]
		if r.most != id.MostSignificantBits || r.least != id.LeastSignificantBits {
			return false
		}
	}
	return true
}

func success(revision, position uint64) *streams.AppendResp {
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: &streams.AppendResp_Success{
		CurrentRevisionOption: &streams.AppendResp_Success_CurrentRevision{CurrentRevision: revision},
		PositionOption: &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: position, PreparePosition: position}},
	}}}
}

func wrongExpected(opts *streams.AppendReq_Options, current int64) *streams.AppendResp {
	w := &streams.AppendResp_WrongExpectedVersion{}
	if current < 0 {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(current)}
	}
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Any:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
	case *streams.AppendReq_Options_NoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case *streams.AppendReq_Options_Revision:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: e.Revision}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

func (s *streamsServer) Read(req *streams.ReadReq, out streams.Streams_ReadServer) error {
	o := req.GetOptions()
	if o.GetResolveLinks() {
		return status.Error(codes.Unimplemented, "esdbtest: resolve links")
	}
	if o.GetSubscription() != nil {
		return s.log.subscribe(out.Context(), o, out)
	}
	if o.GetFilter() != nil {
		return status.Error(codes.Unimplemented, "esdbtest: filtered reads")
	}
	backwards := o.GetReadDirection() == streams.ReadReq_Options_Backwards
	var page []record
	switch so := o.GetStreamOption().(type) {
	case *streams.ReadReq_Options_Stream:
		name := so.Stream.GetStreamIdentifier().GetStreamName()
		var found bool
		page, found = s.log.readStream(string(name), so.Stream, backwards, o.GetCount())
		if !found {
			return out.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{
				StreamIdentifier: &shared.StreamIdentifier{StreamName: name}}}})
		}
	case *streams.ReadReq_Options_All:
		page = s.log.readAll(so.All, backwards, o.GetCount())
	default:
		return status.Error(codes.InvalidArgument, "read needs a stream or $all")
	}
	for i := range page {
		if err := out.Send(eventResp(&page[i])); err != nil {
			return err
		}
	}
	return nil
}

func (l *eventLog) readStream(name string, o *streams.ReadReq_Options_StreamOptions, backwards bool, count uint64) ([]record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	revs := l.streams[name]
	if len(revs) == 0 {
		return nil, false
	}
	// from is the first revision to return, inclusive, in the read's direction.
	var from int64
	switch r := o.GetRevisionOption().(type) {
	case *streams.ReadReq_Options_StreamOptions_Revision:
		from = int64(r.Revision)
	case *streams.ReadReq_Options_StreamOptions_Start:
		from = 0
	case *streams.ReadReq_Options_StreamOptions_End:
		from = int64(len(revs))
		if backwards {
			from = int64(len(revs)) - 1
		}
	}
	var page []record
	for rev := from; rev >= 0 && rev < int64(len(revs)) && uint64(len(page)) < count; {
		page = append(page, l.records[revs[rev]])
		if backwards {
			rev--
		} else {
			rev++
		}
	}
	return page, true
}

func (l *eventLog) readAll(o *streams.ReadReq_Options_AllOptions, backwards bool, count uint64) []record {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Forwards from a position includes the event at it; backwards from a position
	// returns the events before it, as the server does.
	var first int
	switch p := o.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		first = len(l.records)
		c, pp := p.Position.GetCommitPosition(), p.Position.GetPreparePosition()
		for i, r := range l.records {
			if r.position > c || (r.position == c && r.position >= pp) {
				first = i
				break
			}
		}
		if backwards {
			first--
		}
	case *streams.ReadReq_Options_AllOptions_Start:
		first = 0
		if backwards {
			first = -1
		}
	case *streams.ReadReq_Options_AllOptions_End:
		first = len(l.records)
		if backwards {
			first = len(l.records) - 1
		}
	}
	var page []record
	for i := first; i >= 0 && i < len(l.records) && uint64(len(page)) < count; {
		page = append(page, l.records[i])
		if backwards {
			i--
		} else {
			i++
		}
	}
	return page
}

func eventResp(r *record) *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: r.most, LeastSignificantBits: r.least}}},
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.revision,
			PreparePosition:  r.position,
			CommitPosition:   r.position,
			Metadata:         map[string]string{"type": r.eventType, "content-type": r.contentType, "created": strconv.FormatInt(r.created, 10)},
			CustomMetadata:   r.meta,
			Data:             r.data,
		},
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.position},
	}}}
}

// subscribe serves a live subscription to $all from its end.
func (l *eventLog) subscribe(ctx context.Context, o *streams.ReadReq_Options, out streams.Streams_ReadServer) error {
	all := o.GetAll()
	if all == nil || all.GetEnd() == nil {
		return status.Error(codes.Unimplemented, "esdbtest: only subscriptions to $all from the end")
	}
	match, err := filter(o.GetFilter())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	sub := &subscriber{match: match, ch: make(chan record, 4096)}
	l.mu.Lock()
	l.subs[sub] = struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.subs, sub)
		l.mu.Unlock()
	}()
	if err := out.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{Confirmation: &streams.ReadResp_SubscriptionConfirmation{
		SubscriptionId: fmt.Sprintf("esdbtest-%p", sub)}}}); err != nil {
		return err
	}
	for {
		select {
		case r, ok := <-sub.ch:
			if !ok {
				return status.Error(codes.Aborted, "esdbtest: subscriber fell behind")
			}
			if err := out.Send(eventResp(&r)); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// publish hands r to live subscribers; l.mu is held.
func (l *eventLog) publish(r record) {
	for sub := range l.subs {
		if sub.lost || !sub.match(&r) {
			continue
		}
		select {
		case sub.ch <- r:
		default:
			sub.lost = true
			close(sub.ch)
		}
	}
}

func filter(f *streams.ReadReq_Options_FilterOptions) (func(*record) bool, error) {
	if f == nil {
		return func(*record) bool { return true }, nil
	}
	field := func(r *record) string { return r.eventType }
	expr := f.GetEventType()
	if expr == nil {
		field = func(r *record) string { return r.stream }
		expr = f.GetStreamIdentifier()
	}
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, err
		}
		return func(r *record) bool { return re.MatchString(field(r)) }, nil
	}
	prefixes := expr.GetPrefix()
	return func(r *record) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(field(r), p) {
				return true
			}
		}
		return false
	}, nil
}
