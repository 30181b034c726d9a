package qemu

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goipa/goipa/e2e/ironiclab"
	"github.com/goipa/goipa/tstest/fakeironic"
)

// vmediaNetworkData puts the NIC in a one-member active-backup bond with
// the static address 10.0.2.50 (QEMU's DHCP would hand out .15) and a
// VLAN on the bond, as Metal3's preprovisioning network data would.
var vmediaNetworkData = fmt.Sprintf(`{
  "links": [
    {"id": "enp0s2", "type": "phy", "ethernet_mac_address": %[1]q},
    {"id": "bond0", "type": "bond", "bond_links": ["enp0s2"], "bond_mode": "active-backup",
     "ethernet_mac_address": %[1]q},
    {"id": "storage", "type": "vlan", "vlan_link": "bond0", "vlan_id": 100}
  ],
  "networks": [
    {"id": "provisioning", "type": "ipv4", "link": "bond0", "ip_address": "10.0.2.50",
     "netmask": "255.255.255.0", "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": %[2]q}]},
    {"id": "storage", "type": "ipv4", "link": "storage", "ip_address": "192.168.100.5", "netmask": "255.255.255.0"}
  ],
  "services": [{"type": "dns", "address": "10.0.2.3"}]
}`, DefaultMAC, GuestHostIP)

// TestVirtualMediaNetworkData boots the vm profile as Ironic's redfish
// virtual media boot would: the kernel line and the CD-ROM are those
// Ironic builds (35 from the suite's forky root, else the host's 21.4:
// image_utils.prepare_deploy_iso, run by
// vmediaiso.py, with [agent]api_ca_file and the node's network_data), and
// Ironic answers only over TLS with a certificate of a CA the ramdisk
// knows only from the ISO. The agent must take its address, bond and VLAN
// from network_data.json, not from QEMU's DHCP, and look up and heartbeat
// over TLS; without boot_method=vmedia it must leave the CD-ROM alone.
func TestVirtualMediaNetworkData(t *testing.T) {
	kernel, _ := Images(t)
	initrd := VMInitrd(t)
	l := newVMediaLab(t)
	nd := l.write(t, "network_data.json", vmediaNetworkData)
	iso, line := l.iso(t, kernel, initrd, nd, "ipa-api-url="+l.apiURL(), "ipa-debug=1")
	t.Run("vmedia", func(t *testing.T) {
		console := l.heartbeat(t, Options{Kernel: kernel, Initrd: initrd, Append: line, CDROM: iso}, "10.0.2.50",
			"/etc/ironic-python-agent/ironic.crt",
			"/etc/ironic-python-agent.d/ironic-tls.conf",
			"network_data=true",
			"name=bond0 kind=bond members=[",
			"name=bond0.100 kind=vlan",
			"addr=10.0.2.50/24",
			"addr=192.168.100.5/24")
		if strings.Contains(console, "ramdisk: DHCP lease") {
			t.Error("the agent ran DHCP despite network_data.json")
		}
	})

	// The same CD-ROM without boot_method=vmedia on the kernel line is not
	// read: DHCP, and no CA to trust Ironic's certificate with.
	t.Run("without boot_method=vmedia", func(t *testing.T) {
		vm := Start(t, Options{Kernel: kernel, Initrd: initrd, Append: strings.Replace(line, "boot_method=vmedia", "", 1),
			CDROM: iso, GuestFwds: l.fwds()})
		ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
		defer cancel()
		if err := vm.WaitConsole(ctx, "certificate signed by unknown authority"); err != nil {
			t.Fatal(err)
		}
		console := vm.Console()
		if !strings.Contains(console, "ramdisk: DHCP lease") || !strings.Contains(console, "addr=10.0.2.15") {
			t.Error("no DHCP lease of 10.0.2.15")
		}
		for _, not := range []string{"ramdisk: virtual media", "network_data link", "ironic-python-agent.d"} {
			if strings.Contains(console, not) {
				t.Errorf("console shows %q", not)
			}
		}
	})
}

