package web_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/shared/web"
)

func TestWrapPanics(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	before := web.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }), log, "t")
	w := httptest.NewRecorder()
	before.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"internal error"`) || strings.Contains(w.Body.String(), "boom") {
		t.Errorf("panic before the status: %d %s", w.Code, w.Body)
	}
	if w.Header().Get(web.HeaderRequestID) == "" || !strings.Contains(logs.String(), `"status":500`) {
		t.Errorf("no request id or log line: %s", logs.String())
	}

	after := web.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "data: 1\n\n")
		panic("boom")
	}), log, "t")
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("a panic after the status was committed was swallowed (%v): the stream would end cleanly", p)
			}
		}()
		after.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	}()
}

func TestRoutesAndBody(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /things", func(w http.ResponseWriter, r *http.Request) {
		if _, err := web.ReadBody(r, 10); err != nil {
			t.Logf("ReadBody: %v", err)
			w.WriteHeader(413)
		}
	})
	h := web.Routes(mux)
	for _, tt := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/nope", "", 404, `"route_not_found"`},
		{"GET", "/things", "", 405, `"method_not_allowed"`},
		{"POST", "/things", strings.Repeat("x", 11), 413, ""},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
		if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("%s %s = %d %s", tt.method, tt.path, w.Code, w.Body)
		}
	}
}

// TestLogRequestIDOnce: every line logged while serving a request carries its
// requestId once, also when the line names it itself.
func TestLogRequestIDOnce(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(web.LogHandler(slog.NewJSONHandler(&logs, nil)))
	h := web.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "plain")
		log.InfoContext(r.Context(), "named", "requestId", web.InfoFrom(r.Context()).RequestID)
	}), log, "t")
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil))
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), logs.String())
	}
	for _, l := range lines {
		if n := strings.Count(l, `"requestId"`); n != 1 {
			t.Errorf("requestId %d times in %s", n, l)
		}
	}
}
