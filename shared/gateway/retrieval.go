package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/knowledge"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/vectors"
	"github.com/tollgate/tollgate/shared/web"
)

// Retriever searches a tenant's vector stores. *knowledge.Service implements it.
type Retriever interface {
	Search(ctx context.Context, cfg *tenant.Config, q knowledge.Query) ([]vectors.Match, error)
}

// RouteFileSearch is the usage records' route of a chat request's retrieval
// embedding.
const RouteFileSearch = "chat.file_search"

// retrieval is what a chat request asks to retrieve: the file_search tool of
// /v1/chat/completions, knowledge on /chat, or the tenant's default stores.
type retrieval struct {
	storeIDs       []string
	maxResults     int
	filter         *vectors.Filter
	filters        json.RawMessage // the filter as the request sent it, which the Responses API echoes
	scoreThreshold float64
	param          string // where the request named the stores, for errors
	// tenantDefault: the tenant's configured stores, not the request's.
	tenantDefault bool
	// query is what was searched ("" until retrieve ran, or when the request
	// had no user text); matches what it found.
	query   string
	matches []vectors.Match
}

// fileSearchTool is the file_search tool's fields (other than type), in
// Chat Completions (as LiteLLM takes it) and the Responses API.
type fileSearchTool struct {
	VectorStoreIDs []string        `json:"vector_store_ids"`
	MaxNumResults  *int64          `json:"max_num_results"`
	Filters        json.RawMessage `json:"filters"`
	RankingOptions json.RawMessage `json:"ranking_options"`
}

// decodeFileSearch checks a file_search tool at p.
func decodeFileSearch(t *fileSearchTool, p string) (*retrieval, error) {
	rv, err := decodeRetrieval(t.VectorStoreIDs, t.MaxNumResults, p+".vector_store_ids", p+".max_num_results")
	if err != nil {
		return nil, err
	}
	if !isNull(t.Filters) {
		if rv.filter, err = vectors.ParseFilter(t.Filters); err != nil {
			return nil, invalid("invalid_value", p+".filters", "%s.filters: %s", p, err.Error())
		}
	}
	if !isNull(t.RankingOptions) {
		var o knowledge.RankingOptions
		q := p + ".ranking_options"
		if err := strictUnmarshal(t.RankingOptions, &o, q); err != nil {
			return nil, err
		}
		var field, problem string
		if rv.scoreThreshold, field, problem = o.Threshold(); field != "" {
			return nil, invalid("invalid_value", q+"."+field, "%s.%s %s", q, field, problem)
		}
	}
	rv.filters = t.Filters
	return rv, nil
}

// searchOnlyChoice makes a tool choice of auto or required on a request whose
// only tool is file_search (as the AI SDK sends it) the default: Tollgate runs
// the search itself, and the model gets no tool to call.
func (c *call) searchOnlyChoice() {
	if m := c.req.ToolChoice.Mode; c.retrieval != nil && len(c.req.Tools) == 0 && (m == chat.ToolChoiceAuto || m == chat.ToolChoiceRequired) {
		c.req.ToolChoice = chat.ToolChoice{}
	}
}

// defaultMaxResults is how many chunks a retrieval adds when the request and
// the tenant say nothing.
const defaultMaxResults = 5

// maxStores bounds the vector stores one request searches.
const maxStores = 10

// decodeRetrieval checks a request's vector store ids and result count.
func decodeRetrieval(ids []string, maxResults *int64, param, maxParam string) (*retrieval, error) {
	if len(ids) == 0 {
		return nil, invalid("missing_required_parameter", param, "%s must name at least one vector store", param)
	}
	if len(ids) > maxStores {
		return nil, invalid("invalid_value", param, "%s may name at most %d vector stores", param, maxStores)
	}
	for i, id := range ids {
		if !knowledge.ValidID(knowledge.StorePrefix, id) {
			p := fmt.Sprintf("%s[%d]", param, i)
			return nil, &apierr.Error{Kind: apierr.NotFound, Code: "not_found", Param: p,
				Message: fmt.Sprintf("%s: No vector store found with id '%s'.", p, clip(id))}
		}
	}
	r := &retrieval{storeIDs: ids, maxResults: defaultMaxResults, param: param}
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > vectors.MaxTopK {
			return nil, invalid("invalid_value", maxParam, "%s must be from 1 to %d", maxParam, vectors.MaxTopK)
		}
		r.maxResults = int(*maxResults)
	}
	return r, nil
}

// retrieve runs the request's retrieval before admission: it embeds the last
// user message (metered as its own embedding call), searches the stores, and
// adds what it found to the prompt as numbered sources after the leading
// system messages, so the retrieved text counts in the prompt's bound and the
// budget like any other. A request that asks for nothing, or has no user text,
// retrieves nothing.
func (x *exchange) retrieve(ctx context.Context, cfg *tenant.Config) error {
	rv := x.c.retrieval
	if rv == nil && len(cfg.Knowledge.VectorStoreIDs) > 0 {
		rv = &retrieval{storeIDs: cfg.Knowledge.VectorStoreIDs, maxResults: int(cfg.Knowledge.MaxResults), param: "knowledge.vectorStoreIds",
			tenantDefault: true}
		if rv.maxResults == 0 {
			rv.maxResults = defaultMaxResults
		}
	}
	if rv == nil {
		return nil
	}
	err := x.retrieveFrom(ctx, cfg, rv)
	var ae *apierr.Error
	if rv.tenantDefault && errors.As(err, &ae) && (ae.Kind == apierr.NotFound || ae.Kind == apierr.Invalid) {
		// The tenant's own default stores, gone, expired or not served here:
		// the request did not ask for them, so it is answered without them.
		x.h.Log.WarnContext(ctx, "default vector stores skipped", "tenantId", cfg.ID, "err", ae.Message)
		return nil
	}
	return err
}

