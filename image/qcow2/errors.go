package qcow2

import "errors"

// Sentinel errors. Every error returned by Open and Convert that is caused by
// the image (not by the source or the sink) wraps exactly one of these, so
// callers can map them to a clear deploy failure with errors.Is.
var (
	// ErrNotQcow2 means the source does not start with the qcow2 magic.
	ErrNotQcow2 = errors.New("qcow2: not a qcow2 image")
	// ErrUnsupported covers valid qcow2 features this reader does not
	// implement: versions other than 2 and 3, unknown incompatible feature
	// bits, compression types other than zlib and zstd, clusters larger than
	// 2 MiB, and L1 tables larger than qemu's own 32 MiB limit.
	ErrUnsupported = errors.New("qcow2: unsupported feature")
	// ErrBackingFile means the image is an overlay of a backing file; a
	// deploy image must be self-contained.
	ErrBackingFile = errors.New("qcow2: image has a backing file")
	// ErrExternalDataFile means guest data lives in a separate file
	// (incompatible feature bit 2).
	ErrExternalDataFile = errors.New("qcow2: image uses an external data file")
	// ErrEncrypted means the image is AES or LUKS encrypted.
	ErrEncrypted = errors.New("qcow2: image is encrypted")
	// ErrMarkedCorrupt means qemu flagged the image corrupt (incompatible
	// feature bit 1); its metadata must not be trusted.
	ErrMarkedCorrupt = errors.New("qcow2: image is marked corrupt")
	// ErrInvalid means the header or the L1/L2 metadata is malformed:
	// out-of-range fields, misaligned or out-of-file offsets, overflowing
	// sizes, undecodable compressed clusters.
	ErrInvalid = errors.New("qcow2: invalid image")
)
