package config

import (
	"flag"
	"strings"
	"time"
)

// option describes one IPA option. Kernel, file and flag parsing all derive
// from this table.
type option struct {
	name    string // oslo.config option name, e.g. "api_url"
	section string // config file section; "" is [DEFAULT]
	kernel  string // kernel parameter, e.g. "ipa-api-url"; "" = not settable there
	def     string // default, in the syntax every source uses
	help    string
	min     int                // lower bound for ints, in seconds for durations
	max     int                // upper bound for ints; 0 = none
	check   func(string) error // extra check for strings and each list item
	field   func(*Config) any  // pointer to the Config field
}

// flagName is the kernel parameter without "ipa-", else the (section-prefixed)
// option name with dashes: ipa-api-url → api-url, enable_auto_tls →
// enable-auto-tls, [disk_utils] dd_block_size → disk-utils-dd-block-size.
func (o *option) flagName() string {
	if o.kernel != "" {
		return strings.TrimPrefix(o.kernel, "ipa-")
	}
	n := o.name
	if o.section != "" {
		n = o.section + "_" + n
	}
	return strings.ReplaceAll(n, "_", "-")
}

// fileKey names the option in errors and help: "api_url", "[disk_utils] dd_block_size".
func (o *option) fileKey() string {
	if o.section == "" {
		return o.name
	}
	return "[" + o.section + "] " + o.name
}

// value returns a flag.Value that parses into o's field of c.
func (o *option) value(c *Config) interface {
	flag.Value
	kind() string
} {
	switch p := o.field(c).(type) {
	case *string:
		return stringValue{p, o.check}
	case *bool:
		return boolValue{p}
	case *int:
		return intValue{p, o.min, o.max}
	case *time.Duration:
		return durationValue{p, time.Duration(o.min) * time.Second}
	case *[]string:
		return listValue{p, o.check}
	}
	panic("config: unsupported field type for " + o.name)
}

// copy sets o's field of dst to its value in src.
func (o *option) copy(dst, src *Config) {
	switch p := o.field(dst).(type) {
	case *string:
		*p = *o.field(src).(*string)
	case *bool:
		*p = *o.field(src).(*bool)
	case *int:
		*p = *o.field(src).(*int)
	case *time.Duration:
		*p = *o.field(src).(*time.Duration)
	case *[]string:
		*p = append([]string(nil), *o.field(src).(*[]string)...)
	}
}

