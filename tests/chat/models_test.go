package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"

	"github.com/tollgate/tollgate/shared/tenant"
)

// TestModelPrecedence checks request > MODEL_OVERRIDE > tenant models.default >
// DEFAULT_MODEL, through both APIs, streamed and not.
func TestModelPrecedence(t *testing.T) {
	t.Parallel()
	plain := newGateway(t, nil)
	override := newGateway(t, map[string]string{"MODEL_OVERRIDE": bedrockModel})
	keys := map[*gw][2]string{} // tenant with a default, tenant without
	for _, g := range []*gw{plain, override} {
		keys[g] = [2]string{
			g.tenant("withdefault", map[string]any{"default": "openai/gpt-a"}),
			g.tenant("nodefault", nil),
		}
	}
	tests := []struct {
		name      string
		g         *gw
		withDef   bool
		requested string
		model     string
		source    string
	}{
		{"request beats tenant", plain, true, "openai/gpt-b", "openai/gpt-b", "request"},
		{"tenant beats default", plain, true, "", "openai/gpt-a", "tenant"},
		{"default", plain, false, "", "echo/echo-1", "default"},
		{"request beats override", override, true, "openai/gpt-b", "openai/gpt-b", "request"},
		{"override beats tenant", override, true, "", bedrockModel, "override"},
		{"override beats default", override, false, "", bedrockModel, "override"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := keys[tt.g][1]
			if tt.withDef {
				key = keys[tt.g][0]
			}
			for _, stream := range []bool{false, true} {
				oa := map[string]any{"messages": userMessage("hi there"), "stream": stream}
				na := map[string]any{"messages": userMessage("hi there"), "stream": stream}
				if tt.requested != "" {
					oa["model"], na["modelId"] = tt.requested, tt.requested
				}
				for path, body := range map[string]any{"/v1/chat/completions": oa, "/chat": na} {
					r := tt.g.do("POST", path, key, body)
					if r.Status != 200 {
						t.Fatalf("%s stream=%v: %d %s", path, stream, r.Status, r.Body)
					}
					wantHeaders(t, r.Header, tt.model, tt.source, "1")
					if !stream {
						var m struct {
							Model string `json:"model"`
						}
						if err := json.Unmarshal(r.Body, &m); err != nil || m.Model != tt.model {
							t.Errorf("%s: model %q, want %q (%s)", path, m.Model, tt.model, r.Body)
						}
					}
				}
			}
		})
	}
}

func TestModelErrors(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	limited := g.tenant("limited", map[string]any{"allowed": []string{"echo/echo-1", "openai/gpt-a"}})
	retired := g.storeTenant(tenant.Config{ID: "retired", Models: tenant.Models{Default: "openai/gpt-retired"}})
	tests := []struct {
		name, key, model string
		status           int
		code             string
	}{
		{"no provider", limited, "gpt-4o", 400, "invalid_model"},
		{"unknown provider", limited, "azure/gpt-4o", 400, "invalid_model"},
		{"empty model part", limited, "openai/", 400, "invalid_model"},
		{"space in model", limited, "openai/gpt a", 400, "invalid_model"},
		{"uncatalogued", limited, "openai/gpt-5", 404, "model_not_found"},
		{"outside allowed", limited, "openai/gpt-b", 403, "model_not_allowed"},
		{"outside allowed, other provider", limited, bedrockModel, 403, "model_not_allowed"},
		{"uncatalogued tenant default", retired, "", 404, "model_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, stream := range []bool{false, true} {
				body := map[string]any{"messages": userMessage("hi"), "stream": stream}
				if tt.model != "" {
					body["model"] = tt.model
				}
				wantError(t, g.do("POST", "/v1/chat/completions", tt.key, body), tt.status, tt.code, "model")
			}
			body := map[string]any{"messages": userMessage("hi")}
			if tt.model != "" {
				body["modelId"] = tt.model
			}
			r := g.do("POST", "/chat", tt.key, body)
			if r.Status != tt.status {
				t.Errorf("/chat: status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
		})
	}
	if n := g.OpenAI.Calls("gpt-b") + g.OpenAI.Calls("gpt-5") + g.OpenAI.Calls("gpt-retired") + len(g.Bedrock.Requests()); n != 0 {
		t.Errorf("refused requests reached a provider %d times", n)
	}
}

func TestListModels(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	tests := []struct {
		name string
		key  string
		want []string
	}{
		{"allowed subset, in catalog order",
			g.tenant("limited", map[string]any{"allowed": []string{"openai/gpt-a", "echo/echo-1"}}),
			[]string{"echo/echo-1", "openai/gpt-a"}},
		{"no allow-list: the whole catalog", g.tenant("all", nil),
			[]string{"echo/echo-1", "openai/gpt-a", "openai/gpt-b", "openai/gpt-c", bedrockModel}},
		{"uncatalogued allowed models are left out",
			g.storeTenant(tenant.Config{ID: "stale", Models: tenant.Models{Allowed: []string{"openai/gpt-retired", bedrockModel}}}),
			[]string{bedrockModel}},
		{"nothing allowed any more",
			g.storeTenant(tenant.Config{ID: "empty", Models: tenant.Models{Allowed: []string{"openai/gpt-retired"}}}),
			[]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := g.do("GET", "/v1/models", tt.key, nil)
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			var list struct {
				Object string `json:"object"`
				Data   []struct {
					ID      string `json:"id"`
					Object  string `json:"object"`
					OwnedBy string `json:"owned_by"`
				} `json:"data"`
			}
			if err := json.Unmarshal(r.Body, &list); err != nil || list.Object != "list" || list.Data == nil {
				t.Fatalf("body %s (%v)", r.Body, err)
			}
			ids := []string{}
			for _, d := range list.Data {
				ids = append(ids, d.ID)
				if d.Object != "model" || d.OwnedBy == "" || d.OwnedBy != d.ID[:len(d.OwnedBy)] {
					t.Errorf("entry %+v", d)
				}
			}
			if diff := cmp.Diff(tt.want, ids); diff != "" {
				t.Errorf("models (-want +got):\n%s", diff)
			}

			// The SDK reads the same list.
			ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
			defer cancel()
			client := g.sdk(tt.key)
			page, err := client.Models.List(ctx)
			if err != nil {
				t.Fatalf("SDK Models.List: %v", err)
			}
			sdkIDs := []string{}
			for _, m := range page.Data {
				sdkIDs = append(sdkIDs, m.ID)
			}
			if diff := cmp.Diff(tt.want, sdkIDs); diff != "" {
				t.Errorf("SDK models (-want +got):\n%s", diff)
			}
		})
	}
	wantError(t, g.do("GET", "/v1/models", "", nil), 401, "invalid_api_key", "")
	wantError(t, g.do("GET", "/v1/models", "tg_nope", nil), 401, "invalid_api_key", "")
}

// TestRetrieveModel: the SDK's models.retrieve finds a model the tenant may use
// (its id holds a slash, and Bedrock's a colon), and 404s one it may not.
func TestRetrieveModel(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	client := g.sdk(g.tenant("retrieve", map[string]any{"allowed": []string{"echo/echo-1", bedrockModel}}))
	for _, id := range []string{"echo/echo-1", bedrockModel} {
		m, err := client.Models.Get(t.Context(), id)
		if err != nil || m.ID != id || m.OwnedBy != strings.SplitN(id, "/", 2)[0] {
			t.Errorf("models.retrieve(%q) = %+v, %v", id, m, err)
		}
	}
	_, err := client.Models.Get(t.Context(), "openai/gpt-a")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("a model the tenant may not use: %v, want 404 model_not_found", err)
	}
}
