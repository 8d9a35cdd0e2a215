package dynamo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/ratelimit"
)

// Usage items (the admission item): pk TENANT#<scope>, sk USAGE#<yyyy-mm>, one per
// tenant per UTC month. In one item, so that one conditional UpdateItem admits a
// request against every limit at once. It holds only what admission decides on,
// so its size does not grow with traffic, the day of the month or the number of
// models (about 200 bytes plus the reservations in flight):
//
//	used               committed tokens this month (settled + reserved)
//	used#<dd>          committed tokens on day dd, for today and yesterday only:
//	                   an admission removes the older ones it saw last
//	cost, cost#<dd>    the same in micro-dollars, for a tenant with a money budget
//	res#<requestId>    a reservation: {n: tokens, c: micro-dollars (with a money
//	                   budget), day: dd, at: admission (unix ns), lease: unix
//	                   seconds}, and once a long stream checkpoints what it
//	                   served: {in, out, model, cost}
//	tat#requests       rate-limit state (GCRA theoretical arrival time, ns)
//	tat#tokens
//	ttl                expiry (epoch seconds), 400 days after the month ends
//
// What requests used is in their usage records (records.go), written before
// their reservation is closed. See docs/budgets.md and
// docs/adrs/0004-rate-limits.md.
const (
	attrUsed = "used"
	attrCost = "cost"
	attrTTL  = AttrTTL
)

func usageSK(month string) string { return "USAGE#" + month }

// hint is what this process last saw of a tenant's usage item; it only chooses
// the form of the next conditional write, never decides admission.
type hint struct {
	day  string // the day used.Day and used.CostDay are of
	used budget.Used
	tats map[string]int64
	// stale names the day counters of days before yesterday the item held:
	// the next admission removes them, so the item keeps two days' counters.
	stale []string
}

// staleDays returns the names of item's day counters (used#dd, cost#dd) of
// days before yesterday: a reservation of yesterday may still settle, and a
// later day's counter (an instance whose clock is ahead, at midnight) is
// never stale.
func staleDays(item map[string]types.AttributeValue, ps budget.Periods) []string {
	today, _ := strconv.Atoi(ps.Day)
	var out []string
	for name := range item {
		kind, dd, ok := strings.Cut(name, "#")
		if !ok || (kind != attrUsed && kind != attrCost) {
			continue
		}
		if d, err := strconv.Atoi(dd); err == nil && d < today-1 {
			out = append(out, name)
		}
	}
	return out
}

type hints struct {
	mu sync.Mutex
	m  map[string]hint // by pk+sk
}

func (h *hints) get(k string) hint {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[k]
}

func (h *hints) put(k string, v hint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) > 100_000 {
		h.m = map[string]hint{}
	}
	h.m[k] = v
}

// maxAdmitTries bounds the write-read-write loop under contention.
const maxAdmitTries = 8

