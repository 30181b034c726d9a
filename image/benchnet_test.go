package image

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/goipa/goipa/tstest/benchimg"
)

// benchNode is a fleet node's network: a namespace of the bench's own with
// a veth pair to the host, addressed from 198.18.0.0/15 (RFC 2544's range
// for benchmarks, which no real network uses). Nothing else on the host
// changes: no host interface, route or sysctl but the veth's own.
type benchNode struct {
	ns, hostIP string
}

func newBenchNode(t *testing.T, i int) benchNode {
	t.Helper()
	id := os.Getpid() % 100000
	n := benchNode{ns: fmt.Sprintf("goipa-bench-%d-%d", id, i), hostIP: fmt.Sprintf("198.18.%d.1", i)}
	veth := fmt.Sprintf("gb%dh%d", id, i) // at most 15 bytes
	benchimg.Run(t, "ip", "netns", "add", n.ns)
	t.Cleanup(func() {
		// Deleting the namespace deletes its veth end and so the pair.
		if out, err := exec.Command("ip", "netns", "del", n.ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v %s", n.ns, err, out)
		}
	})
	benchimg.Run(t, "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", n.ns)
	benchimg.Run(t, "ip", "addr", "add", n.hostIP+"/30", "dev", veth)
	benchimg.Run(t, "ip", "link", "set", veth, "up")
	benchimg.Run(t, "ip", "-n", n.ns, "addr", "add", fmt.Sprintf("198.18.%d.2/30", i), "dev", "eth0")
	benchimg.Run(t, "ip", "-n", n.ns, "link", "set", "eth0", "up")
	benchimg.Run(t, "ip", "-n", n.ns, "link", "set", "lo", "up")
	return n
}
