package gateway

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/responses"
	"github.com/tollgate/tollgate/shared/sse"
)

// item is one item of a Response's output or of its input: a message, a
// function_call, a function_call_output or a reasoning item. It marshals to the
// shape of its type.
type item struct {
	Type      string
	ID        string
	Status    string // in_progress, completed or incomplete ("" for input items: completed)
	Role      string
	Content   []content       // message
	CallID    string          // function_call, function_call_output
	Name      string          // function_call
	Arguments string          // function_call
	Output    json.RawMessage // function_call_output: a string or content parts, as sent
	Summary   []string        // reasoning
	Encrypted string          // reasoning: encrypted_content, when asked for
	Queries   []string        // file_search_call
	// Results are a file_search_call's matches, when the request included
	// file_search_call.results; nil marshals as null, as OpenAI's does.
	Results []fileSearchResult
	// sig and redacted are a reasoning item's provider signature or redacted
	// reasoning, which its stored conversation keeps whether or not the client
	// asked for encrypted_content.
	sig      string
	redacted []byte
}

// fileSearchResult is one match of a file_search_call (include
// file_search_call.results).
type fileSearchResult struct {
	FileID     string         `json:"file_id"`
	Filename   string         `json:"filename"`
	Score      float64        `json:"score"`
	Attributes map[string]any `json:"attributes"`
	Text       string         `json:"text"`
}

// fileAnnotation is an output_text annotation: a retrieved file the text
// cites, at the character index of its first marker.
type fileAnnotation struct {
	Type     string `json:"type"` // file_citation
	FileID   string `json:"file_id"`
	Filename string `json:"filename"`
	Index    int    `json:"index"`
}

