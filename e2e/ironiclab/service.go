package ironiclab

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// service is one OpenStack service the lab runs from Debian's packages.
type service struct {
	name   string // config and stdout file names
	conf   *template.Template
	data   any
	dbsync []string // database preparation argv; --config-file is added
	binary string
	url    string // answers GET / with 200 once up
	// dumpLog shows the service's log when the test fails.
	dumpLog func()
	// env is added to the service's environment.
	env []string
	// root, when set, is the file system the service runs in (chroot).
	root string
}

// command runs argv on the host, or in s.root with dir shown there.
func (s service) command(dir string, argv ...string) (*exec.Cmd, error) {
	if s.root == "" {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		return cmd, nil
	}
	return chrootCommand(s.root, dir, argv...)
}

// run renders the service's configuration into dir, prepares its
// database, starts it until the test ends, and waits until it answers.
func (s service) run(t testing.TB, dir string) {
	t.Helper()
	conf := filepath.Join(dir, s.name+".conf")
	f, err := os.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	err = s.conf.Execute(f, s.data)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	dbsync, err := s.command(dir, append([]string{s.dbsync[0], "--config-file", conf}, s.dbsync[1:]...)...)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := dbsync.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", s.dbsync[0], err, out)
	}
	cmd, err := s.command(dir, s.binary, "--config-file", conf)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(append(cmd.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin"), s.env...)
	cmd.Dir = dir
	logf, err := os.Create(filepath.Join(dir, "logs", s.name+".stdout"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The whole process group: a service may fork workers.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			s.dumpLog()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.url + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.dumpLog()
			out, _ := os.ReadFile(filepath.Join(dir, "logs", s.name+".stdout"))
			t.Fatalf("%s did not answer on %s: %v\n%s", s.name, s.url, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
