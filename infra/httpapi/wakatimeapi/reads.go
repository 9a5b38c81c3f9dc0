package wakatimeapi

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/devflow/backend/domain/heartbeat"
	"github.com/devflow/backend/infra/httpapi"
	qheartbeats "github.com/devflow/backend/queries/heartbeats"
)

// maxRangeDays bounds summaries and stats (all_time included: ten years).
const maxRangeDays = 3660

const dateLayout = "2006-01-02"

// The summary lists and the dimension each one shows.
var lists = []struct {
	name string
	dim  heartbeat.Dimension
}{
	{"categories", heartbeat.Category}, {"projects", heartbeat.Project}, {"languages", heartbeat.Language},
	{"editors", heartbeat.Editor}, {"operating_systems", heartbeat.OS}, {"machines", heartbeat.Machine},
	{"branches", heartbeat.Branch}, {"entities", heartbeat.Entity},
}

// duration is WakaTime's rendering of a number of seconds.
type duration struct {
	TotalSeconds float64 `json:"total_seconds"`
	Text         string  `json:"text"`
	Digital      string  `json:"digital"`
	Decimal      string  `json:"decimal"`
	Hours        int     `json:"hours"`
	Minutes      int     `json:"minutes"`
	Seconds      int     `json:"seconds"`
}

func toDuration(seconds float64) duration {
	s := int(math.Floor(seconds))
	h, m := s/3600, s%3600/60
	return duration{TotalSeconds: seconds, Text: humanText(s), Digital: fmt.Sprintf("%d:%02d", h, m),
		Decimal: fmt.Sprintf("%.2f", float64(s)/3600), Hours: h, Minutes: m, Seconds: s % 60}
}

// humanText is "1 hr 5 mins", "2 hrs", "3 mins", or "0 secs".
func humanText(s int) string {
	h, m := s/3600, s%3600/60
	var parts []string
	if h > 0 {
		parts = append(parts, plural(h, "hr"))
	}
	if m > 0 {
		parts = append(parts, plural(m, "min"))
	}
	if len(parts) == 0 {
		return plural(s, "sec")
	}
	return strings.Join(parts, " ")
}

func plural(n int, unit string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, unit)
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

type item struct {
	Name string `json:"name"`
	duration
	Percent float64 `json:"percent"`
}

