package insight

import (
	"fmt"
	"unicode/utf8"
)

// RulesConfidence is the confidence of every rules-provider answer (9.10).
const RulesConfidence = 0.6

// MaxTextLength is the longest recommendation_text the schema allows (9.8).
const MaxTextLength = 240

// rulesReasoningSuffix ends every rules-provider reasoning.
const rulesReasoningSuffix = " Written by the rules provider; no LLM was called."

// RulesReply is the rules provider of 9.10 (decision D24): a deterministic answer for
// the fired rule that names the input's real numbers, so it always passes the schema
// and the guard. t are the thresholds the rule fired against (they appear in the
// reasoning).
func RulesReply(in Input, t Thresholds) Reply {
	d := in.Session.DurationMinutes
	td := in.Today
	churn := 0.0
	if td.ChurnRatio != nil {
		churn = Round2(*td.ChurnRatio)
	}
	file := ""
	if in.TopFile != nil {
		file = baseName(*in.TopFile)
	}
	num := func(metric string, x float64) Evidence { return Evidence{Metric: metric, Value: Number(x)} }

	var r Reply
	var withFile, withoutFile string
	var conditions string
	switch in.TriggeredRule {
	case RuleVeryLongSession:
		r = Reply{StateType: StateAnalysisParalysis, RecommendationType: RecChangeApproach,
			Evidence: []Evidence{num(MetricDurationMinutes, float64(d))}}
		withoutFile = fmt.Sprintf("This session has run %d minutes — finish the step you are on, write down the next one, and take a real break before you continue.", d)
		conditions = fmt.Sprintf("session duration %d min > %s", d, formatNumber(t.VeryLongSessionMin))
	case RuleLongSessionHighChurn:
		r = Reply{StateType: StateStuckLoop, RecommendationType: RecChangeApproach,
			Evidence: []Evidence{num(MetricDurationMinutes, float64(d)), num(MetricLinesDeleted, float64(td.LinesDeleted)),
				num(MetricLinesAdded, float64(td.LinesAdded)), num(MetricChurnRatio, churn)}}
		sentence := "%d minutes into this session you have deleted %d of the %d lines you added today (churn %s) — stop editing%s and settle on one approach before writing more."
		withoutFile = fmt.Sprintf(sentence, d, td.LinesDeleted, td.LinesAdded, formatNumber(churn), "")
		if file != "" {
			withFile = fmt.Sprintf(sentence, d, td.LinesDeleted, td.LinesAdded, formatNumber(churn), " "+file)
		}
		conditions = fmt.Sprintf("session duration %d min > %s and churn ratio %s > %s",
			d, formatNumber(t.LongSessionMin), formatNumber(churn), formatNumber(t.HighChurnRatio))
	case RuleRapidContextSwitching:
		r = Reply{StateType: StateLostInCodebase, RecommendationType: RecMapSystem,
			Evidence: []Evidence{num(MetricRapidSwitchCount, float64(td.RapidSwitchCount)), num(MetricSwitchCount, float64(td.SwitchCount))}}
		sentence := "You have made %d rapid editor switches today (%d in all) — close everything except %s and sketch how the pieces connect before jumping again."
		withoutFile = fmt.Sprintf(sentence, td.RapidSwitchCount, td.SwitchCount, "the file you need most")
		if file != "" {
			withFile = fmt.Sprintf(sentence, td.RapidSwitchCount, td.SwitchCount, file)
		}
		conditions = fmt.Sprintf("rapid switch count %d > %s", td.RapidSwitchCount, formatNumber(t.RapidSwitchCount))
	case RuleDeleteHeavyRewriting:
		r = Reply{StateType: StateStuckLoop, RecommendationType: RecSimplifyProblem,
			Evidence: []Evidence{num(MetricLinesDeleted, float64(td.LinesDeleted)), num(MetricLinesAdded, float64(td.LinesAdded))}}
		withoutFile = fmt.Sprintf("You have deleted %d lines today but added only %d — write down the smallest version that would work and build just that first.",
			td.LinesDeleted, td.LinesAdded)
		conditions = fmt.Sprintf("lines deleted %d > lines added %d and lines added + deleted %d > %s",
			td.LinesDeleted, td.LinesAdded, td.LinesAdded+td.LinesDeleted, formatNumber(t.DeleteHeavyTotal))
	default:
		// Not a rule of 9.3: nothing to say.
		return Reply{StateType: StateNormal, ConfidenceScore: RulesConfidence, RecommendationType: RecExecute,
			RecommendationText: DowngradedText, Reasoning: "No rule fired." + rulesReasoningSuffix, Evidence: []Evidence{}}
	}

	r.RecommendationText = withoutFile
	if withFile != "" && utf8.RuneCountInString(withFile) <= MaxTextLength {
		r.RecommendationText = withFile
		r.Evidence = append(r.Evidence, Evidence{Metric: MetricTopFile, Value: Text(*in.TopFile)})
	}
	r.ConfidenceScore = RulesConfidence
	r.Reasoning = "Rule " + in.TriggeredRule + " fired: " + conditions + "." + rulesReasoningSuffix
	return r
}
