package qcow2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
)

const (
	magic = "QFI\xfb"

	headerV2Len    = 72  // fixed header length of version 2
	headerV3MinLen = 104 // minimum header_length of version 3
	headerReadLen  = 112 // covers every field we use (compression_type at 104)

	minClusterBits   = 9  // 512 B, the format's minimum
	minClusterBitsL2 = 14 // 16 KiB, the minimum with extended L2 entries
	maxClusterBits   = 21 // 2 MiB, qemu's implementation limit

	// maxL1Bytes is qemu's QCOW_MAX_L1_SIZE; qemu refuses larger tables.
	maxL1Bytes = 32 << 20

	subclusters = 32 // per cluster with extended L2 entries
)

// Incompatible feature bits (header bytes 72-79).
const (
	incompatDirty       = 1 << 0
	incompatCorrupt     = 1 << 1
	incompatDataFile    = 1 << 2
	incompatCompression = 1 << 3
	incompatExtendedL2  = 1 << 4
	incompatKnown       = incompatDirty | incompatCorrupt | incompatDataFile | incompatCompression | incompatExtendedL2
)

// Compression is the algorithm of the image's compressed clusters.
type Compression uint8

// Compression types, as stored in the header's compression_type field.
const (
	CompressionZlib Compression = 0 // raw deflate, the default
	CompressionZstd Compression = 1
)

