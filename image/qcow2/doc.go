// Package qcow2 reads qcow2 disk images (versions 2 and 3) and writes the
// guest disk they hold to an io.WriterAt, streaming from an io.ReaderAt with
// bounded memory. It is written from QEMU's format specification
// (docs/interop/qcow2.txt) and uses no qemu code.
//
// # Scope
//
// Supported: every cluster size from 512 B to 2 MiB; zlib (raw deflate) and
// zstd compressed clusters; extended L2 entries (32 subclusters per
// cluster); zero clusters (the v3 zero flag and per-subcluster zero bits);
// unallocated clusters, which read as zeros since there is no backing file;
// images with the dirty bit (lazy refcounts), because refcounts are never
// consulted and the L1/L2 mapping of a dirty image is consistent; internal
// snapshots are ignored (only the active L1 table is read).
//
// Refused with a sentinel error (see errors.go): backing files
// (ErrBackingFile), external data files (ErrExternalDataFile), encryption
// (ErrEncrypted), the corrupt bit (ErrMarkedCorrupt), unknown incompatible
// features and compression types (ErrUnsupported), and malformed metadata
// (ErrInvalid).
//
// # Design
//
// The source is an io.ReaderAt that may be backed by HTTP Range requests,
// where every ReadAt is a round trip, so the reader asks for few, large
// reads and never holds more than Options.MaxMemory of buffers:
//
//   - Open reads only the first 112 bytes and validates the header and the
//     geometry with overflow-checked int64 arithmetic.
//   - Convert walks the L1 table in windows of 32K entries (one request
//     each) and loads L2 tables in batches bounded by an eighth of
//     MaxMemory, one request per run of adjacent tables. Each table entry is
//     checked (alignment, inside the file, clear of the header) before use.
//   - The walk yields the guest ranges that hold data, in guest order. A
//     builder groups them into chunks: aligned, guest-contiguous ranges of
//     at most ChunkSize that end where a whole granule (the larger of
//     Options.Align and the (sub)cluster size) is zero or unallocated. Host
//     contiguous clusters become one ReadAt, so an image written by
//     qemu-img convert is read nearly sequentially in ChunkSize requests.
//   - Workers fill chunks concurrently: plain data is read straight into the
//     chunk buffer; nearby compressed clusters are read with one request
//     into a per-worker scratch buffer and inflated in place. This overlaps
//     network round trips and spreads decompression over the cores.
//   - One writer takes chunks back in guest order and writes their non-zero
//     Align-sized blocks. Chunk buffers come from a fixed pool, which bounds the
//     read-ahead; they are 4 KiB aligned in memory for O_DIRECT sinks.
//
// Nothing is written for zero or unallocated ranges, nor for allocated data
// that is all zeros, so the target must read as zeros beforehand (a new
// sparse file, or a device that was discarded or zeroed); Stats reports
// how many bytes were skipped.
//
// There is no random-access ReadAt: deploying an image only needs one
// ordered pass, and a cache for random access would not fit the memory
// bound.
package qcow2
