// Package money holds amounts of US dollars as integer micro-dollars, so that
// the ledger never rounds a float, and the price table that turns tokens into
// them.
package money

import (
	"errors"
	"strconv"
	"strings"
)

// Micros is an amount in millionths of a US dollar.
type Micros int64

// PerMillion is how many tokens a price is for.
const PerMillion = 1_000_000

// ErrAmount is returned for an amount that is not a non-negative decimal with at
// most six decimal places.
var ErrAmount = errors.New("not a non-negative amount of US dollars with at most 6 decimal places")

// maxDollars keeps amounts far from overflow: a price or a budget of a
// trillion dollars is a typo.
const maxDollars = 1_000_000_000_000

// Parse reads a decimal amount of dollars ("0.8", "15", "0.000125", "1e-3" is
// refused) exactly.
func Parse(s string) (Micros, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") || len(frac) > 6 || !digits(whole) || !digits(frac) {
		return 0, ErrAmount
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > maxDollars {
		return 0, ErrAmount
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	return Micros(w*1_000_000 + f), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats m as dollars with six decimal places: "0.000125".
func (m Micros) String() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return sign + strconv.FormatInt(int64(m)/1_000_000, 10) + "." + pad6(int64(m)%1_000_000)
}

func pad6(n int64) string {
	s := strconv.FormatInt(n, 10)
	return strings.Repeat("0", 6-len(s)) + s
}

// MarshalJSON writes m as a JSON number of dollars, exactly: 0.000125.
func (m Micros) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalJSON reads a JSON number (or string) of dollars, exactly.
func (m *Micros) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Price is a model's price, per million tokens.
type Price struct {
	Input       Micros `json:"input"`                 // prompt tokens
	Output      Micros `json:"output"`                // completion tokens
	CachedInput Micros `json:"cachedInput,omitempty"` // prompt tokens read from the provider's cache (0: as Input)
	Embedding   Micros `json:"embedding,omitempty"`   // embedded tokens (0: as Input)
}

// Cost is what a chat answer costs: input tokens (cached of them read from the
// provider's cache) and output tokens, rounded up to the micro-dollar.
func (p Price) Cost(input, cached, output int64) Micros {
	cached = min(max(cached, 0), input)
	cachedPrice := p.CachedInput
	if cachedPrice == 0 {
		cachedPrice = p.Input
	}
	return ceilDiv(int64(p.Input)*(input-cached)+int64(cachedPrice)*cached+int64(p.Output)*output, PerMillion)
}

// EmbeddingCost is what embedding tokens cost, rounded up.
func (p Price) EmbeddingCost(tokens int64) Micros {
	price := p.Embedding
	if price == 0 {
		price = p.Input
	}
	return ceilDiv(int64(price)*tokens, PerMillion)
}

// MaxInput is the highest price one input token may cost (cached or not).
func (p Price) MaxInput() Micros { return max(p.Input, p.CachedInput, p.Embedding) }

func ceilDiv(a, b int64) Micros {
	if a <= 0 {
		return 0
	}
	return Micros((a + b - 1) / b)
}
