package telemetry_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/devflow/backend/domain/telemetry"
	tt "github.com/devflow/backend/domain/telemetry/telemetrytest"
)

const sid = "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34"

var at = time.Date(2026, 11, 27, 10, 14, 1, 512e6, time.UTC)

func TestIdentify_ReadsTypeSessionAndTime(t *testing.T) {
	e := tt.TextChange(strings.ToUpper(sid), at, "src/cart/cart.ts", 212, 1, 0)
	b, _ := json.Marshal(e)
	// An escaped character is read as itself.
	b = []byte(strings.Replace(string(b), `.512Z"`, `.512\u005a"`, 1))
	var d telemetry.Doc
	if err := d.Parse(b); err != nil {
		t.Fatal(err)
	}
	c, err := telemetry.Identify(d.Root())
	if err != nil || c.ClientType != telemetry.ClientTextChange || c.SessionID.String() != sid || !c.Time.Equal(at) {
		t.Fatalf("Identify = %+v, %v", c, err)
	}
	for name, body := range map[string]string{
		"unknown type":   `{"type":"file_open","session_id":"` + sid + `","timestamp":"2026-11-27T10:14:01Z"}`,
		"bad session id": `{"type":"file_save","session_id":"urn:uuid:` + sid + `","timestamp":"2026-11-27T10:14:01Z"}`,
		"bad timestamp":  `{"type":"file_save","session_id":"` + sid + `","timestamp":"2026-11-27T10:14:01"}`,
		"not an object":  `[]`,
	} {
		if err := d.Parse([]byte(body)); err != nil {
			t.Fatal(err)
		}
		if _, err := telemetry.Identify(d.Root()); err == nil {
			t.Errorf("%s: identified", name)
		}
	}
}

func TestClientDecoder_ReadsStoredEvents(t *testing.T) {
	store := func(e tt.Event) []byte {
		b, _ := json.Marshal(e)
		return telemetry.AppendRecorded(nil, []byte(`"2026-11-27T10:15:02.118Z"`), b)
	}
	var r telemetry.ClientDecoder

	paste := tt.TextChange(sid, at, "src/cart/cart.ts", 251, 1849, 0, tt.Range{Start: 90, End: 90}, tt.Range{Start: 3, End: 4})
	paste["metrics"].(map[string]any)["lines_added"] = 39
	o, err := r.Decode(telemetry.TypeTextChanged, telemetry.SchemaVersion, store(paste))
	if err != nil {
		t.Fatal(err)
	}
	want := telemetry.TextChange{CharsAdded: 1849, Width: 3, FileLines: 251, HasFileLines: true, ExplicitAdded: 39, HasExplicit: true}
	if o.Text != want || o.File != "src/cart/cart.ts" || !o.Time.Equal(at) {
		t.Fatalf("text change observed as %+v", o)
	}

	if o, err = r.Decode(telemetry.TypeEditorSwitched, telemetry.SchemaVersion, store(tt.EditorSwitch(sid, at, "a.ts", "b.ts", true))); err != nil {
		t.Fatal(err)
	}
	if o.SwitchTo != "b.ts" || !o.Rapid {
		t.Fatalf("switch observed as %+v", o)
	}
	empty := tt.EditorSwitch(sid, at, "a.ts", "", false)
	if o, err = r.Decode(telemetry.TypeEditorSwitched, telemetry.SchemaVersion, store(empty)); err != nil || o.SwitchTo != "" || o.Rapid {
		t.Fatalf("switch to empty file observed as %+v, %v", o, err)
	}
	if _, err := r.Decode(telemetry.TypeTextChanged, telemetry.SchemaVersion, []byte(`{"event":{"timestamp":"x"}}`)); err == nil {
		t.Fatal("bad timestamp accepted")
	}
}