// TestVirtualMediaDHCPBond: network_data with a balance-xor bond whose
// network is ipv4_dhcp; the lease is taken on the bond. (An 802.3ad bond
// sends nothing here: QEMU's user network is no LACP partner.)
func TestVirtualMediaDHCPBond(t *testing.T) {
	kernel, _ := Images(t)
	initrd := VMInitrd(t)
	l := newVMediaLab(t)
	nd := l.write(t, "network_data.json", fmt.Sprintf(`{
	  "links": [
	    {"id": "nic", "type": "phy", "ethernet_mac_address": %[1]q},
	    {"id": "bond0", "type": "bond", "bond_links": ["nic"], "bond_mode": "balance-xor", "bond_xmit_hash_policy": "layer3+4",
	     "ethernet_mac_address": %[1]q}],
	  "networks": [{"id": "provisioning", "type": "ipv4_dhcp", "link": "bond0"}],
	  "services": []}`, DefaultMAC))
	iso, line := l.iso(t, kernel, initrd, nd, "ipa-api-url="+l.apiURL(), "ipa-debug=1")
	l.heartbeat(t, Options{Kernel: kernel, Initrd: initrd, Append: line, CDROM: iso}, "10.0.2.15",
		"name=bond0 kind=bond members=[eth0] parent=\"\" vlan=0 mode=balance-xor", "DHCP lease\" nic=bond0 addr=10.0.2.15")
}

// TestVirtualMediaFloppy boots the server profile with Ironic's ISO without
// network data (VMEDIA_BOOT_ISO) and, as redfish's config_via_removable
// does, a USB stick holding Ironic's floppy image (ir-vfd-dev): the kernel
// line has no ipa-api-url, parameters.txt has it, and the CA is the ISO's.
func TestVirtualMediaFloppy(t *testing.T) {
	kernel, initrd := Images(t)
	l := newVMediaLab(t)
	iso, line := l.iso(t, kernel, initrd, "-", "ipa-debug=1")
	if strings.Contains(line, "ipa-api-url") {
		t.Fatalf("kernel line has ipa-api-url: %s", line)
	}
	floppy := filepath.Join(l.dir, "floppy.img")
	l.runIronic(t, "floppy", floppy, "ipa-api-url="+l.apiURL(), "boot_method=vmedia")
	l.heartbeat(t, Options{Kernel: kernel, Initrd: initrd, Append: line, CDROM: iso, Disks: []Disk{{Path: floppy, USB: true}}},
		"10.0.2.15", "network_data=false floppy=/dev/sd", "ramdisk: DHCP lease", "/etc/ironic-python-agent/ironic.crt")
}

// vmediaLab is a fake Ironic that speaks only TLS, with a certificate of
// a CA of the test's own, and a directory for Ironic's images.
type vmediaLab struct {
	dir    string
	root   string // Ironic 35's root; "" runs the host's Ironic 21.4
	ca     string // the CA's PEM file
	ironic *fakeironic.Server
	srv    *httptest.Server
	node   fakeironic.Node
}

func newVMediaLab(t *testing.T) *vmediaLab {
	t.Helper()
	for _, tool := range []string{"/usr/bin/python3", "isoinfo", "mkisofs", "mcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s: %v (make deps-test deps-ironic)", tool, err)
		}
	}
	l := &vmediaLab{dir: t.TempDir(), root: os.Getenv(ironiclab.RootEnv)}
	if l.root == "" {
		if err := exec.Command("/usr/bin/python3", "-c", "import ironic.drivers.modules.image_utils").Run(); err != nil {
			t.Skipf("Debian's Ironic: %v (make deps-ironic)", err)
		}
	}
	caPEM, serverCert := testCA(t, net.ParseIP(GuestServiceIP))
	l.ca = l.write(t, "ca.crt", string(caPEM))
	var err error
	if l.ironic, err = fakeironic.New(fakeironic.Options{}); err != nil {
		t.Fatal(err)
	}
	cfg := fakeironic.DefaultConfig()
	cfg.HeartbeatTimeout = 30
	l.ironic.SetConfig(cfg)
	l.srv = httptest.NewUnstartedServer(l.ironic)
	l.srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}}
	l.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	l.srv.StartTLS()
	t.Cleanup(l.srv.Close)
	l.node, err = l.ironic.AddNode(fakeironic.Node{Name: t.Name(), MACs: []string{DefaultMAC}, ProvisionState: fakeironic.StateDeployWait})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// heartbeat boots o with the lab's guest forwards and waits for the
