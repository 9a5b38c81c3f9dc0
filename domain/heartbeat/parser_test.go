package heartbeat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var parserNow = time.Unix(1_800_000_000, 0)

const parserUA = "wakatime/v1.102.1 (linux-6.8.0-45-generic-x86_64) go1.23.1 vim/9.1.0 vim-wakatime/11.2.0"

// parserCases are heartbeats the scanner reads and heartbeats it must leave to the
// general way; either way the result must be the general way's.
var parserCases = []string{
	`{"entity":"/home/dev/api/main.go","type":"file","category":"coding","time":1799999000.123,"project":"api","project_root_count":4,"branch":"main","language":"Go","dependencies":["github.com/jackc/pgx/v5","go.uber.org/fx"],"lines":120,"lineno":7,"cursorpos":3,"line_additions":2,"line_deletions":1,"is_write":true}`,
	`{ "time" : 1799999000 , "entity" : "a" , "type" : "app" }`,
	"{\n\t\"entity\": \"C:\\\\Users\\\\dev\\\\api\\\\main.go\", \"type\": \"file\", \"time\": 1799999000.5\n}",
	`{"entity":"/src/é/ü.go","type":"file","time":1799999000,"project":"日本語"}`,
	`{"entity":"/src/<a>&b.go","type":"file","time":1799999000}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"branch":"x` + "\u2028" + `y"}`,
	`{"entity":"/src/\u00e9.go","type":"file","time":1799999000,"language":"\/go\/"}`,
	`{"entity":"/src/a.go","type":"file","time":1.7999990001e9,"lines":0,"lineno":null,"is_write":false,"dependencies":null}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"dependencies":[],"extra":[1,true,null,"x",-2.5e-3]}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"user_agent":"wakatime/v1 (darwin-23) go1 emacs/29 wakatime-mode/1.0"}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"user_agent":""}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"user_agent":7}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"lines":-0}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"lines":123456789}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"lines":10000000}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"lines":10000001}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"lines":1e2}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"category":""}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"category":null,"project":null}`,
	// The general way's: nested objects, duplicate or escaped keys, invalid ones.
	`{"entity":"/src/a.go","type":"file","time":1799999000,"future_field":{"x":1,"a":[{"b":2}]}}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"lines":1,"lines":2}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"\u006cines":2}`,
	`{"entity":"/src/a.go","type":"file","time":1799999000,"deps":[[1]]}`,
	`{"entity":"a\u0000b","type":"file","time":1799999000}`,
	`{"entity":"` + strings.Repeat("x", maxEntityLen+1) + `","type":"file","time":1799999000}`,
	`{"entity":"a","type":"file","time":1799999000,"project":"` + strings.Repeat("é", maxNameLen) + `"}`,
	`{"entity":"a","type":"file","time":1799999000,"project":"` + strings.Repeat("é", maxNameLen+1) + `"}`,
	"{\"entity\":\"a\xff\",\"type\":\"file\",\"time\":1799999000}",
	`{"entity":"","type":"file","time":1799999000}`,
	`{"entity":"a","type":"folder","time":1799999000}`,
	`{"entity":"a","type":"file","time":"1799999000"}`,
	`{"entity":"a","type":"file","time":1798000000}`,
	`{"entity":"a","type":"file","time":1800200000}`,
	`{"entity":"a","type":"file","time":1799999000,"is_write":"yes"}`,
	`{"entity":"a","type":"file","time":1799999000,"dependencies":[1]}`,
	`{"entity":"a","type":"file","time":1799999000} trailing`,
	`{"entity":"a","type":"file","time":1799999000,}`,
	`{"entity":"a","type":"file","time":01}`,
	`{}`, `[]`, `null`, `"x"`, ``,
}

func TestParser_AgreesWithTheGeneralWay(t *testing.T) {
	plain := 0
	for _, raw := range parserCases {
		if checkAgreement(t, []byte(raw)) {
			plain++
		}
	}
	if plain < 15 {
		t.Errorf("the scanner read only %d of the cases", plain)
	}
}

