package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/responses"
	"github.com/tollgate/tollgate/shared/session"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/web"
)

// ResponseStore keeps Responses API answers per tenant. *dynamo.Store
// implements it.
type ResponseStore interface {
	PutResponse(ctx context.Context, r *responses.Stored) error
	GetResponse(ctx context.Context, tenantID, id string, now time.Time) (responses.Stored, error)
	DeleteResponse(ctx context.Context, tenantID, id string, now time.Time) error
}

// maxStoredBytes bounds what one stored response holds, under DynamoDB's 400 KB
// item limit: the oldest turns of its conversation go first.
const maxStoredBytes = 350 << 10

// maxStoredInput bounds the stored input items of one response (inline images
// are not kept), leaving the rest of maxStoredBytes to the object and its
// conversation.
const maxStoredInput = 100 << 10

// resolveInput reads what the request refers to in the store: the previous
// response (its conversation becomes the prompt's prefix, within the history
// window, as a session's does) and item references (each replaced by the
// stored item). It then checks every function_call_output against the calls
// before it and sets the prompt.
func (x *exchange) resolveInput(ctx context.Context, cfg *tenant.Config) error {
	rc := x.c.resp
	loaded := map[string]*responses.Stored{}
	load := func(id string) (*responses.Stored, error) {
		if st, ok := loaded[id]; ok {
			return st, nil
		}
		var st responses.Stored
		err := responses.ErrNotFound
		if x.h.Responses != nil {
			st, err = x.h.Responses.GetResponse(ctx, cfg.Scope(), id, x.start)
		}
		if err != nil {
			loaded[id] = nil
			if errors.Is(err, responses.ErrNotFound) {
				return nil, nil
			}
			return nil, apierr.StoreUnavailable("read a stored response", err)
		}
		loaded[id] = &st
		return &st, nil
	}
	var history []session.Turn
	if rc.previousID != "" {
		prev, err := load(rc.previousID)
		if err != nil {
			return err
		}
		if prev == nil {
			return notFound("previous_response_not_found", "previous_response_id", "Previous response", rc.previousID)
		}
		history = prev.Conversation
	}
	for i := range rc.items {
		in := &rc.items[i]
		if in.ref == "" {
			continue
		}
		respID, ok := responses.ResponseOfItem(in.ref)
		var st *responses.Stored
		if ok {
			var err error
			if st, err = load(respID); err != nil {
				return err
			}
		}
		var found bool
		if st != nil {
			if in.it, found = findItem(st, in.ref, in.param); found && in.it.Type == "" {
				return invalid("invalid_value", in.param+".id", "%s: the stored item %s cannot be read", in.param, clip(in.ref))
			}
		}
		if !found {
			return notFound("item_not_found", in.param+".id", "Item", in.ref)
		}
		in.ref = ""
	}
	if err := checkCallOutputs(history, rc.items); err != nil {
		return err
	}
	if rc.store && x.h.Responses != nil {
		// Refused now, not after the provider answered (and was paid): what
		// one stored response can hold. The stored form is kept for storing.
		var err error
		if rc.input, err = storedInput(rc); err != nil {
			return err
		}
		if n := len(rc.input); n > maxStoredInput {
			return invalid("input_too_large_to_store", "store", "store: the input items take %d KB stored, more than the %d KB one stored response holds; send them with store false", n>>10, maxStoredInput>>10)
		}
	}
	rc.sent = itemMessages(rc.items)
	rc.history = history
	var lead []chat.Message
	if n := len(x.c.req.Messages); n > 0 && x.c.req.Messages[0].Role == chat.RoleSystem && rc.echo.Instructions != nil {
		lead = x.c.req.Messages[:1]
	}
	prompt, _ := session.Prompt(history, rc.sent, x.h.SessionWindow)
	x.c.req.Messages = append(append([]chat.Message{}, lead...), prompt...)
	return nil
}

