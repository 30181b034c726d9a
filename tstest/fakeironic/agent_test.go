package fakeironic

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// testAgent is a small agent REST API that answers like IPA and records
// what the conductor asked.
type testAgent struct {
	mu      sync.Mutex
	token   string
	cmds    []map[string]any
	calls   []agentCall
	started chan map[string]any // params of each execute_*_step
	srv     *httptest.Server
	caPEM   string
	// busy makes every POST answer 409; executeStatus overrides RUNNING.
	busy          bool
	executeStatus string
}

type agentCall struct {
	Name   string
	Wait   string
	Params map[string]any
}

// newTestAgent serves over TLS with a certificate made like IPA's auto-TLS
// one: self-signed ECDSA P-384, IP SAN, no basicConstraints.
func newTestAgent(t *testing.T) *testAgent {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(time.Now().UnixNano()),
		Subject:            pkix.Name{CommonName: "ramdisk"},
		IPAddresses:        []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:          time.Now().Add(-time.Hour),
		NotAfter:           time.Now().Add(30 * 24 * time.Hour),
		SignatureAlgorithm: x509.ECDSAWithSHA512,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	a := &testAgent{started: make(chan map[string]any, 10)}
	a.caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	a.srv = httptest.NewUnstartedServer(a)
	a.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.URL.Query().Get("agent_token") != a.token {
		writeJSON(w, 401, map[string]any{"faultcode": "Client", "faultstring": "401 Unauthorized: Token invalid."})
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/v1/commands/" {
		writeJSON(w, 200, map[string]any{"commands": a.cmds})
		return
	}
	var req struct {
		Name   string         `json:"name"`
		Params map[string]any `json:"params"`
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/commands/" || json.NewDecoder(r.Body).Decode(&req) != nil {
		writeJSON(w, 400, map[string]any{"faultcode": "Client", "faultstring": "bad request"})
		return
	}
	a.calls = append(a.calls, agentCall{req.Name, r.URL.Query().Get("wait"), req.Params})
	if a.busy {
		writeJSON(w, 409, map[string]any{"faultcode": "Client", "faultstring": "Agent is busy: executing command execute_deploy_step"})
		return
	}
	_, short, _ := strings.Cut(req.Name, ".")
	res := map[string]any{"id": fmt.Sprint("cmd-", len(a.cmds)), "command_name": short, "command_status": "SUCCEEDED", "command_error": nil, "command_result": nil}
	switch req.Name {
	case "deploy.get_deploy_steps":
		res["command_result"] = map[string]any{
			"deploy_steps": map[string]any{"GenericHardwareManager": []any{
				map[string]any{"interface": "deploy", "step": "erase_devices_metadata", "priority": 0, "reboot_requested": false},
				map[string]any{"interface": "deploy", "step": "write_image", "priority": 0, "reboot_requested": false},
			}},
			"hardware_manager_version": map[string]any{"generic_hardware_manager": "1.1"},
		}
	case "deploy.execute_deploy_step", "standby.power_off", "image.install_bootloader":
		res["command_status"] = "RUNNING"
		if req.Name == "deploy.execute_deploy_step" {
			a.started <- req.Params
			if a.executeStatus != "" {
				res["command_status"] = a.executeStatus
				res["command_error"] = map[string]any{"type": "DeploymentError", "code": 500, "message": "Deploy step failed", "details": "no disk"}
			}
		}
	case "standby.get_partition_uuids":
		res["command_result"] = map[string]any{"root uuid": "0x00000000", "efi system partition uuid": nil}
	case "standby.sync":
	case "log.collect_system_logs":
		res["command_result"] = map[string]any{"system_logs": base64.StdEncoding.EncodeToString([]byte("tarball"))}
	default:
		writeJSON(w, 400, map[string]any{"faultcode": "Client", "faultstring": "Invalid command: Unknown command: " + req.Name})
		return
	}
	a.cmds = append(a.cmds, res)
	writeJSON(w, 200, res)
}

// finishLast ends the last command as the agent would.
func (a *testAgent) finishLast(status string, result any, cmdErr map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	last := a.cmds[len(a.cmds)-1]
	last["command_status"], last["command_result"], last["command_error"] = status, result, cmdErr
}

func (a *testAgent) setCommands(cmds ...map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cmds = cmds
}

func (a *testAgent) callNames() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, c := range a.calls {
		out = append(out, c.Name+" wait="+c.Wait)
	}
	return out
}