func responseAnnotations(cs []citation) []fileAnnotation {
	out := make([]fileAnnotation, len(cs))
	for i, c := range cs {
		out[i] = fileAnnotation{Type: "file_citation", FileID: c.source.FileID, Filename: c.source.Filename, Index: c.index}
	}
	return out
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// content is one part of a message: input_text, input_image, output_text or
// refusal.
type content struct {
	Type        string
	Text        string           // the text, or the refusal
	Annotations []fileAnnotation // output_text: the files it cites
	ImageURL    string           // input_image: an http(s) URL ("" when the image was inline)
	Detail      string
	image       *chat.Image // input_image of this request
}

type summaryText struct {
	Type string `json:"type"` // summary_text
	Text string `json:"text"`
}

var emptyList = []struct{}{}

func (it item) MarshalJSON() ([]byte, error) {
	status := it.Status
	if status == "" {
		status = "completed"
	}
	switch it.Type {
	case "message":
		return json.Marshal(struct {
			Type    string    `json:"type"`
			ID      string    `json:"id"`
			Status  string    `json:"status"`
			Role    string    `json:"role"`
			Content []content `json:"content"`
		}{it.Type, it.ID, status, roleOut(it.Role), nonNil(it.Content)})
	case "function_call":
		return json.Marshal(struct {
			Type      string `json:"type"`
			ID        string `json:"id"`
			Status    string `json:"status"`
			CallID    string `json:"call_id"`
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		}{it.Type, it.ID, status, it.CallID, it.Name, it.Arguments})
	case "file_search_call":
		return json.Marshal(struct {
			Type    string             `json:"type"`
			ID      string             `json:"id"`
			Status  string             `json:"status"`
			Queries []string           `json:"queries"`
			Results []fileSearchResult `json:"results"`
		}{it.Type, it.ID, status, nonNilStrings(it.Queries), it.Results})
	case "function_call_output":
		return json.Marshal(struct {
			Type   string          `json:"type"`
			ID     string          `json:"id"`
			Status string          `json:"status"`
			CallID string          `json:"call_id"`
			Output json.RawMessage `json:"output"`
		}{it.Type, it.ID, status, it.CallID, it.Output})
	}
	summary := make([]summaryText, len(it.Summary))
	for i, s := range it.Summary {
		summary[i] = summaryText{"summary_text", s}
	}
	var enc *string
	if it.Encrypted != "" {
		enc = &it.Encrypted
	}
	return json.Marshal(struct {
		Type      string        `json:"type"`
		ID        string        `json:"id"`
		Summary   []summaryText `json:"summary"`
		Encrypted *string       `json:"encrypted_content,omitempty"`
	}{"reasoning", it.ID, summary, enc})
}

func roleOut(r string) string {
	if r == chat.RoleSystem {
		return "developer"
	}
	return r
}

func nonNil(c []content) []content {
	if c == nil {
		return []content{}
	}
	return c
}

func (c content) MarshalJSON() ([]byte, error) {
	switch c.Type {
	case "output_text":
		ann := c.Annotations
		if ann == nil {
			ann = []fileAnnotation{}
		}
		return json.Marshal(struct {
			Type        string           `json:"type"`
			Text        string           `json:"text"`
			Annotations []fileAnnotation `json:"annotations"`
			Logprobs    []struct{}       `json:"logprobs"`
		}{c.Type, c.Text, ann, emptyList})
	case "refusal":
		return json.Marshal(struct {
			Type    string `json:"type"`
			Refusal string `json:"refusal"`
		}{c.Type, c.Text})
	case "input_image":
		var url *string
		if c.ImageURL != "" && !strings.HasPrefix(c.ImageURL, "data:") {
			url = &c.ImageURL
		}
		return json.Marshal(struct {
			Type     string  `json:"type"`
			ImageURL *string `json:"image_url"`
			Detail   string  `json:"detail"`
			FileID   *string `json:"file_id"`
		}{c.Type, url, cmpOr(c.Detail, "auto"), nil})
	}
	return json.Marshal(struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{c.Type, c.Text})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// responseEcho is what the Response object repeats of its request.
type responseEcho struct {
	Instructions       *string           `json:"instructions"`
	MaxOutputTokens    *int64            `json:"max_output_tokens"`
	ParallelToolCalls  bool              `json:"parallel_tool_calls"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Reasoning          reasoningEcho     `json:"reasoning"`
	SafetyIdentifier   *string           `json:"safety_identifier"`
	ServiceTier        string            `json:"service_tier"`
	Store              bool              `json:"store"`
	Temperature        float64           `json:"temperature"`
	Text               textEcho          `json:"text"`
	ToolChoice         any               `json:"tool_choice"`
	Tools              []any             `json:"tools"` // toolEcho and fileSearchEcho
	TopLogprobs        int               `json:"top_logprobs"`
	TopP               float64           `json:"top_p"`
	Truncation         string            `json:"truncation"`
	User               *string           `json:"user"`
	Metadata           map[string]string `json:"metadata"`
}

type reasoningEcho struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

type textEcho struct {
	Format    formatEcho `json:"format"`
	Verbosity string     `json:"verbosity"`
}

type formatEcho struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// fileSearchEcho is a file_search tool as the Response object repeats it.
type fileSearchEcho struct {
	Type           string          `json:"type"` // file_search
	VectorStoreIDs []string        `json:"vector_store_ids"`
	MaxNumResults  int             `json:"max_num_results"`
	Filters        json.RawMessage `json:"filters"`
	RankingOptions struct {
		Ranker         string  `json:"ranker"`
		ScoreThreshold float64 `json:"score_threshold"`
	} `json:"ranking_options"`
}

type toolEcho struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict"`
}

func echoOf(req *responsesRequest, r *chat.Request, rv *retrieval) responseEcho {
	e := responseEcho{
		Instructions: req.Instructions, MaxOutputTokens: req.MaxOutputTokens, ParallelToolCalls: true,
		PreviousResponseID: req.PreviousResponseID, SafetyIdentifier: req.SafetyIdentifier,
		ServiceTier: cmpOr(r.ServiceTier, "default"), Store: req.Store == nil || *req.Store,
		Temperature: 1, TopP: 1, Truncation: "disabled", User: req.User,
		Metadata: req.Metadata, Tools: []any{}, ToolChoice: "auto",
		Text: textEcho{Format: formatEcho{Type: "text"}, Verbosity: "medium"},
	}
	if req.ParallelToolCalls != nil {
		e.ParallelToolCalls = *req.ParallelToolCalls
	}
	if e.Metadata == nil {
		e.Metadata = map[string]string{}
	}
	if req.Reasoning != nil {
		e.Reasoning = reasoningEcho{req.Reasoning.Effort, req.Reasoning.Summary}
	}
	if req.Temperature != nil {
		e.Temperature = *req.Temperature
	}
	if req.TopP != nil {
		e.TopP = *req.TopP
	}
	if req.Truncation != nil {
		e.Truncation = *req.Truncation
	}
	for _, t := range r.Tools {
		te := toolEcho{Type: "function", Name: t.Name, Parameters: t.Parameters, Strict: t.Strict}
		if t.Description != "" {
			d := t.Description
			te.Description = &d
		}
		e.Tools = append(e.Tools, te)
	}
	if rv != nil {
		fe := fileSearchEcho{Type: "file_search", VectorStoreIDs: rv.storeIDs, MaxNumResults: rv.maxResults, Filters: json.RawMessage("null")}
		fe.RankingOptions.Ranker, fe.RankingOptions.ScoreThreshold = "auto", rv.scoreThreshold
		if !isNull(rv.filters) {
			fe.Filters = rv.filters
		}
		e.Tools = append(e.Tools, fe)
	}
	switch tc := r.ToolChoice; tc.Mode {
	case chat.ToolChoiceNone:
		e.ToolChoice = "none"
	case chat.ToolChoiceRequired:
		e.ToolChoice = "required"
	case chat.ToolChoiceNamed:
		e.ToolChoice = map[string]string{"type": "function", "name": tc.Name}
	}
	switch f := r.ResponseFormat; f.Type {
	case chat.FormatJSONObject:
		e.Text.Format = formatEcho{Type: "json_object"}
	case chat.FormatJSONSchema:
		strict := f.Strict
		e.Text.Format = formatEcho{Type: "json_schema", Name: f.Name, Description: f.Description, Schema: f.Schema, Strict: &strict}
	}
	return e
}

// responseObject is the Response object.
type responseObject struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"` // "response"
	CreatedAt         int64              `json:"created_at"`
	Status            string             `json:"status"` // in_progress, completed, incomplete, failed
	Background        bool               `json:"background"`
	Error             *responseError     `json:"error"`
	IncompleteDetails *incompleteDetails `json:"incomplete_details"`
	MaxToolCalls      *int               `json:"max_tool_calls"`
	Model             string             `json:"model"`
	Output            []item             `json:"output"`
	Usage             *responseUsage     `json:"usage"`
	responseEcho
}

type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type incompleteDetails struct {
	Reason string `json:"reason"` // max_output_tokens or content_filter
}

type responseUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
		// CacheWriteTokens is Tollgate's, as on /v1/chat/completions.
		CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int  `json:"total_tokens"`
	Estimated   bool `json:"estimated,omitempty"` // Tollgate's: counted, not reported by the provider
}

