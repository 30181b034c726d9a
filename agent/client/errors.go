package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// APIError is an HTTP error reply of the agent ({"faultcode","faultstring"}).
type APIError struct {
	StatusCode  int
	FaultCode   string
	FaultString string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("agent API error %d: %s", e.StatusCode, e.FaultString)
}

// IsBusy reports what the conductor maps to AgentInProgress: HTTP 409 or
// "agent is busy" in the fault string.
func (e *APIError) IsBusy() bool {
	return e.StatusCode == http.StatusConflict || strings.Contains(strings.ToLower(e.FaultString), "agent is busy")
}

// IsBusy reports whether err is an APIError saying the agent is busy.
func IsBusy(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.IsBusy()
}

func newAPIError(status int, body []byte) *APIError {
	e := &APIError{StatusCode: status}
	var fault struct {
		FaultCode   string `json:"faultcode"`
		FaultString string `json:"faultstring"`
	}
	if json.Unmarshal(body, &fault) == nil && fault.FaultString != "" {
		e.FaultCode, e.FaultString = fault.FaultCode, fault.FaultString
		return e
	}
	// Not the agent's error format (a proxy, or a panic page): keep it short.
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	if text == "" {
		text = http.StatusText(status)
	}
	e.FaultString = text
	return e
}
