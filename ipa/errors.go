package ipa

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is IPA's RESTError: it is what command_error holds, and what the API
// turns into a {"faultcode","faultstring"} body with Code as the HTTP status.
type Error struct {
	Type    string `json:"type"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details string `json:"details"`
}

func (e *Error) Error() string {
	if e.Details == "" {
		return e.Message
	}
	return e.Message + ": " + e.Details
}

func newError(typ string, code int, msg, details string) *Error {
	return &Error{Type: typ, Code: code, Message: msg, Details: details}
}

// Errors with the names, codes and messages of ironic_python_agent/errors.py.
// The conductor shows Details (or Message) as the node's last_error.

// InvalidCommand is an unknown command name (400).
func InvalidCommand(details string) *Error {
	return newError("InvalidCommandError", http.StatusBadRequest, "Invalid command", details)
}

// InvalidParams is a command whose params fail validation (400).
func InvalidParams(format string, a ...any) *Error {
	return newError("InvalidCommandParamsError", http.StatusBadRequest, "Invalid command parameters", fmt.Sprintf(format, a...))
}

// InvalidContent is a request body that is not what the API expects (400).
func InvalidContent(details string) *Error {
	return newError("InvalidContentError", http.StatusBadRequest, "Invalid request body", details)
}

// NotFound is an unknown extension or command result (404).
func NotFound(details string) *Error {
	return newError("RequestedObjectNotFoundError", http.StatusNotFound, "Not found", details)
}

// Busy is returned while the last async command is still running (409).
func Busy(name string) *Error {
	return newError("AgentIsBusy", http.StatusConflict, "Agent is busy", "executing command "+name)
}

// VersionMismatch tells the conductor its cached steps are stale; the result
// status becomes CLEAN_VERSION_MISMATCH.
func VersionMismatch(agent, node any) *Error {
	return newError("VersionMismatch", http.StatusConflict, "Hardware managers version mismatch",
		fmt.Sprintf("Hardware managers version mismatch, reported: %v, actual: %v", node, agent))
}

// ExecutionError wraps any failure that is not already an *Error, as IPA's
// CommandExecutionError does.
func ExecutionError(details string) *Error {
	return newError("CommandExecutionError", http.StatusInternalServerError, "Command execution failed", details)
}

// Classed is a failure that names its IPA class (e.g. ImageChecksumError).
// The domain packages' errors implement it (internal/errclass) without
// importing this package.
type Classed interface {
	error
	IPAClass() (class, message string)
}

// Typed wraps err in a failure of the named IPA class, keeping the error
// chain for errors.Is/As.
func Typed(class, message string, err error) error {
	return &typedError{class: class, message: message, cause: err}
}

type typedError struct {
	class, message string
	cause          error
}

func (t *typedError) Error() string                     { return t.cause.Error() }
func (t *typedError) Unwrap() error                     { return t.cause }
func (t *typedError) IPAClass() (class, message string) { return t.class, t.message }

// AsError returns err as an *Error: a Classed failure with code 500 (400 for
// invalid parameters), anything else as a CommandExecutionError, so every
// failure serializes the same way.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var c Classed
	if errors.As(err, &c) {
		class, message := c.IPAClass()
		code := http.StatusInternalServerError
		if class == "InvalidCommandParamsError" {
			code = http.StatusBadRequest
		}
		return newError(class, code, message, c.Error())
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ExecutionError(err.Error())
}
