package chat_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
	"github.com/tollgate/tollgate/shared/tenant"
)

func responsesTools(t *testing.T) []responses.ToolUnionParam {
	weather := responses.ToolParamOfFunction("get_weather", rawSchema(t, weatherSchema), true)
	weather.OfFunction.Description = openai.String("The weather in a city")
	return []responses.ToolUnionParam{weather, responses.ToolParamOfFunction("get_time", rawSchema(t, timeSchema), false)}
}

// respond runs one Responses request, streamed (collected as SDK users do:
// every event, the final response from response.completed) or not. For a
// stream it checks the event vocabulary: sequence numbers from 0 without a gap,
// response.created first, each item added before its deltas and done after them,
// and the text of the deltas equal to the final text.
func respond(t *testing.T, client openai.Client, p responses.ResponseNewParams, stream bool, opts ...option.RequestOption) *responses.Response {
	t.Helper()
	ctx := t.Context()
	if !stream {
		r, err := client.Responses.New(ctx, p, opts...)
		if err != nil {
			t.Fatalf("responses.New: %v", err)
		}
		return r
	}
	s := client.Responses.NewStreaming(ctx, p, opts...)
	var (
		final  *responses.Response
		types  []string
		text   strings.Builder
		args   = map[string]*strings.Builder{}
		opened = map[string]bool{}
	)
	for i := 0; s.Next(); i++ {
		ev := s.Current()
		types = append(types, ev.Type)
		if ev.SequenceNumber != int64(i) {
			t.Fatalf("event %d (%s) has sequence_number %d", i, ev.Type, ev.SequenceNumber)
		}
		if i == 0 && ev.Type != "response.created" {
			t.Fatalf("first event %s, want response.created", ev.Type)
		}
		switch ev.Type {
		case "response.output_item.added":
			opened[ev.Item.ID] = true
		case "response.output_text.delta":
			if !opened[ev.ItemID] {
				t.Fatalf("a text delta for item %s before it was added", ev.ItemID)
			}
			text.WriteString(ev.Delta)
		case "response.function_call_arguments.delta":
			if args[ev.ItemID] == nil {
				args[ev.ItemID] = &strings.Builder{}
			}
			args[ev.ItemID].WriteString(ev.Delta)
		case "response.output_item.done":
			if !opened[ev.Item.ID] {
				t.Fatalf("item %s done but never added", ev.Item.ID)
			}
			delete(opened, ev.Item.ID)
		case "response.completed", "response.incomplete":
			r := ev.Response
			final = &r
		case "response.failed", "error":
			t.Fatalf("stream failed: %s", ev.RawJSON())
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v (events %v)", err, types)
	}
	if final == nil {
		t.Fatalf("no response.completed among %v", types)
	}
	if len(opened) > 0 {
		t.Errorf("items never done: %v", opened)
	}
	if got := final.OutputText(); got != text.String() {
		t.Errorf("streamed text %q, final output_text %q", text.String(), got)
	}
	for _, it := range final.Output {
		if it.Type == "function_call" && (args[it.ID] == nil && it.Arguments.OfString != "{}" || args[it.ID] != nil && args[it.ID].String() != it.Arguments.OfString) {
			t.Errorf("function call %s: streamed arguments %v, final %q", it.ID, args[it.ID], it.Arguments.OfString)
		}
	}
	return final
}

// TestResponses drives POST /v1/responses with openai-go's Responses client on
// every provider, streamed and not: text with instructions, the function-call
// round trip through previous_response_id, structured output, and the stored
// response's retrieval, input items and deletion.
func TestResponses(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.tenant("responses", nil)
	client := g.sdk(key)
	for _, m := range surfaceModels {
		for _, stream := range []bool{false, true} {
			name := strings.SplitN(m, "/", 2)[0] + map[bool]string{false: "/whole", true: "/stream"}[stream]
			t.Run(name+"/text", func(t *testing.T) {
				var hr *http.Response
				r := respond(t, client, responses.ResponseNewParams{Model: m, Instructions: openai.String("Be brief."),
					Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello responses")}}, stream, option.WithResponseInto(&hr))
				if !strings.HasPrefix(r.ID, "resp_") || r.Status != "completed" || r.Model != m || r.OutputText() == "" {
					t.Fatalf("response %s: status %q, model %q, text %q", r.ID, r.Status, r.Model, r.OutputText())
				}
				if r.Usage.InputTokens <= 0 || r.Usage.OutputTokens <= 0 || r.Usage.TotalTokens != r.Usage.InputTokens+r.Usage.OutputTokens {
					t.Errorf("usage %+v", r.Usage)
				}
				if r.Instructions.OfString != "Be brief." || !strings.Contains(r.RawJSON(), `"store":true`) {
					t.Errorf("instructions %q, store: the request's are echoed in %s", r.Instructions.OfString, r.RawJSON())
				}
				for _, h := range []string{"x-tollgate-model", "x-tollgate-attempts", "x-request-id"} {
					if hr.Header.Get(h) == "" {
						t.Errorf("no %s header", h)
					}
				}
				got, err := client.Responses.Get(t.Context(), r.ID, responses.ResponseGetParams{})
				if err != nil {
					t.Fatal(err)
				}
				if got.RawJSON() != r.RawJSON() && !sameJSON(t, got.RawJSON(), r.RawJSON()) {
					t.Errorf("retrieved\n%s\nwant what was answered\n%s", got.RawJSON(), r.RawJSON())
				}
			})
			t.Run(name+"/tool round trip", func(t *testing.T) {
				r := respond(t, client, responses.ResponseNewParams{Model: m, Tools: responsesTools(t),
					Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Paris")}}, stream)
				var calls []responses.ResponseOutputItemUnion
				for _, it := range r.Output {
					if it.Type == "function_call" {
						calls = append(calls, it)
					}
				}
				if len(calls) == 0 || r.Status != "completed" {
					t.Fatalf("round 1: %s, want function calls", r.RawJSON())
				}
				// Going on without the calls' outputs is refused before any provider sees it.
				wantError(t, g.do("POST", "/v1/responses", key, map[string]any{"model": m, "previous_response_id": r.ID, "input": "never mind"}),
					400, "invalid_value", "input")
				sch := map[string]string{"get_weather": weatherSchema, "get_time": timeSchema}
				var outs responses.ResponseInputParam
				for _, c := range calls {
					if !strings.HasPrefix(c.ID, "fc_") || c.CallID == "" || sch[c.Name] == "" {
						t.Fatalf("function call %s", c.RawJSON())
					}
					validJSON(t, validator(t, sch[c.Name]), c.Arguments.OfString)
					out := responses.ResponseInputItemParamOfFunctionCallOutput("18C and sunny")
					out.OfFunctionCallOutput.CallID = openai.String(c.CallID)
					outs = append(outs, out)
				}
				r2 := respond(t, client, responses.ResponseNewParams{Model: m, Tools: responsesTools(t), PreviousResponseID: openai.String(r.ID),
					Input: responses.ResponseNewParamsInputUnion{OfInputItemList: outs}}, stream)
				if !strings.Contains(r2.OutputText(), "18C and sunny") || r2.PreviousResponseID != r.ID {
					t.Errorf("round 2: %s, want the results in text", r2.RawJSON())
				}
				// The second response's input items are its own: the outputs.
				page, err := client.Responses.InputItems.List(t.Context(), r2.ID, responses.InputItemListParams{Order: responses.InputItemListParamsOrderAsc})
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Data) != len(calls) || page.Data[0].Type != "function_call_output" || page.Data[0].CallID != calls[0].CallID || page.HasMore {
					t.Errorf("input items of round 2: %s", page.RawJSON())
				}
			})
			t.Run(name+"/structured output", func(t *testing.T) {
				r := respond(t, client, responses.ResponseNewParams{Model: m,
					Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Describe a person")},
					Text: responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{
						OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{Name: "person", Schema: rawSchema(t, personSchema), Strict: openai.Bool(true)}}},
				}, stream)
				validJSON(t, validator(t, personSchema), r.OutputText())
				if r.Text.Format.Type != "json_schema" || r.Text.Format.Name != "person" {
					t.Errorf("text.format echoed as %s", r.Text.Format.RawJSON())
				}
			})
		}
	}

	t.Run("conversation", func(t *testing.T) {
		ctx := t.Context()
		first := respond(t, client, responses.ResponseNewParams{Model: "openai/gpt-a",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("my name is Ada")}}, false)
		next := respond(t, client, responses.ResponseNewParams{Model: "openai/gpt-a", PreviousResponseID: openai.String(first.ID),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("what is my name?")}}, true)
		// The provider saw the first turn, its answer, then the new question.
		reqs := g.OpenAI.Requests()
		last := reqs[len(reqs)-1].Body
		var texts []string
		for _, msg := range last.Messages {
			texts = append(texts, msg.Role+":"+msg.Content)
		}
		want := []string{"user:my name is Ada", "assistant:" + first.OutputText(), "user:what is my name?"}
		if strings.Join(texts, "|") != strings.Join(want, "|") {
			t.Errorf("the provider was sent %q, want %q", texts, want)
		}
		items := client.Responses.InputItems.ListAutoPaging(ctx, next.ID, responses.InputItemListParams{Limit: openai.Int(1)})
		n := 0
		for items.Next() {
			n++
		}
		if items.Err() != nil || n != 1 {
			t.Errorf("input items of the continuation: %d (%v), want its one message", n, items.Err())
		}
		if err := client.Responses.Delete(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		_, err := client.Responses.Get(ctx, first.ID, responses.ResponseGetParams{})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Errorf("retrieving a deleted response: %v, want a 404", err)
		}
		// Its continuation still holds the conversation.
		third := respond(t, client, responses.ResponseNewParams{Model: "openai/gpt-a", PreviousResponseID: openai.String(next.ID),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("and again?")}}, false)
		if third.Status != "completed" {
			t.Errorf("continuing after the first was deleted: %s", third.RawJSON())
		}
		if n := len(g.OpenAI.Requests()[len(g.OpenAI.Requests())-1].Body.Messages); n != 5 {
			t.Errorf("the third request sent %d messages, want 5 (two turns and the question)", n)
		}
	})

	t.Run("store false", func(t *testing.T) {
		r := respond(t, client, responses.ResponseNewParams{Model: "echo/echo-1", Store: openai.Bool(false),
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("forget me")}}, false)
		if !strings.Contains(r.RawJSON(), `"store":false`) {
			t.Errorf("store false is not echoed: %s", r.RawJSON())
		}
		resp := g.do("GET", "/v1/responses/"+r.ID, key, nil)
		wantError(t, resp, 404, "not_found", "response_id")
	})
}