// findItem returns the item id of a stored response, from its output or its input.
func findItem(st *responses.Stored, id, param string) (item, bool) {
	var obj struct {
		Output []json.RawMessage `json:"output"`
	}
	var input []json.RawMessage
	_ = json.Unmarshal(st.Object, &obj)
	_ = json.Unmarshal(st.Input, &input)
	for _, raw := range append(obj.Output, input...) {
		var head struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &head) != nil || head.ID != id {
			continue
		}
		in, err := decodeStoredItem(raw, param)
		if err != nil {
			return item{}, true
		}
		return in.it, true
	}
	return item{}, false
}

// decodeStoredItem decodes an item as the gateway stored it: an inline image is
// kept without its data.
func decodeStoredItem(raw json.RawMessage, param string) (inItem, error) {
	return decodeItemFrom(raw, param, true)
}

// checkCallOutputs checks that every function_call_output answers a call made
// before it, in the continued conversation or in the input, and not answered yet.
func checkCallOutputs(history []session.Turn, items []inItem) error {
	open := map[string]bool{}
	for _, t := range history {
		for _, m := range t.Messages {
			for _, c := range m.ToolCalls {
				open[c.ID] = true
			}
			if m.Role == chat.RoleTool {
				delete(open, m.ToolCallID)
			}
		}
	}
	var order []string // open calls in the order they were made
	for id := range open {
		order = append(order, id)
	}
	slices.Sort(order)
	unanswered := func() error {
		for _, id := range order {
			if open[id] {
				return invalid("invalid_value", "input", "input: no tool output found for function call %s; send a function_call_output for it first", clip(id))
			}
		}
		return nil
	}
	for i := range items {
		it := &items[i].it
		switch it.Type {
		case "function_call":
			open[it.CallID] = true
			order = append(order, it.CallID)
		case "function_call_output":
			if !open[it.CallID] {
				p := items[i].param + ".call_id"
				return invalid("invalid_value", p, "%s: no tool call found for function call output with call_id %s", p, clip(it.CallID))
			}
			delete(open, it.CallID)
		case "message":
			// Every call must have its output before the conversation goes on,
			// as every provider requires.
			if err := unanswered(); err != nil {
				return err
			}
		}
	}
	return unanswered()
}

// storeResponse keeps a finished response, when the request asked for it: the
// object, the input items, and the conversation a later previous_response_id
// continues. Nothing is stored for a failed response.
func (x *exchange) storeResponse(ctx context.Context, o *responseObject) error {
	rc := x.c.resp
	if !rc.store || x.h.Responses == nil {
		return nil
	}
	// The stored object keeps every reasoning item's signature, so that an
	// item_reference to it sends the provider signed reasoning back; GET shows
	// it only when asked (include).
	stored := *o
	stored.Output = append([]item(nil), o.Output...)
	for i := range stored.Output {
		if it := &stored.Output[i]; it.Type == "reasoning" && it.Encrypted == "" && (it.sig != "" || len(it.redacted) > 0) {
			it.Encrypted = encodeEncrypted(it.sig, it.redacted)
		}
	}
	obj, err := json.Marshal(&stored)
	if err != nil {
		return err
	}
	in := rc.input // resolveInput made it
	now := x.h.Now()
	msgs := make([]session.Message, 0, len(rc.sent)+1)
	for i := range rc.sent {
		msgs = append(msgs, session.FromChat(&rc.sent[i], x.start)...)
	}
	if answer := outputMessage(rc.output); len(answer.Parts) > 0 {
		msgs = append(msgs, session.FromChat(&answer, now)...)
	}
	turns := append(append([]session.Turn{}, rc.history...), session.Turn{Messages: msgs})
	// The turns that fit the window, and the newest always: a later
	// function_call_output must find the calls it answers.
	_, left := session.Prompt(turns, nil, x.h.SessionWindow)
	turns = turns[min(left, len(turns)-1):]
	size := len(obj) + len(in)
	sizes := make([]int, len(turns))
	for i, t := range turns {
		b, _ := json.Marshal(t.Messages)
		sizes[i] = len(b)
		size += len(b)
	}
	for len(turns) > 1 && size > maxStoredBytes {
		size -= sizes[0]
		turns, sizes = turns[1:], sizes[1:]
	}
	st := &responses.Stored{ID: x.id, TenantID: x.scope, CreatedAt: x.start, ExpiresAt: now.Add(x.h.ResponseRetention),
		Object: obj, Input: in, Conversation: turns}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	if err := x.h.Responses.PutResponse(sctx, st); err != nil {
		x.h.Log.ErrorContext(sctx, "store response", "requestId", x.reqID, "err", err)
		return &apierr.Error{Kind: apierr.Unavailable, Code: "response_store_failed",
			Message: "the response could not be stored, so previous_response_id cannot continue it; send it again, or with store false", Err: err}
	}
	return nil
}