func TestParser_ManyHeartbeatsKeepTheirOwnPayloads(t *testing.T) {
	p := NewParser(user, Client{UserAgent: parserUA, Machine: "box"}, parserNow, 14*24*time.Hour)
	var datas [][]byte
	for i := range 500 {
		raw := fmt.Sprintf(`{"entity":"/src/%d.go","type":"file","time":%d,"lines":%d}`, i, 1799999000+i, i)
		_, ev, err := p.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		datas = append(datas, ev.Data)
	}
	for i, d := range datas {
		h, err := Decode(SchemaVersion, d)
		if err != nil || h.Lines != int64(i) || h.Entity != fmt.Sprintf("/src/%d.go", i) {
			t.Fatalf("payload %d is %s (%v)", i, d, err)
		}
	}
}

func FuzzParser_AgreesWithTheGeneralWay(f *testing.F) {
	for _, raw := range parserCases {
		f.Add([]byte(raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkAgreement(t, raw) })
}

// checkAgreement fails t unless Parse (and the scanner, when it reads raw) gives what
// the general way gives; it reports whether the scanner read raw.
func checkAgreement(t *testing.T, raw []byte) bool {
	t.Helper()
	client := Client{UserAgent: parserUA, Machine: "box"}
	general := NewParser(user, client, parserNow, 14*24*time.Hour)
	wantH, wantEv, wantErr := general.parseAny(bytes.Clone(raw))
	p := NewParser(user, client, parserNow, 14*24*time.Hour)
	before := bytes.Clone(raw)
	h, ev, ok := p.parsePlain(raw)
	if !bytes.Equal(raw, before) {
		t.Fatalf("%s: the scanner changed its input", before)
	}
	if ok {
		if wantErr != nil {
			t.Errorf("%s: the scanner accepted what the general way rejects (%v)", raw, wantErr)
		}
		if fmt.Sprint(h) != fmt.Sprint(wantH) || !bytes.Equal(ev.Data, wantEv.Data) || fmt.Sprint(ev.Metadata) != fmt.Sprint(wantEv.Metadata) || ev.ID != wantEv.ID {
			t.Errorf("%s:\nscanner %+v\n%s\ngeneral %+v\n%s", raw, h, ev.Data, wantH, wantEv.Data)
		}
	}
	h, ev, err := p.Parse(raw)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || fmt.Sprint(h) != fmt.Sprint(wantH) || !bytes.Equal(ev.Data, wantEv.Data) {
		t.Errorf("%s: Parse gave %+v, %v; the general way %+v, %v", raw, h, err, wantH, wantErr)
	}
	return ok
}

func TestSplit_AgreesWithEncodingJSON(t *testing.T) {
	for _, body := range splitCases {
		checkSplit(t, []byte(body))
	}
	items, ok := Split([]byte(" [ " + parserCases[0] + " ,\n" + parserCases[1] + "] "))
	if !ok || len(items) != 2 || string(items[0]) != parserCases[0] || string(items[1]) != parserCases[1] {
		t.Errorf("split %q, %v", items, ok)
	}
}

var splitCases = []string{
	`[]`, ` [ ] `, `[1]`, `[{"a":[1,{"b":null}]},"x",true,false,null,-0.5e+3]`,
	`[1,]`, `[,1]`, `[1 2]`, `[`, `]`, `{}`, `[{"a":1}`, `[{"a" 1}]`, `[{"a":1,}]`,
	`[01]`, `[1.]`, `[.1]`, `[1e]`, `[-]`, `[tru]`, `[truex]`, `["\x"]`, `["\u12"]`,
	"[\"a\tb\"]", `["\ud800"]`, "[\"\xff\"]", `[] []`, `[]x`, `[{"a":1}]` + "\n",
	`[[[[[[]]]]]]`, `[{"":""}]`, `[1,{"a":{"b":{"c":[]}}}]`, `null`, ` null `,
}

func FuzzSplit_AgreesWithEncodingJSON(f *testing.F) {
	for _, body := range splitCases {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkSplit(t, body) })
}

func checkSplit(t *testing.T, body []byte) {
	t.Helper()
	var want []json.RawMessage
	wantErr := json.Unmarshal(body, &want)
	got, ok := Split(body)
	if !ok && wantErr == nil && want == nil {
		return // null: encoding/json makes it an empty list, Split takes arrays only (the handler falls back to encoding/json)
	}
	if ok != (wantErr == nil) && !(wantErr == nil && bytes.Count(body, []byte("["))+bytes.Count(body, []byte("{")) >= maxDepth) {
		t.Fatalf("%q: split %v, encoding/json %v", body, ok, wantErr)
	}
	if ok && fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("%q: split %q, encoding/json %q", body, got, want)
	}
}

