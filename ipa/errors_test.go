package ipa_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/goipa/goipa/internal/errclass"
	"github.com/goipa/goipa/ipa"
)

// TestAsError: a domain package's class (errclass) and the agent's own
// reach the wire with IPA's type, code and message, wrapped or not; the
// chain stays intact for errors.Is.
func TestAsError(t *testing.T) {
	cause := errors.New("sha256 mismatch")
	for _, tc := range []struct {
		err                   error
		typ, message, details string
		code                  int
	}{
		{fmt.Errorf("writing: %w", errclass.New("ImageChecksumError", "Error verifying image checksum", cause)),
			"ImageChecksumError", "Error verifying image checksum", "sha256 mismatch", http.StatusInternalServerError},
		{errclass.Invalid("image_info: %s is required", "id"),
			"InvalidCommandParamsError", "Invalid command parameters", "image_info: id is required", http.StatusBadRequest},
		{ipa.Typed("SoftwareRAIDError", "Software RAID caused unknown error", cause),
			"SoftwareRAIDError", "Software RAID caused unknown error", "sha256 mismatch", http.StatusInternalServerError},
		{ipa.NotFound("no such command"), "RequestedObjectNotFoundError", "Not found", "no such command", http.StatusNotFound},
		{cause, "CommandExecutionError", "Command execution failed", "sha256 mismatch", http.StatusInternalServerError},
	} {
		e := ipa.AsError(tc.err)
		if e.Type != tc.typ || e.Message != tc.message || e.Details != tc.details || e.Code != tc.code {
			t.Errorf("AsError(%v) = %+v", tc.err, e)
		}
	}
	if ipa.AsError(nil) != nil {
		t.Error("AsError(nil) is not nil")
	}
	if err := fmt.Errorf("x: %w", errclass.New("ImageWriteError", "m", cause)); !errors.Is(err, cause) || errclass.Of(err) != "ImageWriteError" {
		t.Errorf("chain lost: %v, class %q", err, errclass.Of(err))
	}
}
