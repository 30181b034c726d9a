// Package qemu boots goipa's kernel and ramdisk in QEMU for tests. The guest
// sees only what the test forwards: slirp runs with restrict=on, the agent's
// port is forwarded to an ephemeral 127.0.0.1 port, and each guest-side
// service address is relayed to a server the test runs on loopback.
package qemu

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// GuestServiceIP is the address guest forwards listen on inside the VM.
const GuestServiceIP = "10.0.2.100"

// GuestHostIP is QEMU's own address in the guest's network, where its DHCP
// and TFTP servers answer.
const GuestHostIP = "10.0.2.2"

// AgentPort is the port goipa listens on in the guest.
const AgentPort = 9999

// DefaultMAC is the NIC's MAC unless Options.MAC says otherwise.
const DefaultMAC = "52:54:00:12:34:56"

// ErrNotLoopback reports a guest forward to a host address that is not
// loopback; the tests must not reach beyond this machine.
var ErrNotLoopback = errors.New("guest forward target is not a loopback address")

// ErrTapUserNet reports user-network options given with Options.Tap.
var ErrTapUserNet = errors.New("qemu: a tap NIC has no user-network forwards, TFTP or DHCP")

// Options describe one VM.
type Options struct {
	Kernel string // PVH vmlinux (or bzImage); empty: the firmware boots from the disks
	Initrd string
	MemMB  int    // default 256
	CPUs   int    // default 1
	Append string // added after the harness's console=ttyS0 panic=-1 quiet
	MAC    string // default DefaultMAC
	Disks  []Disk
	// GuestFwds make GuestServiceIP:GuestPort in the guest reach HostAddr.
	GuestFwds []Fwd
	// HostFwds are guest TCP ports forwarded from 127.0.0.1 beside the
	// agent's (VM.HostAddr says where), such as the rescue SSH server's.
	HostFwds []int
	// Accel overrides Accel's choice.
	Accel string
	// Advertise makes the agent give Ironic its host-forwarded address
	// (ipa-advertise-host=127.0.0.1, ipa-advertise-port=the forwarded
	// port), so a conductor on the host can call it back.
	Advertise bool
	// UEFI boots OVMF instead of SeaBIOS (Kernel must then be a bzImage,
	// which OVMF starts through its EFI stub). Without Kernel the VM boots
	// from its disks, as the firmware's boot entries say.
	UEFI bool
	// UEFIVars is the NVRAM file of a UEFI VM (see NewUEFIVars); empty
	// means a fresh copy for this VM.
	UEFIVars string
	// NetBoot, without Kernel, network-boots the VM first, as a server whose
	// BMC was told to PXE-boot: the NIC's iPXE ROM takes this boot file from
	// QEMU's DHCP (a URL such as http://10.0.2.100:PORT/boot.ipxe, fetched
	// through a GuestFwd, or a file name in TFTP). The kernel line is then
	// whatever the boot loader's configuration says.
	NetBoot string
	// TFTP is the directory QEMU's TFTP server serves to the guest.
	TFTP string
	// IPMI adds QEMU's BMC simulator behind a KCS interface, as a server's
	// BMC appears to the host (/dev/ipmi0 once ipmi_si is loaded).
	IPMI bool
	// USBKeyboard adds an xHCI controller with a keyboard, as on a
	// server's console.
	USBKeyboard bool
	// CDROM attaches an ISO as a SATA CD-ROM, as a BMC's virtual media
	// appears to the host.
	CDROM string
	// GuestIP is the address QEMU's DHCP gives the guest (10.0.2.x; default
	// 10.0.2.15), so several VMs can be told apart by the address they call
	// back from.
	GuestIP string
	// Tap wires the first NIC to this tap device instead of QEMU's user
	// network, for networks slirp cannot play (IPv6 only: its forwards are
	// IPv4). The test owns the tap, in a network namespace of its own, and
	// reaches the agent over it (there is no AgentAddr), so it cannot go
	// with GuestFwds, Advertise, GuestIP, TFTP or NetBoot.
	Tap string
	// NICs are more NICs, each on a QEMU user network of its own
	// (10.0.3.0/24, 10.0.4.0/24, …; restrict=on, no forwards), whose DHCP
	// gives it an address and which reaches nothing else.
	NICs []NIC
}