// decodeCases are stored payloads: what Parse writes, and what else the log could hold.
var decodeCases = []string{
	`{"heartbeat":{"entity":"a","type":"file","time":1799999000},"user_agent":"ua","editor":"vim","os":"linux","plugin":"vim-wakatime/1","machine":"box"}`,
	` { "heartbeat" : { "time" : 1799999000.25 , "entity" : "C:\\dev\\<a>.go" , "lines" : 3 , "is_write" : true } , "machine" : "m\u00e9" } `,
	`{"heartbeat":{"entity":"a","time":1799999000,"category":"","project":null,"lines":null,"is_write":null,"extra":{"x":[1,{"y":2}]},"dependencies":["a","b"]}}`,
	`{"heartbeat":{"entity":"a","time":1799999000,"user_agent":"mine","editor":"mine"},"user_agent":"theirs"}`,
	`{"heartbeat":{"entity":"a","entity":"b","time":1,"time":2,"time":null}}`,
	`{"heartbeat":{"Entity":"b","entity":"a","time":1799999000}}`,
	`{"heartbeat":{"entity":"a","TIME":1799999000}}`,
	`{"heartbeat":{"entity":"a","time":"1799999000"}}`,
	`{"heartbeat":{"entity":"a","time":1799999000,"lines":1.5}}`,
	`{"heartbeat":{"entity":"a","time":1799999000,"editor":5}}`,
	`{"heartbeat":{"entity":"a","time":1799999000,"lines":"5"}}`,
	`{"heartbeat":{"entity":"a","time":1799999000},"Machine":"x"}`,
	`{"heartbeat":{"entity":"a","time":1799999000},"heartbeat":{"entity":"b","time":1799999001}}`,
	`{"heartbeat":{"entity":"a","time":1799999000},"other":[1,2]}`,
	`{"heartbeat":{"entity":"a\u0000","time":1799999000}}`,
	"{\"heartbeat\":{\"entity\":\"a\xff\",\"time\":1799999000}}",
	`{"heartbeat":{"entity":"a","time":1799999000}} x`,
	`{"heartbeat":{"entity":"a"}}`, `{"heartbeat":null}`, `{}`, `[]`, `{"heartbeat":{"entity":"a","time":-1}}`,
}

func TestDecode_AgreesWithTheGeneralWay(t *testing.T) {
	for _, raw := range parserCases {
		if _, ev, err := Parse(user, []byte(raw), Client{UserAgent: parserUA, Machine: "box"}, parserNow, 14*24*time.Hour); err == nil {
			if _, err := decodeAny(ev.Data); !checkDecode(t, ev.Data) && err == nil {
				t.Errorf("the scanner could not decode what Parse wrote: %s", ev.Data)
			}
		}
	}
	for _, data := range decodeCases {
		checkDecode(t, []byte(data))
	}
}

func FuzzDecode_AgreesWithTheGeneralWay(f *testing.F) {
	for _, data := range decodeCases {
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecode(t, data) })
}

// checkDecode fails t unless Decode (and the scanner, when it decodes data) gives what
// the general way gives; it reports whether the scanner decoded data.
func checkDecode(t *testing.T, data []byte) bool {
	t.Helper()
	want, wantErr := decodeAny(data)
	h, ok := decodePlain(data)
	if ok && (wantErr != nil || fmt.Sprint(h) != fmt.Sprint(want)) {
		t.Errorf("%s:\nscanner %+v\ngeneral %+v, %v", data, h, want, wantErr)
	}
	got, err := Decode(SchemaVersion, data)
	if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Errorf("%s: Decode gave %+v, %v; the general way %+v, %v", data, got, err, want, wantErr)
	}
	return ok
}

func TestHeartbeatField_IsTheIndexOfTheName(t *testing.T) {
	for i, n := range heartbeatNames {
		if got := heartbeatField([]byte(n)); got != i {
			t.Errorf("%s: %d, want %d", n, got, i)
		}
	}
	if got := heartbeatField([]byte("Entity")); got != -1 {
		t.Errorf("Entity: %d", got)
	}
}
