// Package ipa is the contract with the Ironic conductor, a leaf every layer
// above the domain packages shares: the command runner (extensions register
// commands such as "standby.prepare_image", one runs at a time, every result
// is kept in order), results and IPA's error classes serialized exactly as
// the Ironic Python Agent does, the step and request types and the
// hardware-manager registry. The packages that do the work (hardware, image,
// raid) import none of it: their errors name an IPA class through Classed,
// and their steps are registered by the adapters in agent/steps.
package ipa

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// Spec is a registered command. Build one with Sync or Async.
type Spec struct {
	async bool
	// prepare decodes and validates params; the returned func does the work.
	prepare func(params json.RawMessage) (func(context.Context) (any, error), error)
}

// Validator is implemented by parameter structs that check themselves; a
// failure is a 400 InvalidCommandParamsError before anything runs.
type Validator interface {
	Validate() error
}

func spec[P any](async bool, fn func(context.Context, P) (any, error)) Spec {
	return Spec{async: async, prepare: func(raw json.RawMessage) (func(context.Context) (any, error), error) {
		var p P
		if len(raw) > 0 && string(raw) != "null" {
			if err := json.Unmarshal(raw, &p); err != nil {
				return nil, InvalidParams("%v", err)
			}
		}
		if v, ok := any(&p).(Validator); ok {
			if err := v.Validate(); err != nil {
				return nil, InvalidParams("%v", err)
			}
		}
		return func(ctx context.Context) (any, error) { return fn(ctx, p) }, nil
	}}
}

// Sync is a command that runs inside the request and returns its result.
func Sync[P any](fn func(context.Context, P) (any, error)) Spec { return spec(false, fn) }

// Async is a command that answers RUNNING at once and finishes in the
// background; completion forces a heartbeat so the conductor learns of it.
func Async[P any](fn func(context.Context, P) (any, error)) Spec { return spec(true, fn) }

// Runner executes commands, one at a time.
type Runner struct {
	log *slog.Logger
	// ctx is the parent of async commands: cancelled when the agent stops.
	ctx context.Context

	cmdMu sync.Mutex // held while a command is started (and for sync ones, run)
	exts  map[string]map[string]Spec

	resMu   sync.Mutex
	results []*Result
	byID    map[string]*Result

	// AsyncDone is called after each async command finishes.
	AsyncDone func()
}

// NewRunner returns a runner whose async commands run under ctx.
func NewRunner(ctx context.Context, log *slog.Logger) *Runner {
	return &Runner{log: log, ctx: ctx, exts: map[string]map[string]Spec{}, byID: map[string]*Result{}}
}

// Register adds ext.name. Registering the same name twice replaces it, so a
// vendor can override a generic command.
func (r *Runner) Register(ext, name string, s Spec) {
	r.cmdMu.Lock()
	defer r.cmdMu.Unlock()
	if r.exts[ext] == nil {
		r.exts[ext] = map[string]Spec{}
	}
	r.exts[ext][name] = s
}

// Execute starts the command "ext.name". A returned error is an *Error the
// API must answer with its code (unknown command, invalid params, busy);
// failures while running are recorded in the result instead.
func (r *Runner) Execute(fullName string, params json.RawMessage) (*Result, error) {
	r.cmdMu.Lock()
	defer r.cmdMu.Unlock()

	if last := r.last(); last != nil && !last.isDone() {
		return nil, Busy(last.Name())
	}
	ext, name, ok := strings.Cut(fullName, ".")
	if !ok || ext == "" || name == "" {
		return nil, InvalidCommand("Command name must be of the form <extension>.<name>")
	}
	cmds, ok := r.exts[ext]
	if !ok {
		return nil, NotFound(fmt.Sprintf("Extension with id %s not found.", ext))
	}
	s, ok := cmds[name]
	if !ok {
		return nil, InvalidCommand("Unknown command: " + name)
	}
	run, err := s.prepare(params)
	if err != nil {
		return nil, err
	}

	res := &Result{id: newUUID(), name: name, status: StatusRunning, done: make(chan struct{})}
	r.resMu.Lock()
	r.results = append(r.results, res)
	r.byID[res.id] = res
	r.resMu.Unlock()

	log := r.log.With("command", fullName, "id", res.id)
	if !s.async {
		v, err := r.call(r.ctx, res, run)
		res.finish(wrapString(v, ""), err)
		logDone(log, res)
		return res, nil
	}
	log.Info("command started")
	go func() {
		v, err := r.call(r.ctx, res, run)
		res.finish(wrapString(v, name+": "), err)
		logDone(log, res)
		if r.AsyncDone != nil {
			r.AsyncDone()
		}
	}()
	return res, nil
}

// call runs fn, turning a panic into a failed result rather than a dead agent.
func (r *Runner) call(ctx context.Context, res *Result, fn func(context.Context) (any, error)) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(withProgress(ctx, res))
}

func logDone(log *slog.Logger, res *Result) {
	if e := res.Err(); e != nil {
		log.Error("command failed", "status", res.Status(), "error", e.Error())
		return
	}
	log.Info("command succeeded")
}

// wrapString mirrors IPA: string results become {"result": prefix+s}.
func wrapString(v any, prefix string) any {
	if s, ok := v.(string); ok {
		return map[string]string{"result": prefix + s}
	}
	return v
}

func (r *Runner) last() *Result {
	r.resMu.Lock()
	defer r.resMu.Unlock()
	if len(r.results) == 0 {
		return nil
	}
	return r.results[len(r.results)-1]
}

// List returns every result in the order the commands were started.
func (r *Runner) List() []*Result {
	r.resMu.Lock()
	defer r.resMu.Unlock()
	return append([]*Result(nil), r.results...)
}

// Get returns the result with the given id.
func (r *Runner) Get(id string) (*Result, error) {
	r.resMu.Lock()
	defer r.resMu.Unlock()
	if res, ok := r.byID[id]; ok {
		return res, nil
	}
	return nil, NotFound(fmt.Sprintf("Command Result with id %s not found.", id))
}

type progressKey struct{}

func withProgress(ctx context.Context, res *Result) context.Context {
	return context.WithValue(ctx, progressKey{}, res)
}

// ReportProgress sets the running command's command_result, so an operator
// polling GET /v1/commands/ sees bytes written, rate and ETA.
func ReportProgress(ctx context.Context, v any) {
	if res, ok := ctx.Value(progressKey{}).(*Result); ok {
		res.setProgress(v)
	}
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