// NIC is a further NIC of the VM.
type NIC struct {
	MAC   string
	Model string // QEMU device; default e1000e, a server's Intel NIC
	// UDP, instead of a user network, wires the NIC to this address on
	// 127.0.0.1 (a Switch's): QEMU sends each frame there as a datagram and
	// takes the frames sent back to its own socket.
	UDP string
}

// Disk is a virtio-blk disk backed by a file.
type Disk struct {
	Path   string
	Format string // "raw" (default) or "qcow2"
	Serial string // optional; shows as the disk's serial in the guest
	// NVMe attaches the disk as an NVMe controller's namespace (QEMU's
	// nvme device, which emulates Format NVM) instead of virtio-blk.
	NVMe bool
	// USB attaches it as a USB stick behind an xHCI controller.
	USB bool
}

// Fwd relays guest connections to GuestServiceIP:GuestPort to HostAddr
// (host:port on 127.0.0.1 or ::1).
type Fwd struct {
	GuestPort int
	HostAddr  string
}

// VM is a running QEMU.
type VM struct {
	t       testing.TB
	cmd     *exec.Cmd
	port    int
	fwds    map[int]int // guest port → host port
	started time.Time
	console *console
	stderr  *console
	done    chan struct{}
	waitErr error
	once    sync.Once

	mu  sync.Mutex
	tls bool // the agent answered plain HTTP with "use HTTPS" (auto TLS)
}

// Start boots a VM and registers its cleanup: QEMU is killed and the serial
// console goes into the test log (shown on failure or with -v).
func Start(t testing.TB, o Options) *VM {
	t.Helper()
	if o.Kernel != "" && o.Initrd == "" {
		t.Fatal("qemu: Options.Kernel needs Options.Initrd")
	}
	if o.UEFI && o.UEFIVars == "" {
		vars, err := NewUEFIVars(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		o.UEFIVars = vars
	}
	var lastErr error
	// A free port can be taken between our probe and QEMU's bind: retry.
	for range 3 {
		vm, err := start(t, o)
		if err == nil {
			return vm
		}
		lastErr = err
		if !strings.Contains(err.Error(), "host forwarding rule") {
			break
		}
	}
	t.Fatalf("qemu: %v", lastErr)
	return nil
}

func start(t testing.TB, o Options) (*VM, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	fwds := map[int]int{}
	for _, g := range o.HostFwds {
		if fwds[g], err = freePort(); err != nil {
			return nil, err
		}
	}
	args, err := o.args(port, fwds)
	if err != nil {
		return nil, err
	}
	if len(o.GuestFwds) > 0 {
		if _, err := exec.LookPath("socat"); err != nil {
			return nil, fmt.Errorf("guest forwards need socat (make deps-qemu): %w", err)
		}
	}
	vm := &VM{t: t, port: port, fwds: fwds, console: newConsole(), stderr: newConsole(), done: make(chan struct{})}
	vm.cmd = exec.Command("qemu-system-x86_64", args...)
	vm.cmd.Stdout, vm.cmd.Stderr = vm.console, vm.stderr
	vm.started = time.Now()
	if err := vm.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		vm.waitErr = vm.cmd.Wait()
		close(vm.done)
	}()
	// QEMU fails at once on bad arguments or a taken port.
	select {
	case <-vm.done:
		return nil, fmt.Errorf("qemu exited at start: %v: %s", vm.waitErr, vm.stderr.String())
	case <-time.After(200 * time.Millisecond):
	}
	t.Cleanup(func() {
		vm.Kill()
		name := filepath.Base(o.Initrd)
		switch {
		case o.Kernel == "" && o.NetBoot != "":
			name = "network boot"
		case o.Kernel == "":
			name = "disk boot"
		}
		t.Logf("qemu %s console:\n%s", name, vm.console.String())
		if s := vm.stderr.String(); s != "" {
			t.Logf("qemu stderr:\n%s", s)
		}
	})
	return vm, nil
}

