package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/money"
	"github.com/tollgate/tollgate/shared/web"
)

// PriceStore keeps the prices operators set. *dynamo.Store implements it.
type PriceStore interface {
	ListPrices(ctx context.Context) (money.Table, error)
	PutPrice(ctx context.Context, model string, p money.Price, now time.Time) error
	DeletePrice(ctx context.Context, model string) (bool, error)
}

// GET /admin/prices: the price table in force, every model with its source.
func (h handler) listPrices(w http.ResponseWriter, r *http.Request) error {
	set, err := h.Store.ListPrices(r.Context())
	if err != nil {
		return err
	}
	web.JSON(w, http.StatusOK, List[money.Entry]{Object: "list", Data: money.Merge(h.Prices, set).Sorted()})
	return nil
}

// priceModel is the model a prices route names: a provider/model name.
func priceModel(r *http.Request) (string, error) {
	m := r.PathValue("model")
	if _, err := model.Parse(m); err != nil {
		return "", apierr.InvalidParam("invalid_model", "model", "the path must name a provider/model, e.g. /admin/prices/bedrock/amazon.nova-lite-v1:0: "+err.Error())
	}
	return m, nil
}

// PUT /admin/prices/{provider}/{model}: set a model's price (USD per million
// tokens), over MODEL_PRICES and the shipped defaults.
func (h handler) putPrice(w http.ResponseWriter, r *http.Request) error {
	m, err := priceModel(r)
	if err != nil {
		return err
	}
	body, err := web.ReadBody(r, h.MaxRequestBytes)
	if err != nil {
		return err
	}
	p, err := money.ParsePrice(body)
	if err != nil {
		return apierr.InvalidParam("invalid_price", "", err.Error())
	}
	if err := h.Store.PutPrice(r.Context(), m, p, h.Now()); err != nil {
		return err
	}
	h.changed()
	web.JSON(w, http.StatusOK, money.Entry{Model: m, Price: p, Source: money.SourceAdmin})
	return nil
}

// DELETE /admin/prices/{provider}/{model}: drop the price an operator set, so
// MODEL_PRICES or the shipped default applies again.
func (h handler) deletePrice(w http.ResponseWriter, r *http.Request) error {
	m, err := priceModel(r)
	if err != nil {
		return err
	}
	found, err := h.Store.DeletePrice(r.Context(), m)
	if err != nil {
		return err
	}
	if !found {
		return apierr.New(apierr.NotFound, "price_not_found", "no price was set for "+m+" through this API")
	}
	h.changed()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h handler) changed() {
	if h.PricesChanged != nil {
		h.PricesChanged()
	}
}