// Admit reserves the request's tokens against the tenant's daily and monthly
// budgets and takes its share of the rate limits, all in one conditional
// UpdateItem on the tenant's usage item for the month. When the budget cannot take
// the requested output but can take the prompt plus the minimum output, the output
// is clamped to what remains. Refusals are *budget.ExhaustedError or
// *ratelimit.LimitedError; nothing is written for them.
//
// The first write is shaped by this process's last view of the item; when its
// condition fails, one consistent read tells why: a refusal, or a stale view, in
// which case the write is retried with the fresh one.
func (s *Store) Admit(ctx context.Context, a budget.Admission) (budget.Admitted, error) {
	ps := budget.PeriodsAt(a.Now)
	pk, sk := tenantPK(a.TenantID), usageSK(ps.Month)
	now := ratelimit.Nanos(a.Now)
	for _, c := range a.Rates {
		if !c.Fits() {
			return budget.Admitted{}, &ratelimit.LimitedError{Dimension: c.Name, Limit: c.Limit, Units: c.Units}
		}
	}
	view := s.hints.get(pk + sk)
	if view.day != ps.Day {
		// A view of another day says nothing of this one's: assume it empty.
		// The write's condition still holds the budget; a refusal re-reads.
		view.used.Day, view.used.CostDay = 0, 0
	}
	for try := 0; try < maxAdmitTries; try++ {
		output, err := a.Budget.Fit(view.used, a.Prompt, a.MaxOutput, a.Now)
		if err != nil {
			if try == 0 { // a stale view may be pessimistic: check before refusing
				if view, err = s.readView(ctx, pk, sk, ps); err != nil {
					return budget.Admitted{}, err
				}
				continue
			}
			return budget.Admitted{}, err
		}
		if try > 0 {
			for _, c := range a.Rates {
				if ok, retry := c.Admit(view.tats[c.Name], now); !ok {
					return budget.Admitted{}, &ratelimit.LimitedError{Dimension: c.Name, Limit: c.Limit, Units: c.Units, RetryAfter: retry}
				}
			}
		}
		amount := a.Prompt + output
		var cost int64 // the worst case in micro-dollars, reserved by a money budget
		if a.Budget.Costed() {
			cost = a.Budget.ReserveCost(a.Prompt, output)
		}
		out, err := s.admitWrite(ctx, a, ps, pk, sk, amount, cost, view, now)
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			// DynamoDB returns the item that failed the condition (dynalite does
			// not): the fresh view without a second round trip.
			item := ccf.Item
			if item == nil {
				if item, err = s.readItem(ctx, pk, sk); err != nil {
					return budget.Admitted{}, err
				}
			}
			// The SDK retried a write that had landed (its answer was lost or
			// late): the reservation is this request's own, so it is admitted.
			rec, mine := item["res#"+a.RequestID].(*types.AttributeValueMemberM)
			if !mine {
				view = decodeView(item, ps)
				continue
			}
			out = item
			amount = getN(rec.Value, "n") // the landed write's (its output may have been clamped otherwise)
			output = amount - a.Prompt
			cost = getN(rec.Value, "c")
		} else if err != nil {
			return budget.Admitted{}, fmt.Errorf("dynamo: admit %s: %w", a.RequestID, err)
		}
		fresh := hint{day: ps.Day, used: usedOf(out, ps.Day), tats: map[string]int64{}, stale: staleDays(out, ps)}
		adm := budget.Admitted{
			Reservation: budget.Reservation{TenantID: a.TenantID, RequestID: a.RequestID, Month: ps.Month, Day: ps.Day,
				At: a.Now, Meta: a.Meta, Tokens: amount, Cost: cost, Used: fresh.used},
			Output:  output,
			Clamped: output < a.MaxOutput,
			Rates:   map[string]ratelimit.State{},
		}
		for _, c := range a.Rates {
			tat := getN(out, "tat#"+c.Name)
			fresh.tats[c.Name] = tat
			adm.Rates[c.Name] = c.StateAt(tat, now)
			if c.Name == ratelimit.Tokens {
				adm.Reservation.TokenRate = c
			}
		}
		s.hints.put(pk+sk, fresh)
		return adm, nil
	}
	return budget.Admitted{}, fmt.Errorf("dynamo: admit %s: still contended after %d tries", a.RequestID, maxAdmitTries)
}

func (s *Store) admitWrite(ctx context.Context, a budget.Admission, ps budget.Periods, pk, sk string, amount, cost int64, view hint, now int64) (map[string]types.AttributeValue, error) {
	names := map[string]string{"#used": attrUsed, "#day": "used#" + ps.Day, "#res": "res#" + a.RequestID, "#ttl": attrTTL}
	rec := map[string]types.AttributeValue{
		"n": num(amount), "day": str(ps.Day), "at": num(a.Now.UnixNano()), "lease": num(a.Now.Add(a.Lease).Unix()),
	}
	values := map[string]types.AttributeValue{
		":amt": num(amount),
		":rec": &types.AttributeValueMemberM{Value: rec},
		":ttl": num(ps.MonthReset.AddDate(0, 0, 400).Unix()),
	}
	add := []string{"#used :amt", "#day :amt"}
	set := []string{"#res = :rec", "#ttl = if_not_exists(#ttl, :ttl)"}
	var remove []string
	for i, name := range view.stale {
		if name == "used#"+ps.Day || name == attrCost+"#"+ps.Day {
			continue // written here: a view of another day may name it
		}
		n := "#old" + strconv.Itoa(i)
		names[n] = name
		remove = append(remove, n)
	}
	cond := []string{"attribute_not_exists(#res)"}
	if a.Budget.Daily > 0 {
		values[":dmax"] = num(a.Budget.Daily - amount)
		cond = append(cond, "(attribute_not_exists(#day) OR #day <= :dmax)")
	}
	if a.Budget.Monthly > 0 {
		values[":mmax"] = num(a.Budget.Monthly - amount)
		cond = append(cond, "(attribute_not_exists(#used) OR #used <= :mmax)")
	}
	if a.Budget.Costed() {
		rec["c"] = num(cost)
		names["#cost"], names["#cday"], values[":camt"] = attrCost, "cost#"+ps.Day, num(cost)
		add = append(add, "#cost :camt", "#cday :camt")
		if a.Budget.CostDaily > 0 {
			values[":cdmax"] = num(a.Budget.CostDaily - cost)
			cond = append(cond, "(attribute_not_exists(#cday) OR #cday <= :cdmax)")
		}
		if a.Budget.CostMonthly > 0 {
			values[":cmmax"] = num(a.Budget.CostMonthly - cost)
			cond = append(cond, "(attribute_not_exists(#cost) OR #cost <= :cmmax)")
		}
	}
	if len(a.Rates) > 0 {
		values[":now"] = num(now)
	}
	for i, c := range a.Rates {
		n, inc := "#tat"+strconv.Itoa(i), ":inc"+strconv.Itoa(i)
		names[n] = "tat#" + c.Name
		if ratelimit.Guess(view.tats[c.Name], now) == ratelimit.Busy {
			mx := ":max" + strconv.Itoa(i)
			values[inc], values[mx] = num(c.Increment()), num(c.BusyMax(now))
			add = append(add, n+" "+inc)
			cond = append(cond, "("+n+" > :now AND "+n+" <= "+mx+")")
		} else {
			values[inc] = num(now + c.Increment())
			set = append(set, n+" = "+inc)
			cond = append(cond, "(attribute_not_exists("+n+") OR "+n+" <= :now)")
		}
	}
	update := "ADD " + strings.Join(add, ", ") + " SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	res, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(pk, sk),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(strings.Join(cond, " AND ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		// The whole item, to see the day counters to remove next time.
		ReturnValues: types.ReturnValueAllNew,

		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		return nil, err
	}
	return res.Attributes, nil
}