func toResponseUsage(u chat.Usage) *responseUsage {
	out := &responseUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.Total(), Estimated: u.Estimated}
	out.InputTokensDetails.CachedTokens = u.CacheReadTokens
	out.InputTokensDetails.CacheWriteTokens = u.CacheWriteTokens
	out.OutputTokensDetails.ReasoningTokens = u.ReasoningTokens
	return out
}

// responseObject returns the Response object with output and status.
func (x *exchange) responseObject(status string) *responseObject {
	rc := x.c.resp
	o := &responseObject{ID: x.id, Object: "response", CreatedAt: x.start.Unix(), Status: status,
		Model: x.model.String(), Output: rc.output, responseEcho: rc.echo}
	if o.Output == nil {
		o.Output = []item{}
	}
	return o
}

// finish completes o for finish reason finish with usage u.
func finishObject(o *responseObject, finish string, u chat.Usage) {
	o.Status = "completed"
	switch finish {
	case chat.FinishLength:
		o.Status, o.IncompleteDetails = "incomplete", &incompleteDetails{"max_output_tokens"}
	case chat.FinishContentFilter:
		o.Status, o.IncompleteDetails = "incomplete", &incompleteDetails{"content_filter"}
	}
	// The answer was cut in its last item: a message is incomplete then.
	if n := len(o.Output); n > 0 && o.Status == "incomplete" && o.Output[n-1].Type == "message" {
		o.Output[n-1].Status = "incomplete"
	}
	o.Usage = toResponseUsage(u)
}

