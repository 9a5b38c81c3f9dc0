package telemetry

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/devflow/backend/domain/ids"
)

func canonical(t testing.TB, src string) string {
	t.Helper()
	var d Doc
	if err := d.Parse([]byte(src)); err != nil {
		t.Fatalf("parse %q: %v", src, err)
	}
	var c Canonicalizer
	return string(c.Canonical(d.Root(), true))
}

func TestCanonical_SameContentSameForm(t *testing.T) {
	groups := [][]string{
		{`{"a":1,"b":2}`, `{ "b" : 2 , "a" : 1 }`, "{\n\t\"b\":2,\r\n\"a\":1}"},
		{`{"n":240}`, `{"n":240.0}`, `{"n":2.4e2}`, `{"n":2400e-1}`, `{"n":240.000}`, `{"n":0.24E+3}`},
		{`{"n":0}`, `{"n":-0}`, `{"n":0.0}`, `{"n":0e10}`},
		{`{"s":"A/é"}`, `{"s":"\u0041\/\u00e9"}`, `{"s":"\u0041/é"}`},
		{`{"k\u0061":1}`, `{"ka":1}`},
		{`{"a":1,"a":2}`, `{"a":2}`},
		{`{"x":{"z":[1,{"b":true,"a":null}],"y":"q"}}`, `{"x":{"y":"q","z":[1.0,{"a":null,"b":true}]}}`},
		{`{"session_id":"E6E3F681-1F11-4037-994A-DB947C0A16C4"}`, `{"session_id":"e6e3f681-1f11-4037-994a-db947c0a16c4"}`},
	}
	for _, g := range groups {
		want := canonical(t, g[0])
		for _, s := range g[1:] {
			if got := canonical(t, s); got != want {
				t.Errorf("canonical(%s) = %s, want %s (as for %s)", s, got, want, g[0])
			}
		}
	}
}

func TestCanonical_DifferentContentDifferentForm(t *testing.T) {
	pairs := [][2]string{
		{`{"n":240}`, `{"n":241}`},
		{`{"n":1}`, `{"n":"1"}`},
		{`{"n":1}`, `{"n":true}`},
		{`{"n":0.1}`, `{"n":1}`},
		{`{"n":100}`, `{"n":1}`},
		{`{"n":-5}`, `{"n":5}`},
		{`{"s":"a"}`, `{"s":"A"}`},
		{`{"a":[1,2]}`, `{"a":[2,1]}`},
		{`{"a":null}`, `{}`},
		{`{"a":{"b":1}}`, `{"a":{"b":1,"c":1}}`},
		{`{"nested":{"session_id":"A"}}`, `{"nested":{"session_id":"a"}}`},
		{`{"timestamp":"2026-11-27T05:34:43.000Z"}`, `{"timestamp":"2026-11-27T05:34:43Z"}`},
	}
	for _, p := range pairs {
		if a, b := canonical(t, p[0]), canonical(t, p[1]); a == b {
			t.Errorf("%s and %s both canonicalise to %s", p[0], p[1], a)
		}
	}
}

