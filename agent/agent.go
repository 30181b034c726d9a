// Package agent ties goipa together as IPA's agent.py does: look the node up
// in Ironic, serve the command API (with auto-TLS when Ironic can take it),
// and heartbeat until the operation ends.
package agent

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goipa/goipa/agent/api"
	"github.com/goipa/goipa/agent/config"
	"github.com/goipa/goipa/agent/inspect"
	"github.com/goipa/goipa/agent/ironic"
	"github.com/goipa/goipa/agent/logs"
	"github.com/goipa/goipa/agent/machine"
	"github.com/goipa/goipa/agent/rescue"
	"github.com/goipa/goipa/agent/standby"
	"github.com/goipa/goipa/agent/steps"
	"github.com/goipa/goipa/agent/tlsconf"
	"github.com/goipa/goipa/hardware"
	"github.com/goipa/goipa/hardware/erase"
	"github.com/goipa/goipa/hardware/inject"
	"github.com/goipa/goipa/image"
	"github.com/goipa/goipa/image/download"
	"github.com/goipa/goipa/internal/runner"
	"github.com/goipa/goipa/ipa"
	"github.com/goipa/goipa/raid"
	"github.com/goipa/goipa/raid/mdadm"
)

// Version is reported as agent_version. It reads as an IPA release newer than
// any feature gate the conductor applies, with goipa's own version after "+".
const Version = "12.0.0+goipa.0.1.0"

// verifyCAVersion is the Ironic API version from which the heartbeat carries
// agent_verify_ca, so auto-TLS is only used from there on.
var verifyCAVersion = ironic.Version{Major: 1, Minor: 68}

// certDir is where IPA writes its auto-TLS pair.
const certDir = "/run/ironic-python-agent"

// Agent is one run of the deploy agent.
type Agent struct {
	Config  *config.Config
	Log     *slog.Logger
	Ring    *logs.Ring // the agent's own log, for collect_system_logs
	Machine machine.Machine
	// SysfsRoot is "/sys" outside tests.
	SysfsRoot string
	// Lockdown ends the agent for good after system.lockdown (or a token
	// that was handed out to someone else): the ramdisk takes its NICs down,
	// a host agent exits.
	Lockdown func()
	// Ready, if set, receives the API's address once it listens.
	Ready func(addr net.Addr)
	// DisksReady, if set, blocks until storage drivers are loaded (the
	// ramdisk loads them in the background).
	DisksReady func(ctx context.Context) error
	// Disks, if set, lists the disks in place of SysfsRoot's block tree: an
	// agent tested as a host process deploys to a loop device, which the
	// inventory leaves out.
	Disks func(ctx context.Context) ([]hardware.BlockDevice, error)
	// ModulesReady, if set, blocks until the ramdisk's modules are loaded
	// (md, for the logs' mdadm reports), without waiting for disks.
	ModulesReady func(ctx context.Context) error
	// RescueDir is where finalize_rescue leaves IPA's password file and
	// rescued marker; "" is IPA's /etc.
	RescueDir string
	// RescueSSH is the rescue SSH server's address; "" is port 22 on the
	// listen host.
	RescueSSH string

	mu      sync.Mutex
	token   string
	started time.Time
	// tlsKey delivers the auto-TLS key prepareTLSKey started making.
	tlsKey chan *ecdsa.PrivateKey
	lldp   *lldpCache
}

// prepareTLSKey starts making the auto-TLS key in the background: it needs
// no address, and made while Ironic answers the version and lookup
// requests it no longer sits between lookup and the first heartbeat (0.1 s
// under emulation). Earlier, on one CPU, it would slow the drivers' loading
// by as much.
func (a *Agent) prepareTLSKey() {
	if !a.Config.EnableAutoTLS || a.Config.ListenTLS || a.tlsKey != nil {
		return
	}
	ch := make(chan *ecdsa.PrivateKey, 1)
	curve := a.Config.TLSCertificateCurve
	go func() {
		// A failure is Generate's to report, with its own key attempt.
		k, _ := tlsconf.GenerateKey(curve)
		ch <- k
	}()
	a.tlsKey = ch
}

