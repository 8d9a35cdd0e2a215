package knowledge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/vectors"
)

// touchEvery is how stale a store's last activity may be before a search
// records it: at most one write per store per interval, not one per search
// (expiry counts in days).
const touchEvery = time.Hour

// ErrExpired is returned for a search of an expired vector store.
var ErrExpired = errors.New("knowledge: vector store expired")

// RankingOptions are OpenAI's ranking_options of a search and of a
// file_search tool. Every ranker OpenAI names is taken; matches are ranked by
// the store's similarity whichever is named.
type RankingOptions struct {
	Ranker         *string  `json:"ranker"`
	ScoreThreshold *float64 `json:"score_threshold"`
}

// Threshold returns the score threshold o sets (0: none), or the field at
// fault ("ranker" or "score_threshold") and what is wrong with it.
func (o *RankingOptions) Threshold() (threshold float64, field, problem string) {
	if o.Ranker != nil && *o.Ranker != "auto" && *o.Ranker != "none" && *o.Ranker != "default-2024-11-15" {
		return 0, "ranker", "must be auto, none or default-2024-11-15"
	}
	if t := o.ScoreThreshold; t != nil {
		if *t < 0 || *t > 1 {
			return 0, "score_threshold", "must be from 0 to 1"
		}
		threshold = *t
	}
	return threshold, "", ""
}

// Query is one search of one or more stores.
type Query struct {
	StoreIDs   []string
	Queries    []string // each embedded and searched; a chunk's score is its best
	MaxResults int      // 1..vectors.MaxTopK
	Filter     *vectors.Filter
	// ScoreThreshold drops matches scoring below it (0: none).
	ScoreThreshold float64
	Meta           budget.Meta
}

// Search embeds the queries with each store's model (metered) and returns the
// best MaxResults chunks of the stores, best first. Every store must be the
// tenant's: another tenant's id is ErrNotFound, as a missing one.
func (s *Service) Search(ctx context.Context, cfg *tenant.Config, q Query) ([]vectors.Match, error) {
	scope := cfg.Scope()
	stores := make([]VectorStore, len(q.StoreIDs))
	for i, id := range q.StoreIDs {
		v, err := s.Store.GetStore(ctx, scope, id)
		if err != nil {
			return nil, Missing(err, "vector store", id)
		}
		if v.Status(s.Now()) == "expired" {
			return nil, fmt.Errorf("vector store %s: %w", id, ErrExpired)
		}
		stores[i] = v
	}
	meta := q.Meta
	if meta.Route == "" {
		meta.Route = RouteSearch
	}
	// One embedding call per model (stores usually share one).
	byModel := map[string][][]float32{}
	best := map[string]vectors.Match{} // by store and chunk key
	for _, v := range stores {
		vecs, ok := byModel[v.Model]
		if !ok {
			m, err := model.Parse(v.Model)
			if err != nil {
				return nil, fmt.Errorf("vector store %s: model %q: %w", v.ID, v.Model, err)
			}
			if vecs, err = s.Embedder.Embed(ctx, cfg, m, q.Queries, "search_query", meta); err != nil {
				return nil, err
			}
			byModel[v.Model] = vecs
		}
		// Only completed files answer: chunks of a file still being ingested,
		// or of one detached while its ingestion ran, are not the store's.
		files, err := s.Store.ListStoreFiles(ctx, scope, v.ID)
		if err != nil {
			return nil, err
		}
		done := map[string]bool{}
		for _, f := range files {
			if f.Status == Completed {
				done[f.FileID] = true
			}
		}
		if len(done) == 0 {
			continue
		}
		k := q.MaxResults
		if len(done) < len(files) {
			k = vectors.MaxTopK // room for the chunks that do not answer
		}
		for _, vec := range vecs {
			ms, err := s.Vectors.Query(ctx, v.ID, vec, k, q.Filter)
			if errors.Is(err, vectors.ErrNoIndex) {
				continue // no file ingested yet
			}
			if err != nil {
				return nil, err
			}
			for _, m := range ms {
				if !done[m.FileID] {
					continue
				}
				k := v.ID + "\x00" + m.Key
				if old, ok := best[k]; !ok || m.Score > old.Score {
					best[k] = m
				}
			}
		}
		if s.Now().Sub(v.LastActiveAt) >= touchEvery {
			_ = s.Store.TouchStore(ctx, scope, v.ID, s.Now())
		}
	}
	out := make([]vectors.Match, 0, len(best))
	for _, m := range best {
		if m.Score >= q.ScoreThreshold {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b vectors.Match) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	if len(out) > q.MaxResults {
		out = out[:q.MaxResults]
	}
	return out, nil
}
