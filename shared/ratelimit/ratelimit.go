// Package ratelimit holds the pure arithmetic of Tollgate's per-minute rate
// limits: the generic cell rate algorithm (GCRA), a token bucket that holds one
// minute's allowance and refills continuously. See docs/adrs/0004-rate-limits.md.
//
// A limit of L per minute gives every unit an emission interval T = 1 min / L. The
// state is one number, the theoretical arrival time TAT. A request costing c units
// is admitted at now when max(TAT, now) + c·T − now ≤ 1 min (plus a tolerance of
// T/2 for clock skew between instances), and moves TAT to max(TAT, now) + c·T. So
// at most L units pass at once, and after that L per minute.
// Times are nanoseconds since the Unix epoch, integers, so DynamoDB can hold and
// compare them exactly. The increment c·T is rounded down to whole nanoseconds, so
// a burst of exactly L always passes; the long-run rate is then above L by at most
// one nanosecond per unit (0.02% for ten million tokens a minute).
package ratelimit

import (
	"errors"
	"fmt"
	"time"
)

// Window is the period a limit counts over.
const Window = time.Minute

const windowNanos = int64(Window)

// Dimension names, in OpenAI's header vocabulary.
const (
	Requests = "requests"
	Tokens   = "tokens"
)

// Cost is one dimension of a request: its limit per minute and how much it uses.
type Cost struct {
	Name  string // Requests or Tokens
	Limit int64  // per minute; > 0
	Units int64  // what this request uses
}

// Increment returns how far the request moves the TAT, in nanoseconds.
func (c Cost) Increment() int64 {
	return c.Units * (windowNanos / c.Limit)
}

// Refund returns how far to move the TAT back once the request is known to
// have used only used of its Units (0 when it used them all): a request is
// charged what it used, not what it might have used.
func (c Cost) Refund(used int64) int64 {
	if c.Limit <= 0 || used >= c.Units {
		return 0
	}
	return (c.Units - max(used, 0)) * (windowNanos / c.Limit)
}

// Fits reports whether the request could ever pass: no more units than the limit.
func (c Cost) Fits() bool { return c.Units <= c.Limit }

// Case says which form of the conditional update applies. DynamoDB expressions
// have no max(), so the caller picks the case and conditions the write on it.
type Case int

// The cases.
const (
	// Idle: TAT ≤ now (or absent). Admitted when inc ≤ 1 min; TAT := now + inc.
	Idle Case = iota
	// Busy: TAT > now. Admitted when TAT ≤ now + 1 min − inc; TAT += inc.
	Busy
)

// Guess returns the case that applies for a TAT believed to be tat.
func Guess(tat, now int64) Case {
	if tat > now {
		return Busy
	}
	return Idle
}

// tolerance is how far out of order two requests' clocks may be without the later
// processed one losing capacity: half of one unit's emission interval. Requests
// stamp now on their own instance, so concurrent ones reach the item in another
// order than their stamps; without a tolerance, a skew of a few milliseconds could
// refuse the last request of an exact burst. Half a unit keeps a burst at exactly L
// units: the (L+1)th needs (L+1)·T ≤ 1min + T/2, which never holds.
func (c Cost) tolerance() int64 { return windowNanos / c.Limit / 2 }

// BusyMax returns the largest TAT at which a Busy update is still admitted.
func (c Cost) BusyMax(now int64) int64 { return now + windowNanos + c.tolerance() - c.Increment() }

// Admit is the decision for one dimension at now, given the current TAT: whether
// it passes and, if not, how long until it would.
func (c Cost) Admit(tat, now int64) (ok bool, retryAfter time.Duration) {
	if !c.Fits() {
		return false, 0
	}
	start := max(tat, now)
	over := start + c.Increment() - now - windowNanos - c.tolerance()
	if over <= 0 {
		return true, 0
	}
	return false, time.Duration(over)
}

// State describes a dimension after a request, for the x-ratelimit-* headers.
type State struct {
	Limit     int64
	Remaining int64         // units that could pass right now
	Reset     time.Duration // until the bucket is full again
}

// StateAt returns the state of a dimension whose TAT is tat at now.
func (c Cost) StateAt(tat, now int64) State {
	backlog := max(tat-now, 0)
	free := windowNanos - backlog
	return State{
		Limit:     c.Limit,
		Remaining: max(free*c.Limit/windowNanos, 0),
		Reset:     time.Duration(backlog),
	}
}

// LimitedError is a refusal by one dimension.
type LimitedError struct {
	Dimension  string
	Limit      int64
	Units      int64
	RetryAfter time.Duration // 0 when the request can never pass (Units > Limit)
}

func (e *LimitedError) Error() string {
	if e.RetryAfter == 0 {
		return fmt.Sprintf("this request needs %d %s but the limit is %d per minute", e.Units, e.Dimension, e.Limit)
	}
	return fmt.Sprintf("rate limit of %d %s per minute reached; retry in %s", e.Limit, e.Dimension, e.RetryAfter.Round(time.Millisecond))
}

// ErrLimited matches every *LimitedError with errors.Is.
var ErrLimited = errors.New("rate limited")

func (e *LimitedError) Is(target error) bool { return target == ErrLimited }

// Nanos converts t to the nanoseconds the algorithm counts in.
func Nanos(t time.Time) int64 { return t.UnixNano() }
