package gateway

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/responses"
)

// FuzzDecodeResponses: any body is either refused with a 400 (or the 404 of a
// malformed previous_response_id) or decoded into a usable call whose every
// input item survives the gateway's own storage form: marshalled as
// input_items lists it, it decodes back to the same item.
func FuzzDecodeResponses(f *testing.F) {
	for _, s := range []string{
		`{"input":"hi"}`,
		`{"model":"echo/echo-1","instructions":"be terse","input":[{"role":"user","content":[{"type":"input_text","text":"t"},{"type":"input_image","image_url":"` + tinyPNG + `","detail":"low"}]}],"stream":true,"max_output_tokens":16}`,
		`{"input":[{"role":"developer","content":"rules"},{"type":"message","role":"user","content":"q"},{"type":"function_call","call_id":"c1","name":"f","arguments":"{\"a\":1}","id":"fc_1","status":"completed"},{"type":"function_call_output","call_id":"c1","output":[{"type":"input_text","text":"42"}]}],"tools":[{"type":"function","name":"f","parameters":{"type":"object"},"strict":false}],"tool_choice":{"type":"function","name":"f"},"parallel_tool_calls":false}`,
		`{"input":[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"hm"}],"encrypted_content":"eyJzIjoieCJ9"},{"role":"assistant","content":[{"type":"output_text","text":"a","annotations":[]},{"type":"refusal","refusal":"no"}]},{"type":"item_reference","id":"msg_0123456789abcdef0123456789abcdef0000"}]}`,
		`{"input":"x","text":{"format":{"type":"json_schema","name":"p","schema":{"type":"object"},"strict":true}},"reasoning":{"effort":"low","summary":"auto"},"include":["reasoning.encrypted_content"],"store":false,"metadata":{"k":"v"},"previous_response_id":"resp_0123456789abcdef0123456789abcdef","truncation":"auto","service_tier":"flex","user":"u","safety_identifier":"s","top_logprobs":0}`,
		`{"input":[{"type":"function_call_output","call_id":"c","output":"o"}]}`, `{"input":[]}`, `{"input":{}}`, `{"input":[1]}`,
		`{"input":[{"role":"user","content":"q"},{"type":"file_search_call","id":"fs_1","status":"completed","queries":["q"],"results":null}],"tools":[{"type":"file_search","vector_store_ids":["vs_0123456789abcdef0123456789ab"],"max_num_results":3,"filters":{"type":"and","filters":[{"type":"eq","key":"k","value":"v"}]},"ranking_options":{"ranker":"auto","score_threshold":0.5}}],"include":["file_search_call.results"],"tool_choice":"auto"}`,
		"\xff", `{"input":"\ud800"}`, `{"input":[{"role":"user","content":null}]}`, `{"background":true,"input":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := decodeResponses(body)
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) || e.Kind != apierr.Invalid && (e.Kind != apierr.NotFound || e.Param != "previous_response_id") {
				t.Fatalf("error %T %v is not a 400 apierr", err, err)
			}
			return
		}
		if len(c.resp.items) == 0 || c.req.MaxTokens < 0 || !responses.ValidID(responses.ID(c.resp.key)) {
			t.Fatalf("accepted an unusable call: %+v", c)
		}
		for _, m := range c.req.Messages {
			if m.Role != chat.RoleSystem && m.Role != chat.RoleUser && m.Role != chat.RoleAssistant && m.Role != chat.RoleTool {
				t.Fatalf("accepted role %q", m.Role)
			}
		}
		for _, in := range c.resp.items {
			if in.ref != "" {
				continue
			}
			raw, err := json.Marshal(in.it)
			if err != nil {
				t.Fatalf("marshal %+v: %v", in.it, err)
			}
			back, err := decodeStoredItem(raw, "input[0]")
			if err != nil {
				t.Fatalf("the stored form %s does not decode: %v", raw, err)
			}
			want := in.it
			for i := range want.Content {
				want.Content[i].image = nil
				if want.Content[i].Type == "input_image" && !isHTTP(want.Content[i].ImageURL) {
					want.Content[i].ImageURL = ""
				}
				if want.Content[i].Type == "input_image" {
					want.Content[i].Detail = cmpOr(want.Content[i].Detail, "auto")
				}
			}
			if back.it.Status == "completed" {
				back.it.Status = ""
			}
			if !reflect.DeepEqual(normItem(back.it), normItem(want)) {
				t.Fatalf("stored %s decodes to %+v, want %+v", raw, back.it, want)
			}
		}
	})
}

func isHTTP(u string) bool { return len(u) > 4 && u[:4] == "http" }

// normItem drops what a storage round trip may legitimately normalise.
func normItem(it item) item {
	it.Status = ""
	if len(it.Content) == 0 {
		it.Content = nil
	}
	if len(it.Summary) == 0 {
		it.Summary = nil
	}
	if it.Output != nil {
		var v any
		_ = json.Unmarshal(it.Output, &v)
		it.Output, _ = json.Marshal(v)
	}
	return it
}

// TestOutputBuilderOrder: a stream of interleaved reasoning, text and tool
// calls becomes items in the order the answer produced them, each delta in its
// item, and the events pair every added with a done.
func TestOutputBuilderOrder(t *testing.T) {
	x := &exchange{c: &call{resp: &respCall{key: "0123456789abcdef0123456789abcdef"}}}
	var evs []string
	b := newOutputBuilder(x, func(ev *respEvent) error { evs = append(evs, ev.Type); return nil })
	for _, c := range []chat.Chunk{
		{Reasoning: "think "}, {Reasoning: "more"}, {ReasoningSignature: "sig"},
		{Text: "Hello "}, {Text: "world"},
		{ToolCall: &chat.ToolCallDelta{Index: 0, ID: "c1", Name: "f"}}, {ToolCall: &chat.ToolCallDelta{Index: 0, Arguments: `{"a":`}},
		{ToolCall: &chat.ToolCallDelta{Index: 0, Arguments: `1}`}},
		{ToolCall: &chat.ToolCallDelta{Index: 1, ID: "c2", Name: "g"}},
	} {
		if err := b.add(&c); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.closeItem(); err != nil {
		t.Fatal(err)
	}
	got := x.c.resp.output
	if len(got) != 4 || got[0].Type != "reasoning" || got[0].Summary[0] != "think more" || got[0].sig != "sig" ||
		got[1].Type != "message" || got[1].Content[0].Text != "Hello world" ||
		got[2].CallID != "c1" || got[2].Arguments != `{"a":1}` || got[3].Name != "g" || got[3].Arguments != "{}" {
		t.Fatalf("items %+v", got)
	}
	added, done := 0, 0
	for _, e := range evs {
		switch e {
		case "response.output_item.added":
			added++
		case "response.output_item.done":
			done++
		}
	}
	if added != 4 || done != 4 || evs[0] != "response.output_item.added" || evs[len(evs)-1] != "response.output_item.done" {
		t.Errorf("events %v", evs)
	}
	// The same answer as a whole message builds the same items.
	y := &exchange{c: &call{resp: &respCall{key: x.c.resp.key}}}
	wb := newOutputBuilder(y, nil)
	msg := outputMessage(got)
	wb.addMessage(&msg, "")
	if !reflect.DeepEqual(y.c.resp.output, got) {
		t.Errorf("whole:\n%+v\nstreamed:\n%+v", y.c.resp.output, got)
	}
}