// agent's first heartbeat, which must call back from host (the only
// listener is TLS, so a lookup means the ISO's CA was trusted); the
// console must show each of want. It returns the console.
func (l *vmediaLab) heartbeat(t *testing.T, o Options, host string, want ...string) string {
	t.Helper()
	o.GuestFwds = l.fwds()
	vm := Start(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	hb, err := l.ironic.WaitAgent(ctx, l.node.UUID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("QEMU start → first heartbeat: %v", hb.Time.Sub(vm.Started()).Round(10*time.Millisecond))
	if u, err := url.Parse(hb.Body.CallbackURL); err != nil || u.Host != net.JoinHostPort(host, "9999") {
		t.Errorf("callback_url = %q, want one for %s:9999", hb.Body.CallbackURL, host)
	}
	console := vm.Console()
	for _, w := range want {
		if !strings.Contains(console, w) {
			t.Errorf("console lacks %q", w)
		}
	}
	return console
}

// write puts body into the lab's directory as name and returns its path.
func (l *vmediaLab) write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(l.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// apiURL is Ironic's API as the guest reaches it.
func (l *vmediaLab) apiURL() string {
	return fmt.Sprintf("https://%s:%d", GuestServiceIP, guestIronicPort)
}

func (l *vmediaLab) fwds() []Fwd {
	return []Fwd{{GuestPort: guestIronicPort, HostAddr: l.srv.Listener.Addr().String()}}
}

// iso has Ironic build its deploy ISO with network data nd ("-" for none)
// and the ramdisk parameters params, and returns it with the kernel line
// Ironic wrote into it.
func (l *vmediaLab) iso(t *testing.T, kernel, initrd, nd string, params ...string) (string, string) {
	t.Helper()
	// What is on the CD-ROM does not boot here (QEMU starts the kernel
	// itself), but it is Ironic's: the bzImage and the ramdisk.
	isoKernel := filepath.Join(filepath.Dir(kernel), "goipa.kernel")
	if _, err := os.Stat(isoKernel); err != nil {
		isoKernel = kernel
	}
	start := time.Now()
	out := l.runIronic(t, append([]string{"iso", l.copy(t, isoKernel), l.copy(t, initrd), l.ca, nd, l.dir}, params...)...)
	iso := strings.TrimSpace(string(out))
	t.Logf("Ironic built %s in %v", filepath.Base(iso), time.Since(start).Round(10*time.Millisecond))
	line := isolinuxAppend(t, iso)
	if !strings.Contains(line, "boot_method=vmedia") {
		t.Fatalf("Ironic's kernel line lacks boot_method=vmedia: %s", line)
	}
	return iso, line
}

// runIronic runs vmediaiso.py with args: under Ironic 35 in its root when
// the suite names one (ironiclab.RootEnv), else under the host's 21.4.
// Every path in args lies in the lab's directory, which the root sees at
// the same path.
func (l *vmediaLab) runIronic(t *testing.T, args ...string) []byte {
	t.Helper()
	script := l.copy(t, "vmediaiso.py")
	cmd := exec.Command("/usr/bin/python3", append([]string{script}, args...)...)
	if l.root != "" {
		var err error
		if cmd, err = ironiclab.ChrootCommand(l.root, l.dir, append([]string{"/usr/bin/python3", script}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vmediaiso.py %s (root %q): %v\n%s", args[0], l.root, err, stderr(err))
	}
	return out
}

// copy puts a copy of the file at p into the lab's directory.
func (l *vmediaLab) copy(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return l.write(t, filepath.Base(p), string(b))
}

// isolinuxAppend is the kernel line Ironic wrote into the ISO's
// isolinux.cfg.
func isolinuxAppend(t *testing.T, iso string) string {
	t.Helper()
	out, err := exec.Command("isoinfo", "-R", "-x", "/isolinux/isolinux.cfg", "-i", iso).Output()
	if err != nil {
		t.Fatalf("isoinfo: %v\n%s", err, stderr(err))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if a, ok := strings.CutPrefix(strings.TrimSpace(line), "append "); ok {
			return a
		}
	}
	t.Fatalf("isolinux.cfg has no append line:\n%s", out)
	return ""
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// testCA makes a CA and a server certificate it signed for ip; it returns
// the CA in PEM and the server's key pair.
func testCA(t *testing.T, ip net.IP) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "goipa test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ip.String()},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{ip},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
