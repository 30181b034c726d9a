package ipa

import (
	"encoding/json"
	"sync"
)

// Command statuses as the conductor reads them.
const (
	StatusRunning         = "RUNNING"
	StatusSucceeded       = "SUCCEEDED"
	StatusFailed          = "FAILED"
	StatusVersionMismatch = "CLEAN_VERSION_MISMATCH"
)

// Result is one entry of GET /v1/commands/. It is safe for concurrent use: an
// async command updates it while the API serializes it.
type Result struct {
	mu     sync.Mutex
	id     string
	name   string
	status string
	err    *Error
	result any
	done   chan struct{}
}

type resultJSON struct {
	ID            string `json:"id"`
	CommandName   string `json:"command_name"`
	CommandStatus string `json:"command_status"`
	CommandError  *Error `json:"command_error"`
	CommandResult any    `json:"command_result"`
}

// MarshalJSON writes the serialized fields of IPA's BaseCommandResult.
func (r *Result) MarshalJSON() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return json.Marshal(resultJSON{r.id, r.name, r.status, r.err, r.result})
}

// ID is the result's uuid.
func (r *Result) ID() string { return r.id }

// Name is the short command name (e.g. "execute_deploy_step").
func (r *Result) Name() string { return r.name }

// Status returns the current command_status.
func (r *Result) Status() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Err returns command_error, nil unless the command failed.
func (r *Result) Err() *Error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Value returns command_result.
func (r *Result) Value() any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.result
}

// Done is closed when the command has finished.
func (r *Result) Done() <-chan struct{} { return r.done }

func (r *Result) isDone() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// setProgress replaces command_result while the command is RUNNING.
func (r *Result) setProgress(v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status == StatusRunning {
		r.result = v
	}
}

func (r *Result) finish(v any, err error) {
	r.mu.Lock()
	switch e := AsError(err); {
	case e == nil:
		r.status, r.result, r.err = StatusSucceeded, v, nil
	case e.Type == "VersionMismatch":
		r.status, r.result, r.err = StatusVersionMismatch, nil, e
	default:
		r.status, r.result, r.err = StatusFailed, nil, e
	}
	r.mu.Unlock()
	close(r.done)
}
