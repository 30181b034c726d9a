package client

import (
	"encoding/json"
	"fmt"
)

// Command statuses the agent reports.
const (
	StatusRunning         = "RUNNING"
	StatusSucceeded       = "SUCCEEDED"
	StatusFailed          = "FAILED"
	StatusVersionMismatch = "CLEAN_VERSION_MISMATCH"
	// StatusVersionMismatchAlt is the other spelling the conductor accepts.
	StatusVersionMismatchAlt = "VERSION_MISMATCH"
)

// Result is one command result as the agent serializes it.
type Result struct {
	ID            string          `json:"id"`
	CommandName   string          `json:"command_name"`
	CommandStatus string          `json:"command_status"`
	CommandError  *CommandError   `json:"command_error"`
	CommandResult json.RawMessage `json:"command_result"`
}

// Running reports whether the command has not finished yet.
func (r *Result) Running() bool { return r.CommandStatus == StatusRunning }

// VersionMismatch reports whether the agent refused a step because the
// hardware manager versions changed.
func (r *Result) VersionMismatch() bool {
	return r.CommandStatus == StatusVersionMismatch || r.CommandStatus == StatusVersionMismatchAlt
}

// Decode unmarshals command_result into v.
func (r *Result) Decode(v any) error {
	if len(r.CommandResult) == 0 {
		return fmt.Errorf("command %s has no command_result", r.CommandName)
	}
	if err := json.Unmarshal(r.CommandResult, v); err != nil {
		return fmt.Errorf("decode command_result of %s: %w", r.CommandName, err)
	}
	return nil
}

// CommandError is command_error: IPA's RESTError fields.
type CommandError struct {
	Type    string `json:"type"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details string `json:"details"`
}

func (e *CommandError) Error() string {
	if e.Details == "" {
		return e.Type + ": " + e.Message
	}
	return e.Type + ": " + e.Message + ": " + e.Details
}
