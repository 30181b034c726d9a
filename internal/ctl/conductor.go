package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/goipa/goipa/tstest/fakeironic"
)

// conductorFlags are the flags of the conductor verb.
type conductorFlags struct {
	listen, mac, nodeUUID                   string
	imageURL, imageSHA256, diskFormat, root string
	maxVersion, bootMode                    string
	powerOff, requireTLS, verbose           bool
	heartbeatTimeout                        int
	poll                                    time.Duration
}

// runConductor serves a fake Ironic with one node in "wait call-back",
// waits for the agent's lookup and heartbeat, deploys the image if one is
// given (else lists the deploy steps), and prints a short report.
func runConductor(ctx context.Context, g globals, args []string, stdout, stderr io.Writer) error {
	var f conductorFlags
	fs := newFlagSet("conductor", stderr)
	fs.StringVar(&f.listen, "listen", "127.0.0.1:6385", "loopback address for the fake Ironic API")
	fs.StringVar(&f.mac, "mac", "", "MAC address of the node's port (required)")
	fs.StringVar(&f.nodeUUID, "node-uuid", "", "node UUID (random if empty)")
	fs.StringVar(&f.imageURL, "image-url", "", "image to deploy (none: only wait for the agent and list its deploy steps)")
	fs.StringVar(&f.imageSHA256, "image-sha256", "", "sha256 of the image")
	fs.StringVar(&f.diskFormat, "disk-format", "raw", "image format: raw or qcow2")
	fs.StringVar(&f.root, "root-device", "", "root device hint name, e.g. /dev/vda")
	fs.StringVar(&f.maxVersion, "max-version", "", "highest Ironic API version to announce (default 1.82)")
	fs.StringVar(&f.bootMode, "boot-mode", "bios", "bios, or uefi to add install_bootloader")
	fs.BoolVar(&f.powerOff, "power-off", false, "end with standby.power_off (default: standby.sync)")
	fs.BoolVar(&f.requireTLS, "require-tls", false, "reject http callback URLs, as Ironic >= 26.0")
	fs.BoolVar(&f.verbose, "v", false, "log every Ironic request to stderr")
	fs.IntVar(&f.heartbeatTimeout, "heartbeat-timeout", 30, "heartbeat_timeout sent in the lookup config (seconds)")
	fs.DurationVar(&f.poll, "poll", 5*time.Second, "command list poll interval between heartbeats")
	pos, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return err
	case err != nil:
		return fmt.Errorf("%w: conductor: %v", errUsage, err)
	case len(pos) > 0:
		return fmt.Errorf("%w: conductor takes flags only, got %q", errUsage, pos)
	case f.mac == "":
		return fmt.Errorf("%w: conductor needs --mac", errUsage)
	case f.diskFormat != "raw" && f.diskFormat != "qcow2":
		return fmt.Errorf("%w: --disk-format must be raw or qcow2", errUsage)
	case f.bootMode != "bios" && f.bootMode != "uefi":
		return fmt.Errorf("%w: --boot-mode must be bios or uefi", errUsage)
	}

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if f.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	cfg := fakeironic.DefaultConfig()
	cfg.HeartbeatTimeout = f.heartbeatTimeout
	srv, err := fakeironic.New(fakeironic.Options{MaxVersion: f.maxVersion, RequireTLS: f.requireTLS, Config: &cfg, Logger: logger})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	node := fakeironic.Node{UUID: f.nodeUUID, Name: "goipactl-node", MACs: []string{f.mac},
		ProvisionState: fakeironic.StateDeployWait, Properties: map[string]any{}}
	if f.root != "" {
		node.Properties["root_device"] = map[string]any{"name": f.root}
	}
	n, err := srv.AddNode(node)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	timeout := g.timeout
	if !g.timeoutSet {
		timeout = 30 * time.Minute // booting a machine takes longer than one request
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := srv.Start(ctx, f.listen); err != nil {
		return err
	}
	defer srv.Close()
	start := time.Now()
	fmt.Fprintf(stdout, "fake Ironic at %s: node %s (port %s) in %q\n", srv.URL(), n.UUID, n.MACs[0], n.ProvisionState)

	if f.imageURL == "" {
		return listSteps(ctx, srv, n.UUID, start, f.poll, stdout)
	}
	img := fakeironic.ImageInfo{URLs: []string{f.imageURL}, DiskFormat: f.diskFormat, StreamRawImages: true}
	if f.imageSHA256 != "" {
		img.OSHashAlgo, img.OSHashValue = "sha256", f.imageSHA256
	}
	size := imageSize(ctx, f.imageURL)
	rep, err := srv.Deploy(ctx, n.UUID, img, fakeironic.DeployOptions{PowerOff: f.powerOff, TargetBootMode: f.bootMode, PollInterval: f.poll})
	printDeployReport(stdout, srv, rep, start, size)
	if err != nil {
		if rep != nil && len(rep.Logs) > 0 {
			fmt.Fprintf(stdout, "agent logs collected: %d bytes (gzipped tar)\n", len(rep.Logs))
		}
		return err
	}
	return nil
}