// outputBuilder turns a stream of chunks into output items, in the order the
// answer produced them, and (for a stream) says each step with an event.
type outputBuilder struct {
	x     *exchange
	items *[]item
	emit  func(ev *respEvent) error // nil: build only
	seq   int
	open  int // index of the open item, -1 when none
	// the open item's open content part (message) or summary part (reasoning)
	part    int
	tools   map[int]int // tool call index -> output index
	counter int         // output items made
	// cut marks the answer cut short (max_output_tokens, content filter): the
	// message item closed last is incomplete.
	cut bool
	// acc holds the text of the open part (or the open function call's
	// arguments) streamed since it opened, so a long answer is not copied once
	// per delta; flush moves it into the item.
	acc strings.Builder
	// ev, idx and delta are reused by every delta event, which then costs no
	// allocation of its own.
	ev    respEvent
	idx   [3]int // output, content (or summary) index of ev
	delta string
}

func newOutputBuilder(x *exchange, emit func(ev *respEvent) error) *outputBuilder {
	return &outputBuilder{x: x, items: &x.c.resp.output, emit: emit, open: -1, tools: map[int]int{}}
}

// respEvent is one streamed event; only the fields of its type are set.
type respEvent struct {
	Type           string          `json:"type"`
	SequenceNumber int             `json:"sequence_number"`
	Response       *responseObject `json:"response,omitempty"`
	OutputIndex    *int            `json:"output_index,omitempty"`
	ItemID         string          `json:"item_id,omitempty"`
	ContentIndex   *int            `json:"content_index,omitempty"`
	SummaryIndex   *int            `json:"summary_index,omitempty"`
	Item           *item           `json:"item,omitempty"`
	Part           json.Marshaler  `json:"part,omitempty"`
	Delta          *string         `json:"delta,omitempty"`
	Text           *string         `json:"text,omitempty"`
	Refusal        *string         `json:"refusal,omitempty"`
	Name           *string         `json:"name,omitempty"`
	Arguments      *string         `json:"arguments,omitempty"`
	Logprobs       *[]struct{}     `json:"logprobs,omitempty"`
	// response.output_text.annotation.added
	AnnotationIndex *int            `json:"annotation_index,omitempty"`
	Annotation      *fileAnnotation `json:"annotation,omitempty"`
	// error events
	Code    *string `json:"code,omitempty"`
	Message *string `json:"message,omitempty"`
	Param   *string `json:"param,omitempty"`
}

func (b *outputBuilder) send(ev *respEvent) error {
	if b.emit == nil {
		return nil
	}
	ev.SequenceNumber = b.seq
	b.seq++
	return b.emit(ev)
}

func intp(i int) *int { return &i }

var noLogprobs = &[]struct{}{}

// summaryPart marshals a reasoning summary part.
type summaryPart string

func (s summaryPart) MarshalJSON() ([]byte, error) {
	return json.Marshal(summaryText{"summary_text", string(s)})
}

// openItem starts a new output item (closing the open one).
func (b *outputBuilder) openItem(it item) (int, error) {
	if err := b.closeItem(); err != nil {
		return 0, err
	}
	it.ID = responses.ItemID(itemPrefix[it.Type], b.x.c.resp.key, b.counter)
	b.counter++
	it.Status = "in_progress"
	*b.items = append(*b.items, it)
	b.open = len(*b.items) - 1
	b.part = -1
	added := it
	if added.Type == "function_call" {
		added.Arguments = ""
	}
	return b.open, b.send(&respEvent{Type: "response.output_item.added", OutputIndex: intp(b.open), Item: &added})
}

// flush moves what acc holds into the open item: its open part's text, or its
// arguments.
func (b *outputBuilder) flush() {
	if b.open < 0 || b.acc.Len() == 0 {
		return
	}
	it := &(*b.items)[b.open]
	switch {
	case it.Type == "function_call":
		it.Arguments += b.acc.String()
	case b.part < 0:
	case it.Type == "reasoning":
		it.Summary[b.part] += b.acc.String()
	default:
		it.Content[b.part].Text += b.acc.String()
	}
	b.acc.Reset()
}

