package insight

import (
	"errors"
	"reflect"
	"testing"
)

func TestWrittenNumbers_ScansPerContract(t *testing.T) {
	cases := []struct {
		text string
		want []float64
	}{
		{"a 3-hour session", []float64{3}},
		{"v2 of the 2nd draft", nil},
		{"1,200 lines", []float64{1, 200}},
		{"churn 82%", []float64{82}},
		{"churn 0.82.", []float64{0.82}},
		{"ended at 145.", []float64{145}},
		{"from -5 to +7", []float64{5, 7}},
		{"x_1 and 1_x and 1x", nil},
		{"file.5 and 1.2.3", []float64{1.2}},
		{"(47 in all)", []float64{47}},
		{"145 minutes — 180 of 220", []float64{145, 180, 220}},
		{"é5 and 5é", nil}, // unicode letters are letters
		{"5—6", []float64{5, 6}},
		{"no numbers", nil},
		{"7", []float64{7}},
	}
	for _, c := range cases {
		if got := WrittenNumbers(c.text); !reflect.DeepEqual(got, c.want) {
			t.Errorf("WrittenNumbers(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}

func TestStripFileNames_RemovesPathsThenBaseNames(t *testing.T) {
	in := input(RuleLongSessionHighChurn, 145, TodayInput{}, FileCount{"src/v2/auth2.ts", 19}, FileCount{"lib/util3.go", 1})
	got := StripFileNames(in, "edit src/v2/auth2.ts, auth2.ts and util3.go")
	if want := "edit ,  and "; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func guardInput() Input {
	return input(RuleLongSessionHighChurn, 145,
		TodayInput{LinesAdded: 220, LinesDeleted: 180, ChurnRatio: ratio(180.0 / 220), SwitchCount: 47, RapidSwitchCount: 12},
		FileCount{"src/auth2Service.ts", 19}, FileCount{"src/app.ts", 7})
}

func TestCheckText(t *testing.T) {
	cases := []struct {
		text string
		ok   bool
	}{
		{"After 145 minutes you deleted 180 of 220 lines (churn 0.82) in auth2Service.ts — pick one approach.", true},
		{"Churn is 0.8181818181818182 in src/auth2Service.ts.", true},
		{"Churn 0 point something is high.", true}, // 0 = trunc(0.818...)
		{"You switched 47 times, 12 rapidly; app.ts got 7 and the top file 19.", true},
		{"Set a 10-minute timer.", false},
		{"Churn is 82%.", false},
		{"You deleted 181 lines.", false},
		{"Churn 0.8 is high.", false},
		{"Nothing numeric here, keep going.", true},
		{"Close auth2Service.ts", true}, // the 2 inside the name is not a number
	}
	for _, c := range cases {
		err := CheckText(guardInput(), c.text)
		if (err == nil) != c.ok {
			t.Errorf("CheckText(%q) = %v, want ok=%v", c.text, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrHallucination) {
			t.Errorf("error %v does not wrap ErrHallucination", err)
		}
	}
}

func TestCheckText_NullChurnIsNotAnInputValue(t *testing.T) {
	in := input(RuleRapidContextSwitching, 3, TodayInput{SwitchCount: 9, RapidSwitchCount: 5})
	if err := CheckText(in, "5 rapid switches of 9 in 3 minutes"); err != nil {
		t.Fatalf("input numbers rejected: %v", err)
	}
	if err := CheckText(in, "churn 1"); err == nil {
		t.Fatal("1 accepted although no input value is 1")
	}
}

func TestCheckEvidence(t *testing.T) {
	n, s := Number, Text
	cases := []struct {
		name string
		in   Input
		ev   []Evidence
		ok   bool
	}{
		{"empty passes", guardInput(), []Evidence{}, true},
		{"exact numbers", guardInput(), []Evidence{{"lines_added", n(220)}, {"duration_minutes", n(145)}, {"switch_count", n(47)}, {"rapid_switch_count", n(12)}}, true},
		{"churn equal after rounding", guardInput(), []Evidence{{"churn_ratio", n(0.82)}}, true},
		{"churn different after rounding", guardInput(), []Evidence{{"churn_ratio", n(0.81)}}, false},
		{"number as string in shortest form", guardInput(), []Evidence{{"lines_deleted", s("180")}}, true},
		{"rounded churn as string is not the string form", guardInput(), []Evidence{{"churn_ratio", s("0.82")}}, false},
		{"top file exact", guardInput(), []Evidence{{"top_file", s("src/auth2Service.ts")}}, true},
		{"top file base name only", guardInput(), []Evidence{{"top_file", s("auth2Service.ts")}}, false},
		{"value not in input", guardInput(), []Evidence{{"lines_deleted", n(181)}}, false},
		{"unknown metric", guardInput(), []Evidence{{"files_opened", n(3)}}, false},
		{"null churn", input(RuleRapidContextSwitching, 3, TodayInput{RapidSwitchCount: 5}), []Evidence{{"churn_ratio", n(0)}}, false},
		{"null top file", input(RuleRapidContextSwitching, 3, TodayInput{RapidSwitchCount: 5}), []Evidence{{"top_file", s("a.go")}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckEvidence(c.in, c.ev)
			if (err == nil) != c.ok {
				t.Fatalf("CheckEvidence = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestGuard_NeedsBothChecks(t *testing.T) {
	good := Reply{StateType: StateStuckLoop, ConfidenceScore: 0.7, RecommendationType: RecChangeApproach,
		RecommendationText: "You deleted 180 of 220 lines — pick one approach.", Reasoning: "r",
		Evidence: []Evidence{{"lines_deleted", Number(180)}}}
	if err := Guard(guardInput(), good); err != nil {
		t.Fatalf("good reply rejected: %v", err)
	}
	badEvidence := good
	badEvidence.Evidence = []Evidence{{"lines_deleted", Number(999)}}
	badText := good
	badText.RecommendationText = "Take a 10-minute walk."
	for _, r := range []Reply{badEvidence, badText} {
		if err := Guard(guardInput(), r); !errors.Is(err, ErrHallucination) {
			t.Errorf("Guard(%q, %v) = %v, want ErrHallucination", r.RecommendationText, r.Evidence, err)
		}
	}
}

func TestDowngrade(t *testing.T) {
	r := Reply{StateType: StateStuckLoop, ConfidenceScore: 0.9, RecommendationType: RecChangeApproach,
		RecommendationText: "x", Reasoning: "because", Evidence: []Evidence{{"lines_added", Number(1)}}}
	d := Downgrade(r)
	want := Reply{StateType: StateNormal, ConfidenceScore: 0.3, RecommendationType: RecExecute,
		RecommendationText: "Keep going — nothing concerning in the recent activity.", Reasoning: "because", Evidence: []Evidence{}}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("Downgrade = %+v, want %+v", d, want)
	}
	r.ConfidenceScore = 0.2
	if got := Downgrade(r).ConfidenceScore; got != 0.2 {
		t.Fatalf("low confidence raised to %v", got)
	}
}

func TestValue_JSONRoundTrip(t *testing.T) {
	var ev []Evidence
	if err := jsonUnmarshal(`[{"metric":"lines_added","value":145.0},{"metric":"top_file","value":"a.go"},{"metric":"churn_ratio","value":0.82}]`, &ev); err != nil {
		t.Fatal(err)
	}
	if got := evidenceJSON(t, ev); got != `[{"metric":"lines_added","value":145},{"metric":"top_file","value":"a.go"},{"metric":"churn_ratio","value":0.82}]` {
		t.Fatalf("round trip = %s", got)
	}
	for _, bad := range []string{`[{"metric":"x","value":true}]`, `[{"metric":"x","value":null}]`, `[{"metric":"x","value":{}}]`} {
		if err := jsonUnmarshal(bad, &ev); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
