// Package download fetches deploy images over HTTP(S) the way Ironic
// expects of its agent: URLs tried in order, proxies and no_proxy, a
// private CA or no verification, a bearer or basic Authorization, connect
// timeouts, stall detection and retries with backoff, 4xx fatal and 5xx
// retried.
//
// Stream is a sequential reader for images written as they arrive. It
// survives dropped connections and stalls by resuming with a Range request
// guarded by If-Range, and it never splices bytes of a different object:
// when the server cannot resume it fails with ErrRestart so the caller
// starts the write over from byte 0. It never reports io.EOF before
// Content-Length bytes were delivered. It reads ahead of its caller into
// aligned segment buffers, hashing them (Stream.Hash) on a goroutine of
// their own. On a long path (a round-trip time of LongPathRTT or more), for
// a large image whose server announces byte ranges and a validator, it
// fetches segments over several connections with Range requests
// (Options.Streams) and still delivers the bytes in order; it falls back to
// one connection whenever that fails, and hashes what it delivers in the
// same order either way. On a LAN one connection is faster, for one node
// and for a fleet sharing a server.
//
// ReaderAt gives qcow2 conversion random access over Range requests, with a
// small bounded cache that turns runs of small reads into few requests.
//
// ParseChecksum turns the checksum fields of Ironic's image_info into a
// Verifier whose hash the caller feeds in the same pass as the write.
package download
