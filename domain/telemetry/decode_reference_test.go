package telemetry

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// observeByDoc is the reference Decode: the whole payload parsed into a Doc and read
// with Get. The skimming ClientDecoder must read every valid payload the same way.
func observeByDoc(eventType string, data []byte) (ClientEvent, error) {
	o := ClientEvent{Type: eventType}
	var doc Doc
	if err := doc.Parse(data); err != nil {
		return o, err
	}
	ev := doc.Root().Get("event")
	if !ev.Is(KindObject) {
		return o, ErrNotClientEvent
	}
	ts := ev.Get("timestamp")
	if !ts.Is(KindString) {
		return o, ErrNotClientEvent
	}
	t, err := parseDateTime(ts.StrBytes(nil))
	if err != nil {
		return o, err
	}
	o.Time = t
	if w := ev.Get("workspace"); w.Is(KindString) {
		o.Workspace = string(w.StrBytes(nil))
	}
	switch eventType {
	case TypeTextChanged, TypeFileSaved:
		f := ev.Get("file")
		if p := f.Get("path"); p.Is(KindString) {
			o.File = string(p.StrBytes(nil))
		}
		if w := f.Get("workspace"); w.Is(KindString) {
			if s := w.StrBytes(nil); len(s) > 0 {
				o.Workspace = string(s)
			}
		}
		if l := f.Get("language"); l.Is(KindString) {
			o.Language = string(l.StrBytes(nil))
		}
		if l := f.Get("lines"); l.Is(KindNumber) {
			o.Lines, _ = l.Int()
			o.HasLines = true
		}
		if eventType == TypeTextChanged {
			m := ev.Get("metrics")
			tc := &o.Text
			tc.CharsAdded, _ = m.Get("characters_added").Int()
			tc.CharsDeleted, _ = m.Get("characters_deleted").Int()
			for _, r := range m.Get("affected_line_ranges").Elements() {
				s, ok1 := r.Get("start").Int()
				e, ok2 := r.Get("end").Int()
				if ok1 && ok2 {
					tc.Width = addWidth(tc.Width, s, e)
				}
			}
			tc.FileLines, tc.HasFileLines = o.Lines, o.HasLines
			a, okA := explicitCount(m.Get("lines_added"))
			d, okD := explicitCount(m.Get("lines_deleted"))
			if okA || okD {
				tc.ExplicitAdded, tc.ExplicitDeleted, tc.HasExplicit = a, d, true
			}
		}
	case TypeEditorSwitched:
		to := ev.Get("to")
		if f := to.Get("file"); f.Is(KindString) {
			if s := f.StrBytes(nil); len(s) > 0 {
				o.SwitchTo = string(s)
			}
		}
		if l := to.Get("language"); l.Is(KindString) {
			o.Language = string(l.StrBytes(nil))
		}
		o.Rapid = ev.Get("metrics").Get("is_rapid_context_switching").Is(KindTrue)
	}
	return o, nil
}

