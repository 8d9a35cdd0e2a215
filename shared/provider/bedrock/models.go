package bedrock

import (
	"strconv"
	"strings"
)

// What a model can do is read from its id, which Bedrock spells the same way in
// base model ids ("anthropic.claude-sonnet-4-5-20250929-v1:0"), cross-region
// inference profiles ("us.", "eu.", "apac.", "global." before it) and ARNs that
// end in either. An application inference profile's ARN names no model, so such
// a model is treated as one without these features.

// claude is an Anthropic Claude model id taken apart: its family ("haiku",
// "sonnet", "opus", "mythos", ...) and version (4.5 is major 4, minor 5).
type claude struct {
	family       string
	major, minor int
}

// version returns the version as one comparable number: 4.5 is 405.
func (c claude) version() int { return c.major*100 + c.minor }

// parseClaude takes apart a Claude model id. Bedrock has named them two ways:
// version first up to Claude 3.7 ("anthropic.claude-3-5-haiku-20241022-v1:0"),
// family first from Claude 4 on ("anthropic.claude-opus-4-1-20250805-v1:0",
// "anthropic.claude-opus-4-6-v1", "anthropic.claude-sonnet-4-6"). A date
// (eight digits) is no minor version.
func parseClaude(model string) (claude, bool) {
	const prefix = "anthropic.claude-"
	i := strings.Index(model, prefix)
	if i < 0 {
		return claude{}, false
	}
	rest := model[i+len(prefix):]
	if j := strings.IndexByte(rest, ':'); j >= 0 {
		rest = rest[:j]
	}
	toks := strings.Split(rest, "-")
	num := func(k int) (int, bool) {
		if k >= len(toks) || len(toks[k]) == 0 || len(toks[k]) > 2 {
			return 0, false
		}
		n, err := strconv.Atoi(toks[k])
		return n, err == nil
	}
	var c claude
	if major, ok := num(0); ok { // 3-5-haiku, 3-haiku, 3-7-sonnet
		c.major = major
		k := 1
		if minor, ok := num(1); ok {
			c.minor, k = minor, 2
		}
		if k < len(toks) {
			c.family = toks[k]
		}
		return c, true
	}
	c.family = toks[0] // sonnet-4-5, opus-4-6-v1, opus-5, mythos-preview
	if major, ok := num(1); ok {
		c.major = major
		if minor, ok := num(2); ok {
			c.minor = minor
		}
	}
	return c, true
}

// numbered reports whether c is of a family with numbered versions (Haiku,
// Sonnet, Opus).
func (c claude) numbered() bool {
	return c.family == "haiku" || c.family == "sonnet" || c.family == "opus"
}

// nativeSchema reports whether model takes Converse's outputConfig.textFormat
// (structured output with a JSON Schema). Bedrock's user guide, "Get validated
// JSON results from models" (userguide/structured-output.html), lists among
// Anthropic's models Claude Haiku 4.5, Sonnet 4.5, Opus 4.5 and Opus 4.6; later
// Claude 4.x and 5 models of those families are taken to keep it. Other models
// (the open-weight ones of that list included) get a forced tool instead, which
// every Bedrock model with tool use understands.
func nativeSchema(model string) bool {
	c, ok := parseClaude(model)
	return ok && c.numbered() && c.version() >= 405
}

// thinking is how a model is asked to reason.
type thinking uint8

const (
	thinkNone thinking = iota // the model does not reason on request
	// thinkBudget: Anthropic's extended thinking with a token budget,
	// {"thinking":{"type":"enabled","budget_tokens":B}} (Bedrock user guide,
	// "Extended thinking", userguide/claude-messages-extended-thinking.html:
	// Claude 3.7 Sonnet, Sonnet 4, Opus 4, Opus 4.1, Sonnet 4.5, Haiku 4.5,
	// Opus 4.5; deprecated but accepted on Opus 4.6 and Sonnet 4.6).
	thinkBudget
	// thinkAdaptive: {"thinking":{"type":"adaptive"},"output_config":{"effort":E}}
	// for the models that refuse a budget with a 400 (Bedrock user guide,
	// "Adaptive thinking", userguide/claude-messages-adaptive-thinking.html:
	// Claude Opus 4.7 and later, Mythos, Fable).
	thinkAdaptive
	// thinkNova: Amazon Nova 2's {"reasoningConfig":{"type":"enabled",
	// "maxReasoningEffort":"low"|"medium"|"high"}} (Amazon Nova 2 user guide,
	// "Extended thinking in Amazon Nova 2", nova2-userguide/extended-thinking.html).
	thinkNova
)

// thinkingOf returns how model reasons, by its id.
func thinkingOf(model string) thinking {
	if strings.Contains(model, "amazon.nova-2") {
		return thinkNova
	}
	c, ok := parseClaude(model)
	switch {
	case !ok:
		return thinkNone
	case c.family == "mythos" || c.family == "fable":
		return thinkAdaptive
	case c.numbered() && c.version() >= 407:
		return thinkAdaptive
	case c.numbered() && c.version() >= 400, c.version() == 307:
		return thinkBudget
	}
	return thinkNone // Claude 3.5 and older do not think
}

// minThinkingBudget is the smallest budget_tokens Anthropic accepts; the
// budget must also be smaller than max_tokens (Bedrock user guide, "Extended
// thinking").
const minThinkingBudget = 1024

// thinkingBudget returns the budget_tokens for effort out of maxTokens: 30% of
// them for minimal and low, 60% for medium, all but one for high, and at least
// minThinkingBudget. ok is false when maxTokens leaves no room for that.
func thinkingBudget(effort string, maxTokens int) (budget int, ok bool) {
	if maxTokens <= minThinkingBudget {
		return 0, false
	}
	switch effort {
	case "minimal", "low":
		budget = maxTokens * 3 / 10
	case "high", "xhigh":
		budget = maxTokens - 1
	default: // medium
		budget = maxTokens * 6 / 10
	}
	return max(budget, minThinkingBudget), true
}

// asksReasoning reports whether a reasoning effort asks the model to reason:
// OpenAI's "none" asks it not to.
func asksReasoning(effort string) bool { return effort != "" && effort != "none" }

// effortLevel maps an OpenAI reasoning effort onto the low/medium/high of Nova
// 2 and of Anthropic's effort parameter.
func effortLevel(effort string) string {
	switch effort {
	case "minimal", "low":
		return "low"
	case "high", "xhigh":
		return "high"
	}
	return "medium"
}