// takeTLSKey returns the key made ahead, if any, once.
func (a *Agent) takeTLSKey() *ecdsa.PrivateKey {
	if a.tlsKey == nil {
		return nil
	}
	k := <-a.tlsKey
	a.tlsKey = nil
	return k
}

func (a *Agent) currentToken() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.token
}

func (a *Agent) setToken(t string) {
	a.mu.Lock()
	a.token = t
	a.mu.Unlock()
}

// Run runs the agent until ctx ends or it is locked down.
func (a *Agent) Run(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	a.started = time.Now()
	a.setToken(a.Config.AgentToken)
	// As IPA's: a rescued ramdisk never serves the API again.
	if hash, err := a.rescueStore().Load(); !errors.Is(err, rescue.ErrNotRescued) {
		if err != nil {
			return err
		}
		done, err := a.startRescueSSH(ctx, hash)
		if err != nil {
			return err
		}
		return <-done
	}
	a.prepareTLSKey()
	a.lldp = &lldpCache{timeout: a.Config.LLDPTimeout, listen: hardware.CollectLLDP}

	cs, err := a.commands(ctx)
	if err != nil {
		return err
	}
	httpc, err := a.httpClient()
	if err != nil {
		return err
	}
	a.bringUpVLANs(ctx)
	nodeUUID := a.inspect(ctx, httpc, cs.generic)
	found, err := a.lookup(ctx, httpc, nodeUUID)
	if err != nil {
		return err
	}
	if found.lookup != nil {
		n := ipa.NewNode(map[string]any{"uuid": found.lookup.Node.UUID, "properties": found.lookup.Node.Properties,
			"instance_info": found.lookup.Node.InstanceInfo, "driver_internal_info": found.lookup.Node.DriverInternalInfo})
		cs.node.Store(&n)
		applyLookup(cs.deployer, cs.boot, found.lookup.Config)
	}
	return a.serve(ctx, stop, cs, found)
}

// commandSet is what the conductor can run: the runner with every
// extension and step registered, and the state the commands share.
type commandSet struct {
	runner   *ipa.Runner
	generic  *ipa.Generic
	deployer *image.Deployer
	boot     *image.Bootloader
	// node is the node as last seen (lookup, then each step call), for the
	// commands that come without one.
	node atomic.Pointer[ipa.Node]
	// end receives how the API ends, from the command that ends it:
	// system.lockdown or rescue.finalize_rescue.
	end chan ending
}

// ending is a lockdown, or a rescue whose SSH server reports its end on
// sshDone.
type ending struct {
	sshDone <-chan error
}

// endAPI ends the API with e; the first ending wins. The command that ends
// it still answers (serve shuts the server down gracefully).
func (cs *commandSet) endAPI(e ending) {
	select {
	case cs.end <- e:
	default:
	}
}

