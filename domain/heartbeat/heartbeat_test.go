package heartbeat

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/devflow/backend/domain/ids"
)

var user = ids.MustParse("11111111-2222-4333-8444-555555555555")

func TestParse_KeepsEveryFieldAndDerivesTheIDFromContent(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	raw := json.RawMessage(`{"time": 1799999000.123456, "entity": "/src/a.go", "type": "file", "project": "p",
		"lines": 10, "is_write": true, "future_field": {"x": 1}}`)
	client := Client{UserAgent: "wakatime/v1.73.0 (darwin-22.1.0-arm64) go1.20.1 GoLand/2023.1 GoLand-wakatime/14.1.0", Machine: "mac"}
	h, ev, err := Parse(user, raw, client, now, 14*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if h.Editor != "GoLand" || h.OS != "darwin" || h.Plugin != "GoLand-wakatime/14.1.0" || h.Category != DefaultCategory {
		t.Errorf("parsed %+v", h)
	}
	if got := h.Time.UnixMicro(); got != 1799999000123456 {
		t.Errorf("time %d", got)
	}
	back, err := Decode(ev.SchemaVersion, ev.Data)
	if err != nil {
		t.Fatal(err)
	}
	back.ID = h.ID
	if fmt.Sprint(back) != fmt.Sprint(h) {
		t.Errorf("decoded %+v, want %+v", back, h)
	}
	var stored struct {
		Heartbeat map[string]any
	}
	_ = json.Unmarshal(ev.Data, &stored)
	if stored.Heartbeat["future_field"] == nil {
		t.Errorf("unknown field dropped: %s", ev.Data)
	}
	// The same content in another key order and spacing is the same heartbeat.
	again, _, _ := Parse(user, json.RawMessage(`{"future_field":{"x":1},"is_write":true,"lines":10,"project":"p","type":"file",
		"entity":"/src/a.go","time":1799999000.123456}`), client, now, 14*24*time.Hour)
	other, _, _ := Parse(ids.New(), raw, client, now, 14*24*time.Hour)
	if again.ID != h.ID || other.ID == h.ID {
		t.Errorf("ids %v %v %v", h.ID, again.ID, other.ID)
	}
}

// A sent heartbeat's own editor, os, plugin or machine of another type than a string is
// kept as sent but not read: the stored payload decodes, with the server's values.
// (It was stored with 201 and then parked by the projection, never counted.)
func TestParse_SentServerFieldsOfAnyTypeDecode(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	client := Client{UserAgent: "wakatime/v1.73.0 (linux-6.1-x86_64) go1.22 vim/9.0 vim-wakatime/11.0.0", Machine: "box"}
	for _, extra := range []string{`"editor": 5`, `"os": {"name": "x"}`, `"plugin": [1]`, `"machine": true`, `"user_agent": 7`, `"editor": null`} {
		raw := json.RawMessage(`{"time": 1799999000, "entity": "/src/a.go", "type": "file", ` + extra + `}`)
		h, ev, err := Parse(user, raw, client, now, 14*24*time.Hour)
		if err != nil {
			t.Fatalf("%s: %v", extra, err)
		}
		back, err := Decode(ev.SchemaVersion, ev.Data)
		if err != nil {
			t.Fatalf("%s: the stored payload does not decode: %v (%s)", extra, err, ev.Data)
		}
		if back.Editor != "vim" || back.OS != "linux" || back.Machine != "box" || back.Editor != h.Editor {
			t.Errorf("%s: decoded %+v", extra, back)
		}
	}
}

func TestParse_RejectsInvalidHeartbeats(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for name, raw := range map[string]string{
		"not an object":     `[1]`,
		"no entity":         `{"type":"file","time":1799999000}`,
		"unknown type":      `{"entity":"a","type":"folder","time":1799999000}`,
		"no time":           `{"entity":"a","type":"file"}`,
		"time as string":    `{"entity":"a","type":"file","time":"1799999000"}`,
		"too old":           `{"entity":"a","type":"file","time":1798000000}`,
		"in the future":     `{"entity":"a","type":"file","time":1800200000}`,
		"negative lines":    `{"entity":"a","type":"file","time":1799999000,"lines":-1}`,
		"fractional lineno": `{"entity":"a","type":"file","time":1799999000,"lineno":1.5}`,
		"project as number": `{"entity":"a","type":"file","time":1799999000,"project":3}`,
		"is_write string":   `{"entity":"a","type":"file","time":1799999000,"is_write":"yes"}`,
		"dependencies":      `{"entity":"a","type":"file","time":1799999000,"dependencies":[1]}`,
		"NUL in entity":     `{"entity":"a\u0000b","type":"file","time":1799999000}`,
	} {
		if _, _, err := Parse(user, json.RawMessage(raw), Client{}, now, 14*24*time.Hour); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseUserAgent(t *testing.T) {
	for ua, want := range map[string][3]string{
		"wakatime/v1.73.0 (linux-5.15.0-x86_64) go1.20.1 vscode/1.80.0 vscode-wakatime/24.0.0": {"vscode", "linux", "vscode-wakatime/24.0.0"},
		"wakatime/v1.86.1 (windows-10.0.19045-amd64) go1.21 emacs-wakatime/1.0.2":              {"emacs", "windows", "emacs-wakatime/1.0.2"},
		"curl/8.0": {"", "", ""},
		"":         {"", "", ""},
	} {
		e, o, p := ParseUserAgent(ua)
		if [3]string{e, o, p} != want {
			t.Errorf("%q: %q %q %q, want %v", ua, e, o, p, want)
		}
	}
}
