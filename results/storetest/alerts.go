package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/picketnet/picket/results"
)

// RunAlerts checks a store's results.AlertStore: alert upserts keep one
// record per (key, starts_at) that only moves forward in its lifecycle,
// history survives a re-fire, open and listed alerts are selected and
// ordered as documented, silences are scoped by team and end time, the
// outbox hands out due items in order, never an alert's later item before
// its earlier one to the same notifier, and records attempts, and
// RecordAlerts is all or nothing. open returns a new, empty store for each subtest and
// arranges for it to be closed.
func RunAlerts(t *testing.T, open func(t *testing.T) results.AlertStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s results.AlertStore)
	}{
		{"UpsertMovesForward", testAlertUpsert},
		{"HistoryAcrossRefire", testAlertHistory},
		{"OpenAlerts", testOpenAlerts},
		{"ListAlerts", testListAlerts},
		{"Silences", testSilences},
		{"Outbox", testOutbox},
		{"OutboxKeepsOrderPerAlert", testOutboxOrder},
		{"RecordAlertsAtomic", testRecordAtomic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// at0 is a whole second: stores keep at least microseconds.
var at0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func alertRec(key, team, state string, starts, updated time.Time) results.AlertRecord {
	return results.AlertRecord{
		Key: key, StartsAt: starts, Team: team, Endpoint: "ep-" + key, Type: "reachability",
		Severity: "page", State: state, UpdatedAt: updated,
		Body: json.RawMessage(fmt.Sprintf(`{"key":%q,"state":%q,"updated_at":%q}`, key, state, updated.Format(time.RFC3339))),
	}
}

func record(t *testing.T, s results.AlertStore, alerts []results.AlertRecord, outbox ...results.OutboxItem) {
	t.Helper()
	if err := s.RecordAlerts(context.Background(), alerts, outbox); err != nil {
		t.Fatalf("RecordAlerts: %v", err)
	}
}

func openAlerts(t *testing.T, s results.AlertStore) []results.AlertRecord {
	t.Helper()
	got, err := s.OpenAlerts(context.Background())
	if err != nil {
		t.Fatalf("OpenAlerts: %v", err)
	}
	return got
}

func listAlerts(t *testing.T, s results.AlertStore, team string, since time.Time, limit int) []results.AlertRecord {
	t.Helper()
	got, err := s.ListAlerts(context.Background(), team, since, limit)
	if err != nil {
		t.Fatalf("ListAlerts: %v", err)
	}
	return got
}

func sameAlert(t *testing.T, got, want results.AlertRecord) {
	t.Helper()
	if got.Key != want.Key || !got.StartsAt.Equal(want.StartsAt) || got.Team != want.Team ||
		got.Endpoint != want.Endpoint || got.Type != want.Type || got.Severity != want.Severity ||
		got.State != want.State || !got.UpdatedAt.Equal(want.UpdatedAt) || string(got.Body) != string(want.Body) {
		t.Errorf("alert:\n got %+v body %s\nwant %+v body %s", got, got.Body, want, want.Body)
	}
}

func alertIDs(rs []results.AlertRecord) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s@%s:%s", r.Key, r.StartsAt.Sub(at0), r.State))
	}
	return out
}

func testAlertUpsert(t *testing.T, s results.AlertStore) {
	pending := alertRec("a", "pay", "pending", at0, at0)
	record(t, s, []results.AlertRecord{pending})
	got := openAlerts(t, s)
	if len(got) != 1 {
		t.Fatalf("open alerts %v, want the pending one", alertIDs(got))
	}
	sameAlert(t, got[0], pending)

	firing := alertRec("a", "pay", "firing", at0, at0.Add(10*time.Second))
	firing.Severity = "notify"
	record(t, s, []results.AlertRecord{firing})
	got = openAlerts(t, s)
	if len(got) != 1 {
		t.Fatalf("open alerts after firing %v, want one record per (key, starts_at)", alertIDs(got))
	}
	sameAlert(t, got[0], firing)

	// A late write of an earlier state does not move the alert back.
	record(t, s, []results.AlertRecord{alertRec("a", "pay", "pending", at0, at0.Add(20*time.Second))})
	sameAlert(t, openAlerts(t, s)[0], firing)

	resolved := alertRec("a", "pay", "resolved", at0, at0.Add(30*time.Second))
	record(t, s, []results.AlertRecord{resolved})
	if got := openAlerts(t, s); len(got) != 0 {
		t.Fatalf("open alerts after resolve: %v", alertIDs(got))
	}
	record(t, s, []results.AlertRecord{alertRec("a", "pay", "firing", at0, at0.Add(40*time.Second))})
	if got := openAlerts(t, s); len(got) != 0 {
		t.Fatalf("a late firing reopened a resolved alert: %v", alertIDs(got))
	}
	all := listAlerts(t, s, "", time.Time{}, 100)
	if len(all) != 1 {
		t.Fatalf("listed %v, want the one resolved record", alertIDs(all))
	}
	sameAlert(t, all[0], resolved)

	// Two states of one alert in one call: the later wins.
	p, f := alertRec("b", "pay", "pending", at0, at0), alertRec("b", "pay", "firing", at0, at0.Add(time.Second))
	record(t, s, []results.AlertRecord{p, f})
	got = openAlerts(t, s)
	if len(got) != 1 {
		t.Fatalf("open alerts %v, want b firing", alertIDs(got))
	}
	sameAlert(t, got[0], f)
}