func (c Compression) String() string {
	switch c {
	case CompressionZlib:
		return "zlib"
	case CompressionZstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", uint8(c))
}

// Info describes an opened image.
type Info struct {
	Version     int   // 2 (compat=0.10) or 3 (compat=1.1)
	VirtualSize int64 // guest disk size in bytes
	ClusterSize int64 // 512 B to 2 MiB
	// Compression is the algorithm used by compressed clusters, if any.
	Compression Compression
	// ExtendedL2 reports 128-bit L2 entries that split each cluster into 32
	// subclusters.
	ExtendedL2 bool
	// Dirty reports the lazy-refcounts dirty bit. Refcounts may then be
	// stale, but the L1/L2 mapping this reader relies on is not, so dirty
	// images are read normally.
	Dirty bool
}

// Image is an opened qcow2 image. It holds no buffers between calls; all
// reads go to the io.ReaderAt given to Open. It is safe for concurrent use.
type Image struct {
	r        io.ReaderAt
	fileSize int64
	info     Info

	clusterBits uint
	l2Bits      uint  // log2 of entries per L2 table
	entryBytes  int64 // 8, or 16 with extended L2 entries
	l1Offset    int64
	l1Entries   int64 // L1 entries needed to cover the virtual size
}

// Open parses and validates the header of the qcow2 image in r, whose total
// length is size. It issues a single small read. Images that need something
// this reader refuses to do (backing file, external data file, encryption,
// corrupt flag, unknown incompatible features) fail here with the matching
// sentinel error. The L1 and L2 tables are read and checked by Convert.
func Open(r io.ReaderAt, size int64) (*Image, error) {
	if size < int64(len(magic)) {
		return nil, fmt.Errorf("%w: source is %d bytes", ErrNotQcow2, size)
	}
	b := make([]byte, min(size, headerReadLen))
	if err := readFull(r, b, 0); err != nil {
		return nil, err
	}
	img, err := parseHeader(b, size)
	if err != nil {
		return nil, err
	}
	img.r = r
	return img, nil
}

// Info returns the image's header facts.
func (img *Image) Info() Info { return img.info }

// Size returns the virtual disk size in bytes.
func (img *Image) Size() int64 { return img.info.VirtualSize }

func parseHeader(b []byte, fileSize int64) (*Image, error) {
	if string(b[:len(magic)]) != magic {
		return nil, ErrNotQcow2
	}
	if len(b) < headerV2Len {
		return nil, fmt.Errorf("%w: %d bytes is too short for a header", ErrInvalid, len(b))
	}
	be := binary.BigEndian
	version := be.Uint32(b[4:])
	if version != 2 && version != 3 {
		return nil, fmt.Errorf("%w: version %d", ErrUnsupported, version)
	}
	var incompat uint64
	var compression uint8
	hlen := int64(headerV2Len)
	if version == 3 {
		if len(b) < headerV3MinLen {
			return nil, fmt.Errorf("%w: %d bytes is too short for a version 3 header", ErrInvalid, len(b))
		}
		incompat = be.Uint64(b[72:])
		if order := be.Uint32(b[96:]); order > 6 {
			return nil, fmt.Errorf("%w: refcount_order %d", ErrInvalid, order)
		}
		hlen = int64(be.Uint32(b[100:]))
		if hlen < headerV3MinLen || hlen%8 != 0 || hlen > fileSize {
			return nil, fmt.Errorf("%w: header_length %d", ErrInvalid, hlen)
		}
		if hlen > headerV3MinLen { // then hlen >= 112 <= fileSize, so b holds the field
			compression = b[104]
		}
	}

	// Refusals first: they name what the image needs, which is more useful
	// than a complaint about some other field.
	if be.Uint64(b[8:]) != 0 {
		return nil, ErrBackingFile
	}
	if incompat&incompatCorrupt != 0 {
		return nil, ErrMarkedCorrupt
	}
	if incompat&incompatDataFile != 0 {
		return nil, ErrExternalDataFile
	}
	if m := be.Uint32(b[32:]); m != 0 {
		return nil, fmt.Errorf("%w (crypt_method %d)", ErrEncrypted, m)
	}
	if unknown := incompat &^ incompatKnown; unknown != 0 {
		return nil, fmt.Errorf("%w: incompatible feature bits %#x", ErrUnsupported, unknown)
	}

	switch {
	case incompat&incompatCompression != 0 && compression == 0:
		return nil, fmt.Errorf("%w: compression type bit set but compression_type is zlib", ErrInvalid)
	case incompat&incompatCompression == 0 && compression != 0:
		return nil, fmt.Errorf("%w: compression_type %d without the compression type bit", ErrInvalid, compression)
	case compression > uint8(CompressionZstd):
		return nil, fmt.Errorf("%w: compression_type %d", ErrUnsupported, compression)
	}

	extL2 := incompat&incompatExtendedL2 != 0
	cb := be.Uint32(b[20:])
	switch {
	case cb < minClusterBits:
		return nil, fmt.Errorf("%w: cluster_bits %d", ErrInvalid, cb)
	case cb > maxClusterBits:
		return nil, fmt.Errorf("%w: cluster_bits %d (more than 2 MiB clusters)", ErrUnsupported, cb)
	case extL2 && cb < minClusterBitsL2:
		return nil, fmt.Errorf("%w: cluster_bits %d with extended L2 entries", ErrInvalid, cb)
	}
	if hlen > 1<<cb {
		return nil, fmt.Errorf("%w: header_length %d exceeds the cluster size", ErrInvalid, hlen)
	}
	img := &Image{
		fileSize:    fileSize,
		clusterBits: uint(cb),
		l2Bits:      uint(cb) - 3,
		entryBytes:  8,
		info: Info{
			Version:     int(version),
			ClusterSize: 1 << cb,
			Compression: Compression(compression),
			ExtendedL2:  extL2,
			Dirty:       incompat&incompatDirty != 0,
		},
	}
	if extL2 {
		img.l2Bits--
		img.entryBytes = 16
	}

	vsize := be.Uint64(b[24:])
	if vsize > math.MaxInt64 {
		return nil, fmt.Errorf("%w: virtual size %d overflows", ErrInvalid, vsize)
	}
	img.info.VirtualSize = int64(vsize)
	// Each L1 entry covers 2^(clusterBits+l2Bits) <= 2^39 bytes, so this
	// rounding cannot overflow a uint64.
	shift := img.clusterBits + img.l2Bits
	img.l1Entries = int64((vsize + 1<<shift - 1) >> shift)

	l1Size := int64(be.Uint32(b[36:]))
	if l1Size > maxL1Bytes/8 {
		return nil, fmt.Errorf("%w: L1 table of %d entries (qemu's limit is %d)", ErrUnsupported, l1Size, maxL1Bytes/8)
	}
	if l1Size < img.l1Entries {
		return nil, fmt.Errorf("%w: L1 table of %d entries is too small for virtual size %d", ErrInvalid, l1Size, vsize)
	}
	if img.l1Entries > 0 {
		off := be.Uint64(b[40:])
		if err := img.checkTable("L1 table", off, img.l1Entries*8); err != nil {
			return nil, err
		}
		img.l1Offset = int64(off)
	}
	return img, nil
}

// checkTable validates the location of a cluster-aligned metadata table of
// n bytes: aligned, after the header cluster, and inside the file.
func (img *Image) checkTable(what string, off uint64, n int64) error {
	switch {
	case off&uint64(img.info.ClusterSize-1) != 0:
		return fmt.Errorf("%w: %s offset %#x is not cluster aligned", ErrInvalid, what, off)
	case off == 0:
		return fmt.Errorf("%w: %s overlaps the header", ErrInvalid, what)
	case !fits(off, n, img.fileSize):
		return fmt.Errorf("%w: %s at %#x (+%d bytes) is beyond the end of the %d-byte file", ErrInvalid, what, off, n, img.fileSize)
	}
	return nil
}

// fits reports whether [off, off+n) lies within a file of size bytes, without
// overflowing.
func fits(off uint64, n, size int64) bool {
	end, carry := bits.Add64(off, uint64(n), 0)
	return carry == 0 && end <= uint64(size)
}

// readFull reads len(p) bytes at off; a short read is an error even when the
// source reports io.EOF, which an io.ReaderAt may do at the end of the data.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("qcow2: reading %d bytes at offset %d: %w", len(p), off, err)
}