var observeSeeds = []string{
	`{"machine_timestamp":"2026-11-27T10:15:02.118Z","event":{"file":{"absolute_path":"/h/a.ts","lines":109,"path":"src/a.ts"},"metrics":{"affected_line_ranges":[{"end":75,"start":70}],"characters_added":1,"characters_deleted":0,"lines_added":3},"timestamp":"2026-12-03T15:38:18.973Z","type":"text_change"}}`,
	`{"event":{"timestamp":"2026-12-03T15:38:18Z","to":{"file":"b.ts"},"from":{"file":"a.ts"},"metrics":{"is_rapid_context_switching":true}}}`,
	// repeated keys: the last one counts, as encoding/json decodes them
	`{"event":{"timestamp":"x","timestamp":"2026-12-03T15:38:18Z","file":{"path":"a"},"file":{"lines":2},"metrics":{"characters_added":5},"metrics":{"characters_deleted":7,"lines_deleted":1,"lines_deleted":"2"}}}`,
	`{"event":{"timestamp":"2026-12-03T15:38:18Z","to":{"file":"b.ts","file":""},"metrics":{"is_rapid_context_switching":true,"is_rapid_context_switching":"true"}}}`,
	// escapes in keys and strings, whitespace, numbers in every form
	` { "event" : { "time\u0073tamp" : "2026-12-03T15:38:18Z" , "file" : { "pa\"th":1, "path" : "s\\rc/\"q\"\u00e9.ts" , "lines" : 1.09e2 } , "metrics" : { "characters_added" : -0 , "affected_line_ranges" : [ {"start":1.5,"end":3e0} , 7 , {"start":"1","end":2} , {"start":9,"end":1} ] , "lines_added" : 2.0 , "lines_deleted" : -1 } } } `,
	`{"event":{"timestamp":"2026-12-03T15:38:18Z","file":[1,{"path":"x"}],"metrics":{"affected_line_ranges":{"start":1,"end":2},"characters_added":{"n":1},"lines_added":[1]},"to":null}}`,
	`{"event":{"timestamp":"2026-12-03T15:38:18Z","file":{"lines":99999999999999999999999,"path":""},"metrics":{"characters_added":-1e400,"affected_line_ranges":[{"start":-9223372036854775808,"end":9223372036854775807}]}}}`,
	`{"event":{"timestamp":"2026-12-03T15:38:18Z"},"event":7}`,
	// workspaces and languages: the file's workspace wins when not empty
	`{"event":{"file":{"language":"go","path":"a.go","workspace":"api"},"timestamp":"2026-12-03T15:38:18Z","workspace":"root","to":{"file":"b.ts","language":"typescript"}}}`,
	`{"event":{"workspace":"root","file":{"workspace":"","language":1},"file":{"workspace":"w\u00e9","language":"g\"o"},"timestamp":"2026-12-03T15:38:18Z","to":{"language":"ts"},"to":{"file":"x"},"workspace":"r2"}}`,
	`{"event":{"workspace":7,"file":{"workspace":7},"timestamp":"2026-12-03T15:38:18Z"}}`,
	// a plain string, then the same key escaped: the escaped copy must not land in the payload
	`{"event":{"timestamp":"2026-12-03T15:38:18Z","timestamp":"2026-12-03T15:38:1\u0039Z","workspace":"a","workspace":"b\tc","file":{"path":"plain","path":"esc\n","language":"go","language":"g\u006f","workspace":"w","workspace":"w\/2"},"to":{"file":"x","file":"y\"z","language":"t","language":"\u0074s"}}}`,
	`{"event":{"timestamp":7}}`,
	`{"event":{"timestamp":"2026-13-03T15:38:18Z"}}`,
	`{"machine_timestamp":"2026-11-27T10:15:02.118Z"}`,
	`[{"event":{"timestamp":"2026-12-03T15:38:18Z"}}]`,
	`"event"`,
}

var observeTypes = []string{TypeTextChanged, TypeFileSaved, TypeEditorSwitched, "debug_start"}

func checkObserveAgrees(t *testing.T, r *ClientDecoder, eventType string, data []byte) {
	t.Helper()
	want, wantErr := observeByDoc(eventType, data)
	before := string(data)
	got, err := r.Decode(eventType, SchemaVersion, data)
	if string(data) != before {
		t.Fatalf("%s: Decode wrote to the payload: %q became %q", eventType, before, data)
	}
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%s %q: error %v, the whole-document parse says %v", eventType, data, err, wantErr)
	}
	if wantErr != nil {
		if errors.Is(wantErr, ErrNotClientEvent) != errors.Is(err, ErrNotClientEvent) {
			t.Fatalf("%s %q: error %v, the whole-document parse says %v", eventType, data, err, wantErr)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %q:\n got  %+v\n want %+v", eventType, data, got, want)
	}
}

func TestClientDecoder_AgreesWithTheWholeDocumentParse(t *testing.T) {
	var r ClientDecoder
	for _, seed := range observeSeeds {
		for _, typ := range observeTypes {
			checkObserveAgrees(t, &r, typ, []byte(seed))
		}
	}
}

func TestClientDecoder_ReadsTheFieldsItNeeds(t *testing.T) {
	var r ClientDecoder
	o, err := r.Decode(TypeTextChanged, SchemaVersion, []byte(observeSeeds[4]))
	if err != nil {
		t.Fatal(err)
	}
	want := TextChange{CharsAdded: 0, Width: 3 + 0, FileLines: 109, HasFileLines: true, ExplicitAdded: 2, HasExplicit: true}
	// ranges: 1.5..3 truncates to 1..3 (width 3); "1"..2 is not numeric; 9..1 is empty
	if o.Text != want || o.File != `s\rc/"q"é.ts` || o.Lines != 109 || !o.Time.Equal(time.Date(2026, 12, 3, 15, 38, 18, 0, time.UTC)) {
		t.Fatalf("observed %+v (file %q)", o, o.File)
	}
}

// FuzzClientDecoder: for every valid JSON payload (the only kind the log's json column
// holds) the skimming ClientDecoder reads what the whole-document parse reads; for any
// other bytes it fails or reads something, but never panics.
func FuzzClientDecoder(f *testing.F) {
	for _, seed := range observeSeeds {
		f.Add(seed, uint8(0))
	}
	var r ClientDecoder
	f.Fuzz(func(t *testing.T, data string, typ uint8) {
		eventType := observeTypes[int(typ)%len(observeTypes)]
		if !json.Valid([]byte(data)) {
			_, _ = r.Decode(eventType, SchemaVersion, []byte(data))
			return
		}
		checkObserveAgrees(t, &r, eventType, []byte(data))
	})
}