// readView reads the usage item consistently: committed tokens of the month and
// of the day, and the rate-limit states.
func (s *Store) readView(ctx context.Context, pk, sk string, ps budget.Periods) (hint, error) {
	item, err := s.readItem(ctx, pk, sk)
	if err != nil {
		return hint{}, err
	}
	return decodeView(item, ps), nil
}

// readItem reads the usage item consistently.
func (s *Store) readItem(ctx context.Context, pk, sk string) (map[string]types.AttributeValue, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(pk, sk), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("dynamo: read usage: %w", err)
	}
	return res.Item, nil
}

// usedOf is what the usage item says is committed this month and on day.
func usedOf(item map[string]types.AttributeValue, day string) budget.Used {
	return budget.Used{Month: getN(item, attrUsed), Day: getN(item, "used#"+day),
		CostMonth: getN(item, attrCost), CostDay: getN(item, "cost#"+day)}
}

func decodeView(item map[string]types.AttributeValue, ps budget.Periods) hint {
	h := hint{day: ps.Day, used: usedOf(item, ps.Day), tats: map[string]int64{}, stale: staleDays(item, ps)}
	for name := range item {
		if t, ok := strings.CutPrefix(name, "tat#"); ok {
			h.tats[t] = getN(item, name)
		}
	}
	return h
}

// Settle closes a reservation with what the request used, exactly once: it
// writes the request's usage record, then releases the reserved tokens and
// charges the real ones (never more than were reserved, so no settled request
// pushes usage past a limit) and refunds the tokens-per-minute estimate it did
// not use. Each write is conditional, so Settle may be retried after any
// failure: a record already written (by an earlier try, or by the period-close
// job that closed the reservation meanwhile) is the one charged, and a
// reservation already closed is left alone.
func (s *Store) Settle(ctx context.Context, r budget.Reservation, c budget.Charge) error {
	rec, err := s.putRecord(ctx, r.TenantID, budget.NewRecord(r, c))
	if err != nil {
		return fmt.Errorf("dynamo: settle %s: %w", r.RequestID, err)
	}
	err = s.close(ctx, r.TenantID, r.Month, r.RequestID, r.Day, closing{tokens: r.Tokens, charged: rec.Charged,
		cost: r.Cost, costCharged: rec.CostCharged, rateRefund: r.TokenRate.Refund(rec.Input + rec.Output)})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil // settled already
	}
	if err != nil {
		return fmt.Errorf("dynamo: settle %s: %w", r.RequestID, err)
	}
	return nil
}

// closing is what closing a reservation charges: tokens reserved and charged,
// micro-dollars reserved and charged (a money budget's), and the
// tokens-per-minute refund (ns the TAT moves back: what the request did not use
// of its rate estimate; 0 for none).
type closing struct {
	tokens, charged   int64
	cost, costCharged int64
	rateRefund        int64
}

