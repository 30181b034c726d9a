package ipa13

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Agent is IPA 13 running in its sandbox, its API on 127.0.0.1.
type Agent struct {
	URL   string
	Pid   int
	token string
	log   string
	done  chan error
	stop  sync.Once
}

// Start runs IPA in root's sandbox with loop as its only disk and waits for
// its API. Without extra arguments it runs without an Ironic API URL: no
// lookup, no heartbeat, commands authorised by a pre-shared token; the e2e
// bench passes --api_url instead. The sandbox ends with the test.
func Start(t testing.TB, root, loop string, extra ...string) *Agent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := &Agent{URL: "http://127.0.0.1:" + port, log: filepath.Join(dir, "ipa.log"), done: make(chan error, 1)}
	args := []string{"/usr/bin/ironic-python-agent", "--listen_host", "127.0.0.1", "--listen_port", port,
		"--advertise_host", "127.0.0.1", "--advertise_port", port, "--debug"}
	if len(extra) == 0 {
		a.token = "goipa-bench-token-0123456789abcdef0123"
		args = append(args, "--agent_token", a.token)
	}
	cmd := exec.Command(self, append(args, extra...)...)
	cmd.Env = append(os.Environ(), rootEnv+"="+root, loopEnv+"="+loop, dirEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Setpgid: true}
	logf, err := os.Create(a.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a.Pid = cmd.Process.Pid
	go func() { a.done <- cmd.Wait() }()
	t.Cleanup(func() {
		a.Stop()
		if t.Failed() {
			a.dumpLog(t)
		}
	})
	for deadline := time.Now().Add(2 * time.Minute); ; {
		// With an Ironic API, IPA serves https (auto-TLS): a connection
		// tells either way that the API listens.
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return a
		}
		select {
		case err := <-a.done:
			a.done <- err // for Stop
			a.dumpLog(t)
			t.Fatalf("IPA exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			a.dumpLog(t)
			t.Fatal("IPA's API never answered")
		}
	}
}

func (a *Agent) dumpLog(t testing.TB) {
	b, _ := os.ReadFile(a.log)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	t.Logf("IPA log (tail):\n%s", b)
}

// TmpDir is where the agent's TMPDIR tmpfs is seen from the host.
func (a *Agent) TmpDir() string { return fmt.Sprintf("/proc/%d/root/tmp", a.Pid) }

// WriteImage runs the deploy step write_image as Ironic would
// (deploy.execute_deploy_step with the node, whose root device hints
// choose the disk) and waits for it to finish.
func (a *Agent) WriteImage(ctx context.Context, node, imageInfo map[string]any) error {
	body, _ := json.Marshal(map[string]any{"name": "deploy.execute_deploy_step", "params": map[string]any{
		"step": map[string]any{"interface": "deploy", "step": "write_image", "priority": 80,
			"args": map[string]any{"image_info": imageInfo, "configdrive": nil}},
		"node": node, "ports": []any{}}})
	var res result
	if err := a.call(ctx, http.MethodPost, "/v1/commands/?wait=false", body, &res); err != nil {
		return err
	}
	for res.Status == "RUNNING" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		var list struct {
			Commands []result `json:"commands"`
		}
		if err := a.call(ctx, http.MethodGet, "/v1/commands/", nil, &list); err != nil {
			return err
		}
		for _, c := range list.Commands {
			if c.ID == res.ID {
				res = c
			}
		}
	}
	if res.Status != "SUCCEEDED" {
		return fmt.Errorf("IPA: write_image %s: %s", res.Status, res.Error)
	}
	return nil
}

type result struct {
	ID     string          `json:"id"`
	Status string          `json:"command_status"`
	Error  json.RawMessage `json:"command_error"`
}

func (a *Agent) call(ctx context.Context, method, path string, body []byte, out any) error {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path+sep+"agent_token="+a.token, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	if r.StatusCode/100 != 2 {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		return fmt.Errorf("IPA: %s %s: %s %s", method, path, r.Status, b.Bytes())
	}
	return json.NewDecoder(r.Body).Decode(out)
}

// Node is the node a write_image step carries, its root device hint naming
// loop.
func Node(loop string) map[string]any {
	return map[string]any{"uuid": "00000000-0000-4000-8000-000000000b0c", "properties": map[string]any{
		"root_device": map[string]any{"name": loop}}, "instance_info": map[string]any{}, "driver_internal_info": map[string]any{}}
}

// Stop ends the agent (its whole process group: qemu-img too) and waits.
func (a *Agent) Stop() {
	a.stop.Do(func() {
		syscall.Kill(-a.Pid, syscall.SIGKILL)
		<-a.done
	})
}