func (x *exchange) retrieveFrom(ctx context.Context, cfg *tenant.Config, rv *retrieval) error {
	if x.h.Knowledge == nil {
		return invalid("unsupported_parameter", rv.param, "%s: this deployment has no knowledge base", rv.param)
	}
	query := ""
	msgs := x.requestMessages()
	for i := len(msgs) - 1; i >= 0 && query == ""; i-- {
		if msgs[i].Role == chat.RoleUser {
			query = strings.TrimSpace(msgs[i].Text())
		}
	}
	if query == "" {
		return nil
	}
	rv.query = clipQuery(query)
	info := web.InfoFrom(x.r.Context())
	matches, err := x.h.Knowledge.Search(ctx, cfg, knowledge.Query{StoreIDs: rv.storeIDs, Queries: []string{rv.query},
		MaxResults: rv.maxResults, Filter: rv.filter, ScoreThreshold: rv.scoreThreshold,
		Meta: budget.Meta{KeyID: info.Key(), User: x.c.req.User, Route: RouteFileSearch}})
	var nf *knowledge.NotFound
	switch {
	case errors.As(err, &nf):
		i := 0
		for j, id := range rv.storeIDs {
			if id == nf.ID {
				i = j
			}
		}
		p := fmt.Sprintf("%s[%d]", rv.param, i)
		return &apierr.Error{Kind: apierr.NotFound, Code: "not_found", Param: p,
			Message: fmt.Sprintf("%s: No vector store found with id '%s'.", p, nf.ID)}
	case errors.Is(err, knowledge.ErrExpired):
		return invalid("vector_store_expired", rv.param, "%s", err.Error())
	case err != nil:
		var ae *apierr.Error
		if errors.As(err, &ae) {
			return ae
		}
		return apierr.StoreUnavailable("search the vector stores", err)
	}
	rv.matches = matches
	if len(matches) == 0 {
		return nil
	}
	x.c.req.Sources = make([]chat.Source, len(matches))
	for i, m := range matches {
		x.c.req.Sources[i] = chat.Source{FileID: m.FileID, Filename: m.Filename, Text: m.Text, Score: m.Score}
	}
	msg := chat.SourcesMessage(x.c.req.Sources)
	at := 0
	for at < len(x.c.req.Messages) && x.c.req.Messages[at].Role == chat.RoleSystem {
		at++
	}
	x.c.req.Messages = append(x.c.req.Messages[:at:at], append([]chat.Message{msg}, x.c.req.Messages[at:]...)...)
	return nil
}

// maxQueryBytes bounds the text a retrieval embeds: the end of a long message
// (where its question usually is).
const maxQueryBytes = 8 << 10

func clipQuery(q string) string {
	if len(q) <= maxQueryBytes {
		return q
	}
	q = q[len(q)-maxQueryBytes:]
	for len(q) > 0 && !utf8.RuneStart(q[0]) {
		q = q[1:]
	}
	return q
}

// citationMarker is a source's number in brackets, as SourcesMessage asks
// models to cite.
var citationMarker = regexp.MustCompile(`\[(\d{1,2})\]`)

// citation is one source an answer cites: its number, and where in the text
// (in characters) the first marker citing it starts.
type citation struct {
	source chat.Source
	number int
	index  int
}

// citations returns the sources text cites, in the order of their first
// marker.
func citations(text string, sources []chat.Source) []citation {
	var out []citation
	seen := map[int]bool{}
	for _, loc := range citationMarker.FindAllStringSubmatchIndex(text, -1) {
		n, _ := strconv.Atoi(text[loc[2]:loc[3]])
		if n < 1 || n > len(sources) || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, citation{source: sources[n-1], number: n, index: utf8.RuneCountInString(text[:loc[0]])})
	}
	return out
}

// fileCitation is one of a message's annotations: a file the answer cites
// (the shape of OpenAI's url_citation, with the Responses API's file fields).
type fileCitation struct {
	Type         string `json:"type"` // file_citation
	FileCitation struct {
		FileID   string `json:"file_id"`
		Filename string `json:"filename"`
		Index    int    `json:"index"`
	} `json:"file_citation"`
}

func annotationsOf(cs []citation) []fileCitation {
	out := make([]fileCitation, len(cs))
	for i, c := range cs {
		out[i].Type = "file_citation"
		out[i].FileCitation.FileID, out[i].FileCitation.Filename, out[i].FileCitation.Index = c.source.FileID, c.source.Filename, c.index
	}
	return out
}

// nativeCitation is one retrieved source on the native API: every source the
// prompt held, and whether the answer cites it.
type nativeCitation struct {
	Number   int     `json:"number"`
	FileID   string  `json:"fileId"`
	Filename string  `json:"filename"`
	Score    float64 `json:"score"`
	Text     string  `json:"text"`
	Cited    bool    `json:"cited"`
}

func nativeCitations(text string, sources []chat.Source) []nativeCitation {
	cited := map[int]bool{}
	for _, c := range citations(text, sources) {
		cited[c.number] = true
	}
	out := make([]nativeCitation, len(sources))
	for i, s := range sources {
		out[i] = nativeCitation{Number: i + 1, FileID: s.FileID, Filename: s.Filename, Score: s.Score, Text: s.Text, Cited: cited[i+1]}
	}
	return out
}