// commands registers the extensions and the generic manager's steps.
func (a *Agent) commands(ctx context.Context) (*commandSet, error) {
	log := a.Log
	cs := &commandSet{runner: ipa.NewRunner(ctx, log), generic: ipa.NewGeneric(), end: make(chan ending, 1)}
	var err error
	if cs.deployer, err = a.newDeployer(); err != nil {
		return nil, err
	}
	cs.boot = &image.Bootloader{EFIRoot: "/sys/firmware/efi", RAIDESP: a.raidESP, IgnoreFailure: a.Config.IgnoreBootloaderFailure, Log: log}
	cs.boot.GrubInstall.Store(a.Config.EnableBIOSBootloaderInstall)
	cmds, generic, deployer := cs.runner, cs.generic, cs.deployer
	steps.RegisterImage(cmds, generic, deployer, cs.boot,
		func() ipa.Node {
			if n := cs.node.Load(); n != nil {
				return *n
			}
			return ipa.Node{}
		}, a.rootDevice)
	steps.RegisterRAID(generic, a.raidManager)
	steps.RegisterErase(generic, a.eraseDevices, erase.Options{Logger: log, SysfsRoot: a.SysfsRoot,
		AllowSpecialFilesystems: !a.Config.GuardSpecialFilesystems})
	steps.RegisterBurnin(generic, steps.BurninConfig{Devices: a.eraseDevices, Log: log,
		Check: erase.Options{Logger: log, SysfsRoot: a.SysfsRoot, AllowSpecialFilesystems: !a.Config.GuardSpecialFilesystems}})
	// inject_files downloads with the agent's TLS and retry settings, not
	// the image server's credentials.
	steps.RegisterInject(generic, a.Config.InjectFilesPriority, inject.Options{SysfsRoot: a.SysfsRoot, Log: log,
		Download: download.Options{TLS: deployer.Download.TLS, ConnectTimeout: deployer.Download.ConnectTimeout,
			Retries: deployer.Download.Retries, RetryInterval: deployer.Download.RetryInterval}}, a.rootDevice)
	steps.Register(cmds, ipa.Select(generic), func(n ipa.Node) { cs.node.Store(&n) })
	standby.Register(cmds, a.Machine)
	logs.Register(cmds, &logs.Collector{Ring: a.Ring, Ready: a.ModulesReady})
	cmds.Register("system", "lockdown", ipa.Sync(func(context.Context, struct{}) (any, error) {
		log.Warn("lockdown requested: the API stops after this answer")
		cs.endAPI(ending{})
		return nil, nil
	}))
	rescue.Register(cmds, a.rescueStore(), log, func(hash string) error {
		done, err := a.startRescueSSH(ctx, hash)
		if err != nil {
			return err
		}
		cs.endAPI(ending{sshDone: done})
		return nil
	})
	return cs, nil
}

// inspect runs the inspection when the kernel line asks for one and returns
// the node's UUID if the inspection endpoint gave it.
func (a *Agent) inspect(ctx context.Context, httpc *http.Client, generic *ipa.Generic) string {
	cfg, log := a.Config, a.Log
	u := inspect.URL(cfg.InspectionCallbackURL, cfg.APIURL, len(cfg.InspectionCollectors) > 0)
	if u == "" {
		return ""
	}
	if a.DisksReady != nil {
		if err := a.DisksReady(ctx); err != nil {
			log.Warn("inventory without all storage drivers", "error", err)
		}
	}
	var dhcp inspect.DHCPWait
	if a.SysfsRoot == "/sys" {
		// Addresses are read from the live system only.
		dhcp = inspect.DHCPWait{Timeout: cfg.InspectionDHCPWaitTimeout, All: cfg.InspectionDHCPAllInterfaces, BootMAC: cfg.BootIF}
	}
	nodeUUID, err := inspect.Run(ctx, inspect.Options{URL: u, Collectors: cfg.Collectors(), HTTP: httpc, Log: log,
		Root: hardware.Root{Sys: a.SysfsRoot, Log: log}, BootIF: cfg.BootIFRaw,
		LLDP:          a.lldp.get,
		InventoryLLDP: cfg.CollectLLDP,
		DHCP:          dhcp,
		Logs:          (&logs.Collector{Ring: a.Ring}).Archive,
		Managers:      []inspect.Manager{{Name: generic.Name(), Version: generic.Version()}}})
	if err != nil {
		// As in IPA, a failed inspection does not stop the lookup.
		log.Error("inspection failed", "url", u, "error", err)
	}
	return nodeUUID
}

// found is what the lookup learnt; all nil without ipa-api-url.
type found struct {
	ic     *ironic.Client
	lookup *ironic.LookupResult
	maxVer ironic.Version
}

