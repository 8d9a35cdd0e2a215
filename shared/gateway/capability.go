package gateway

import (
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/tenant"
)

// Checker is implemented by providers that cannot take every request: Check
// reports, before any call, what the provider cannot do with req (whose Model is
// set). A provider without it takes everything.
type Checker interface {
	Check(req *chat.Request) []chat.Issue
}

// HeaderDroppedParams lists the parameters left out of the request because the
// answering model's provider cannot honour them (UNSUPPORTED_PARAMS=drop).
const HeaderDroppedParams = "x-tollgate-dropped-params"

// nativeParam maps OpenAI parameter names onto the native API's, for its errors.
var nativeParam = map[string]string{
	"tool_choice": "toolChoice", "response_format": "responseFormat", "reasoning_effort": "reasoningEffort",
	"max_tokens": "maxTokens", "top_p": "topP", "stop": "stopSequences",
}

// responsesParam names those parameters as the Responses API does.
var responsesParam = map[string]string{
	"response_format": "text.format", "reasoning_effort": "reasoning.effort", "max_tokens": "max_output_tokens",
	"user": "safety_identifier",
}

// checkPlan asks each model's provider what it cannot do with the request. The
// first model must take the request: an impossible request is a 400, and so is an
// unsupported parameter unless the tenant (or else the deployment) drops them; a
// fallback model that cannot take it is left out of the plan. Dropped parameters
// are kept per model and left out of that model's attempts.
func (x *exchange) checkPlan(cfg *tenant.Config) error {
	drop := x.h.DropUnsupported
	switch cfg.Models.UnsupportedParams {
	case tenant.UnsupportedDrop:
		drop = true
	case tenant.UnsupportedRefuse:
		drop = false
	}
	kept := x.plan.Models[:0:0]
	for i, m := range x.plan.Models {
		c, ok := x.h.Providers[m.Provider].(Checker)
		if !ok {
			kept = append(kept, m)
			continue
		}
		r := x.c.req
		r.Model = m.Model
		if r.MaxTokens == 0 {
			r.MaxTokens = x.h.DefaultMaxOutputTokens
		}
		issues := c.Check(&r)
		var hard, soft []chat.Issue
		for _, is := range issues {
			if is.Droppable {
				soft = append(soft, is)
			} else {
				hard = append(hard, is)
			}
		}
		switch {
		case len(hard) > 0 && i == 0:
			return x.issueError(m, hard[0], "invalid_value")
		case len(soft) > 0 && !drop && i == 0:
			return x.unsupportedError(m, soft)
		case len(hard) > 0 || len(soft) > 0 && !drop:
			x.h.Log.Info("fallback model left out: it cannot take the request", "requestId", x.reqID,
				"model", m.String(), "param", append(hard, soft...)[0].Param)
			continue
		}
		if len(soft) > 0 {
			if x.drops == nil {
				x.drops = map[model.Name][]string{}
			}
			for _, is := range soft {
				x.drops[m] = append(x.drops[m], is.Param)
			}
		}
		kept = append(kept, m)
	}
	x.plan.Models = kept
	return nil
}

// param names a chat.Issue's parameter as the request's API does.
func (x *exchange) param(p string) string {
	var names map[string]string
	switch {
	case x.c.native:
		names = nativeParam
	case x.c.resp != nil:
		names = responsesParam
	}
	if n, ok := names[p]; ok {
		return n
	}
	return p
}

func (x *exchange) issueError(m model.Name, is chat.Issue, code string) error {
	p := x.param(is.Param)
	msg := fmt.Sprintf("%s: %s (model %s)", p, is.Message, m.String())
	if p == "" {
		msg = fmt.Sprintf("%s: %s", m.String(), is.Message)
	}
	return &apierr.Error{Kind: apierr.Invalid, Code: code, Param: p, Message: msg}
}

func (x *exchange) unsupportedError(m model.Name, soft []chat.Issue) error {
	names := make([]string, len(soft))
	for i, is := range soft {
		names[i] = x.param(is.Param)
	}
	msg := fmt.Sprintf("%s does not support %s", m.String(), strings.Join(names, ", "))
	if len(soft) == 1 && soft[0].Message != "" {
		msg = fmt.Sprintf("%s: %s: %s", names[0], m.String(), soft[0].Message)
	}
	msg += ` (a tenant with "unsupportedParams": "drop", or a deployment with UNSUPPORTED_PARAMS=drop, leaves such parameters out)`
	return &apierr.Error{Kind: apierr.Invalid, Code: "unsupported_parameter", Param: names[0], Message: msg}
}
