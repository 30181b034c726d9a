package erase

// Device is a disk to erase, as the agent's block device listing describes
// it. Only Path is required: Check reads the kernel's current view (sysfs,
// mountinfo) itself and treats the listed facts as additional evidence.
type Device struct {
	Path   string // /dev/sda, /dev/nvme0n1
	Tran   string // lsblk TRAN: "nvme", "sata", "usb", …
	Vendor string
	Model  string
	// ReadOnly and Holders (kernel names such as md0, dm-0) as listed.
	ReadOnly bool
	Holders  []string
}

// Method says how a device was erased.
type Method string

// Erase methods reported in Result and Progress.
const (
	MethodNVMeCrypto   Method = "nvme-format-crypto"    // nvme format -s 2
	MethodNVMeUserData Method = "nvme-format-user-data" // nvme format -s 1
	// Sanitize, for controllers without Format NVM.
	MethodNVMeSanitizeCrypto Method = "nvme-sanitize-crypto"
	MethodNVMeSanitizeBlock  Method = "nvme-sanitize-block"
	MethodATAEnhanced        Method = "ata-secure-erase-enhanced"
	MethodATA                Method = "ata-secure-erase"
	MethodOverwrite          Method = "overwrite" // IPA's shred fallback
	MethodMetadata           Method = "metadata"
)

// Result is the outcome for one device of the *Devices functions.
type Result struct {
	Device string
	Method Method // empty when skipped
	// Skipped is why the device was left alone (wraps ErrVirtualMedia,
	// ErrRAIDMember or ErrReadOnly), nil if it was erased.
	Skipped error
}

// Progress reports how far an erase of one device has come. Done and Total
// count bytes over all passes; a hardware erase reports 0 at its start and
// Total at its end.
type Progress struct {
	Device string
	Method Method
	Pass   int // 1-based pass of an overwrite (random passes, then zeroing)
	Passes int
	Done   int64
	Total  int64
}
