// Package config holds goipa's configuration: IPA's options, read from
// oslo.config-style files, the kernel command line and command-line flags.
//
// Precedence, highest first: flags, kernel command line, config files (later
// files override earlier ones), defaults. Every option is described once, in
// the table in options.go; all three sources parse through the same values.
package config

import (
	"slices"
	"time"
)

// Config is the agent's configuration. Field comments give the oslo option
// name; see options.go for kernel parameters, defaults and help.
type Config struct {
	// Ironic API.
	APIURL           []string // api_url: http(s) URLs tried in order, or "mdns"
	IronicAPIVersion string   // ironic_api_version: "" = autodetect
	GlobalRequestID  string   // global_request_id
	AgentToken       string   // agent_token: pre-generated (virtual media)
	UseMDNS          bool     // [mdns] use_mdns

	LookupTimeout      time.Duration // lookup_timeout
	LookupInterval     time.Duration // lookup_interval
	HTTPRequestTimeout time.Duration // http_request_timeout

	// Agent API server and callback URL.
	ListenHost        string        // listen_host: "::" (fall back to 0.0.0.0 without IPv6)
	ListenPort        int           // listen_port
	AdvertiseHost     string        // advertise_host: "" = find a routable address
	AdvertisePort     int           // advertise_port
	AdvertiseProtocol string        // advertise_protocol: http or https
	NetworkInterface  string        // network_interface
	IPLookupAttempts  int           // ip_lookup_attempts
	IPLookupSleep     time.Duration // ip_lookup_sleep (kernel ipa-ip-lookup-timeout)

	// TLS, server side and towards Ironic / image servers.
	ListenTLS               bool          // listen_tls
	TLSCertFile             string        // tls_cert_file
	TLSKeyFile              string        // tls_key_file
	EnableAutoTLS           bool          // enable_auto_tls
	AutoTLSAllowedClockSkew time.Duration // auto_tls_allowed_clock_skew
	TLSMinVersion           string        // tls_min_version: "1.2" or "1.3"
	TLSCipherSuites         string        // tls_cipher_suites: OpenSSL names, colon-separated; "" = secure defaults
	TLSCertificateCurve     string        // tls_certificate_curve: p256, p384 or p521
	Insecure                bool          // insecure: skip certificate verification
	CAFile                  string        // cafile
	CertFile                string        // certfile: client certificate
	KeyFile                 string        // keyfile: client key

	// Inspection.
	InspectionCallbackURL       []string      // inspection_callback_url: URLs or "mdns"
	InspectionCollectors        []string      // inspection_collectors: empty = not set; see Collectors
	InspectionDHCPWaitTimeout   time.Duration // inspection_dhcp_wait_timeout
	InspectionDHCPAllInterfaces bool          // inspection_dhcp_all_interfaces
	InspectionBenchmarks        []string      // inspection_benchmarks (kernel only in IPA)
	LLDPTimeout                 time.Duration // lldp_timeout
	CollectLLDP                 bool          // collect_lldp (deprecated: lldp collector)
	EnableVLANInterfaces        []string      // enable_vlan_interfaces: iface.vlan, iface, MAC or all

	// Hardware and startup.
	HardwareInitializationDelay time.Duration // hardware_initialization_delay
	DiskWaitAttempts            int           // disk_wait_attempts
	DiskWaitDelay               time.Duration // disk_wait_delay
	NTPServer                   string        // ntp_server
	FailIfClockNotSet           bool          // fail_if_clock_not_set
	GuardSpecialFilesystems     bool          // guard_special_filesystems
	Debug                       bool          // debug (kernel ipa-debug)

	// Images and deployment.
	ImageDownloadConnectionTimeout       time.Duration // image_download_connection_timeout
	ImageDownloadConnectionRetries       int           // image_download_connection_retries
	ImageDownloadConnectionRetryInterval time.Duration // image_download_connection_retry_interval
	ImageDownloadMaxDuration             time.Duration // image_download_max_duration: 0 = unlimited
	ImageServerAuthStrategy              string        // image_server_auth_strategy: noauth or http_basic
	ImageServerUser                      string        // image_server_user
	ImageServerPassword                  string        // image_server_password
	MD5Enabled                           bool          // md5_enabled
	DisableDeepImageInspection           bool          // disable_deep_image_inspection
	PermittedImageFormats                []string      // permitted_image_formats
	ConfigDriveRebuild                   bool          // config_drive_rebuild
	EnableBIOSBootloaderInstall          bool          // enable_bios_bootloader_install
	IgnoreBootloaderFailure              bool          // ignore_bootloader_failure
	InjectFilesPriority                  int           // inject_files_priority: 0 = step disabled

	DiskUtils DiskUtils // [disk_utils]

	// BootIF is the PXE boot MAC from the kernel's BOOTIF, normalized to
	// "aa:bb:cc:dd:ee:ff"; BootIFRaw is the value as given, which IPA reports
	// as the inventory's boot.pxe_interface. Both are "" without BOOTIF.
	BootIF    string
	BootIFRaw string

	// Cmdline holds every key=value of the kernel command line, including
	// keys this package does not know (e.g. goipa.net=static).
	Cmdline map[string]string

	// Files lists the config files read, in the order applied.
	Files []string

	// InitArgs are the arguments the kernel handed /init (Sources.Init):
	// its command line's words without "=" and those after "--". None is
	// goipa's; they are kept only to be logged.
	InitArgs []string
	// Unknown are the config file keys and ipa-* kernel parameters that
	// name no option this agent has: ignored, as oslo.config does.
	Unknown []string
	// Problems are the settings Sources.Init mode left out because their
	// value, or their config file, was invalid; each wraps ErrInvalidValue
	// or names the file. The agent reports them and runs without them.
	Problems []error
}

// DiskUtils is IPA's [disk_utils] section.
type DiskUtils struct {
	EFISystemPartitionSizeMiB  int    // efi_system_partition_size
	BIOSBootPartitionSizeMiB   int    // bios_boot_partition_size
	DDBlockSize                string // dd_block_size, as given to dd's bs=
	PartitionDetectionAttempts int    // partition_detection_attempts
	PartprobeAttempts          int    // partprobe_attempts
	ImageConvertMemoryLimitMiB int    // image_convert_memory_limit
	ImageConvertAttempts       int    // image_convert_attempts
}

// DefaultInspectionCollectors are the collectors used when
// inspection_collectors is not set.
var DefaultInspectionCollectors = []string{"default", "logs"}

// Collectors returns the inspection collectors to run. Like IPA, an unset
// inspection_collectors means the defaults, but only an explicitly set one
// enables inspection through api_url when inspection_callback_url is unset.
func (c *Config) Collectors() []string {
	if len(c.InspectionCollectors) == 0 {
		return slices.Clone(DefaultInspectionCollectors)
	}
	return c.InspectionCollectors
}

// Default returns the configuration with every option at its default.
func Default() *Config {
	c := &Config{Cmdline: map[string]string{}}
	for i := range options {
		o := &options[i]
		if err := o.value(c).Set(o.def); err != nil {
			panic("config: bad default for " + o.name + ": " + err.Error())
		}
	}
	return c
}