// lookup finds the node in Ironic by its MACs and takes the agent token.
func (a *Agent) lookup(ctx context.Context, httpc *http.Client, nodeUUID string) (found, error) {
	cfg, log := a.Config, a.Log
	var f found
	if len(cfg.APIURL) == 0 {
		log.Warn("no ipa-api-url: serving the command API without lookup or heartbeats")
		return f, nil
	}
	var err error
	if f.ic, err = a.ironicClient(httpc); err != nil {
		return f, err
	}
	f.maxVer = f.ic.MaxVersion(ctx)
	perm := ironic.PermAddr
	if a.SysfsRoot != "/sys" {
		perm = nil // a fake tree's NICs have no permanent address to ask for
	}
	macs, err := ironic.MACs(log, a.SysfsRoot, perm)
	if err != nil {
		return f, fmt.Errorf("listing NICs: %w", err)
	}
	log.Info("looking up node", "api", f.ic.URLs(), "api_version", f.maxVer, "macs", macs)
	if f.lookup, err = f.ic.LookupNode(ctx, macs, nodeUUID, cfg.LookupTimeout, cfg.LookupInterval); err != nil {
		return f, err
	}
	tok, err := ironic.ResolveToken(a.currentToken(), f.lookup.Config.AgentToken)
	if errors.Is(err, ironic.ErrTokenLocked) {
		log.Error("the agent token was handed out before and this agent does not know it; locking down", "error", err)
		a.Lockdown()
		return f, err
	}
	a.setToken(tok)
	log.Info("node found", "node", f.lookup.Node.UUID, "heartbeat_timeout", f.lookup.Config.HeartbeatTimeout)
	return f, nil
}