// storedOutput returns a function call output as it is stored: parts in their
// normal form, an inline image without its data, as in messages.
func storedOutput(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || raw[0] == '"' {
		return raw
	}
	parts, err := outputParts(raw, "", true)
	if err != nil {
		return raw
	}
	b, err := json.Marshal(parts)
	if err != nil {
		return raw
	}
	return b
}

// storedInput returns the request's input items as they are stored (and
// listed): each with its id, a function call output in its stored form.
func storedInput(rc *respCall) ([]byte, error) {
	input := make([]item, len(rc.items))
	for i := range rc.items {
		it := rc.items[i].it
		if it.ID == "" {
			it.ID = responses.ItemID(itemPrefix[it.Type], rc.key, responses.InputBase+i)
		}
		if it.Type == "function_call_output" {
			it.Output = storedOutput(it.Output)
		}
		input[i] = it
	}
	return json.Marshal(input)
}

// outputMessage returns the answer's output items as one assistant message.
func outputMessage(out []item) chat.Message {
	in := make([]inItem, len(out))
	for i := range out {
		in[i].it = out[i]
		in[i].it.Role = chat.RoleAssistant
	}
	if msgs := itemMessages(in); len(msgs) == 1 {
		return msgs[0]
	}
	return chat.Message{Role: chat.RoleAssistant}
}

// serveResponseGet answers GET /v1/responses/{id}.
func (h *Handler) serveResponseGet(w http.ResponseWriter, r *http.Request) {
	st, ok := h.storedResponse(w, r)
	if !ok {
		return
	}
	obj := st.Object
	if !slices.Contains(r.URL.Query()["include[]"], "reasoning.encrypted_content") && !slices.Contains(r.URL.Query()["include"], "reasoning.encrypted_content") {
		obj = withoutEncrypted(obj)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(obj)
}

// withoutEncrypted returns a stored Response object without its reasoning
// items' encrypted_content, as a client that did not ask for it sees it.
func withoutEncrypted(obj []byte) []byte {
	if !bytes.Contains(obj, []byte(`"encrypted_content"`)) {
		return obj
	}
	var o map[string]json.RawMessage
	var out []map[string]json.RawMessage
	if json.Unmarshal(obj, &o) != nil || json.Unmarshal(o["output"], &out) != nil {
		return obj
	}
	for _, it := range out {
		delete(it, "encrypted_content")
	}
	o["output"], _ = json.Marshal(out)
	b, err := json.Marshal(o)
	if err != nil {
		return obj
	}
	return b
}

// serveResponseDelete answers DELETE /v1/responses/{id}.
func (h *Handler) serveResponseDelete(w http.ResponseWriter, r *http.Request) {
	cfg, id, ok := h.responseID(w, r)
	if !ok {
		return
	}
	err := responses.ErrNotFound
	if h.Responses != nil {
		err = h.Responses.DeleteResponse(r.Context(), cfg.Scope(), id, h.Now())
	}
	switch {
	case errors.Is(err, responses.ErrNotFound):
		apierr.Write(w, notFound("not_found", "response_id", "Response", id))
	case err != nil:
		h.refuse(w, r, "delete response", apierr.StoreUnavailable("delete the response", err))
	default:
		web.JSON(w, http.StatusOK, struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Deleted bool   `json:"deleted"`
		}{id, "response", true})
	}
}