func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

// TestResponsesIsolation: another tenant's response id is a 404 on every
// route that takes one, and continuing it or referring to its items is too.
func TestResponsesIsolation(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	owner, other := g.tenant("owner", nil), g.tenant("other", nil)
	r := g.do("POST", "/v1/responses", owner, map[string]any{"input": "private words"})
	if r.Status != 200 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	var created struct {
		ID     string `json:"id"`
		Output []struct {
			ID string `json:"id"`
		} `json:"output"`
	}
	if err := json.Unmarshal(r.Body, &created); err != nil || len(created.Output) == 0 {
		t.Fatalf("created %s (%v)", r.Body, err)
	}
	id := created.ID
	wantError(t, g.do("GET", "/v1/responses/"+id, other, nil), 404, "not_found", "response_id")
	wantError(t, g.do("GET", "/v1/responses/"+id+"/input_items", other, nil), 404, "not_found", "response_id")
	wantError(t, g.do("DELETE", "/v1/responses/"+id, other, nil), 404, "not_found", "response_id")
	wantError(t, g.do("POST", "/v1/responses", other, map[string]any{"input": "hi", "previous_response_id": id}),
		404, "previous_response_not_found", "previous_response_id")
	wantError(t, g.do("POST", "/v1/responses", other, map[string]any{"input": []any{
		map[string]any{"role": "user", "content": "hi"}, map[string]any{"type": "item_reference", "id": created.Output[0].ID}}}),
		404, "item_not_found", "input[1].id")
	// The owner still has it, whole.
	if got := g.do("GET", "/v1/responses/"+id, owner, nil); got.Status != 200 || !strings.Contains(string(got.Body), "private words") {
		t.Errorf("the owner's GET: %d %s", got.Status, got.Body)
	}
	// The owner may refer to its items.
	ref := g.do("POST", "/v1/responses", owner, map[string]any{"input": []any{
		map[string]any{"role": "user", "content": "hi"}, map[string]any{"type": "item_reference", "id": created.Output[0].ID},
		map[string]any{"role": "user", "content": "again"}}})
	if ref.Status != 200 {
		t.Errorf("an item reference of the owner: %d %s", ref.Status, ref.Body)
	}
	if strings.Contains(g.Logs.String(), "private words") {
		t.Error("a log line holds the prompt")
	}
}

