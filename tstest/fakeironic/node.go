package fakeironic

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ErrNodeNotFound is returned for an unknown node uuid or name.
var ErrNodeNotFound = errors.New("node not found")

// Provision states (ironic/common/states.py) the ramdisk endpoints care about.
const (
	StateEnroll       = "enroll"
	StateManageable   = "manageable"
	StateAvailable    = "available"
	StateActive       = "active"
	StateDeploying    = "deploying"
	StateDeployWait   = "wait call-back"
	StateDeployFailed = "deploy failed"
	StateCleaning     = "cleaning"
	StateCleanWait    = "clean wait"
	StateInspecting   = "inspecting"
	StateInspectWait  = "inspect wait"
	StateRescuing     = "rescuing"
	StateRescueWait   = "rescue wait"
	StateServicing    = "servicing"
	StateServiceWait  = "service wait"
	StateServiceHold  = "service hold"
)

var (
	lookupStates    = []string{StateDeploying, StateDeployWait, StateCleaning, StateCleanWait, StateInspecting, StateInspectWait, StateRescuing, StateRescueWait, StateServiceWait}
	fastTrackStates = []string{StateEnroll, StateManageable, StateAvailable, StateServicing, StateServiceHold}
)

// Keys of driver_internal_info the agent endpoints read and write.
const (
	KeyAgentURL      = "agent_url"
	KeyAgentToken    = "agent_secret_token"
	KeyAgentVerifyCA = "agent_verify_ca"
	KeyAgentVersion  = "agent_version"
	KeyLastHeartbeat = "agent_last_heartbeat"
)

// Masked is how Ironic shows a secret it will not disclose.
const Masked = "******"

// Node is a bare metal node as the fake holds it. Methods return copies.
type Node struct {
	UUID               string
	Name               string
	MACs               []string // port addresses
	ProvisionState     string   // "available" if empty
	Properties         map[string]any
	InstanceInfo       map[string]any
	DriverInfo         map[string]any // step knobs, e.g. burnin's agent_burnin_*
	DriverInternalInfo map[string]any
	// TargetRAIDConfig is what raid.create_configuration builds.
	TargetRAIDConfig map[string]any
	LastError        string
	// StateSince is when ProvisionState last changed (set by the server).
	StateSince time.Time
}

type node struct {
	Node
	portUUIDs []string
}

var macRE = regexp.MustCompile(`^([0-9a-f]{2}:){5}[0-9a-f]{2}$`)

// normalizeMAC is utils.validate_and_normalize_mac: lower case, colons.
func normalizeMAC(s string) (string, bool) {
	m := strings.ToLower(strings.TrimSpace(s))
	return m, macRE.MatchString(m)
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// AddNode stores a node and returns it with its uuid and defaults filled in.
func (s *Server) AddNode(n Node) (Node, error) {
	n = copyNode(n)
	if n.UUID == "" {
		n.UUID = newUUID()
	}
	n.UUID = strings.ToLower(n.UUID)
	if !uuidRE.MatchString(n.UUID) {
		return Node{}, fmt.Errorf("node uuid %q is not a UUID", n.UUID)
	}
	for i, m := range n.MACs {
		mac, ok := normalizeMAC(m)
		if !ok {
			return Node{}, fmt.Errorf("node %s: invalid MAC %q", n.UUID, m)
		}
		n.MACs[i] = mac
	}
	if n.ProvisionState == "" {
		n.ProvisionState = StateAvailable
	}
	for _, m := range []*map[string]any{&n.Properties, &n.InstanceInfo, &n.DriverInfo, &n.DriverInternalInfo} {
		if *m == nil {
			*m = map[string]any{}
		}
	}
	n.StateSince = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.nodes {
		if o.UUID == n.UUID || n.Name != "" && o.Name == n.Name {
			return Node{}, fmt.Errorf("node %s/%q exists already", n.UUID, n.Name)
		}
		for _, m := range n.MACs {
			for _, om := range o.MACs {
				if m == om {
					return Node{}, fmt.Errorf("MAC %s is already a port of node %s", m, o.UUID)
				}
			}
		}
	}
	in := &node{Node: n}
	for range n.MACs {
		in.portUUIDs = append(in.portUUIDs, newUUID())
	}
	s.nodes = append(s.nodes, in)
	s.notify()
	return copyNode(n), nil
}

// Node returns a copy of the node with this uuid or name.
func (s *Server) Node(ident string) (Node, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.find(ident)
	if n == nil {
		return Node{}, false
	}
	return copyNode(n.Node), true
}

// UpdateNode changes a node under the server's lock. A changed
// ProvisionState restarts StateSince.
func (s *Server) UpdateNode(ident string, fn func(*Node)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.find(ident)
	if n == nil {
		return fmt.Errorf("%s: %w", ident, ErrNodeNotFound)
	}
	old := n.ProvisionState
	fn(&n.Node)
	if n.ProvisionState != old {
		n.StateSince = time.Now()
	}
	s.notify()
	return nil
}

// SetProvisionState moves a node to state.
func (s *Server) SetProvisionState(ident, state string) error {
	return s.UpdateNode(ident, func(n *Node) { n.ProvisionState = state })
}

// WipeAgentInfo forgets the agent's token, URL and certificate, as Ironic
// does at power off and at the start of each deploy or clean: the next agent
// must look up again to get a new token.
func (s *Server) WipeAgentInfo(ident string) error {
	return s.UpdateNode(ident, wipeAgent)
}

func wipeAgent(n *Node) {
	for _, k := range []string{KeyAgentToken, KeyAgentURL, KeyAgentVerifyCA, "agent_secret_token_pregenerated"} {
		delete(n.DriverInternalInfo, k)
	}
}

// find looks a node up by uuid or name; callers hold s.mu.
func (s *Server) find(ident string) *node {
	for _, n := range s.nodes {
		if n.UUID == strings.ToLower(ident) || n.Name != "" && n.Name == ident {
			return n
		}
	}
	return nil
}

// findByMACs is Node.get_by_port_addresses: the addresses must all belong
// to one node.
func (s *Server) findByMACs(macs []string) *node {
	var found *node
	for _, n := range s.nodes {
		for _, m := range n.MACs {
			for _, want := range macs {
				if m != want {
					continue
				}
				if found != nil && found != n {
					return nil
				}
				found = n
			}
		}
	}
	return found
}

func deepCopy(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	data, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(data, &out)
	return out
}

func copyNode(n Node) Node {
	n.MACs = append([]string(nil), n.MACs...)
	n.Properties = deepCopy(n.Properties)
	n.InstanceInfo = deepCopy(n.InstanceInfo)
	n.DriverInfo = deepCopy(n.DriverInfo)
	n.DriverInternalInfo = deepCopy(n.DriverInternalInfo)
	n.TargetRAIDConfig = deepCopy(n.TargetRAIDConfig)
	return n
}

// stateIn reports whether state is one of states.
func stateIn(state string, states []string) bool {
	for _, st := range states {
		if st == state {
			return true
		}
	}
	return false
}