func (o Options) args(port int, fwds map[int]int) ([]string, error) {
	accel := o.Accel
	if accel == "" {
		accel = Accel(o.Kernel)
	}
	mem, cpus, mac := o.MemMB, o.CPUs, o.MAC
	if mem == 0 {
		mem = 256
	}
	if cpus == 0 {
		cpus = 1
	}
	if mac == "" {
		mac = DefaultMAC
	}
	a := []string{"-machine", "q35", "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none"}
	if accel == KVM {
		a = append(a, "-accel", "kvm", "-cpu", "host")
	} else {
		a = append(a, "-accel", "tcg,thread=multi", "-cpu", "max")
	}
	appendLine := o.Append
	if o.Advertise {
		appendLine += fmt.Sprintf(" ipa-advertise-host=127.0.0.1 ipa-advertise-port=%d", port)
	}
	if o.UEFI {
		fw, err := o.uefiArgs()
		if err != nil {
			return nil, err
		}
		a = append(a, fw...)
	}
	if o.Kernel != "" {
		a = append(a, "-kernel", o.Kernel, "-initrd", o.Initrd,
			"-append", strings.TrimSpace("console=ttyS0 panic=-1 quiet "+appendLine))
	}

	netdev := fmt.Sprintf("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:%d", port, AgentPort)
	for _, g := range slices.Sorted(maps.Keys(fwds)) {
		netdev += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", fwds[g], g)
	}
	nic := "virtio-net-pci,netdev=n0,mac=" + mac
	if o.Tap != "" {
		if len(o.GuestFwds) > 0 || o.Advertise || o.GuestIP != "" || o.TFTP != "" || o.NetBoot != "" {
			return nil, ErrTapUserNet
		}
		netdev = "tap,id=n0,ifname=" + o.Tap + ",script=no,downscript=no"
	}
	if o.GuestIP != "" {
		netdev += ",dhcpstart=" + o.GuestIP
	}
	if o.TFTP != "" {
		netdev += ",tftp=" + o.TFTP
	}
	if o.NetBoot != "" && o.Kernel == "" {
		netdev += ",bootfile=" + o.NetBoot
		nic += ",bootindex=1"
	}
	for _, f := range o.GuestFwds {
		host, hport, err := net.SplitHostPort(f.HostAddr)
		if err != nil {
			return nil, fmt.Errorf("guest forward %d: %w", f.GuestPort, err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("%w: %s", ErrNotLoopback, f.HostAddr)
		}
		// One socat per guest connection; a plain tcp: target would be
		// connected once at QEMU start-up.
		netdev += fmt.Sprintf(",guestfwd=tcp:%s:%d-cmd:socat - TCP:%s", GuestServiceIP, f.GuestPort, net.JoinHostPort(host, hport))
	}
	if o.IPMI {
		a = append(a, "-device", "ipmi-bmc-sim,id=bmc0", "-device", "isa-ipmi-kcs,bmc=bmc0")
	}
	a = append(a, "-netdev", netdev, "-device", nic,
		"-object", "rng-random,filename=/dev/urandom,id=rng0", "-device", "virtio-rng-pci,rng=rng0")
	for i, n := range o.NICs {
		id := fmt.Sprintf("n%d", i+1)
		netdev := fmt.Sprintf("user,id=%s,restrict=on,net=10.0.%d.0/24", id, i+3)
		if n.UDP != "" {
			if ap, err := netip.ParseAddrPort(n.UDP); err != nil || ap.Addr() != netip.MustParseAddr("127.0.0.1") {
				return nil, fmt.Errorf("%w: NIC %s wired to %s", ErrNotLoopback, n.MAC, n.UDP)
			}
			netdev = fmt.Sprintf("socket,id=%s,udp=%s,localaddr=127.0.0.1:0", id, n.UDP)
		}
		a = append(a, "-netdev", netdev,
			"-device", fmt.Sprintf("%s,netdev=%s,mac=%s", cmp.Or(n.Model, "e1000e"), id, n.MAC))
	}

	xhci := o.USBKeyboard || slices.ContainsFunc(o.Disks, func(d Disk) bool { return d.USB })
	if xhci {
		a = append(a, "-device", "qemu-xhci,id=xhci")
	}
	if o.USBKeyboard {
		a = append(a, "-device", "usb-kbd,bus=xhci.0")
	}
	if o.CDROM != "" {
		a = append(a, "-drive", "if=none,id=cd0,media=cdrom,readonly=on,file="+o.CDROM, "-device", "ide-cd,drive=cd0")
	}
	for i, d := range o.Disks {
		format := d.Format
		if format == "" {
			format = "raw"
		}
		id := fmt.Sprintf("d%d", i)
		a = append(a, "-drive", fmt.Sprintf("if=none,id=%s,file=%s,format=%s,cache=unsafe,discard=unmap", id, d.Path, format))
		dev := "virtio-blk-pci,drive=" + id
		switch {
		case d.NVMe:
			// An NVMe controller needs a serial.
			dev = "nvme,serial=" + cmp.Or(d.Serial, id) + ",drive=" + id
		case d.USB:
			dev = "usb-storage,bus=xhci.0,drive=" + id
			if d.Serial != "" {
				dev += ",serial=" + d.Serial
			}
		case d.Serial != "":
			dev += ",serial=" + d.Serial
		}
		a = append(a, "-device", dev)
	}
	return a, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// AgentAddr is the host's 127.0.0.1:PORT forwarded to the agent's port.
func (vm *VM) AgentAddr() string { return fmt.Sprintf("127.0.0.1:%d", vm.port) }

// HostAddr is the host's 127.0.0.1:PORT forwarded to guestPort, one of
// Options.HostFwds.
func (vm *VM) HostAddr(guestPort int) string { return fmt.Sprintf("127.0.0.1:%d", vm.fwds[guestPort]) }

// AgentURL is the agent's API as reached from the host: http, or https
// once WaitAgent found the agent serving TLS.
func (vm *VM) AgentURL() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.tls {
		return fmt.Sprintf("https://127.0.0.1:%d", vm.port)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", vm.port)
}

// AgentClient talks to AgentURL. It does not verify the agent's self-signed
// certificate (tests can, with the agent_verify_ca of its heartbeat).
func (vm *VM) AgentClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

// Started is when QEMU was started.
func (vm *VM) Started() time.Time { return vm.started }

// Console is the serial console output so far.
func (vm *VM) Console() string { return vm.console.String() }

// WaitConsole waits until the console shows s.
func (vm *VM) WaitConsole(ctx context.Context, s string) error {
	if err := vm.console.wait(ctx, s, vm.done); err != nil {
		return fmt.Errorf("console never showed %q: %w", s, err)
	}
	return nil
}

// WaitLine waits until the serial console shows s and the end of its line,
// and returns that whole line.
func (vm *VM) WaitLine(ctx context.Context, s string) (string, error) {
	line, err := vm.console.waitLine(ctx, s, vm.done)
	if err != nil {
		return "", fmt.Errorf("console never showed a line with %q: %w", s, err)
	}
	return line, nil
}

// WaitAgent polls GET /v1/status until the agent answers 200. Each try has a
// short timeout: slirp accepts a host connection before the guest can.
func (vm *VM) WaitAgent(ctx context.Context) error {
	c := vm.AgentClient(300 * time.Millisecond)
	for {
		resp, err := c.Get(vm.AgentURL() + "/v1/status")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			// Go's TLS server says so to plain-HTTP clients.
			if resp.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte("HTTPS server")) {
				vm.mu.Lock()
				vm.tls = true
				vm.mu.Unlock()
				continue
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("agent at %s never answered: %w (last: %v)", vm.AgentURL(), ctx.Err(), err)
		case <-vm.done:
			return fmt.Errorf("qemu exited: %v", vm.waitErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Wait waits for QEMU to exit (the guest powered off) or timeout.
func (vm *VM) Wait(timeout time.Duration) error {
	select {
	case <-vm.done:
		return vm.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("qemu still running after %v", timeout)
	}
}

// Kill stops QEMU at once; the guest gets no chance to flush.
func (vm *VM) Kill() {
	vm.once.Do(func() {
		select {
		case <-vm.done:
		default:
			_ = vm.cmd.Process.Signal(os.Kill)
			<-vm.done
		}
	})
}
