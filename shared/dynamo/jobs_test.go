package dynamo_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/knowledge"
)

// TestResendJob: of concurrent sweeps seeing the same job record, exactly one
// records its resend (the others get ErrNotPending); a later sweep sees the
// count and the new time; a finished (deleted) job is not recreated.
func TestResendJob(t *testing.T) {
	srv := dynamotest.Require(t, ddb)
	st := dynamo.New(srv.Client(), srv.NewTable(t))
	ctx := t.Context()
	j := knowledge.Job{TenantID: "acme", Scope: "acme", StoreID: "vs_0123456789abcdef0123456789ab", FileID: "file-0123456789abcdef0123456789"}
	queued := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	if err := st.AddJob(ctx, j, queued); err != nil {
		t.Fatal(err)
	}
	recs, err := st.Jobs(ctx)
	if err != nil || len(recs) != 1 || recs[0].Job != j || !recs[0].At.Equal(queued) || recs[0].Resends != 0 {
		t.Fatalf("Jobs = %+v, %v", recs, err)
	}
	resent := queued.Add(13 * time.Hour)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = st.ResendJob(ctx, recs[0], resent) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, knowledge.ErrNotPending):
			t.Errorf("ResendJob: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent resends recorded, want 1", won, len(errs))
	}
	recs, _ = st.Jobs(ctx)
	if len(recs) != 1 || recs[0].Resends != 1 || !recs[0].At.Equal(resent) {
		t.Fatalf("after the resend: %+v", recs)
	}
	if err := st.ResendJob(ctx, knowledge.JobRecord{Job: j}, resent); !errors.Is(err, knowledge.ErrNotPending) {
		t.Errorf("a resend from a stale record (0 resends): %v, want ErrNotPending", err)
	}
	if err := st.ResendJob(ctx, recs[0], resent.Add(time.Hour)); err != nil {
		t.Errorf("a second resend from the fresh record: %v", err)
	}
	if err := st.DeleteJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := st.ResendJob(ctx, knowledge.JobRecord{Job: j}, resent); !errors.Is(err, knowledge.ErrNotPending) {
		t.Errorf("resending a finished job: %v, want ErrNotPending", err)
	}
	if recs, _ := st.Jobs(ctx); len(recs) != 0 {
		t.Errorf("a finished job came back: %+v", recs)
	}
}