// TestResponsesBadInput: every malformed request is an OpenAI-shaped 400 (or
// 404) naming the parameter, before any provider call.
func TestResponsesBadInput(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.tenant("bad-input", nil)
	for _, tc := range []struct {
		name, body, code, param string
		status                  int
	}{
		{"no input", `{"model":"echo/echo-1"}`, "missing_required_parameter", "input", 400},
		{"empty input", `{"input":[]}`, "invalid_value", "input", 400},
		{"unknown item type", `{"input":[{"type":"telepathy"}]}`, "invalid_value", "input[0].type", 400},
		{"hosted tool item", `{"input":[{"type":"web_search_call","id":"ws_1"}]}`, "unsupported_parameter", "input[0].type", 400},
		{"orphan output", `{"input":[{"role":"user","content":"hi"},{"type":"function_call_output","call_id":"call_x","output":"1"}]}`, "invalid_value", "input[1].call_id", 400},
		{"output answered twice", `{"input":[{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":"1"},{"type":"function_call_output","call_id":"c1","output":"2"}]}`, "invalid_value", "input[2].call_id", 400},
		{"unanswered call", `{"input":[{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},{"role":"user","content":"never mind"}]}`, "invalid_value", "input", 400},
		{"call answered by nothing", `{"input":[{"role":"user","content":"q"},{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"}]}`, "invalid_value", "input", 400},
		{"bad arguments", `{"input":[{"type":"function_call","call_id":"c1","name":"f","arguments":"[1]"}]}`, "invalid_value", "input[0].arguments", 400},
		{"field of another type", `{"input":[{"role":"user","content":"hi","call_id":"c1"}]}`, "unknown_parameter", "input[0].call_id", 400},
		{"unknown field", `{"input":"hi","frobnicate":1}`, "unknown_parameter", "frobnicate", 400},
		{"bad role", `{"input":[{"role":"robot","content":"hi"}]}`, "invalid_value", "input[0].role", 400},
		{"image in assistant", `{"input":[{"role":"assistant","content":[{"type":"input_image","image_url":"https://example.com/a.png"}]}]}`, "unsupported_content", "input[0].content[0]", 400},
		{"file part", `{"input":[{"role":"user","content":[{"type":"input_file","file_id":"file-1"}]}]}`, "unsupported_content", "input[0].content[0]", 400},
		{"system after the conversation", `{"input":[{"role":"user","content":"hi"},{"role":"developer","content":"new rules"}]}`, "invalid_value", "input[1].role", 400},
		{"background", `{"input":"hi","background":true}`, "unsupported_parameter", "background", 400},
		{"conversation", `{"input":"hi","conversation":"conv_1"}`, "unsupported_parameter", "conversation", 400},
		{"hosted tool", `{"input":"hi","tools":[{"type":"web_search"}]}`, "unsupported_parameter", "tools[0].type", 400},
		{"file_search without a knowledge base store", `{"input":"hi","tools":[{"type":"file_search","vector_store_ids":["vs_1"]}]}`, "not_found", "tools[0].vector_store_ids[0]", 404},
		{"tool choice of no tool", `{"input":"hi","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"g"}}`, "invalid_value", "tool_choice", 400},
		{"bad format", `{"input":"hi","text":{"format":{"type":"yaml"}}}`, "invalid_value", "text.format.type", 400},
		{"bad effort", `{"input":"hi","reasoning":{"effort":"maximal"}}`, "invalid_value", "reasoning.effort", 400},
		{"bad include", `{"input":"hi","include":["everything"]}`, "invalid_value", "include[0]", 400},
		{"logprobs include", `{"input":"hi","include":["message.output_text.logprobs"]}`, "unsupported_parameter", "include[0]", 400},
		{"bad encrypted reasoning", `{"input":[{"type":"reasoning","summary":[],"encrypted_content":"bm9wZQ=="},{"role":"user","content":"hi"}]}`, "invalid_encrypted_content", "input[0].encrypted_content", 400},
		{"zero max_output_tokens", `{"input":"hi","max_output_tokens":0}`, "invalid_value", "max_output_tokens", 400},
		{"stream_options without stream", `{"input":"hi","stream_options":{"include_obfuscation":false}}`, "invalid_value", "stream_options", 400},
		{"unknown previous", `{"input":"hi","previous_response_id":"resp_0123456789abcdef0123456789abcdef"}`, "previous_response_not_found", "previous_response_id", 404},
		{"malformed previous", `{"input":"hi","previous_response_id":"chatcmpl-1"}`, "previous_response_not_found", "previous_response_id", 404},
		{"unknown reference", `{"input":[{"type":"item_reference","id":"msg_nope"}]}`, "item_not_found", "input[0].id", 404},
		{"not JSON", `{"input":`, "invalid_json", "", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, g.do("POST", "/v1/responses", key, tc.body), tc.status, tc.code, tc.param)
		})
	}
	for _, path := range []string{"/v1/responses/resp_0123456789abcdef0123456789abcdef", "/v1/responses/nonsense"} {
		wantError(t, g.do("GET", path, key, nil), 404, "not_found", "response_id")
	}
	wantError(t, g.do("GET", "/v1/responses/x/input_items?limit=500", key, nil), 400, "invalid_value", "limit")
	if n := len(g.OpenAI.Requests()) + len(g.Bedrock.Requests()); n != 0 {
		t.Errorf("%d provider calls for bad requests", n)
	}
}

