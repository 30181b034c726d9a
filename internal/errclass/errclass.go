// Package errclass lets the packages that do the work name the IPA error
// class of a failure (the conductor shows it as last_error and acts on some,
// e.g. ImageChecksumError) without importing the agent's contract layer:
// package ipa reads the class back through its Classed interface.
package errclass

import (
	"errors"
	"fmt"
)

// InvalidParams is IPA's class for arguments that fail validation; the API
// answers it with 400.
const InvalidParams = "InvalidCommandParamsError"

// Error is a failure of a named IPA class.
type Error struct {
	class, message string
	err            error
}

// New returns err as a failure of class, with IPA's message for it.
func New(class, message string, err error) error {
	return &Error{class: class, message: message, err: err}
}

// Invalid is an InvalidCommandParamsError.
func Invalid(format string, a ...any) error {
	return New(InvalidParams, "Invalid command parameters", fmt.Errorf(format, a...))
}

func (e *Error) Error() string { return e.err.Error() }
func (e *Error) Unwrap() error { return e.err }

// IPAClass returns the class and its message.
func (e *Error) IPAClass() (class, message string) { return e.class, e.message }

// Of returns the class err carries, "" if none.
func Of(err error) string {
	var c interface{ IPAClass() (string, string) }
	if errors.As(err, &c) {
		class, _ := c.IPAClass()
		return class
	}
	return ""
}