// deltaEvent sends a delta event of typ for the open item (content or summary
// index ci, -1 for none) with the reused event value.
func (b *outputBuilder) deltaEvent(typ, itemID string, ci int, delta string, summary bool) error {
	b.ev = respEvent{Type: typ, ItemID: itemID}
	b.idx[0], b.idx[1], b.delta = b.open, ci, delta
	b.ev.OutputIndex, b.ev.Delta = &b.idx[0], &b.delta
	switch {
	case summary:
		b.ev.SummaryIndex = &b.idx[1]
	case ci >= 0:
		b.ev.ContentIndex = &b.idx[1]
	}
	if typ == "response.output_text.delta" {
		b.ev.Logprobs = noLogprobs
	}
	return b.send(&b.ev)
}

// closePart ends the open content (or summary) part of the open item.
func (b *outputBuilder) closePart() error {
	b.flush()
	if b.open < 0 || b.part < 0 {
		return nil
	}
	it := &(*b.items)[b.open]
	i := b.part
	b.part = -1
	if it.Type == "reasoning" {
		t := it.Summary[i]
		if err := b.send(&respEvent{Type: "response.reasoning_summary_text.done", ItemID: it.ID, OutputIndex: intp(b.open), SummaryIndex: intp(i), Text: &t}); err != nil {
			return err
		}
		return b.send(&respEvent{Type: "response.reasoning_summary_part.done", ItemID: it.ID, OutputIndex: intp(b.open), SummaryIndex: intp(i), Part: summaryPart(t)})
	}
	if it.Content[i].Type == "output_text" && len(b.x.c.req.Sources) > 0 {
		ann := responseAnnotations(citations(it.Content[i].Text, b.x.c.req.Sources))
		for j := range ann {
			if err := b.send(&respEvent{Type: "response.output_text.annotation.added", ItemID: it.ID, OutputIndex: intp(b.open), ContentIndex: intp(i),
				AnnotationIndex: intp(j), Annotation: &ann[j]}); err != nil {
				return err
			}
		}
		it.Content[i].Annotations = ann
	}
	c := it.Content[i]
	ev := &respEvent{Type: "response.output_text.done", ItemID: it.ID, OutputIndex: intp(b.open), ContentIndex: intp(i), Text: &c.Text, Logprobs: noLogprobs}
	if c.Type == "refusal" {
		ev = &respEvent{Type: "response.refusal.done", ItemID: it.ID, OutputIndex: intp(b.open), ContentIndex: intp(i), Refusal: &c.Text}
	}
	if err := b.send(ev); err != nil {
		return err
	}
	return b.send(&respEvent{Type: "response.content_part.done", ItemID: it.ID, OutputIndex: intp(b.open), ContentIndex: intp(i), Part: c})
}

// fileSearch adds the file_search_call item of the request's file_search
// tool, first: the search ran before the answer (retrieval.go), so a stream
// says its steps at once. Its results are there when the request included
// file_search_call.results.
func (b *outputBuilder) fileSearch() error {
	rv := b.x.c.retrieval
	if rv == nil {
		return nil
	}
	it := item{Type: "file_search_call"}
	if rv.query != "" {
		it.Queries = []string{rv.query}
	}
	i, err := b.openItem(it)
	if err != nil {
		return err
	}
	id := (*b.items)[i].ID
	for _, typ := range []string{"response.file_search_call.in_progress", "response.file_search_call.searching", "response.file_search_call.completed"} {
		if err := b.send(&respEvent{Type: typ, OutputIndex: intp(i), ItemID: id}); err != nil {
			return err
		}
	}
	if b.x.c.resp.results {
		res := make([]fileSearchResult, len(rv.matches))
		for j, m := range rv.matches {
			attrs := m.Attributes
			if attrs == nil {
				attrs = map[string]any{}
			}
			res[j] = fileSearchResult{FileID: m.FileID, Filename: m.Filename, Score: m.Score, Attributes: attrs, Text: m.Text}
		}
		(*b.items)[i].Results = res
	}
	return b.closeItem()
}

