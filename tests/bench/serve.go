package bench

import (
	"net"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/gateway"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/provider/openai"
	"github.com/tollgate/tollgate/shared/web"
)

// Handler returns the handler the local server runs for a. Governed, it is
// a.Local() itself: every route, with budgets, rate limits and metering. Not
// governed, it is the chat routes wired as the App wires them (app.App.ChatDeps),
// but with no Ledger (gateway.Deps.Ledger nil: no admission or
// settlement writes), behind the same web.Wrap; logs and EMF metrics stay on.
func Handler(a *app.App, governed bool) http.Handler {
	if governed {
		return a.Local()
	}
	d := a.ChatDeps()
	d.Ledger = nil
	mux := http.NewServeMux()
	h := gateway.New(d)
	h.Register(mux)
	h.RegisterEmbeddings(mux)
	return web.Wrap(web.Routes(mux), a.Log, "local")
}

// PoolTransport replaces a's OpenAI-compatible provider with one whose HTTP
// transport keeps idle connections per host, to check what connection reuse to
// the provider is worth. (app.App's own client keeps 256 since it got
// providerClient; before, http.DefaultTransport kept 2.)
func PoolTransport(a *app.App, idle int) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = idle
	t.MaxIdleConnsPerHost = idle
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	a.Providers[model.OpenAI] = openai.New(&http.Client{Transport: t}, a.Config.OpenAIBaseURL, a.Config.OpenAIAPIKey)
}