// TestResponsesFailure: a stream that fails after it began ends with an error
// event and response.failed, and stores nothing a later previous_response_id
// could pick up.
func TestResponsesFailure(t *testing.T) {
	t.Parallel()
	held := newHeld("partial ", "answer")
	held.Stall = true
	g := newGateway(t, map[string]string{"MODELS": "echo/held", "DEFAULT_MODEL": "echo/held", "STREAM_IDLE_TIMEOUT": "200ms"},
		func(a *app.App) { a.Providers["echo"] = held })
	key := g.tenant("failure", nil)
	r := g.do("POST", "/v1/responses", key, map[string]any{"input": "hi", "stream": true})
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	evs := parseEvents(t, r.Body)
	var id string
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Name)
		var e struct {
			Type     string `json:"type"`
			Response struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				Error  *struct {
					Code string `json:"code"`
				} `json:"error"`
			} `json:"response"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil || e.Type != ev.Name {
			t.Fatalf("event %s: %s (%v)", ev.Name, ev.Data, err)
		}
		if e.Type == "response.created" {
			id = e.Response.ID
		}
		if e.Type == "response.failed" && (e.Response.Status != "failed" || e.Response.Error == nil || e.Response.Error.Code != "upstream_timeout") {
			t.Errorf("response.failed: %s", ev.Data)
		}
	}
	if n := len(types); n < 2 || types[n-2] != "error" || types[n-1] != "response.failed" {
		t.Fatalf("events %v, want an error event and response.failed last", types)
	}
	wantError(t, g.do("GET", "/v1/responses/"+id, key, nil), 404, "not_found", "response_id")
	wantError(t, g.do("POST", "/v1/responses", key, map[string]any{"input": "more", "previous_response_id": id}),
		404, "previous_response_not_found", "previous_response_id")
}

// TestResponsesReasoning: reasoning streams as reasoning summary events, and
// with include reasoning.encrypted_content the signature comes back in a form
// the next request may send, which reaches Bedrock as the signed reasoning.
func TestResponsesReasoning(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.tenant("reasoning", nil)
	r := g.do("POST", "/v1/responses", key, map[string]any{"model": "echo/echo-1", "input": "think about it", "stream": true,
		"reasoning": map[string]any{"effort": "low"}, "include": []string{"reasoning.encrypted_content"}, "store": false})
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	seen := map[string]bool{}
	for _, ev := range parseEvents(t, r.Body) {
		seen[ev.Name] = true
	}
	for _, want := range []string{"response.reasoning_summary_part.added", "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done", "response.output_text.delta", "response.completed"} {
		if !seen[want] {
			t.Errorf("no %s event among %v", want, seen)
		}
	}
	// A reasoning item sent back with encrypted content reaches Bedrock signed.
	enc := `eyJzIjoic2lnLTEifQ==` // {"s":"sig-1"}
	r = g.do("POST", "/v1/responses", key, map[string]any{"model": bedrockModel, "input": []any{
		map[string]any{"role": "user", "content": "first"},
		map[string]any{"type": "reasoning", "summary": []any{map[string]any{"type": "summary_text", "text": "I thought"}}, "encrypted_content": enc},
		map[string]any{"role": "assistant", "content": "answer"},
		map[string]any{"role": "user", "content": "second"}}})
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	reqs := g.Bedrock.Requests()
	if len(reqs) == 0 || !strings.Contains(string(reqs[len(reqs)-1].Body), `"signature":"sig-1"`) {
		t.Errorf("Bedrock was not sent the signed reasoning: %s", reqs[len(reqs)-1].Body)
	}
}

// TestResponsesMetered: a Responses request is admitted, charged and refused
// by the same meter as chat: usage counts what was answered, the budget
// headers come with the answer, and a tenant over its budget gets the 429
// before any provider call.
func TestResponsesMetered(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.storeTenant(tenant.Config{ID: "metered", Name: "Metered", TokenBudget: tenant.Budget{Daily: 1000}})
	r := g.do("POST", "/v1/responses", key, map[string]any{"model": "openai/gpt-a", "input": "hello", "max_output_tokens": 50})
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var o struct {
		Usage struct {
			InputTokens  int64 `json:"input_tokens"`
			OutputTokens int64 `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(r.Body, &o); err != nil || o.Usage.InputTokens == 0 {
		t.Fatalf("usage of %s (%v)", r.Body, err)
	}
	if got := r.Header.Get("x-budget-remaining-daily"); got == "" {
		t.Errorf("no x-budget-remaining-daily header: %v", r.Header)
	}
	u := g.do("GET", "/usage", key, nil)
	var usage struct {
		Day struct {
			Used     int64 `json:"used"`
			Reserved int64 `json:"reserved"`
		} `json:"day"`
	}
	if err := json.Unmarshal(u.Body, &usage); err != nil || u.Status != 200 {
		t.Fatalf("usage: %d %s", u.Status, u.Body)
	}
	if usage.Day.Used != o.Usage.InputTokens+o.Usage.OutputTokens || usage.Day.Reserved != 0 {
		t.Errorf("usage today %+v, want the response's %d+%d and nothing reserved", usage.Day, o.Usage.InputTokens, o.Usage.OutputTokens)
	}
	logged := false
	for _, line := range strings.Split(g.Logs.String(), "\n") {
		if strings.Contains(line, `"route":"POST /v1/responses"`) && strings.Contains(line, `"api":"responses"`) && strings.Contains(line, `"outcome":"ok"`) {
			logged = true
		}
	}
	if !logged {
		t.Error("no request log line with api responses and outcome ok")
	}

	poor := g.storeTenant(tenant.Config{ID: "poor", Name: "Poor", TokenBudget: tenant.Budget{Daily: 5}})
	before := len(g.OpenAI.Requests())
	refused := g.do("POST", "/v1/responses", poor, map[string]any{"model": "openai/gpt-a", "input": "hello there, a prompt longer than five tokens", "stream": true})
	wantError(t, refused, 429, "budget_exceeded", "")
	if refused.Header.Get("Retry-After") == "" {
		t.Error("a budget refusal without Retry-After")
	}
	if len(g.OpenAI.Requests()) > before+1 {
		t.Error("a refused request reached the provider more than once")
	}
	// Refused once, the tenant is admitted before its provider calls. (The
	// first request's cancelled call may reach the fake late: the second is
	// told apart by its text, not by counting.)
	second := "a second prompt, also longer than five tokens"
	wantError(t, g.do("POST", "/v1/responses", poor, map[string]any{"model": "openai/gpt-a", "input": second, "stream": true}),
		429, "budget_exceeded", "")
	for _, req := range g.OpenAI.Requests() {
		if strings.Contains(string(req.Raw), second) {
			t.Error("a request of a tenant refused a moment ago reached the provider")
		}
	}
}