var options = []option{
	// Ironic API.
	{name: "api_url", kernel: "ipa-api-url", field: func(c *Config) any { return &c.APIURL }, check: endpoint,
		help: `Comma-separated Ironic API URLs, tried in order, or "mdns" to discover one`},
	{name: "ironic_api_version", kernel: "ipa-ironic-api-version", field: func(c *Config) any { return &c.IronicAPIVersion }, check: apiVersion,
		help: "Ironic API version to use instead of autodetecting it"},
	{name: "global_request_id", kernel: "ipa-global-request-id", field: func(c *Config) any { return &c.GlobalRequestID },
		help: `X-OpenStack-Request-ID sent to Ironic ("req-<UUID>")`},
	{name: "agent_token", kernel: "ipa-agent-token", field: func(c *Config) any { return &c.AgentToken },
		help: "Pre-generated agent token (normally handed out by lookup)"},
	{name: "use_mdns", section: "mdns", kernel: "ipa-use-mdns", def: "false", field: func(c *Config) any { return &c.UseMDNS },
		help: "Discover the Ironic API by multicast DNS when no API or inspection URL is set"},
	{name: "lookup_timeout", kernel: "ipa-lookup-timeout", def: "600", field: func(c *Config) any { return &c.LookupTimeout },
		help: "Seconds to keep retrying the lookup before exiting"},
	{name: "lookup_interval", kernel: "ipa-lookup-interval", def: "1", field: func(c *Config) any { return &c.LookupInterval },
		help: "Initial seconds between lookup retries (backs off exponentially)"},
	{name: "http_request_timeout", kernel: "ipa-http-request-timeout", def: "30", min: 1, field: func(c *Config) any { return &c.HTTPRequestTimeout },
		help: "Seconds to wait for a connection to a remote service"},

	// Agent API server and callback URL.
	{name: "listen_host", kernel: "ipa-listen-host", def: "::", field: func(c *Config) any { return &c.ListenHost },
		help: "Address the agent API listens on"},
	{name: "listen_port", kernel: "ipa-listen-port", def: "9999", min: 1, max: 65535, field: func(c *Config) any { return &c.ListenPort },
		help: "Port the agent API listens on"},
	{name: "advertise_host", kernel: "ipa-advertise-host", field: func(c *Config) any { return &c.AdvertiseHost },
		help: "Address in the callback URL sent to Ironic (default: found by routing towards Ironic)"},
	{name: "advertise_port", kernel: "ipa-advertise-port", def: "9999", min: 1, max: 65535, field: func(c *Config) any { return &c.AdvertisePort },
		help: "Port in the callback URL sent to Ironic"},
	{name: "advertise_protocol", kernel: "ipa-advertise-protocol", def: "http", check: oneOf("http", "https"), field: func(c *Config) any { return &c.AdvertiseProtocol },
		help: "Scheme of the callback URL: http or https"},
	{name: "network_interface", kernel: "ipa-network-interface", field: func(c *Config) any { return &c.NetworkInterface },
		help: "Interface whose address goes in the callback URL"},
	{name: "ip_lookup_attempts", kernel: "ipa-ip-lookup-attempts", def: "6", min: 1, field: func(c *Config) any { return &c.IPLookupAttempts },
		help: "Attempts to find the address for the callback URL"},
	{name: "ip_lookup_sleep", kernel: "ipa-ip-lookup-timeout", def: "10", field: func(c *Config) any { return &c.IPLookupSleep },
		help: "Seconds between attempts to find the callback address"},

	// TLS.
	{name: "listen_tls", def: "false", field: func(c *Config) any { return &c.ListenTLS },
		help: "Serve the agent API over TLS with tls_cert_file and tls_key_file"},
	{name: "tls_cert_file", field: func(c *Config) any { return &c.TLSCertFile },
		help: "Server certificate for listen_tls"},
	{name: "tls_key_file", field: func(c *Config) any { return &c.TLSKeyFile },
		help: "Server private key for listen_tls"},
	{name: "enable_auto_tls", def: "true", field: func(c *Config) any { return &c.EnableAutoTLS },
		help: "Generate a self-signed certificate when listen_tls is off and Ironic supports it"},
	{name: "auto_tls_allowed_clock_skew", def: "3600", field: func(c *Config) any { return &c.AutoTLSAllowedClockSkew },
		help: "Seconds the generated certificate is valid before now"},
	{name: "tls_min_version", kernel: "ipa-tls-min-version", def: "1.2", check: oneOf("1.2", "1.3"), field: func(c *Config) any { return &c.TLSMinVersion },
		help: "Minimum TLS version, server and client: 1.2 or 1.3"},
	{name: "tls_cipher_suites", kernel: "ipa-tls-cipher-suites", field: func(c *Config) any { return &c.TLSCipherSuites },
		help: "Colon-separated TLS 1.2 cipher suites (OpenSSL names); empty for secure defaults"},
	{name: "tls_certificate_curve", kernel: "ipa-tls-certificate-curve", def: "p384", check: oneOf("p256", "p384", "p521"), field: func(c *Config) any { return &c.TLSCertificateCurve },
		help: "Curve of the generated certificate: p256, p384 or p521"},
	{name: "insecure", kernel: "ipa-insecure", def: "false", field: func(c *Config) any { return &c.Insecure },
		help: "Do not verify TLS certificates of Ironic and image servers"},
	{name: "cafile", field: func(c *Config) any { return &c.CAFile },
		help: "PEM CA bundle for verifying HTTPS servers (default: system CAs)"},
	{name: "certfile", field: func(c *Config) any { return &c.CertFile },
		help: "PEM client certificate (with keyfile)"},
	{name: "keyfile", field: func(c *Config) any { return &c.KeyFile },
		help: "PEM client key (with certfile)"},

	// Inspection.
	{name: "inspection_callback_url", kernel: "ipa-inspection-callback-url", check: endpoint, field: func(c *Config) any { return &c.InspectionCallbackURL },
		help: `Comma-separated URLs to send inspection data to, or "mdns"`},
	{name: "inspection_collectors", kernel: "ipa-inspection-collectors", field: func(c *Config) any { return &c.InspectionCollectors },
		help: "Comma-separated inspection collectors (unset: default,logs)"},
	{name: "inspection_dhcp_wait_timeout", kernel: "ipa-inspection-dhcp-wait-timeout", def: "60", field: func(c *Config) any { return &c.InspectionDHCPWaitTimeout },
		help: "Seconds to wait for DHCP addresses before inspection; 0 to not wait"},
	{name: "inspection_dhcp_all_interfaces", kernel: "ipa-inspection-dhcp-all-interfaces", def: "false", field: func(c *Config) any { return &c.InspectionDHCPAllInterfaces },
		help: "Wait for an address on every interface, not just the PXE one"},
	{name: "inspection_benchmarks", kernel: "ipa-inspection-benchmarks", field: func(c *Config) any { return &c.InspectionBenchmarks },
		help: "Comma-separated benchmarks for the extra-hardware collector (cpu, disk, mem)"},
	{name: "lldp_timeout", kernel: "ipa-lldp-timeout", def: "30", field: func(c *Config) any { return &c.LLDPTimeout },
		help: "Seconds to wait for LLDP packets"},
	{name: "collect_lldp", kernel: "ipa-collect-lldp", def: "false", field: func(c *Config) any { return &c.CollectLLDP },
		help: "Collect LLDP for every interface in the inventory (deprecated: lldp collector)"},
	{name: "enable_vlan_interfaces", kernel: "ipa-enable-vlan-interfaces", field: func(c *Config) any { return &c.EnableVLANInterfaces },
		help: `Comma-separated VLAN interfaces to bring up: "iface.vlan", "iface" or MAC (VLANs from LLDP), or "all"`},

	// Hardware and startup.
	{name: "hardware_initialization_delay", kernel: "ipa-hardware-initialization-delay", def: "0", field: func(c *Config) any { return &c.HardwareInitializationDelay },
		help: "Seconds to wait for hardware to settle before doing anything"},
	{name: "disk_wait_attempts", kernel: "ipa-disk-wait-attempts", def: "10", field: func(c *Config) any { return &c.DiskWaitAttempts },
		help: "Checks for a usable disk before going on"},
	{name: "disk_wait_delay", kernel: "ipa-disk-wait-delay", def: "3", field: func(c *Config) any { return &c.DiskWaitDelay },
		help: "Seconds between checks for a usable disk; 0 to not wait"},
	{name: "ntp_server", kernel: "ipa-ntp-server", field: func(c *Config) any { return &c.NTPServer },
		help: "NTP server to set the clock from"},
	{name: "fail_if_clock_not_set", def: "false", field: func(c *Config) any { return &c.FailIfClockNotSet },
		help: "Fail operations when the clock could not be synchronized"},
	{name: "guard_special_filesystems", kernel: "ipa-guard-special-filesystems", def: "true", field: func(c *Config) any { return &c.GuardSpecialFilesystems },
		help: "Refuse to clean disks holding shared cluster filesystems"},
	{name: "debug", kernel: "ipa-debug", def: "false", field: func(c *Config) any { return &c.Debug },
		help: "Log at debug level"},

	// Images and deployment.
	{name: "image_download_connection_timeout", kernel: "ipa-image-download-connection-timeout", def: "60", min: 1, field: func(c *Config) any { return &c.ImageDownloadConnectionTimeout },
		help: "Seconds to wait for a connection to an image server"},
	{name: "image_download_connection_retries", kernel: "ipa-image-download-connection-retries", def: "9", field: func(c *Config) any { return &c.ImageDownloadConnectionRetries },
		help: "Retries of a failed image download connection or HTTP status"},
	{name: "image_download_connection_retry_interval", kernel: "ipa-image-download-connection-retry-interval", def: "10", field: func(c *Config) any { return &c.ImageDownloadConnectionRetryInterval },
		help: "Seconds between image download connection attempts"},
	{name: "image_download_max_duration", kernel: "ipa-image-download-max-duration", def: "0", field: func(c *Config) any { return &c.ImageDownloadMaxDuration },
		help: "Seconds an image download may take in total; 0 for no limit"},
	{name: "image_server_auth_strategy", def: "noauth", check: oneOf("noauth", "http_basic"), field: func(c *Config) any { return &c.ImageServerAuthStrategy },
		help: "Authentication towards image servers: noauth or http_basic (image_info may override)"},
	{name: "image_server_user", field: func(c *Config) any { return &c.ImageServerUser },
		help: "User for http_basic image server authentication"},
	{name: "image_server_password", field: func(c *Config) any { return &c.ImageServerPassword },
		help: "Password for http_basic image server authentication"},
	{name: "md5_enabled", def: "true", field: func(c *Config) any { return &c.MD5Enabled },
		help: "Accept MD5 image checksums"},
	{name: "disable_deep_image_inspection", def: "false", field: func(c *Config) any { return &c.DisableDeepImageInspection },
		help: "Skip inspecting image contents before conversion"},
	{name: "permitted_image_formats", def: "raw,gpt,qcow2", field: func(c *Config) any { return &c.PermittedImageFormats },
		help: "Comma-separated image formats allowed by deep inspection"},
	{name: "config_drive_rebuild", def: "false", field: func(c *Config) any { return &c.ConfigDriveRebuild },
		help: "Always rebuild the config drive on a local filesystem"},
	{name: "enable_bios_bootloader_install", def: "false", field: func(c *Config) any { return &c.EnableBIOSBootloaderInstall },
		help: "Allow installing a legacy BIOS bootloader (grub-install) for partition images"},
	{name: "ignore_bootloader_failure", kernel: "ipa-ignore-bootloader-failure", def: "false", field: func(c *Config) any { return &c.IgnoreBootloaderFailure },
		help: "Ignore failures to add UEFI boot entries"},
	{name: "inject_files_priority", kernel: "ipa-inject-files-priority", def: "0", max: 99, field: func(c *Config) any { return &c.InjectFilesPriority },
		help: "Priority of the inject_files deploy step; 0 disables it"},

	// [disk_utils]
	{name: "efi_system_partition_size", section: "disk_utils", def: "550", min: 1, field: func(c *Config) any { return &c.DiskUtils.EFISystemPartitionSizeMiB },
		help: "EFI system partition size in MiB"},
	{name: "bios_boot_partition_size", section: "disk_utils", def: "1", min: 1, field: func(c *Config) any { return &c.DiskUtils.BIOSBootPartitionSizeMiB },
		help: "BIOS boot partition size in MiB"},
	{name: "dd_block_size", section: "disk_utils", def: "1M", field: func(c *Config) any { return &c.DiskUtils.DDBlockSize },
		help: "Block size for writing disks (dd bs=)"},
	{name: "partition_detection_attempts", section: "disk_utils", def: "3", min: 1, field: func(c *Config) any { return &c.DiskUtils.PartitionDetectionAttempts },
		help: "Attempts to detect a newly created partition"},
	{name: "partprobe_attempts", section: "disk_utils", def: "10", min: 1, field: func(c *Config) any { return &c.DiskUtils.PartprobeAttempts },
		help: "Attempts to re-read a partition table"},
	{name: "image_convert_memory_limit", section: "disk_utils", def: "2048", min: 1, field: func(c *Config) any { return &c.DiskUtils.ImageConvertMemoryLimitMiB },
		help: "Address space limit of qemu-img convert in MiB"},
	{name: "image_convert_attempts", section: "disk_utils", def: "3", min: 1, field: func(c *Config) any { return &c.DiskUtils.ImageConvertAttempts },
		help: "Attempts to convert an image"},
}

// lookups by kernel parameter, "section.name" and flag name.
var (
	byKernel = map[string]*option{}
	byKey    = map[string]*option{}
	byFlag   = map[string]*option{}
)

func init() {
	for i := range options {
		o := &options[i]
		if o.kernel != "" {
			byKernel[o.kernel] = o
		}
		byKey[sectionOf(o.section)+"."+o.name] = o
		byFlag[o.flagName()] = o
	}
}

func sectionOf(s string) string {
	if s == "" {
		return "DEFAULT"
	}
	return s
}
