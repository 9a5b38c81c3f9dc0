package telemetry

import (
	"errors"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
)

func TestSession_FirstSenderOwnsIt(t *testing.T) {
	alice, bob := ids.New(), ids.New()
	start := time.Date(2026, 11, 27, 5, 34, 43, 0, time.UTC)
	s := NewSession(ids.New())
	started, err := s.Accept(alice, start)
	if err != nil || started == nil || started.Owner != alice || !started.StartTime.Equal(start) {
		t.Fatalf("new session: %+v, %v", started, err)
	}

	// Later batches of the owner add events without moving start_time.
	folded := FoldSession(s.ID(), *started)
	again, err := folded.Accept(alice, start.Add(-time.Hour))
	if err != nil || again != nil || !folded.StartTime().Equal(start) {
		t.Fatalf("owner's later batch: %+v, %v, start %v", again, err, folded.StartTime())
	}

	if _, err := folded.Accept(bob, start); !errors.Is(err, ErrSessionOwnedByAnotherUser) {
		t.Fatalf("another user's events: %v, want ErrSessionOwnedByAnotherUser", err)
	}
}

// A version 1 payload, as sessions opened before version 2 stored it, reads as the
// current shape: its source is the extension, the only client that could open it.
func TestDecodeSessionStarted_UpcastsVersion1(t *testing.T) {
	v1 := []byte(`{"owner":"9d7a1c3e-5b2f-4e8a-9c1d-3f5e7a9b1c2d","start_time":"2026-11-27T06:34:43.123+01:00"}`)
	got, err := DecodeSessionStarted(1, v1)
	want := SessionStarted{Owner: ids.MustParse("9d7a1c3e-5b2f-4e8a-9c1d-3f5e7a9b1c2d"),
		StartTime: time.Date(2026, 11, 27, 5, 34, 43, 123000000, time.UTC), Source: SourceExtension}
	if err != nil || got != want {
		t.Fatalf("v1 read as v%d: %+v, %v; want %+v", SessionStartedVersion, got, err, want)
	}
	if _, err := DecodeSessionStarted(SessionStartedVersion+1, v1); !errors.Is(err, ErrUnknownSchemaVersion) {
		t.Fatalf("a future version: %v, want ErrUnknownSchemaVersion", err)
	}
}

func TestSessionStarted_RoundTrips(t *testing.T) {
	e := SessionStarted{Owner: ids.New(), StartTime: time.Date(2026, 11, 27, 5, 34, 43, 123456000, time.UTC), Source: "wakatime"}
	b, err := jsonMarshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSessionStarted(SessionStartedVersion, b)
	if err != nil || got != e {
		t.Fatalf("round trip %s: %+v, %v", b, got, err)
	}
	if StreamID(ids.MustParse("E6E3F681-1F11-4037-994A-DB947C0A16C4")) != "session-e6e3f681-1f11-4037-994a-db947c0a16c4" {
		t.Fatal("stream id not lower-case")
	}
	if id, ok := SessionFromStream("session-e6e3f681-1f11-4037-994a-db947c0a16c4"); !ok || id.String() != "e6e3f681-1f11-4037-994a-db947c0a16c4" {
		t.Fatal("SessionFromStream")
	}
	if _, ok := SessionFromStream("pairing-e6e3f681-1f11-4037-994a-db947c0a16c4"); ok {
		t.Fatal("SessionFromStream accepted another stream")
	}
}