// TestResponsesIncomplete: an answer cut by max_output_tokens is an incomplete
// response (response.incomplete when streamed), stored and continuable.
func TestResponsesIncomplete(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.tenant("incomplete", nil)
	for _, stream := range []bool{false, true} {
		r := g.do("POST", "/v1/responses", key, map[string]any{"model": "echo/echo-1", "input": "one two three four five six",
			"max_output_tokens": 2, "stream": stream})
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		obj := r.Body
		if stream {
			evs := parseEvents(t, r.Body)
			last := evs[len(evs)-1]
			if last.Name != "response.incomplete" {
				t.Fatalf("last event %s, want response.incomplete", last.Name)
			}
			var e struct {
				Response json.RawMessage `json:"response"`
			}
			if err := json.Unmarshal([]byte(last.Data), &e); err != nil {
				t.Fatal(err)
			}
			obj = e.Response
		}
		var o struct {
			ID                string `json:"id"`
			Status            string `json:"status"`
			IncompleteDetails *struct {
				Reason string `json:"reason"`
			} `json:"incomplete_details"`
			Output []struct {
				Status string `json:"status"`
			} `json:"output"`
		}
		if err := json.Unmarshal(obj, &o); err != nil {
			t.Fatal(err)
		}
		if o.Status != "incomplete" || o.IncompleteDetails == nil || o.IncompleteDetails.Reason != "max_output_tokens" ||
			len(o.Output) != 1 || o.Output[0].Status != "incomplete" {
			t.Errorf("stream %v: %s, want incomplete for max_output_tokens", stream, obj)
		}
		if got := g.do("POST", "/v1/responses", key, map[string]any{"input": "go on", "previous_response_id": o.ID}); got.Status != 200 {
			t.Errorf("continuing an incomplete response: %d %s", got.Status, got.Body)
		}
	}
}

