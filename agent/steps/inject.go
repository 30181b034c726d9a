package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/goipa/goipa/hardware/inject"
	"github.com/goipa/goipa/hardware/knob"
	"github.com/goipa/goipa/ipa"
)

// injectArgs is IPA's inject_files ARGSINFO: neither argument is required
// (files also come from the node's properties.inject_files).
var injectArgs = map[string]ipa.Arg{
	"files": {Required: false, Description: "Files to inject: a list of objects with 'path' (the file's path), " +
		"'partition' (partition number or device; found from the path when missing), 'content' (base64, or a URL), " +
		"'deleted' (remove the file), 'mode', 'owner', 'group', and 'dirmode' (mode of the leaf directory if " +
		"created). Added to node.properties[inject_files]."},
	"verify_ca": {Required: false, Description: "Whether to verify TLS certificates when downloading content. " +
		"The agent's own TLS settings apply by default."},
}

// RegisterInject adds inject_files as a deploy and a service step, with IPA's
// attributes: interface deploy, the priority of ipa-inject-files-priority
// (0 unless set: the step then runs only from a deploy template), no
// reboot. IPA does not mark it abortable.
func RegisterInject(g *ipa.Generic, priority int, o inject.Options, root RootDevice) {
	s := ipa.Step{Interface: "deploy", Step: "inject_files", Priority: priority, Argsinfo: injectArgs}
	fn := func(ctx context.Context, req ipa.Request) (any, error) {
		var args struct {
			Files    any `json:"files"`
			VerifyCA any `json:"verify_ca"`
		}
		if err := req.DecodeArgs(&args); err != nil {
			return nil, ipa.InvalidParams("inject_files: %v", err)
		}
		verify, err := verifyCA(args.VerifyCA)
		if err != nil {
			return nil, ipa.InvalidParams("%v", err)
		}
		props := req.Node.Properties
		files, err := inject.ParseFiles(props["inject_files"], args.Files)
		if err != nil {
			return nil, ipa.InvalidParams("%v", err)
		}
		o := o
		o.RootDevice = func(ctx context.Context) (string, error) { return root(ctx, req.Node) }
		res, err := inject.Inject(ctx, files, req.Node.Fields, req.Ports, verify, o)
		switch {
		case err == nil && len(res) == 0:
			return nil, nil // IPA returns None
		case err == nil:
			return res, nil
		case errors.Is(err, inject.ErrNoPartition):
			return nil, ipa.Typed("DeviceNotFound", "Error finding the disk or partition device to deploy the image onto", err)
		case errors.Is(err, inject.ErrTemplate):
			return nil, ipa.InvalidParams("%v", err)
		}
		if ipa.AsError(err).Type != "CommandExecutionError" {
			return nil, err // already typed, e.g. by the root device lookup
		}
		return nil, ipa.Typed("CommandExecutionError", "Command execution failed", err)
	}
	g.Add(ipa.Deploy, s, fn)
	g.Add(ipa.Service, s, fn)
}

// verifyCA reads the verify_ca argument: a boolean (true by default).
func verifyCA(v any) (bool, error) {
	if v == nil {
		return true, nil
	}
	ok, err := knob.StrictBool(v)
	if err != nil {
		b, _ := json.Marshal(v)
		return false, fmt.Errorf("%w: verify_ca must be a boolean, got %s", inject.ErrInvalidSpec, b)
	}
	return ok, nil
}