// closeItem ends the open item.
func (b *outputBuilder) closeItem() error {
	if b.open < 0 {
		return nil
	}
	if err := b.closePart(); err != nil {
		return err
	}
	b.flush()
	it := &(*b.items)[b.open]
	i := b.open
	b.open = -1
	if it.Type == "function_call" {
		if it.Arguments == "" {
			it.Arguments = "{}"
		}
		if err := b.send(&respEvent{Type: "response.function_call_arguments.done", ItemID: it.ID, OutputIndex: intp(i), Name: &it.Name, Arguments: &it.Arguments}); err != nil {
			return err
		}
	}
	it.Status = "completed"
	if b.cut && it.Type == "message" {
		it.Status = "incomplete"
	}
	done := *it
	return b.send(&respEvent{Type: "response.output_item.done", OutputIndex: intp(i), Item: &done})
}

// openOf returns the open item when it has type typ.
func (b *outputBuilder) openOf(typ string) *item {
	if b.open >= 0 && (*b.items)[b.open].Type == typ {
		return &(*b.items)[b.open]
	}
	return nil
}

// text adds answer text (or refusal text, typ "refusal").
func (b *outputBuilder) text(s, typ string) error {
	it := b.openOf("message")
	if it == nil {
		if _, err := b.openItem(item{Type: "message", Role: chat.RoleAssistant}); err != nil {
			return err
		}
		it = b.openOf("message")
	}
	if b.part < 0 || it.Content[b.part].Type != typ {
		if err := b.closePart(); err != nil {
			return err
		}
		it.Content = append(it.Content, content{Type: typ})
		b.part = len(it.Content) - 1
		if err := b.send(&respEvent{Type: "response.content_part.added", ItemID: it.ID, OutputIndex: intp(b.open), ContentIndex: intp(b.part), Part: content{Type: typ}}); err != nil {
			return err
		}
	}
	b.acc.WriteString(s)
	if typ == "refusal" {
		return b.deltaEvent("response.refusal.delta", it.ID, b.part, s, false)
	}
	return b.deltaEvent("response.output_text.delta", it.ID, b.part, s, false)
}

// reasoning adds reasoning text; a signature (or redacted reasoning) ends the
// reasoning block, as in chat.Chunk.
func (b *outputBuilder) reasoning(s, signature string, redacted []byte) error {
	it := b.openOf("reasoning")
	if it == nil {
		if _, err := b.openItem(item{Type: "reasoning"}); err != nil {
			return err
		}
		it = b.openOf("reasoning")
	}
	if s != "" {
		if b.part < 0 {
			it.Summary = append(it.Summary, "")
			b.part = len(it.Summary) - 1
			if err := b.send(&respEvent{Type: "response.reasoning_summary_part.added", ItemID: it.ID, OutputIndex: intp(b.open), SummaryIndex: intp(b.part), Part: summaryPart("")}); err != nil {
				return err
			}
		}
		b.acc.WriteString(s)
		if err := b.deltaEvent("response.reasoning_summary_text.delta", it.ID, b.part, s, true); err != nil {
			return err
		}
	}
	if signature != "" || len(redacted) > 0 {
		if b.x.c.resp.encrypted {
			it.Encrypted = encodeEncrypted(signature, redacted)
		}
		it.sig, it.redacted = signature, redacted
		return b.closeItem()
	}
	return nil
}

// toolCall adds a tool-call fragment.
func (b *outputBuilder) toolCall(d *chat.ToolCallDelta) error {
	i, ok := b.tools[d.Index]
	if !ok {
		var err error
		if i, err = b.openItem(item{Type: "function_call", CallID: d.ID, Name: d.Name}); err != nil {
			return err
		}
		b.tools[d.Index] = i
	}
	it := &(*b.items)[i]
	if d.ID != "" && it.CallID == "" {
		it.CallID = d.ID
	}
	if d.Name != "" && it.Name == "" {
		it.Name = d.Name
	}
	if d.Arguments == "" {
		return nil
	}
	if i != b.open { // a call whose item closed already: rare, copied
		it.Arguments += d.Arguments
		open := b.open
		b.open = i
		defer func() { b.open = open }()
	} else {
		b.acc.WriteString(d.Arguments)
	}
	return b.deltaEvent("response.function_call_arguments.delta", it.ID, -1, d.Arguments, false)
}

