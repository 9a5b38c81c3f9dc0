package ids

import (
	"strings"
	"testing"
)

func TestParse_TheContractsUUIDFormat(t *testing.T) {
	for in, want := range map[string]string{
		"e6e3f681-1f11-4037-994a-db947c0a16c4": "e6e3f681-1f11-4037-994a-db947c0a16c4",
		"E6E3F681-1F11-4037-994A-DB947C0A16C4": "e6e3f681-1f11-4037-994a-db947c0a16c4", // any case, stored lower-case
		"00000000-0000-0000-0000-000000000000": "00000000-0000-0000-0000-000000000000",
		"e6e3f681-1f11-1037-c94a-db947c0a16c4": "e6e3f681-1f11-1037-c94a-db947c0a16c4", // any version and variant
	} {
		id, err := Parse(in)
		if err != nil || id.String() != want {
			t.Errorf("Parse(%q) = %v, %v; want %s", in, id, err, want)
		}
		if b, err := ParseBytes([]byte(in)); err != nil || b != id {
			t.Errorf("ParseBytes(%q) = %v, %v; want %v", in, b, err, id)
		}
	}
	for _, in := range []string{
		"urn:uuid:e6e3f681-1f11-4037-994a-db947c0a16c4", "{e6e3f681-1f11-4037-994a-db947c0a16c4}",
		"e6e3f6811f114037994adb947c0a16c4", "e6e3f681-1f11-4037-994a-db947c0a16c", "g6e3f681-1f11-4037-994a-db947c0a16c4",
		"e6e3f681-1f11-4037-994a-db947c0a16c4 ", "e6e3f681+1f11-4037-994a-db947c0a16c4", "e6e3f6811-f11-4037-994a-db947c0a16c4",
		"e6e3f681-1f11-4037-994a-db947c0a16-4", "", strings.Repeat("-", 36),
	} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		}
		if _, err := ParseBytes([]byte(in)); err == nil {
			t.Errorf("ParseBytes(%q) accepted", in)
		}
	}
}

func TestParse_DoesNotAllocate(t *testing.T) {
	s := "E6E3F681-1F11-4037-994A-DB947C0A16C4"
	b := []byte(s)
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(s); _, _ = ParseBytes(b) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func TestFromContent_IsStableAndVersion5(t *testing.T) {
	ns := MustParse("3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34")
	a, b := FromContent(ns, []byte("x")), FromContent(ns, []byte("x"))
	if a != b || a == FromContent(ns, []byte("y")) || a.String()[14] != '5' {
		t.Fatalf("FromContent: %s %s", a, b)
	}
}

// BenchmarkParse compares the parser with the one it replaced (hex.Decode of the
// concatenated groups) on the form the extension sends.
func BenchmarkParse(b *testing.B) {
	const s = "3f0b6a52-8c1d-4e47-9a0e-5d2b7c9e1f34"
	bs := []byte(s)
	b.Run("Parse", func(b *testing.B) {
		for b.Loop() {
			_, _ = Parse(s)
		}
	})
	b.Run("ParseBytes", func(b *testing.B) {
		for b.Loop() {
			_, _ = ParseBytes(bs)
		}
	})
}
