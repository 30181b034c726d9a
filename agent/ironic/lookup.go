package ironic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Lookup errors.
var (
	// ErrNotFound: no node matches, or it is not in a state allowing lookup (404).
	ErrNotFound = errors.New("ironic: node not found")
	// ErrConflict: the node is locked by a conductor (409).
	ErrConflict = errors.New("ironic: node locked")
	// ErrLookupTimeout: LookupNode gave up.
	ErrLookupTimeout = errors.New("ironic: could not look up node")
	// ErrNoLookupKeys: neither a MAC address nor a node UUID to look up by.
	ErrNoLookupKeys = errors.New("ironic: lookup needs a MAC address or a node UUID")
)

// Node is the node record a lookup returns (secrets masked by Ironic).
type Node struct {
	UUID               string         `json:"uuid"`
	Properties         map[string]any `json:"properties"`
	InstanceInfo       map[string]any `json:"instance_info"`
	DriverInternalInfo map[string]any `json:"driver_internal_info"`
	// Raw is the node object as Ironic sent it.
	Raw json.RawMessage `json:"-"`
}

// Config is the ramdisk configuration a lookup returns.
type Config struct {
	HeartbeatTimeout            time.Duration
	AgentToken                  string
	AgentMD5ChecksumEnable      bool
	DisableDeepImageInspection  bool
	PermittedImageFormats       []string
	AgentSkipBMCDetect          bool
	EnableBIOSBootloaderInstall bool
	TLSMinVersion               string
	TLSCipherSuites             string
	// Raw is the config object as Ironic sent it (metrics, agent_containers, …).
	Raw json.RawMessage
}

// LookupResult is a successful lookup.
type LookupResult struct {
	Node   Node
	Config Config
}

// Lookup makes one lookup attempt by MAC addresses and, if known, node UUID.
// A 404 wraps ErrNotFound and a 409 ErrConflict; other failures are transport
// errors or *StatusError.
func (c *Client) Lookup(ctx context.Context, macs []string, nodeUUID string) (*LookupResult, error) {
	if len(macs) == 0 && nodeUUID == "" {
		return nil, ErrNoLookupKeys
	}
	q := url.Values{}
	if len(macs) > 0 {
		q.Set("addresses", strings.Join(macs, ","))
	}
	if nodeUUID != "" {
		q.Set("node_uuid", nodeUUID)
	}
	v := capVersion(c.MaxVersion(ctx), VersionAgentToken)
	resp, err := c.do(ctx, http.MethodGet, "/v1/lookup", q, &v, nil)
	if err != nil {
		return nil, fmt.Errorf("lookup: %w", err)
	}
	switch resp.status {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("%w: %w", ErrNotFound, resp.statusError())
	case http.StatusConflict:
		return nil, fmt.Errorf("%w: %w", ErrConflict, resp.statusError())
	default:
		return nil, fmt.Errorf("lookup: %w", resp.statusError())
	}
	res, err := parseLookup(resp.body)
	if err != nil {
		return nil, fmt.Errorf("lookup: GET %s: %w", resp.url, err)
	}
	return res, nil
}

func parseLookup(body []byte) (*LookupResult, error) {
	var top struct {
		Node   json.RawMessage `json:"node"`
		Config json.RawMessage `json:"config"`
		// Old API versions put the timeout at the top level, without config.
		HeartbeatTimeout json.RawMessage `json:"heartbeat_timeout"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("decoding reply: %w", err)
	}
	if isNull(top.Node) {
		return nil, errors.New("reply has no node")
	}
	res := &LookupResult{}
	if err := json.Unmarshal(top.Node, &res.Node); err != nil {
		return nil, fmt.Errorf("decoding node: %w", err)
	}
	if res.Node.UUID == "" {
		return nil, errors.New("reply has no node.uuid")
	}
	res.Node.Raw = top.Node
	cfg := top.Config
	if isNull(cfg) && !isNull(top.HeartbeatTimeout) {
		cfg = json.RawMessage(`{"heartbeat_timeout":` + string(top.HeartbeatTimeout) + `}`)
	}
	if isNull(cfg) {
		return nil, errors.New("reply has no config")
	}
	var err error
	if res.Config, err = parseConfig(cfg); err != nil {
		return nil, err
	}
	return res, nil
}

func isNull(m json.RawMessage) bool {
	return len(m) == 0 || string(m) == "null"
}

// parseConfig decodes the keys the agent uses. Only heartbeat_timeout is
// required; an optional key of an unexpected type is left at its zero value
// rather than failing the whole lookup, since its type varies across Ironic
// releases and configurations.
func parseConfig(raw json.RawMessage) (Config, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return Config{}, fmt.Errorf("decoding config: %w", err)
	}
	var secs float64
	if err := json.Unmarshal(m["heartbeat_timeout"], &secs); err != nil || secs <= 0 {
		return Config{}, fmt.Errorf("config.heartbeat_timeout missing or invalid: %s", m["heartbeat_timeout"])
	}
	cfg := Config{
		HeartbeatTimeout: time.Duration(secs * float64(time.Second)),
		Raw:              raw,
	}
	optional(m, "agent_token", &cfg.AgentToken)
	optional(m, "agent_md5_checksum_enable", &cfg.AgentMD5ChecksumEnable)
	optional(m, "disable_deep_image_inspection", &cfg.DisableDeepImageInspection)
	optional(m, "permitted_image_formats", &cfg.PermittedImageFormats)
	optional(m, "agent_skip_bmc_detect", &cfg.AgentSkipBMCDetect)
	optional(m, "enable_bios_bootloader_install", &cfg.EnableBIOSBootloaderInstall)
	optional(m, "tls_min_version", &cfg.TLSMinVersion)
	optional(m, "tls_cipher_suites", &cfg.TLSCipherSuites)
	return cfg, nil
}

// optional sets *dst from m[key] only if that decodes cleanly as a T.
func optional[T any](m map[string]json.RawMessage, key string, dst *T) {
	var v T
	if json.Unmarshal(m[key], &v) == nil {
		*dst = v
	}
}
