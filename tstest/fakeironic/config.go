package fakeironic

// Config is the "config" object of a lookup reply (ironic ramdisk.py
// config()), minus the token fields the server fills in itself.
type Config struct {
	HeartbeatTimeout            int            `json:"heartbeat_timeout"`
	Metrics                     map[string]any `json:"metrics"`
	MetricsStatsd               map[string]any `json:"metrics_statsd"`
	AgentContainers             map[string]any `json:"agent_containers,omitempty"`
	AgentMD5ChecksumEnable      bool           `json:"agent_md5_checksum_enable"`
	DisableDeepImageInspection  bool           `json:"disable_deep_image_inspection"`
	PermittedImageFormats       []string       `json:"permitted_image_formats"`
	AgentSkipBMCDetect          bool           `json:"agent_skip_bmc_detect"`
	EnableBIOSBootloaderInstall bool           `json:"enable_bios_bootloader_install"`
	TLSMinVersion               string         `json:"tls_min_version,omitempty"`
	TLSCipherSuites             string         `json:"tls_cipher_suites,omitempty"`
}

// DefaultConfig is what an Ironic with default settings sends.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout: 300,
		Metrics: map[string]any{
			"backend": "noop", "prepend_host": false, "prepend_uuid": false,
			"prepend_host_reverse": true, "global_prefix": nil,
		},
		MetricsStatsd:         map[string]any{"statsd_host": "localhost", "statsd_port": 8125},
		PermittedImageFormats: []string{"raw", "qcow2", "iso"},
	}
}

// lookupConfig is Config plus the token fields, as sent.
type lookupConfig struct {
	Config
	AgentToken         *string `json:"agent_token"`
	AgentTokenRequired bool    `json:"agent_token_required"`
}