// close removes reservation requestID (made on day) from the usage item of
// tenantID's month, charging c in its place. Conditional on the reservation
// still being there: ConditionalCheckFailed means it was closed already.
func (s *Store) close(ctx context.Context, tenantID, month, requestID, day string, c closing) error {
	names := map[string]string{"#used": attrUsed, "#day": "used#" + day, "#res": "res#" + requestID}
	values := map[string]types.AttributeValue{":delta": num(c.charged - c.tokens)}
	add := "#used :delta, #day :delta"
	if c.cost > 0 {
		names["#cost"], names["#cday"], values[":cdelta"] = attrCost, "cost#"+day, num(c.costCharged-c.cost)
		add += ", #cost :cdelta, #cday :cdelta"
	}
	if c.rateRefund > 0 {
		names["#tpm"], values[":refund"] = "tat#"+ratelimit.Tokens, num(-c.rateRefund)
		add += ", #tpm :refund"
	}
	res, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(tenantPK(tenantID), usageSK(month)),
		UpdateExpression:          aws.String("ADD " + add + " REMOVE #res"),
		ConditionExpression:       aws.String("attribute_exists(#res)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return err
	}
	// What this process saw last of the item: the next admission's first
	// write is shaped by it, so a settlement's refund is not ignored.
	k := tenantPK(tenantID) + usageSK(month)
	h := s.hints.get(k)
	if h.day == day {
		h.used = usedOf(res.Attributes, day)
		tats := make(map[string]int64, len(h.tats))
		maps.Copy(tats, h.tats)
		if _, ok := res.Attributes["tat#"+ratelimit.Tokens]; ok {
			tats[ratelimit.Tokens] = getN(res.Attributes, "tat#"+ratelimit.Tokens)
		}
		h.tats = tats
		s.hints.put(k, h)
	}
	return nil
}

// Checkpoint records in reservation r what its request has served so far, c,
// for the period-close job to charge if the request never settles (a crashed
// process). It does nothing once the reservation is settled or returned.
func (s *Store) Checkpoint(ctx context.Context, r budget.Reservation, c budget.Charge) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 key(tenantPK(r.TenantID), usageSK(r.Month)),
		UpdateExpression:    aws.String("SET #res.#in = :in, #res.#out = :out, #res.#model = :model, #res.#cost = :cost"),
		ConditionExpression: aws.String("attribute_exists(#res)"),
		ExpressionAttributeNames: map[string]string{
			"#res": "res#" + r.RequestID, "#in": "in", "#out": "out", "#model": "model", "#cost": "cost",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":in": num(c.Input), ":out": num(c.Output), ":model": str(c.Model), ":cost": num(c.Cost),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil // settled meanwhile
	}
	if err != nil {
		return fmt.Errorf("dynamo: checkpoint %s: %w", r.RequestID, err)
	}
	return nil
}

// budget.MonthUsage reads a tenant's usage item for month (yyyy-mm), consistently.
func (s *Store) MonthUsage(ctx context.Context, tenantID, month string) (budget.MonthUsage, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(tenantPK(tenantID), usageSK(month)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return budget.MonthUsage{}, fmt.Errorf("dynamo: read usage of %s: %w", tenantID, err)
	}
	return decodeMonth(month, res.Item), nil
}

func decodeMonth(month string, item map[string]types.AttributeValue) budget.MonthUsage {
	mu := budget.MonthUsage{Month: month, Days: map[string]budget.PeriodUsage{}}
	committedDays, costDays := map[string]int64{}, map[string]int64{}
	for name, v := range item {
		kind, rest, _ := strings.Cut(name, "#")
		switch kind {
		case "used":
			if rest == "" {
				mu.Total.Used = getN(item, name)
			} else {
				committedDays[rest] = getN(item, name)
			}
		case attrCost:
			if rest == "" {
				mu.Total.CostUsed = getN(item, name)
			} else {
				costDays[rest] = getN(item, name)
			}
		case "res":
			m, ok := v.(*types.AttributeValueMemberM)
			if !ok {
				continue
			}
			r := budget.OpenReservation{RequestID: rest, Day: getS(m.Value, "day"), Tokens: getN(m.Value, "n"), Cost: getN(m.Value, "c"),
				Lease:  time.Unix(getN(m.Value, "lease"), 0).UTC(),
				Served: budget.Charge{Input: getN(m.Value, "in"), Output: getN(m.Value, "out"), Model: getS(m.Value, "model"), Cost: getN(m.Value, "cost")}}
			if at := getN(m.Value, "at"); at != 0 {
				r.At = time.Unix(0, at).UTC()
			}
			mu.Reservations = append(mu.Reservations, r)
		}
	}
	// "used" counters hold settled plus reserved tokens; split them.
	for _, r := range mu.Reservations {
		mu.Total.Reserved += r.Tokens
		mu.Total.CostReserved += r.Cost
		p := mu.Days[r.Day]
		p.Reserved += r.Tokens
		p.CostReserved += r.Cost
		mu.Days[r.Day] = p
	}
	mu.Total.Used -= mu.Total.Reserved
	mu.Total.CostUsed -= mu.Total.CostReserved
	for day, committed := range committedDays {
		p := mu.Days[day]
		p.Used = committed - p.Reserved
		mu.Days[day] = p
	}
	for day, committed := range costDays {
		p := mu.Days[day]
		p.CostUsed = committed - p.CostReserved
		mu.Days[day] = p
	}
	return mu
}