func TestCanonical_IsCompactValidJSON(t *testing.T) {
	src := `{"z":"tab\there \"q\" \\ \u0001","a":[1.50,-2E3,{"y":false}],"m":"日本"}`
	got := canonical(t, src)
	if !json.Valid([]byte(got)) {
		t.Fatalf("not JSON: %s", got)
	}
	var a, b any
	dec := func(s string, v *any) {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		if err := d.Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	dec(src, &a)
	dec(got, &b)
	// Same structure and strings (numbers differ in spelling only).
	am, bm := a.(map[string]any), b.(map[string]any)
	if am["z"] != bm["z"] || am["m"] != bm["m"] {
		t.Fatalf("strings changed: %v vs %v", am, bm)
	}
}

func TestEventID_DependsOnUserAndContent(t *testing.T) {
	var c Canonicalizer
	var d Doc
	id := func(user string, src string) string {
		if err := d.Parse([]byte(src)); err != nil {
			t.Fatal(err)
		}
		e, _ := EventID(mustID(user), c.Canonical(d.Root(), true), nil)
		return e.String()
	}
	u1, u2 := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	// EventID is ids.FromContent over the user and the canonical form.
	canon := []byte(`{"a":1}`)
	fast, _ := EventID(mustID(u1), canon, nil)
	if slow := ids.FromContent(eventNamespace, append(idBytes(mustID(u1)), canon...)); fast != slow {
		t.Fatalf("EventID %s, ids.FromContent %s", fast, slow)
	}
	a := id(u1, `{"type":"file_save","n":240}`)
	if b := id(u1, `{"n":240.0, "type":"file_save"}`); a != b {
		t.Errorf("same content, different ids %s %s", a, b)
	}
	if b := id(u2, `{"type":"file_save","n":240}`); a == b {
		t.Error("two users' identical events share an id")
	}
}

func FuzzParse_AgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `{"a":[1,2,{"b":null}]}`, `"\u00e9"`, `-0.5e+3`, `01`, `{"a":}`, `[1,]`, `"\ud800"`, "\"\x01\"", `tru`, ` 1 `, `1 2`, `{"a":1,}`, `{,}`, `[,1]`, `[1 2]`, `{"a":1 "b":2}`, `[ ]`, `{ }`, `[[]`, `{"a":[}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Doc
		err := d.Parse(b)
		if (err == nil) != json.Valid(b) {
			t.Fatalf("Parse(%q) = %v, json.Valid = %v", b, err, json.Valid(b))
		}
		if err != nil {
			return
		}
		var c Canonicalizer
		out := c.Canonical(d.Root(), false)
		if !json.Valid(out) {
			t.Fatalf("canonical of %q is not JSON: %q", b, out)
		}
		// Canonical form is a fixed point.
		var d2 Doc
		if err := d2.Parse(out); err != nil {
			t.Fatal(err)
		}
		if again := c.Canonical(d2.Root(), false); !bytes.Equal(again, out) && utf8Valid(b) {
			t.Fatalf("canonical not idempotent: %q -> %q", out, again)
		}
	})
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

func TestStorable_FlagsTextPostgresRejects(t *testing.T) {
	cases := map[string]bool{
		`{"a":"ok é"}`:           true,
		`{"a":"\ud83d\ude00"}`:   true,
		`{"a":"\u0000"}`:         false,
		`{"a":"\ud800"}`:         false,
		`{"a":"\udc00x"}`:        false,
		"{\"a\":\"\xff\"}":       false,
		`{"\u0000":1}`:           false,
		`{"a":[{"b":"\u0000"}]}`: false,
	}
	for src, want := range cases {
		var d Doc
		if err := d.Parse([]byte(src)); err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		bad, ok := d.Root().Storable()
		if ok != want {
			t.Errorf("Storable(%q) = %v, want %v", src, ok, want)
		}
		if !ok && bad.Pointer(d.Root()) == "" && src != `{"\u0000":1}` {
			t.Errorf("%q: no pointer to the bad value", src)
		}
	}
}

func TestValue_NumbersAndPointers(t *testing.T) {
	var d Doc
	src := `{"a":[10,-3,2.5e1,1e30,-1e30,0.4,"x"],"b/c":{"~":7}}`
	if err := d.Parse([]byte(src)); err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, e := range d.Root().Get("a").Elements() {
		n, ok := e.Int()
		if ok {
			got = append(got, n)
		}
	}
	want := []int64{10, -3, 25, 9223372036854775807, -9223372036854775808, 0}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	seven := d.Root().Get("b/c").Get("~")
	if p := seven.Pointer(d.Root()); p != "/b~1c/~0" {
		t.Errorf("pointer = %q", p)
	}
	if !d.Root().Get("a").Is(KindArray) || d.Root().Get("a").Len() != 7 {
		t.Error("array length")
	}
}

// Int is exact within int64 and saturates outside it, whatever the notation.
func TestValue_IntAtTheInt64Edges(t *testing.T) {
	cases := map[string]int64{
		"9223372036854775807":     math.MaxInt64,
		"9223372036854775806":     math.MaxInt64 - 1,
		"9223372036854775808":     math.MaxInt64,
		"99999999999999999999":    math.MaxInt64,
		"-9223372036854775808":    math.MinInt64,
		"-9223372036854775807":    math.MinInt64 + 1,
		"-9223372036854775809":    math.MinInt64,
		"922337203685477580.7e1":  math.MaxInt64,
		"9.223372036854775806e18": math.MaxInt64 - 1,
		"9223372036854775806.9":   math.MaxInt64 - 1,
		"-9223372036854775807.9":  math.MinInt64 + 1,
		"1e18":                    1e18,
		"1e19":                    math.MaxInt64,
		"-1e19":                   math.MinInt64,
		"1e30":                    math.MaxInt64,
		"1e999999999999":          math.MaxInt64,
		"-1e999999999999":         math.MinInt64,
		"1e-999999999999":         0,
		"123456789012345678":      123456789012345678,
		"1234567890123456789":     1234567890123456789,
		"-0.9":                    0,
		"240.0":                   240,
	}
	for src, want := range cases {
		var d Doc
		if err := d.Parse([]byte(src)); err != nil {
			t.Fatal(err)
		}
		if got, ok := d.Root().Int(); !ok || got != want {
			t.Errorf("%s: Int = %d, %v; want %d", src, got, ok, want)
		}
	}
}