func testAlertHistory(t *testing.T, s results.AlertStore) {
	first := alertRec("a", "pay", "firing", at0, at0)
	record(t, s, []results.AlertRecord{first})
	first = alertRec("a", "pay", "resolved", at0, at0.Add(time.Minute))
	record(t, s, []results.AlertRecord{first})
	second := alertRec("a", "pay", "firing", at0.Add(time.Hour), at0.Add(time.Hour))
	record(t, s, []results.AlertRecord{second})

	open := openAlerts(t, s)
	if len(open) != 1 {
		t.Fatalf("open alerts %v, want only the second firing", alertIDs(open))
	}
	sameAlert(t, open[0], second)
	all := listAlerts(t, s, "pay", at0.Add(-time.Hour), 10)
	if len(all) != 2 {
		t.Fatalf("history %v, want both firings", alertIDs(all))
	}
	sameAlert(t, all[0], second)
	sameAlert(t, all[1], first)
}

func testOpenAlerts(t *testing.T, s results.AlertStore) {
	record(t, s, []results.AlertRecord{
		alertRec("p", "pay", "pending", at0, at0),
		alertRec("f", "ops", "firing", at0, at0),
		alertRec("r", "pay", "resolved", at0, at0),
	})
	got := openAlerts(t, s)
	want := []string{"f@0s:firing", "p@0s:pending"}
	if ids := alertIDs(got); !slices.Equal(ids, want) {
		t.Fatalf("open alerts %v, want %v (every team's, by key)", ids, want)
	}
}

func testListAlerts(t *testing.T, s results.AlertStore) {
	minute := func(n int) time.Time { return at0.Add(time.Duration(n) * time.Minute) }
	record(t, s, []results.AlertRecord{
		alertRec("old-open", "pay", "firing", minute(0), minute(0)),
		alertRec("old-resolved", "pay", "resolved", minute(0), minute(1)),
		alertRec("recent-resolved", "pay", "resolved", minute(2), minute(20)),
		alertRec("recent-open", "pay", "pending", minute(25), minute(25)),
		alertRec("other-team", "ops", "firing", minute(30), minute(30)),
	})
	tests := []struct {
		team  string
		since time.Time
		limit int
		want  []string
	}{
		{"pay", minute(10), 100, []string{"recent-open@25m0s:pending", "recent-resolved@2m0s:resolved", "old-open@0s:firing"}},
		{"pay", time.Time{}, 100, []string{"recent-open@25m0s:pending", "recent-resolved@2m0s:resolved",
			"old-resolved@0s:resolved", "old-open@0s:firing"}},
		{"pay", minute(10), 2, []string{"recent-open@25m0s:pending", "recent-resolved@2m0s:resolved"}},
		{"ops", minute(10), 100, []string{"other-team@30m0s:firing"}},
		{"nobody", time.Time{}, 100, nil},
		{"", minute(10), 100, []string{"other-team@30m0s:firing", "recent-open@25m0s:pending",
			"recent-resolved@2m0s:resolved", "old-open@0s:firing"}},
		{"", minute(40), 100, []string{"other-team@30m0s:firing", "recent-open@25m0s:pending", "old-open@0s:firing"}},
	}
	for _, tc := range tests {
		got := alertIDs(listAlerts(t, s, tc.team, tc.since, tc.limit))
		if !slices.Equal(got, tc.want) {
			t.Errorf("ListAlerts(%q, +%v, %d) = %v, want %v", tc.team, tc.since.Sub(at0), tc.limit, got, tc.want)
		}
	}
}