// add takes one chunk of the answer.
func (b *outputBuilder) add(c *chat.Chunk) error {
	switch {
	case c.Text != "":
		return b.text(c.Text, "output_text")
	case c.Refusal != "":
		return b.text(c.Refusal, "refusal")
	case c.Reasoning != "" || c.ReasoningSignature != "" || c.RedactedReasoning != "":
		var red []byte
		if c.RedactedReasoning != "" {
			red = []byte(c.RedactedReasoning)
		}
		return b.reasoning(c.Reasoning, c.ReasoningSignature, red)
	case c.ToolCall != nil:
		return b.toolCall(c.ToolCall)
	}
	return nil
}

// addMessage takes a whole answer's message (and refusal) in part order,
// after the file search that preceded it.
func (b *outputBuilder) addMessage(m *chat.Message, refusal string) {
	_ = b.fileSearch()
	for i := range m.Parts {
		p := &m.Parts[i]
		switch p.Kind {
		case chat.PartReasoning:
			_ = b.reasoning(p.Text, p.Signature, p.Redacted)
			if p.Signature == "" && len(p.Redacted) == 0 {
				_ = b.closeItem()
			}
		case chat.PartText:
			if p.Text != "" {
				_ = b.text(p.Text, "output_text")
			}
		case chat.PartToolCall:
			_ = b.closeItem()
			_, _ = b.openItem(item{Type: "function_call", CallID: p.ToolCall.ID, Name: p.ToolCall.Name, Arguments: p.ToolCall.Arguments})
		}
	}
	if refusal != "" {
		_ = b.text(refusal, "refusal")
	}
	_ = b.closeItem()
}

// responsesStream writes the Responses API's events. It stores the response
// (when asked to) before it reports completion, so that a client that saw
// response.completed can continue it.
type responsesStream struct {
	ctx context.Context
	x   *exchange
	sw  *sse.Writer
	b   *outputBuilder
}

func newResponsesStream(ctx context.Context, x *exchange, sw *sse.Writer) *responsesStream {
	s := &responsesStream{ctx: ctx, x: x, sw: sw}
	s.b = newOutputBuilder(x, func(ev *respEvent) error { return sw.Event(ev.Type, ev) })
	return s
}

func (s *responsesStream) start() error {
	o := s.x.responseObject("in_progress")
	if err := s.b.send(&respEvent{Type: "response.created", Response: o}); err != nil {
		return err
	}
	if err := s.b.send(&respEvent{Type: "response.in_progress", Response: o}); err != nil {
		return err
	}
	return s.b.fileSearch()
}

func (s *responsesStream) delta(c *chat.Chunk) error { return s.b.add(c) }

func (s *responsesStream) keepAlive() error { return s.sw.Comment("keep-alive") }

func (s *responsesStream) end(finishes []string, u chat.Usage) error {
	s.b.cut = finishes[0] == chat.FinishLength || finishes[0] == chat.FinishContentFilter
	if err := s.b.closeItem(); err != nil {
		return err
	}
	o := s.x.responseObject("completed")
	finishObject(o, finishes[0], u)
	if err := s.x.storeResponse(s.ctx, o); err != nil {
		s.x.outcome = "response_store_failed"
		return s.fail(u, err)
	}
	typ := "response.completed"
	if o.Status == "incomplete" {
		typ = "response.incomplete"
	}
	return s.b.send(&respEvent{Type: typ, Response: o})
}

// fail ends the stream with an error event and response.failed, which no client
// takes for success: usage so far is in the failed response.
func (s *responsesStream) fail(u chat.Usage, err error) error {
	s.b.cut = true // the answer stopped short: its message is incomplete
	if werr := s.b.closeItem(); werr != nil {
		return werr
	}
	body := apierr.Body(err).Error
	code := "server_error"
	if body.Code != nil {
		code = *body.Code
	}
	if werr := s.b.send(&respEvent{Type: "error", Code: &code, Message: &body.Message, Param: body.Param}); werr != nil {
		return werr
	}
	o := s.x.responseObject("failed")
	o.Error = &responseError{Code: code, Message: body.Message}
	o.Usage = toResponseUsage(u)
	return s.b.send(&respEvent{Type: "response.failed", Response: o})
}
