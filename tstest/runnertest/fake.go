// Package runnertest provides a fake runner.Runner that records every argv and
// answers from a table, for unit tests of code that shells out.
package runnertest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/goipa/goipa/internal/runner"
)

// Response is what the fake returns for a matching command.
type Response struct {
	Stdout string
	Err    error
}

// Fake records calls. Responses are keyed by the full argv joined with
// spaces; a key ending in "*" matches any argv with that prefix.
type Fake struct {
	mu        sync.Mutex
	Responses map[string]Response
	Calls     []runner.Cmd
	// Default answers commands with no entry; nil means an error naming the argv.
	Default *Response
}

// Run implements runner.Runner.
func (f *Fake) Run(_ context.Context, c runner.Cmd) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Calls = append(f.Calls, c)
	key := c.String()
	if r, ok := f.Responses[key]; ok {
		return []byte(r.Stdout), r.Err
	}
	best := ""
	for k := range f.Responses {
		if p, ok := strings.CutSuffix(k, "*"); ok && strings.HasPrefix(key, p) && len(p) > len(best) {
			best = k
		}
	}
	if best != "" {
		r := f.Responses[best]
		return []byte(r.Stdout), r.Err
	}
	if f.Default != nil {
		return []byte(f.Default.Stdout), f.Default.Err
	}
	return nil, fmt.Errorf("runnertest: unexpected command %q", key)
}

// Argvs returns every recorded call as a joined argv string.
func (f *Fake) Argvs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.Calls))
	for i, c := range f.Calls {
		out[i] = c.String()
	}
	return out
}