func silence(id, team string, starts, ends time.Time) results.SilenceRecord {
	return results.SilenceRecord{ID: id, Team: team, StartsAt: starts, EndsAt: ends,
		Body: json.RawMessage(fmt.Sprintf(`{"id":%q,"reason":"deploy"}`, id))}
}

func testSilences(t *testing.T, s results.AlertStore) {
	ctx := context.Background()
	in := []results.SilenceRecord{
		silence("s1", "pay", at0, at0.Add(time.Hour)),
		silence("s2", "pay", at0.Add(2*time.Hour), at0.Add(3*time.Hour)), // a maintenance window
		silence("s3", "ops", at0, at0.Add(30*time.Minute)),
		silence("s4", "pay", at0.Add(-2*time.Hour), at0.Add(-time.Hour)), // over
	}
	for _, sil := range in {
		if err := s.PutSilence(ctx, sil); err != nil {
			t.Fatalf("PutSilence %s: %v", sil.ID, err)
		}
	}
	ids := func(team string, now time.Time) []string {
		t.Helper()
		got, err := s.Silences(ctx, team, now)
		if err != nil {
			t.Fatalf("Silences: %v", err)
		}
		var out []string
		for _, r := range got {
			out = append(out, r.ID)
			want := in[slices.IndexFunc(in, func(x results.SilenceRecord) bool { return x.ID == r.ID })]
			if r.Team != want.Team || !r.StartsAt.Equal(want.StartsAt) || !r.EndsAt.Equal(want.EndsAt) || string(r.Body) != string(want.Body) {
				t.Errorf("silence round trip:\n got %+v %s\nwant %+v %s", r, r.Body, want, want.Body)
			}
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		team string
		now  time.Time
		want []string
	}{
		{"pay", at0, []string{"s1", "s2"}},
		{"ops", at0, []string{"s3"}},
		{"", at0, []string{"s1", "s2", "s3"}},
		{"pay", at0.Add(time.Hour), []string{"s2"}}, // s1 ends exactly now: over
		{"", at0.Add(3 * time.Hour), nil},
	}
	for _, tc := range tests {
		if got := ids(tc.team, tc.now); !slices.Equal(got, tc.want) {
			t.Errorf("Silences(%q, +%v) = %v, want %v", tc.team, tc.now.Sub(at0), got, tc.want)
		}
	}

	// Replacing a silence (extending it) keeps one record; another team
	// cannot take it over.
	in[0].EndsAt = at0.Add(4 * time.Hour)
	if err := s.PutSilence(ctx, in[0]); err != nil {
		t.Fatalf("extend s1: %v", err)
	}
	if got := ids("pay", at0.Add(3*time.Hour+time.Minute)); !slices.Equal(got, []string{"s1"}) {
		t.Errorf("after extending s1: %v, want [s1]", got)
	}
	if err := s.PutSilence(ctx, silence("s1", "ops", at0, at0.Add(time.Hour))); !errors.Is(err, results.ErrConflict) {
		t.Errorf("PutSilence of pay's s1 as ops: %v, want ErrConflict", err)
	}

	if err := s.DeleteSilence(ctx, "pay", "nope"); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("delete unknown silence: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSilence(ctx, "ops", "s1"); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("ops deleting pay's silence: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSilence(ctx, "pay", "s1"); err != nil {
		t.Fatalf("delete s1: %v", err)
	}
	if err := s.DeleteSilence(ctx, "pay", "s1"); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("delete s1 twice: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSilence(ctx, "", "s3"); err != nil {
		t.Fatalf("admin delete of s3: %v", err)
	}
	if got := ids("", at0); !slices.Equal(got, []string{"s2"}) {
		t.Errorf("after deletes: %v, want [s2]", got)
	}
}

func outboxItem(id, key string, created, next time.Time) results.OutboxItem {
	return results.OutboxItem{ID: id, Notifier: "hook", AlertKey: key, CreatedAt: created, NextAttempt: next,
		Body: json.RawMessage(fmt.Sprintf(`{"dedup_key":%q,"status":"firing"}`, key))}
}

func due(t *testing.T, s results.AlertStore, now time.Time, limit int) []results.OutboxItem {
	t.Helper()
	got, err := s.DueOutbox(context.Background(), now, limit)
	if err != nil {
		t.Fatalf("DueOutbox: %v", err)
	}
	return got
}

func outboxIDs(items []results.OutboxItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

func testOutbox(t *testing.T, s results.AlertStore) {
	ctx := context.Background()
	items := []results.OutboxItem{
		outboxItem("o2", "b", at0.Add(time.Second), at0.Add(time.Second)),
		outboxItem("o1", "a", at0, at0),
		outboxItem("o3", "c", at0.Add(2*time.Second), at0.Add(time.Hour)), // not yet due
	}
	record(t, s, []results.AlertRecord{alertRec("a", "pay", "firing", at0, at0)}, items...)

	got := due(t, s, at0.Add(time.Minute), 10)
	if ids := outboxIDs(got); !slices.Equal(ids, []string{"o1", "o2"}) {
		t.Fatalf("due %v, want [o1 o2], oldest first", ids)
	}
	if g, w := got[0], items[1]; g.Notifier != w.Notifier || g.AlertKey != w.AlertKey || string(g.Body) != string(w.Body) ||
		!g.CreatedAt.Equal(w.CreatedAt) || !g.NextAttempt.Equal(w.NextAttempt) || g.Attempts != 0 || g.LastError != "" || g.Done || g.Failed {
		t.Errorf("outbox round trip:\n got %+v %s\nwant %+v %s", g, g.Body, w, w.Body)
	}
	if ids := outboxIDs(due(t, s, at0.Add(time.Minute), 1)); !slices.Equal(ids, []string{"o1"}) {
		t.Errorf("due with limit 1: %v, want [o1]", ids)
	}
	if ids := outboxIDs(due(t, s, at0.Add(-time.Second), 10)); len(ids) != 0 {
		t.Errorf("due before anything is: %v", ids)
	}

	// o1 failed once: retried later, with its attempt and error kept.
	retry := got[0]
	retry.Attempts, retry.LastError, retry.NextAttempt = 1, "hooks.example answered 503", at0.Add(2*time.Minute)
	if err := s.MarkOutbox(ctx, retry); err != nil {
		t.Fatalf("MarkOutbox retry: %v", err)
	}
	if ids := outboxIDs(due(t, s, at0.Add(time.Minute), 10)); !slices.Equal(ids, []string{"o2"}) {
		t.Errorf("due while o1 backs off: %v, want [o2]", ids)
	}
	got = due(t, s, at0.Add(2*time.Minute), 10)
	if ids := outboxIDs(got); !slices.Equal(ids, []string{"o1", "o2"}) {
		t.Fatalf("due after o1's backoff: %v, want [o1 o2]", ids)
	}
	if g := got[0]; g.Attempts != 1 || g.LastError != retry.LastError || !g.NextAttempt.Equal(retry.NextAttempt) {
		t.Errorf("o1 after a failed attempt: attempts %d, error %q, next %v; want 1, %q, %v",
			g.Attempts, g.LastError, g.NextAttempt, retry.LastError, retry.NextAttempt)
	}

	// Delivered and given-up items are never due again.
	done, failed := got[0], got[1]
	done.Attempts, done.Done = 2, true
	failed.Attempts, failed.Failed, failed.LastError = 1, true, "permanent: 400"
	for _, it := range []results.OutboxItem{done, failed} {
		if err := s.MarkOutbox(ctx, it); err != nil {
			t.Fatalf("MarkOutbox %s: %v", it.ID, err)
		}
	}
	if ids := outboxIDs(due(t, s, at0.Add(2*time.Hour), 10)); !slices.Equal(ids, []string{"o3"}) {
		t.Errorf("due after o1 delivered and o2 given up: %v, want [o3]", ids)
	}
	if err := s.MarkOutbox(ctx, outboxItem("nope", "a", at0, at0)); !errors.Is(err, results.ErrNotFound) {
		t.Errorf("MarkOutbox of an unknown item: %v, want ErrNotFound", err)
	}
}

func testOutboxOrder(t *testing.T, s results.AlertStore) {
	ctx := context.Background()
	firing := outboxItem("fire", "a", at0, at0)
	firingChat := outboxItem("fire-chat", "a", at0, at0)
	firingChat.Notifier = "chat"
	resolve := outboxItem("resolve", "a", at0.Add(time.Minute), at0.Add(time.Minute))
	resolveChat := outboxItem("resolve-chat", "a", at0.Add(time.Minute), at0.Add(time.Minute))
	resolveChat.Notifier = "chat"
	other := outboxItem("other", "b", at0.Add(time.Minute), at0.Add(time.Minute))
	record(t, s, nil, firing, firingChat)
	record(t, s, nil, resolve, resolveChat, other)

	// The firing to hook waits for a retry; chat delivered its firing.
	firing.Attempts, firing.NextAttempt, firing.LastError = 1, at0.Add(time.Hour), "429"
	firingChat.Attempts, firingChat.Done = 1, true
	for _, it := range []results.OutboxItem{firing, firingChat} {
		if err := s.MarkOutbox(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	if ids := outboxIDs(due(t, s, at0.Add(2*time.Minute), 10)); !slices.Equal(ids, []string{"other", "resolve-chat"}) {
		t.Errorf("due %v, want [other resolve-chat]: hook's resolve of a waits behind its firing", ids)
	}
	if ids := outboxIDs(due(t, s, at0.Add(time.Hour), 10)); !slices.Equal(ids, []string{"fire", "other", "resolve-chat"}) {
		t.Errorf("due when the firing's retry is %v, want [fire other resolve-chat]", ids)
	}
	// Given up or delivered, the firing no longer holds the resolve back.
	firing.Attempts, firing.Failed = 2, true
	if err := s.MarkOutbox(ctx, firing); err != nil {
		t.Fatal(err)
	}
	if ids := outboxIDs(due(t, s, at0.Add(2*time.Minute), 10)); !slices.Equal(ids, []string{"other", "resolve", "resolve-chat"}) {
		t.Errorf("due after the firing was given up: %v, want [other resolve resolve-chat]", ids)
	}
}

func testRecordAtomic(t *testing.T, s results.AlertStore) {
	ctx := context.Background()
	record(t, s, nil, outboxItem("o1", "a", at0, at0))
	calls := []struct {
		name   string
		alerts []results.AlertRecord
		outbox []results.OutboxItem
	}{
		{"duplicate id in one call", []results.AlertRecord{alertRec("x", "pay", "firing", at0, at0)},
			[]results.OutboxItem{outboxItem("o2", "x", at0, at0), outboxItem("o2", "x", at0, at0)}},
		{"id already stored", []results.AlertRecord{alertRec("y", "pay", "firing", at0, at0)},
			[]results.OutboxItem{outboxItem("o3", "y", at0, at0), outboxItem("o1", "y", at0, at0)}},
	}
	for _, c := range calls {
		if err := s.RecordAlerts(ctx, c.alerts, c.outbox); err == nil {
			t.Errorf("%s: RecordAlerts succeeded", c.name)
		}
	}
	if got := openAlerts(t, s); len(got) != 0 {
		t.Errorf("failed RecordAlerts left alerts: %v", alertIDs(got))
	}
	if ids := outboxIDs(due(t, s, at0.Add(time.Hour), 10)); !slices.Equal(ids, []string{"o1"}) {
		t.Errorf("failed RecordAlerts left outbox items: %v, want only [o1]", ids)
	}
}

// BenchAlertCycle measures the store's part of one notified transition:
// RecordAlerts of one alert state with two notifications (one transaction),
// DueOutbox, and MarkOutbox of both as delivered.
func BenchAlertCycle(b *testing.B, s results.AlertStore) {
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		at := at0.Add(time.Duration(i) * time.Second)
		key := fmt.Sprintf("reachability/pay/check-%d", i)
		a := alertRec(key, "pay", "firing", at, at)
		o1, o2 := outboxItem(fmt.Sprintf("o%d-1", i), key, at, at), outboxItem(fmt.Sprintf("o%d-2", i), key, at, at)
		if err := s.RecordAlerts(ctx, []results.AlertRecord{a}, []results.OutboxItem{o1, o2}); err != nil {
			b.Fatal(err)
		}
		items, err := s.DueOutbox(ctx, at, 100)
		if err != nil || len(items) != 2 {
			b.Fatalf("due: %d items, %v", len(items), err)
		}
		for _, it := range items {
			it.Attempts, it.Done = 1, true
			if err := s.MarkOutbox(ctx, it); err != nil {
				b.Fatal(err)
			}
		}
	}
}