// listSteps waits for the agent and prints its deploy steps.
func listSteps(ctx context.Context, srv *fakeironic.Server, uuid string, start time.Time, poll time.Duration, stdout io.Writer) error {
	hb, err := srv.WaitAgent(ctx, uuid)
	if err != nil {
		return err
	}
	printAgent(stdout, srv, hb, start)
	c, err := srv.Conductor(uuid)
	if err != nil {
		return err
	}
	defer c.Close()
	c.PollInterval = poll
	steps, err := c.GetSteps(ctx, "deploy")
	if err != nil {
		return err
	}
	return printJSON(stdout, map[string]any{"deploy_steps": steps.Steps, "hardware_manager_version": steps.HardwareManagerVersion})
}

func printAgent(w io.Writer, srv *fakeironic.Server, hb fakeironic.Heartbeat, start time.Time) {
	for _, l := range srv.Lookups() {
		if l.Status == http.StatusOK {
			fmt.Fprintf(w, "lookup:          +%s (API %s)\n", round(l.Time.Sub(start)), l.APIVersion)
			break
		}
	}
	fmt.Fprintf(w, "first heartbeat: +%s from %s (agent %s, API %s, TLS cert %v)\n",
		round(hb.Time.Sub(start)), hb.Body.CallbackURL, hb.Body.AgentVersion, hb.APIVersion, hb.Body.AgentVerifyCA != "")
}

func printDeployReport(w io.Writer, srv *fakeironic.Server, rep *fakeironic.DeployReport, start time.Time, size int64) {
	if rep == nil {
		return
	}
	if !rep.FirstHeartbeat.IsZero() {
		if hbs := srv.Heartbeats(rep.Node); len(hbs) > 0 {
			for _, hb := range hbs {
				if hb.Accepted() {
					printAgent(w, srv, hb, start)
					break
				}
			}
		}
	}
	if !rep.WriteEnd.IsZero() {
		d := rep.WriteEnd.Sub(rep.WriteStart)
		line := fmt.Sprintf("write_image:     %s", round(d))
		if size > 0 && d > 0 {
			line += fmt.Sprintf(" (%d MiB, %.1f MiB/s, heartbeat-bound)", size>>20, float64(size)/(1<<20)/d.Seconds())
		}
		fmt.Fprintln(w, line)
	}
	if rep.PartitionUUIDs != nil {
		fmt.Fprintf(w, "root uuid:       %s\n", rep.PartitionUUIDs.RootUUID)
	}
	if n, ok := srv.Node(rep.Node); ok {
		end := rep.End
		if end.IsZero() {
			end = time.Now()
		}
		fmt.Fprintf(w, "deploy:          %s, node %q", round(end.Sub(rep.Start)), n.ProvisionState)
		if n.LastError != "" {
			fmt.Fprintf(w, ": %s", n.LastError)
		}
		fmt.Fprintln(w)
	}
}

// imageSize asks the image server for the image's size (0 if unknown).
func imageSize(ctx context.Context, url string) int64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0
	}
	return max(resp.ContentLength, 0)
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