// serve runs the command API and heartbeats until ctx ends, the API fails
// or a lockdown.
func (a *Agent) serve(ctx context.Context, stop context.CancelFunc, cs *commandSet, f found) error {
	cfg, log := a.Config, a.Log
	ip, err := a.advertiseIP(ctx, f.ic)
	if err != nil {
		return err
	}
	tlsCfg, verifyCA, err := a.serverTLS(ip, f.lookup, f.maxVer)
	if err != nil {
		return err
	}
	proto := cfg.AdvertiseProtocol
	if tlsCfg != nil {
		proto = "https"
	}
	callback := ironic.CallbackURL(proto, ip, cfg.AdvertisePort)

	ln, err := a.listen()
	if err != nil {
		return err
	}
	// Heartbeats end with the API: a rescued node is Ironic's no more.
	hbCtx, stopHeartbeats := context.WithCancel(ctx)
	defer stopHeartbeats()
	var hb atomic.Pointer[ironic.Heartbeater]
	seen := func() {
		if h := hb.Load(); h != nil {
			h.Ack()
		}
	}
	srv := &http.Server{
		Handler:   (&api.Server{Runner: cs.runner, Version: Version, StartedAt: a.started, Token: a.currentToken, Seen: seen, Log: log}).Handler(),
		TLSConfig: tlsCfg,
		ErrorLog:  slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("command API listening", "address", ln.Addr().String(), "callback_url", callback)
	if a.Ready != nil {
		a.Ready(ln.Addr())
	}

	if f.lookup != nil {
		h := ironic.NewHeartbeater(f.ic, f.lookup.Node.UUID, f.lookup.Config.HeartbeatTimeout, func() ironic.HeartbeatRequest {
			return ironic.HeartbeatRequest{CallbackURL: callback, AgentToken: a.currentToken(), AgentVersion: Version, AgentVerifyCA: verifyCA}
		})
		hb.Store(h)
		cs.runner.AsyncDone = h.Force
		go h.Run(hbCtx)
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("command API: %w", err)
	case e := <-cs.end:
		stopHeartbeats()
		// New connections are refused at once; the answer that ended the
		// API reaches the conductor.
		answered, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(answered)
		cancel()
		_ = srv.Close()
		if e.sshDone != nil {
			return <-e.sshDone
		}
		stop()
		a.Lockdown()
		return nil
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

func (a *Agent) rescueStore() rescue.Store { return rescue.Store{Dir: cmp.Or(a.RescueDir, "/etc")} }

// startRescueSSH listens for the rescue user's SSH logins and serves them
// until ctx ends, through the ramdisk's shell when it has one; done gets
// the server's end.
func (a *Agent) startRescueSSH(ctx context.Context, hash string) (done <-chan error, err error) {
	addr := a.RescueSSH
	if addr == "" {
		addr = net.JoinHostPort(a.Config.ListenHost, "22")
	}
	ln, err := listenOn(addr)
	if err != nil {
		return nil, fmt.Errorf("rescue SSH: %w", err)
	}
	ch := make(chan error, 1)
	go func() { ch <- (&rescue.Server{Hash: hash, Shell: rescue.FindShell(), Log: a.Log}).Serve(ctx, ln) }()
	return ch, nil
}

// newDeployer configures image writing from the agent's options.
func (a *Agent) newDeployer() (*image.Deployer, error) {
	cfg := a.Config
	tc, err := tlsconf.ClientConfig(cfg.Insecure, cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	d := &image.Deployer{
		Log: a.Log,
		Download: download.Options{
			TLS:            tc,
			ConnectTimeout: cfg.ImageDownloadConnectionTimeout,
			Retries:        cfg.ImageDownloadConnectionRetries,
			RetryInterval:  cfg.ImageDownloadConnectionRetryInterval,
			MaxDuration:    cfg.ImageDownloadMaxDuration,
		},
		MD5Enabled:            cfg.MD5Enabled,
		PermittedFormats:      cfg.PermittedImageFormats,
		DisableDeepInspection: cfg.DisableDeepImageInspection,
		ConfigDriveRebuild:    cfg.ConfigDriveRebuild,
		ESPSizeMiB:            cfg.DiskUtils.EFISystemPartitionSizeMiB,
		BIOSBootSizeMiB:       cfg.DiskUtils.BIOSBootPartitionSizeMiB,
	}
	if cfg.ImageServerAuthStrategy == "http_basic" {
		d.Download.BasicUser, d.Download.BasicPassword = cfg.ImageServerUser, cfg.ImageServerPassword
	}
	return d, nil
}

// applyLookup takes the image settings Ironic sends at lookup, as IPA's
// process_lookup_data does; keys an older Ironic does not send keep the
// agent's own values.
func applyLookup(d *image.Deployer, b *image.Bootloader, c ironic.Config) {
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(c.Raw, &raw)
	// As in IPA, Ironic can allow the image's grub but not forbid what the
	// agent's own configuration allows.
	if c.EnableBIOSBootloaderInstall {
		b.GrubInstall.Store(true)
	}
	if _, ok := raw["agent_md5_checksum_enable"]; ok {
		d.MD5Enabled = c.AgentMD5ChecksumEnable
	}
	if _, ok := raw["disable_deep_image_inspection"]; ok {
		d.DisableDeepInspection = c.DisableDeepImageInspection
	}
	if len(c.PermittedImageFormats) > 0 {
		d.PermittedFormats = c.PermittedImageFormats
	}
}

// rootDevice picks the disk to deploy to from the node's root device
// hints and skip list, as IPA's get_os_install_device; a software RAID root
// volume wins over hints.
func (a *Agent) rootDevice(ctx context.Context, node ipa.Node) (string, error) {
	devs, err := a.blockDevices(ctx)
	if err != nil {
		return "", err
	}
	rootVolume, err := raid.SoftwareRootVolume(ctx, node.TargetRAIDConfig, a.raidManager)
	if err != nil {
		return "", ipa.Typed("SoftwareRAIDError", "Software RAID caused unknown error", err)
	}
	if rootVolume != "" {
		// /dev/md/<name> is mdadm's link to the /dev/mdN the inventory lists.
		if p, err := filepath.EvalSymlinks(rootVolume); err == nil {
			rootVolume = p
		}
	}
	hints, err := hardware.RootDeviceHints(node.InstanceInfo, node.Properties)
	if err != nil {
		return "", ipa.InvalidParams("%v", err)
	}
	skip, _, err := hardware.SkipList(node.Properties)
	if err != nil {
		return "", ipa.InvalidParams("%v", err)
	}
	dev, err := hardware.SelectRootDevice(devs, hints, hardware.SelectOptions{Skip: skip, RootVolume: rootVolume})
	if err != nil {
		return "", ipa.Typed("DeviceNotFound", "Error finding the disk or partition device to deploy the image onto", err)
	}
	return dev.Name, nil
}

// blockDevices lists the disks once the storage drivers are loaded.
func (a *Agent) blockDevices(ctx context.Context) ([]hardware.BlockDevice, error) {
	if a.DisksReady != nil {
		if err := a.DisksReady(ctx); err != nil {
			return nil, err
		}
	}
	if a.Disks != nil {
		return a.Disks(ctx)
	}
	return hardware.ListBlockDevices(hardware.BlockOptions{Root: hardware.Root{Sys: a.SysfsRoot}})
}

// eraseDevices lists the disks and md volumes the erase steps act on,
// without those the node's skip_block_devices names.
func (a *Agent) eraseDevices(ctx context.Context, properties map[string]any) ([]erase.Device, error) {
	devs, err := a.blockDevices(ctx)
	if err != nil {
		return nil, err
	}
	skip, _, err := hardware.SkipList(properties)
	if err != nil {
		return nil, ipa.InvalidParams("%v", err)
	}
	devs = hardware.WithoutSkipped(devs, skip)
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	var out []erase.Device
	for _, d := range devs {
		out = append(out, erase.Device{Path: d.Name, Tran: str(d.Tran), Vendor: str(d.Vendor), Model: str(d.Model),
			ReadOnly: d.ReadOnly, Holders: d.Holders})
	}
	return out, nil
}

// raidESP finds the mirrored ESP of a software RAID and its members.
func (a *Agent) raidESP(ctx context.Context) (string, []image.ESPMember, error) {
	m, err := a.raidManager(ctx)
	if err != nil {
		return "", nil, err
	}
	refs, err := m.ESPMembers(ctx)
	if err != nil {
		return "", nil, err
	}
	members := make([]image.ESPMember, len(refs))
	for i, r := range refs {
		members[i] = image.ESPMember{Disk: r.Disk, Number: r.Number}
	}
	return "/dev/md/" + raid.ESPName, members, nil
}

// raidManager sees the machine's disks and boot mode as they are now.
func (a *Agent) raidManager(ctx context.Context) (*raid.Manager, error) {
	devs, err := a.blockDevices(ctx)
	if err != nil {
		return nil, err
	}
	byPath := map[string]hardware.BlockDevice{}
	var disks []raid.Device
	for _, d := range devs {
		if d.Type != "disk" || d.ReadOnly {
			continue
		}
		lss := 512
		if d.LogicalSectors != nil {
			lss = *d.LogicalSectors
		}
		byPath[d.Name] = d
		disks = append(disks, raid.Device{Path: d.Name, Size: d.Size, LogicalSectorSize: lss})
	}
	match := func(hints map[string]any, cands []raid.Device) ([]raid.Device, error) {
		h, err := hardware.ParseHints(hints)
		if err != nil {
			return nil, err
		}
		var out []raid.Device
		for _, c := range cands {
			if h.Match(byPath[c.Path]) {
				out = append(out, c)
			}
		}
		return out, nil
	}
	_, err = os.Stat(filepath.Join(a.SysfsRoot, "firmware/efi"))
	return &raid.Manager{MD: mdadm.New(runner.Exec{}), Disks: disks, Match: match, UEFI: err == nil, Log: a.Log}, nil
}

// httpClient is the client for the agent's own calls to Ironic and the
// inspection service (ipa-insecure, cafile, client certificate).
func (a *Agent) httpClient() (*http.Client, error) {
	cfg := a.Config
	tc, err := tlsconf.ClientConfig(cfg.Insecure, cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr, Timeout: cfg.HTTPRequestTimeout}, nil
}

func (a *Agent) ironicClient(httpc *http.Client) (*ironic.Client, error) {
	cfg := a.Config
	return ironic.New(ironic.Options{
		URLs:       cfg.APIURL,
		HTTPClient: httpc,
		RequestID:  cfg.GlobalRequestID,
		APIVersion: cfg.IronicAPIVersion,
		Logger:     a.Log,
	})
}

// advertiseIP finds the callback address; without Ironic it is only needed
// for auto-TLS, so the listen host (or loopback) does.
func (a *Agent) advertiseIP(ctx context.Context, ic *ironic.Client) (net.IP, error) {
	cfg := a.Config
	opts := ironic.AdvertiseOptions{Host: cfg.AdvertiseHost, Interface: cfg.NetworkInterface,
		Attempts: cfg.IPLookupAttempts, Wait: cfg.IPLookupSleep}
	if ic != nil {
		opts.APIURLs = ic.URLs()
	} else if opts.Host == "" && opts.Interface == "" {
		opts.Host = "127.0.0.1"
	}
	return ironic.AdvertiseIP(ctx, opts)
}

// serverTLS picks static TLS (listen_tls), auto-TLS (Ironic ≥ 1.68 takes the
// PEM as agent_verify_ca), or plain HTTP. It returns the PEM to send.
func (a *Agent) serverTLS(ip net.IP, lookup *ironic.LookupResult, maxVer ironic.Version) (*tls.Config, string, error) {
	cfg := a.Config
	minVersion, ciphers := cfg.TLSMinVersion, cfg.TLSCipherSuites
	if lookup != nil {
		// Ironic's [agent] TLS settings win, as in IPA's process_lookup_data,
		// unless Go cannot honour them: a refused setting must not leave the
		// node without an agent.
		if v := lookup.Config.TLSMinVersion; v != "" {
			if _, err := tlsconf.ParseMinVersion(v); err == nil {
				minVersion = v
			} else {
				a.Log.Warn("ignoring Ironic's tls_min_version", "error", err)
			}
		}
		if c := lookup.Config.TLSCipherSuites; c != "" {
			if _, err := tlsconf.ParseCipherSuites(c); err == nil {
				ciphers = c
			} else {
				a.Log.Warn("ignoring Ironic's tls_cipher_suites", "error", err)
			}
		}
	}
	switch {
	case cfg.ListenTLS:
		cert, err := tlsconf.LoadStatic(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, "", err
		}
		tc, err := tlsconf.ServerConfig(cert, minVersion, ciphers)
		return tc, "", err
	case cfg.EnableAutoTLS && lookup != nil && maxVer.AtLeast(verifyCAVersion):
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			return nil, "", fmt.Errorf("auto-TLS: bad advertise address %v", ip)
		}
		cert, err := tlsconf.Generate(tlsconf.AutoOptions{IP: addr.Unmap(), Curve: cfg.TLSCertificateCurve,
			ClockSkew: cfg.AutoTLSAllowedClockSkew, Key: a.takeTLSKey()})
		if err != nil {
			return nil, "", err
		}
		if err := cert.WriteFiles(certDir); err != nil {
			a.Log.Warn("keeping the auto-TLS certificate in memory only", "error", err)
		}
		tc, err := tlsconf.ServerConfig(cert, minVersion, ciphers)
		return tc, string(cert.PEM), err
	}
	return nil, "", nil
}

// listen binds the API.
func (a *Agent) listen() (net.Listener, error) {
	ln, err := listenOn(net.JoinHostPort(a.Config.ListenHost, strconv.Itoa(a.Config.ListenPort)))
	if err != nil {
		return nil, fmt.Errorf("command API: %w", err)
	}
	return ln, nil
}

// listenOn listens on addr; "::" falls back to 0.0.0.0 on hosts without IPv6.
func listenOn(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if host, port, _ := net.SplitHostPort(addr); err != nil && host == "::" {
		ln, err = net.Listen("tcp4", net.JoinHostPort("0.0.0.0", port))
	}
	return ln, err
}
