package main

import (
	"os/exec"
	"strings"
	"testing"
)

// testSupport is what only tests may link: fakes, test harnesses and the
// standard library's test packages. The agent shipped in the ramdisk links
// none of it (in the spirit of Tailscale's deptest).
var testSupport = []string{
	"github.com/goipa/goipa/agent/fakeironic",
	"github.com/goipa/goipa/internal/ctl",
	"github.com/goipa/goipa/internal/fakesys",
	"github.com/goipa/goipa/internal/looptest",
	"github.com/goipa/goipa/internal/runner/runnertest",
	"github.com/goipa/goipa/e2e",
	"github.com/goipa/goipa/qemu",
	"testing",
	"net/http/httptest",
}

func TestAgentLinksNoTestSupport(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps gave %d packages: not the agent's", len(deps))
	}
	for _, d := range deps {
		for _, bad := range testSupport {
			if d == bad || strings.HasPrefix(d, bad+"/") {
				t.Errorf("cmd/goipa links %s", d)
			}
		}
	}
}
