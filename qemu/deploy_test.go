package qemu

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/tstest/fakeironic"
)

// lab is a fake Ironic and an image server on 127.0.0.1, reachable from
// the guest through guest forwards, and a node for the VM's NIC.
type lab struct {
	ironic *fakeironic.Server
	images string // directory served
	fwds   []Fwd
	node   fakeironic.Node
}

const (
	guestIronicPort = 6385
	guestImagePort  = 8080
)

// firstHeartbeat waits for the agent's first accepted heartbeat.
func (l *lab) firstHeartbeat(t *testing.T) fakeironic.Heartbeat {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	hb, err := l.ironic.WaitAgent(ctx, l.node.UUID)
	if err != nil {
		t.Fatal(err)
	}
	return hb
}

// conductor waits for the agent's first heartbeat and returns a conductor
// driving it; the caller closes it.
func (l *lab) conductor(ctx context.Context, t *testing.T) *fakeironic.Conductor {
	t.Helper()
	if _, err := l.ironic.WaitAgent(ctx, l.node.UUID); err != nil {
		t.Fatal(err)
	}
	c, err := l.ironic.Conductor(l.node.UUID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newLab(t *testing.T, props map[string]any) *lab {
	t.Helper()
	l := &lab{ironic: fakeironic.NewTest(t, fakeironic.Options{}), images: t.TempDir()}
	cfg := fakeironic.DefaultConfig()
	cfg.HeartbeatTimeout = 30
	l.ironic.SetConfig(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(l.images))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	l.fwds = []Fwd{
		{GuestPort: guestIronicPort, HostAddr: hostPort(l.ironic.URL())},
		{GuestPort: guestImagePort, HostAddr: ln.Addr().String()},
	}
	l.node, err = l.ironic.AddNode(fakeironic.Node{Name: t.Name(), MACs: []string{DefaultMAC},
		ProvisionState: fakeironic.StateDeployWait, Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func hostPort(u string) string {
	if h, p, err := net.SplitHostPort(u[len("http://"):]); err == nil {
		return net.JoinHostPort(h, p)
	}
	return u
}

func (l *lab) append() string {
	return fmt.Sprintf("ipa-api-url=http://%s:%d", GuestServiceIP, guestIronicPort)
}

// imageURL publishes data as name and returns the guest's URL and sha256.
func (l *lab) publish(t *testing.T, name string, data []byte) (string, string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(l.images, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return fmt.Sprintf("http://%s:%d/%s", GuestServiceIP, guestImagePort, name), hex.EncodeToString(sum[:])
}

// TestDeploy boots the ramdisk and plays Ironic's direct deploy of a raw
// and a qcow2 image onto the disk chosen by a serial root device hint;
// the disk must hold the image and the other disk must be untouched.
func TestDeploy(t *testing.T) {
	kernel, initrd := Images(t)
	img := DiskImage(48<<20, 7)
	for _, format := range []string{"raw", "qcow2"} {
		t.Run(format, func(t *testing.T) {
			l := newLab(t, map[string]any{"root_device": map[string]any{"serial": "target"}})
			body := img
			if format == "qcow2" {
				dir := t.TempDir()
				raw, q := filepath.Join(dir, "img.raw"), filepath.Join(dir, "img.qcow2")
				os.WriteFile(raw, img, 0o644)
				if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", raw, q).CombinedOutput(); err != nil {
					t.Fatalf("qemu-img: %v %s", err, out)
				}
				body, _ = os.ReadFile(q)
			}
			url, sum := l.publish(t, "disk."+format, body)
			other := SparseDisk(t, 64<<20)
			if err := os.WriteFile(other, bytes.Repeat([]byte("other disk "), 1<<20), 0o644); err != nil {
				t.Fatal(err)
			}
			before := FileSHA256(t, other)
			target := SparseDisk(t, 1<<30)
			vm := Start(t, Options{Kernel: kernel, Initrd: initrd, MemMB: 256, Append: l.append(), Advertise: true,
				GuestFwds: l.fwds, Disks: []Disk{{Path: other, Serial: "other"}, {Path: target, Serial: "target"}}})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			rep, err := l.ironic.Deploy(ctx, l.node.UUID, fakeironic.ImageInfo{URLs: []string{url}, DiskFormat: format,
				OSHashAlgo: "sha256", OSHashValue: sum, StreamRawImages: true}, fakeironic.DeployOptions{PowerOff: true})
			if err != nil {
				t.Fatalf("deploy: %v", err)
			}
			t.Logf("deploy: first heartbeat %v after start, write_image %v, total %v",
				rep.FirstHeartbeat.Sub(vm.Started()).Round(time.Millisecond), rep.WriteEnd.Sub(rep.WriteStart).Round(time.Millisecond),
				rep.End.Sub(vm.Started()).Round(time.Millisecond))
			// standby.power_off powers the VM off for real.
			if err := vm.Wait(time.Minute); err != nil {
				t.Fatalf("VM did not power off: %v", err)
			}
			if !bytes.Equal(ReadAt(t, target, 0, len(img)), img) {
				t.Error("the target disk does not hold the image")
			}
			if after := FileSHA256(t, other); after != before {
				t.Error("the other disk changed")
			}
			if got := rep.PartitionUUIDs; got == nil || got.RootUUID != fmt.Sprintf("0x%02x%02x%02x%02x", img[443], img[442], img[441], img[440]) {
				t.Errorf("partition uuids = %+v", got)
			}
		})
	}
}

// TestCollectSystemLogs: log.collect_system_logs from the ramdisk carries
// the agent's own log, the kernel log and the md status, as the conductor
// stores them after a failed deploy.
func TestCollectSystemLogs(t *testing.T) {
	kernel, initrd := Images(t)
	l := newLab(t, nil)
	Start(t, Options{Kernel: kernel, Initrd: initrd, Append: l.append(), Advertise: true, GuestFwds: l.fwds})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := l.conductor(ctx, t)
	defer c.Close()
	tgz, err := c.CollectLogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = string(b)
	}
	for name, want := range map[string]string{"goipa.log": "goipa starting", "dmesg": "Linux version", "mdstat": "Personalities", "network": DefaultMAC} {
		if !strings.Contains(files[name], want) {
			t.Errorf("%s does not contain %q (files: %d)", name, want, len(files))
		}
	}
}