// TestResponsesFallback: a Responses request falls back before its first byte
// as chat does, and the response names the model that answered.
func TestResponsesFallback(t *testing.T) {
	t.Parallel()
	down := chain{"respdown"}
	g, keys := chainGateway(t, nil, down)
	g.OpenAI.Set(down.a(), openaitest.Script{Status: 429})
	g.OpenAI.Set(down.b(), openaitest.Script{Status: 503})
	for _, stream := range []bool{false, true} {
		r := g.do("POST", "/v1/responses", keys[down.name], map[string]any{"input": "Hello big world", "stream": stream})
		if r.Status != 200 || r.Header.Get("x-tollgate-attempts") != "3" || r.Header.Get("x-tollgate-model") != "bedrock/"+down.br() {
			t.Fatalf("stream %v: %d %v %s", stream, r.Status, r.Header, r.Body)
		}
		if !strings.Contains(string(r.Body), `"model":"bedrock/`+down.br()+`"`) {
			t.Errorf("the response does not name the model that answered: %s", r.Body)
		}
	}
}

// TestResponsesReasoningReference: Bedrock's signed reasoning, stored, is sent
// back signed when a later request refers to its item by id (as the Vercel AI
// SDK does), though the client never asked for encrypted_content; GET shows the
// encrypted_content only when asked.
func TestResponsesReasoningReference(t *testing.T) {
	t.Parallel()
	const thinker = "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0"
	g := newGateway(t, map[string]string{"MODELS": catalog + "," + thinker})
	key := g.tenant("reasoning-ref", nil)
	// A model that cannot reason is refused under the Responses API's name.
	wantError(t, g.do("POST", "/v1/responses", key, map[string]any{"model": bedrockModel, "input": "ponder", "reasoning": map[string]any{"effort": "low"}}),
		400, "unsupported_parameter", "reasoning.effort")
	r := g.do("POST", "/v1/responses", key, map[string]any{"model": thinker, "input": "ponder", "reasoning": map[string]any{"effort": "low"}})
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var o struct {
		ID     string `json:"id"`
		Output []struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		} `json:"output"`
	}
	if err := json.Unmarshal(r.Body, &o); err != nil || len(o.Output) < 2 || o.Output[0].Type != "reasoning" {
		t.Fatalf("want a reasoning item first: %s (%v)", r.Body, err)
	}
	if strings.Contains(string(r.Body), "encrypted_content") {
		t.Errorf("encrypted_content without include: %s", r.Body)
	}
	if got := g.do("GET", "/v1/responses/"+o.ID, key, nil); strings.Contains(string(got.Body), "encrypted_content") {
		t.Errorf("GET shows encrypted_content unasked: %s", got.Body)
	}
	if got := g.do("GET", "/v1/responses/"+o.ID+"?include[]=reasoning.encrypted_content", key, nil); !strings.Contains(string(got.Body), "encrypted_content") {
		t.Errorf("GET with include: %s", got.Body)
	}
	next := g.do("POST", "/v1/responses", key, map[string]any{"model": thinker, "reasoning": map[string]any{"effort": "low"}, "input": []any{
		map[string]any{"role": "user", "content": "ponder"},
		map[string]any{"type": "item_reference", "id": o.Output[0].ID},
		map[string]any{"type": "item_reference", "id": o.Output[1].ID},
		map[string]any{"role": "user", "content": "and then?"}}})
	if next.Status != 200 {
		t.Fatalf("%d %s", next.Status, next.Body)
	}
	reqs := g.Bedrock.Requests()
	if !strings.Contains(string(reqs[len(reqs)-1].Body), `"signature":"bedrocktest-signature-`) {
		t.Errorf("the referenced reasoning went back unsigned: %s", reqs[len(reqs)-1].Body)
	}
}