// items lists dim's values of totals, the longest first.
func items(totals qheartbeats.Totals, dim heartbeat.Dimension) []item {
	grand := totals[heartbeat.Key{Dimension: heartbeat.Total}]
	out := []item{}
	for k, v := range totals {
		if k.Dimension != dim {
			continue
		}
		pct := 0.0
		if grand > 0 {
			pct = math.Round(v/grand*10000) / 100
		}
		out = append(out, item{Name: k.Value, duration: toDuration(v), Percent: pct})
	}
	slices.SortFunc(out, func(a, b item) int {
		if a.TotalSeconds != b.TotalSeconds {
			if a.TotalSeconds > b.TotalSeconds {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// summary is one period's lists and grand total.
func summary(totals qheartbeats.Totals) map[string]any {
	s := map[string]any{"grand_total": toDuration(totals[heartbeat.Key{Dimension: heartbeat.Total}]), "dependencies": []item{}}
	for _, l := range lists {
		s[l.name] = items(totals, l.dim)
	}
	return s
}

func addTotals(dst, src qheartbeats.Totals) {
	for k, v := range src {
		dst[k] += v
	}
}

func dayRange(day heartbeat.Day, last heartbeat.Day, loc *time.Location, text string) map[string]any {
	start, end := heartbeat.Span(day, last, loc)
	return map[string]any{"date": day.Format(dateLayout), "start": httpapi.FormatTime(start), "end": httpapi.FormatTime(end),
		"text": text, "timezone": loc.String()}
}

func (h *Handler) statusBar(w http.ResponseWriter, r *http.Request) {
	u, ok := h.user(w, r)
	if !ok {
		return
	}
	today := heartbeat.DayOf(time.Now(), u.Location)
	days, err := h.queries.Days(r.Context(), u.ID, today, today)
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	data := summary(days[today])
	data["range"] = dayRange(today, today, u.Location, "Today")
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"data": data, "cached_at": httpapi.FormatTime(time.Now())})
}

// namedRange resolves a WakaTime range name ("today", "last_7_days", "Last 7 Days", ...).
func namedRange(name string, today heartbeat.Day) (first heartbeat.Day, text string, ok bool) {
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), " ", "_")
	switch norm {
	case "today":
		return today, "Today", true
	case "yesterday":
		return today.AddDate(0, 0, -1), "Yesterday", true
	case "last_7_days":
		return today.AddDate(0, 0, -6), "Last 7 Days", true
	case "last_14_days":
		return today.AddDate(0, 0, -13), "Last 14 Days", true
	case "last_30_days":
		return today.AddDate(0, 0, -29), "Last 30 Days", true
	case "last_6_months":
		return today.AddDate(0, -6, 1), "Last 6 Months", true
	case "last_year", "last_12_months":
		return today.AddDate(-1, 0, 1), "Last Year", true
	case "all_time":
		return today.AddDate(0, 0, -(maxRangeDays - 1)), "All Time", true
	}
	return today, "", false
}

// period reads start/end (YYYY-MM-DD, end included) or range=; false when it answered 400.
func period(w http.ResponseWriter, r *http.Request, rangeName string, today heartbeat.Day) (first, last heartbeat.Day, text string, ok bool) {
	q := r.URL.Query()
	if rangeName == "" {
		rangeName = q.Get("range")
	}
	if rangeName != "" {
		first, text, ok = namedRange(rangeName, today)
		if !ok {
			httpapi.WriteError(w, http.StatusBadRequest, "unknown range "+rangeName)
			return
		}
		last = today
		if text == "Yesterday" {
			last = first
		}
		return first, last, text, true
	}
	start, errS := parseDate(q.Get("start"))
	end, errE := parseDate(q.Get("end"))
	switch {
	case errS != nil || errE != nil:
		httpapi.WriteError(w, http.StatusBadRequest, "start and end (YYYY-MM-DD) or range are required")
	case end.Before(start):
		httpapi.WriteError(w, http.StatusBadRequest, "end is before start")
	case end.Sub(start) >= maxRangeDays*24*time.Hour:
		httpapi.WriteError(w, http.StatusBadRequest, fmt.Sprintf("at most %d days", maxRangeDays))
	default:
		return start, end, start.Format(dateLayout) + " – " + end.Format(dateLayout), true
	}
	return
}

// parseDate accepts YYYY-MM-DD, or an RFC 3339 time whose date part counts.
func parseDate(s string) (heartbeat.Day, error) {
	if len(s) > len(dateLayout) {
		s = s[:len(dateLayout)]
	}
	return time.Parse(dateLayout, s)
}

func (h *Handler) summaries(w http.ResponseWriter, r *http.Request) {
	u, ok := h.user(w, r)
	if !ok {
		return
	}
	today := heartbeat.DayOf(time.Now(), u.Location)
	first, last, _, ok := period(w, r, "", today)
	if !ok {
		return
	}
	days, err := h.queries.Days(r.Context(), u.ID, first, last)
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	var data []map[string]any
	var total float64
	n := 0
	for d := first; !d.After(last); d = d.AddDate(0, 0, 1) {
		s := summary(days[d])
		s["range"] = dayRange(d, d, u.Location, d.Format("Mon Jan 2 2006"))
		data = append(data, s)
		total += days[d][heartbeat.Key{Dimension: heartbeat.Total}]
		n++
	}
	cumulative := toDuration(total)
	average := toDuration(total / float64(n))
	start, end := heartbeat.Span(first, last, u.Location)
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"data":             data,
		"cumulative_total": map[string]any{"seconds": total, "text": cumulative.Text, "digital": cumulative.Digital, "decimal": cumulative.Decimal},
		"daily_average": map[string]any{"seconds": average.TotalSeconds, "text": average.Text, "days_including_holidays": n,
			"days_minus_holidays": activeDays(days), "holidays": n - activeDays(days)},
		"start": httpapi.FormatTime(start), "end": httpapi.FormatTime(end),
	})
}

