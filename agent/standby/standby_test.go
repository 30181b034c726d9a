package standby

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/goipa/goipa/ipa"
)

type fakeMachine struct{ calls chan string }

func (f fakeMachine) Sync(context.Context) error     { f.calls <- "sync"; return nil }
func (f fakeMachine) PowerOff(context.Context) error { f.calls <- "poweroff"; return nil }
func (f fakeMachine) Reboot(context.Context) error   { f.calls <- "reboot"; return nil }

func TestPowerCommands(t *testing.T) {
	for _, tc := range []struct{ cmd, want, status string }{
		{"standby.sync", "sync", ipa.StatusSucceeded},
		{"standby.power_off", "poweroff", ipa.StatusRunning},
		{"standby.run_image", "reboot", ipa.StatusRunning},
	} {
		m := fakeMachine{calls: make(chan string, 1)}
		r := ipa.NewRunner(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		Register(r, m)
		res, err := r.Execute(tc.cmd, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.cmd, err)
		}
		if res.Status() != tc.status {
			t.Errorf("%s answered %s, want %s", tc.cmd, res.Status(), tc.status)
		}
		select {
		case got := <-m.calls:
			if got != tc.want {
				t.Errorf("%s called %s", tc.cmd, got)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s never reached the machine", tc.cmd)
		}
	}
}
