package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// deployAgent answers the deploy commands; write_image finishes at once.
type deployAgent struct {
	mu    sync.Mutex
	token string
	cmds  []map[string]any
	names []string
}

func (a *deployAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.URL.Query().Get("agent_token") != a.token {
		w.WriteHeader(401)
		return
	}
	if r.Method == http.MethodGet {
		json.NewEncoder(w).Encode(map[string]any{"commands": a.cmds})
		return
	}
	var req struct {
		Name   string         `json:"name"`
		Params map[string]any `json:"params"`
	}
	json.NewDecoder(r.Body).Decode(&req)
	a.names = append(a.names, req.Name)
	_, short, _ := strings.Cut(req.Name, ".")
	res := map[string]any{"id": fmt.Sprint(len(a.cmds)), "command_name": short, "command_status": "SUCCEEDED", "command_error": nil, "command_result": nil}
	switch req.Name {
	case "deploy.get_deploy_steps":
		res["command_result"] = map[string]any{
			"deploy_steps":             map[string]any{"GenericHardwareManager": []any{map[string]any{"interface": "deploy", "step": "write_image", "priority": 0}}},
			"hardware_manager_version": map[string]any{"generic_hardware_manager": "1.1"},
		}
	case "deploy.execute_deploy_step":
		res["command_status"] = "RUNNING"
		done := map[string]any{"id": res["id"], "command_name": short, "command_status": "SUCCEEDED", "command_error": nil,
			"command_result": map[string]any{"deploy_result": nil, "deploy_step": req.Params["step"]}}
		a.cmds = append(a.cmds, done)
		json.NewEncoder(w).Encode(res)
		return
	case "standby.get_partition_uuids":
		res["command_result"] = map[string]any{"root uuid": "0x00000000"}
	case "standby.power_off":
		res["command_status"] = "RUNNING"
	}
	a.cmds = append(a.cmds, res)
	json.NewEncoder(w).Encode(res)
}

func TestConductorDeploy(t *testing.T) {
	const mac = "52:54:00:aa:bb:cc"
	img := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(4<<20))
	}))
	defer img.Close()
	agent := &deployAgent{}
	agentSrv := httptest.NewServer(agent)
	defer agentSrv.Close()

	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	codec := make(chan int, 1)
	go func() {
		codec <- Main(context.Background(), []string{"--timeout", "20s", "conductor", "--listen", "127.0.0.1:0", "--mac", mac,
			"--image-url", img.URL + "/disk.raw", "--image-sha256", "abc", "--root-device", "/dev/vda", "--power-off", "--poll", "10ms"}, pw, &stderr)
		pw.Close()
	}()
	rd := bufio.NewReader(pr)
	first, err := rd.ReadString('\n')
	if err != nil {
		t.Fatalf("first line: %v (stderr %q)", err, stderr.String())
	}
	m := regexp.MustCompile(`^fake Ironic at (http://127\.0\.0\.1:\d+): node (\S+) \(port ` + mac + `\) in "wait call-back"`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first line = %q", first)
	}
	ironic, uuid := m[1], m[2]
	rest := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(rd)
		rest <- string(b)
	}()

	// Play the agent's lookup and heartbeat.
	req, _ := http.NewRequest("GET", ironic+"/v1/lookup?addresses="+mac, nil)
	req.Header.Set("X-OpenStack-Ironic-API-Version", "1.62")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var lr struct {
		Node   map[string]any
		Config map[string]any
	}
	json.NewDecoder(resp.Body).Decode(&lr)
	resp.Body.Close()
	if resp.StatusCode != 200 || lr.Node["uuid"] != uuid || lr.Config["heartbeat_timeout"] != 30.0 {
		t.Fatalf("lookup = %d %v", resp.StatusCode, lr)
	}
	if root := lr.Node["properties"].(map[string]any)["root_device"].(map[string]any)["name"]; root != "/dev/vda" {
		t.Errorf("root_device = %v", root)
	}
	agent.mu.Lock()
	agent.token = lr.Config["agent_token"].(string)
	agent.mu.Unlock()
	body, _ := json.Marshal(map[string]string{"callback_url": agentSrv.URL, "agent_token": agent.token, "agent_version": "0.1.0"})
	req, _ = http.NewRequest("POST", ironic+"/v1/heartbeat/"+uuid, bytes.NewReader(body))
	req.Header.Set("X-OpenStack-Ironic-API-Version", "1.68")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("heartbeat = %v %v", resp, err)
	}
	resp.Body.Close()

	select {
	case code := <-codec:
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("conductor did not finish")
	}
	out := <-rest
	for _, want := range []string{"lookup:          +", "first heartbeat: +", "from " + agentSrv.URL + " (agent 0.1.0, API 1.68, TLS cert false)",
		"write_image:", "(4 MiB,", "root uuid:       0x00000000", `node "active"`} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	want := []string{"deploy.get_deploy_steps", "deploy.execute_deploy_step", "standby.get_partition_uuids", "standby.power_off"}
	if fmt.Sprint(agent.names) != fmt.Sprint(want) {
		t.Errorf("commands = %v, want %v", agent.names, want)
	}
}

func TestConductorUsage(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"conductor"}, 2, "needs --mac"},
		{[]string{"conductor", "--mac", "nope", "--listen", "127.0.0.1:0"}, 2, `invalid MAC "nope"`},
		{[]string{"conductor", "--mac", "52:54:00:00:00:01", "--disk-format", "vmdk"}, 2, "raw or qcow2"},
		{[]string{"conductor", "--mac", "52:54:00:00:00:01", "--listen", "0.0.0.0:0"}, 1, "loopback only"},
		{[]string{"--timeout", "50ms", "conductor", "--mac", "52:54:00:00:00:01", "--listen", "127.0.0.1:0"}, 1, "context deadline exceeded"},
	}
	for _, tt := range tests {
		code, _, errOut := runCtl(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d %q", tt.args, code, errOut, tt.code, tt.stderr)
		}
	}
}