// serveInputItems answers GET /v1/responses/{id}/input_items: the request's
// input items, newest first unless order=asc, a page of limit (1-100, default
// 20) after or before an item id.
func (h *Handler) serveInputItems(w http.ResponseWriter, r *http.Request) {
	cfg, id, ok := h.responseID(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			apierr.Write(w, invalid("invalid_value", "limit", "limit must be an integer from 1 to 100"))
			return
		}
		limit = n
	}
	order := q.Get("order")
	switch order {
	case "":
		order = "desc"
	case "asc", "desc":
	default:
		apierr.Write(w, invalid("invalid_value", "order", "order must be asc or desc"))
		return
	}
	st, ok := h.loadStored(w, r, &cfg, id)
	if !ok {
		return
	}
	var items []json.RawMessage
	if err := json.Unmarshal(st.Input, &items); err != nil {
		h.refuse(w, r, "list input items", fmt.Errorf("decode stored input items: %w", err))
		return
	}
	if order == "desc" {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	ids := make([]string, len(items))
	for i, raw := range items {
		var head struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &head)
		ids[i] = head.ID
	}
	from, to := 0, len(items)
	for _, c := range []struct {
		param, id string
		after     bool
	}{{"after", q.Get("after"), true}, {"before", q.Get("before"), false}} {
		if c.id == "" {
			continue
		}
		at := -1
		for i, id := range ids {
			if id == c.id {
				at = i
			}
		}
		if at < 0 {
			apierr.Write(w, invalid("invalid_value", c.param, "%s: the response has no input item %s", c.param, clip(c.id)))
			return
		}
		if c.after {
			from = max(from, at+1)
		} else {
			to = min(to, at)
		}
	}
	page := []json.RawMessage{}
	if from < to {
		page = items[from:min(to, from+limit)]
	}
	out := struct {
		Object  string            `json:"object"`
		Data    []json.RawMessage `json:"data"`
		FirstID *string           `json:"first_id"`
		LastID  *string           `json:"last_id"`
		HasMore bool              `json:"has_more"`
	}{Object: "list", Data: page, HasMore: from < to && from+len(page) < to}
	if len(page) > 0 {
		out.FirstID, out.LastID = &ids[from], &ids[from+len(page)-1]
	}
	web.JSON(w, http.StatusOK, out)
}

// responseID authenticates the request and returns its response id.
func (h *Handler) responseID(w http.ResponseWriter, r *http.Request) (tenant.Config, string, bool) {
	cfg, err := h.Tenants.Authenticate(r)
	if err != nil {
		apierr.Write(w, err)
		return cfg, "", false
	}
	return cfg, r.PathValue("id"), true
}

// storedResponse authenticates the request and reads the response its path
// names; another tenant's is as absent as one that never was.
func (h *Handler) storedResponse(w http.ResponseWriter, r *http.Request) (responses.Stored, bool) {
	cfg, id, ok := h.responseID(w, r)
	if !ok {
		return responses.Stored{}, false
	}
	return h.loadStored(w, r, &cfg, id)
}

// loadStored reads the tenant's response id, answering the request when it
// cannot.
func (h *Handler) loadStored(w http.ResponseWriter, r *http.Request, cfg *tenant.Config, id string) (responses.Stored, bool) {
	if r.URL.Query().Get("stream") == "true" {
		apierr.Write(w, invalid("unsupported_parameter", "stream", "stream: replaying a stored response as events is not supported by this gateway"))
		return responses.Stored{}, false
	}
	err := responses.ErrNotFound
	var st responses.Stored
	if h.Responses != nil && responses.ValidID(id) {
		st, err = h.Responses.GetResponse(r.Context(), cfg.Scope(), id, h.Now())
	}
	switch {
	case errors.Is(err, responses.ErrNotFound):
		apierr.Write(w, notFound("not_found", "response_id", "Response", id))
		return st, false
	case err != nil:
		h.refuse(w, r, "read response", apierr.StoreUnavailable("read the response", err))
		return st, false
	}
	return st, true
}
