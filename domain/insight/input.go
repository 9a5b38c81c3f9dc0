package insight

import (
	"encoding/json"
	"time"
)

// Input is the provider input of 9.5. The same value feeds Gemini, the rules provider
// and the hallucination guard, so what the model is shown is exactly what its answer is
// checked against.
type Input struct {
	TriggeredRule string       `json:"triggered_rule"`
	Session       SessionInput `json:"session"`
	Today         TodayInput   `json:"today"`
	TopFile       *string      `json:"top_file"`
	TopFiles      []FileCount  `json:"top_files"`
}

// SessionInput is the input's session part.
type SessionInput struct {
	StartedAt       time.Time
	DurationMinutes int64
}

// MarshalJSON writes started_at in the contract's timestamp form.
func (s SessionInput) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		StartedAt       string `json:"started_at"`
		DurationMinutes int64  `json:"duration_minutes"`
	}{FormatTime(s.StartedAt), s.DurationMinutes})
}

// TodayInput is the input's today part.
type TodayInput struct {
	LinesAdded       int64    `json:"lines_added"`
	LinesDeleted     int64    `json:"lines_deleted"`
	ChurnRatio       *float64 `json:"churn_ratio"`
	SwitchCount      int64    `json:"switch_count"`
	RapidSwitchCount int64    `json:"rapid_switch_count"`
}

// maxInputTopFiles is how many of today's top files the input carries (9.5).
const maxInputTopFiles = 5

// NewInput builds the input for a fired rule from the facts the rule saw.
func NewInput(rule string, f Facts) Input {
	top := f.Today.TopFiles
	if len(top) > maxInputTopFiles {
		top = top[:maxInputTopFiles]
	}
	files := append([]FileCount{}, top...) // never nil: top_files is always an array
	var topFile *string
	if len(files) > 0 {
		p := files[0].Path
		topFile = &p
	}
	return Input{
		TriggeredRule: rule,
		Session:       SessionInput{StartedAt: f.SessionStart, DurationMinutes: f.DurationMinutes()},
		Today: TodayInput{
			LinesAdded:       f.Today.LinesAdded,
			LinesDeleted:     f.Today.LinesDeleted,
			ChurnRatio:       f.Today.ChurnRatio(),
			SwitchCount:      f.Today.SwitchCount,
			RapidSwitchCount: f.Today.RapidSwitchCount,
		},
		TopFile:  topFile,
		TopFiles: files,
	}
}

// PrettyJSON is the input as the prompt shows it: pretty-printed with a 2-space indent.
func (in Input) PrettyJSON() string {
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil { // only plain fields: cannot happen
		panic(err)
	}
	return string(b)
}