func activeDays(days map[heartbeat.Day]qheartbeats.Totals) int {
	n := 0
	for _, t := range days {
		if t[heartbeat.Key{Dimension: heartbeat.Total}] > 0 {
			n++
		}
	}
	return n
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) {
	u, ok := h.user(w, r)
	if !ok {
		return
	}
	today := heartbeat.DayOf(time.Now(), u.Location)
	name := chi.URLParam(r, "range")
	if name == "" {
		name = "last_7_days"
	}
	first, last, text, ok := period(w, r, name, today)
	if !ok {
		return
	}
	days, err := h.queries.Days(r.Context(), u.ID, first, last)
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	all := qheartbeats.Totals{}
	for _, t := range days {
		addTotals(all, t)
	}
	total := all[heartbeat.Key{Dimension: heartbeat.Total}]
	active := activeDays(days)
	average := 0.0
	if active > 0 {
		average = total / float64(active)
	}
	data := summary(all)
	delete(data, "grand_total")
	start, end := heartbeat.Span(first, last, u.Location)
	data["total_seconds"], data["human_readable_total"] = total, humanText(int(total))
	data["daily_average"], data["human_readable_daily_average"] = average, humanText(int(average))
	data["range"], data["human_readable_range"] = strings.ReplaceAll(strings.ToLower(text), " ", "_"), text
	data["start"], data["end"], data["timezone"] = httpapi.FormatTime(start), httpapi.FormatTime(end), u.TimeZone
	data["days_including_holidays"], data["days_minus_holidays"] = int(last.Sub(first).Hours()/24)+1, active
	data["user_id"], data["username"], data["timeout"] = u.ID, u.Username, h.timeout
	data["is_up_to_date"], data["status"] = true, "ok"
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"data": data})
}

func (h *Handler) allTime(w http.ResponseWriter, r *http.Request) {
	u, ok := h.user(w, r)
	if !ok {
		return
	}
	a, err := h.queries.AllTime(r.Context(), u.ID)
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	d := toDuration(a.Seconds)
	rng := map[string]any{"timezone": u.TimeZone}
	if !a.First.IsZero() {
		start, end := heartbeat.Span(a.First, a.Last, u.Location)
		rng["start"], rng["start_date"], rng["end"], rng["end_date"] = httpapi.FormatTime(start), a.First.Format(dateLayout),
			httpapi.FormatTime(end), a.Last.Format(dateLayout)
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"total_seconds": a.Seconds, "text": d.Text, "digital": d.Digital, "decimal": d.Decimal,
		"is_up_to_date": true, "percent_calculated": 100, "range": rng, "timeout": h.timeout,
	}})
}

func (h *Handler) projects(w http.ResponseWriter, r *http.Request) {
	u, ok := h.user(w, r)
	if !ok {
		return
	}
	ps, err := h.queries.Projects(r.Context(), u.ID)
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	data := make([]map[string]any, len(ps))
	for i, p := range ps {
		data[i] = map[string]any{"id": p.Name, "name": p.Name, "created_at": httpapi.FormatTime(p.FirstHeartbeat),
			"last_heartbeat_at": httpapi.FormatTime(p.LastHeartbeat)}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"data": data})
}

func (h *Handler) getHeartbeats(w http.ResponseWriter, r *http.Request) {
	u, ok := h.user(w, r)
	if !ok {
		return
	}
	day, err := time.Parse(dateLayout, r.URL.Query().Get("date"))
	if err != nil {
		httpapi.WriteError(w, http.StatusBadRequest, "date (YYYY-MM-DD) is required")
		return
	}
	start, end := heartbeat.Bounds(day, u.Location)
	beats, err := h.queries.Heartbeats(r.Context(), u.ID, start, end)
	if err != nil {
		httpapi.InternalError(w, r, err)
		return
	}
	data := make([]map[string]any, len(beats))
	for i, b := range beats {
		data[i] = map[string]any{"id": b.ID, "entity": b.Entity, "type": b.Type, "category": b.Category,
			"time": float64(b.Time.UnixMicro()) / 1e6, "project": b.Project, "branch": b.Branch, "language": b.Language,
			"is_write": b.IsWrite, "lines": b.Lines, "line_additions": b.LineAdditions, "line_deletions": b.LineDeletions,
			"user_agent": b.UserAgent, "editor": b.Editor, "operating_system": b.OS, "machine_name_id": b.Machine, "user_id": u.ID}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"data": data, "start": httpapi.FormatTime(start),
		"end": httpapi.FormatTime(end), "timezone": u.TimeZone})
}
