package ironiclab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
)

// InspectorBinary is Debian's ironic-inspector (API and conductor in one
// process, standalone mode).
const InspectorBinary = "/usr/bin/ironic-inspector"

// startInspector runs ironic-inspector on 127.0.0.1:port next to the lab's
// Ironic: sqlite, noauth, no PXE filter, in-process RPC. Ironic hands
// inspections to it (inspect_interface inspector) and it writes the results
// back through Ironic's API.
func (l *Lab) startInspector(t testing.TB, port int) {
	t.Helper()
	l.InspectorURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	service{name: "inspector", conf: inspectorTemplate, data: map[string]any{"Dir": l.Dir, "Port": port, "Ironic": l.URL},
		dbsync: []string{"/usr/bin/ironic-inspector-dbsync", "upgrade"}, binary: InspectorBinary, url: l.InspectorURL,
		dumpLog: func() {
			b, _ := os.ReadFile(filepath.Join(l.Dir, "logs", "inspector.log"))
			lines := strings.Split(string(b), "\n")
			if len(lines) > 200 {
				lines = lines[len(lines)-200:]
			}
			t.Logf("inspector.log (tail):\n%s", strings.Join(lines, "\n"))
		}}.run(t, l.Dir)
}

// Introspection is ironic-inspector's status of a node's inspection.
type Introspection struct {
	Finished bool    `json:"finished"`
	State    string  `json:"state"`
	Error    *string `json:"error"`
}

// Introspection fetches the inspector's status for node id.
func (l *Lab) Introspection(ctx context.Context, id string) (*Introspection, error) {
	var st Introspection
	return &st, l.do(ctx, l.InspectorURL, "", "GET", "/v1/introspection/"+id, nil, &st)
}

var inspectorTemplate = template.Must(template.New("inspector.conf").Parse(`[DEFAULT]
host = goipa-inspector
debug = true
log_dir = {{.Dir}}/logs
log_file = inspector.log
use_stderr = false
auth_strategy = noauth
listen_address = 127.0.0.1
listen_port = {{.Port}}
standalone = true
transport_url = fake://

[ironic]
auth_type = none
endpoint_override = {{.Ironic}}

[database]
connection = sqlite:///{{.Dir}}/db/inspector.sqlite

[pxe_filter]
driver = noop

[processing]
add_ports = all
keep_ports = all
store_data = database
ramdisk_logs_dir = {{.Dir}}/inspector-ramdisk-logs
always_store_ramdisk_logs = true
power_off = true

[oslo_concurrency]
lock_path = {{.Dir}}/locks
`))
