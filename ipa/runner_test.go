package ipa

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"
)

func newRunner() *Runner {
	return NewRunner(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func marshal(t *testing.T, r *Result) map[string]any {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSyncStringResultIsWrapped(t *testing.T) {
	r := newRunner()
	r.Register("x", "hello", Sync(func(context.Context, struct{}) (any, error) { return "hi", nil }))
	res, err := r.Execute("x.hello", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := marshal(t, res)
	if got := m["command_result"].(map[string]any)["result"]; got != "hi" {
		t.Errorf("result = %v", got)
	}
	if m["command_status"] != StatusSucceeded || m["command_error"] != nil {
		t.Errorf("result = %v", m)
	}
}

func TestAsyncProgressDoneAndHeartbeat(t *testing.T) {
	r := newRunner()
	step := make(chan struct{})
	heartbeats := make(chan struct{}, 1)
	r.AsyncDone = func() { heartbeats <- struct{}{} }
	r.Register("x", "work", Async(func(ctx context.Context, _ struct{}) (any, error) {
		ReportProgress(ctx, map[string]int{"bytes": 10})
		step <- struct{}{}
		<-step
		return "written", nil
	}))
	res, err := r.Execute("x.work", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	<-step
	if m := marshal(t, res); m["command_status"] != StatusRunning || m["command_result"].(map[string]any)["bytes"] != 10.0 {
		t.Errorf("while running: %v", m)
	}
	if _, err := r.Execute("x.work", nil); AsError(err).Code != 409 {
		t.Errorf("second execute while running: %v", err)
	}
	step <- struct{}{}
	select {
	case <-heartbeats:
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat after the async command finished")
	}
	m := marshal(t, res)
	if m["command_status"] != StatusSucceeded || m["command_result"].(map[string]any)["result"] != "work: written" {
		t.Errorf("after: %v", m)
	}
}

func TestVersionMismatchStatus(t *testing.T) {
	r := newRunner()
	r.Register("clean", "execute_clean_step", Async(func(context.Context, struct{}) (any, error) {
		return nil, VersionMismatch(map[string]string{"generic": "1.2"}, map[string]string{"generic": "1.1"})
	}))
	res, err := r.Execute("clean.execute_clean_step", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-res.Done()
	m := marshal(t, res)
	if m["command_status"] != "CLEAN_VERSION_MISMATCH" || m["command_error"].(map[string]any)["type"] != "VersionMismatch" {
		t.Errorf("result = %v", m)
	}
}

func TestListAndGet(t *testing.T) {
	r := newRunner()
	r.Register("x", "a", Sync(func(context.Context, struct{}) (any, error) { return nil, nil }))
	a, _ := r.Execute("x.a", nil)
	b, _ := r.Execute("x.a", nil)
	if l := r.List(); len(l) != 2 || l[0] != a || l[1] != b {
		t.Errorf("List = %v", l)
	}
	if got, err := r.Get(b.ID()); err != nil || got != b {
		t.Errorf("Get = %v, %v", got, err)
	}
	if _, err := r.Get("nope"); AsError(err).Code != 404 {
		t.Errorf("Get(nope) = %v", err)
	}
}
