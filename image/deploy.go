package image

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/goipa/goipa/image/disk"
	"github.com/goipa/goipa/image/download"
	"github.com/goipa/goipa/internal/errclass"
)

// Deployer writes images to disks. One deploy runs at a time (the command
// runner guarantees it); the partition UUIDs of the last write are kept for
// standby.get_partition_uuids.
type Deployer struct {
	Log *slog.Logger
	// Download carries the agent's settings: TLS, timeouts, retries and the
	// image server credentials from the configuration. URLs, proxies and
	// per-image credentials come from image_info.
	Download download.Options
	// Settings from Ironic's lookup (and the agent's configuration).
	MD5Enabled            bool
	PermittedFormats      []string
	DisableDeepInspection bool
	ConfigDriveRebuild    bool
	// Disk opens target devices; tests point it at fake sysfs trees.
	Disk disk.Options
	// ProgressEvery is how often progress is logged and reported (default
	// 5 s).
	ProgressEvery time.Duration
	// Report, if set, hears the progress with the deploy's context (the
	// command's, which knows where its progress goes).
	Report func(context.Context, Progress)
	// EFIRoot is /sys/firmware/efi (the default): a partition image whose
	// image_info has no deploy_boot_mode is laid out for UEFI when it exists.
	EFIRoot string
	// ESPSizeMiB and BIOSBootSizeMiB size a partition image's ESP and BIOS
	// boot partition ([disk_utils] efi_system_partition_size and
	// bios_boot_partition_size); 0 means IPA's 550 and 1.
	ESPSizeMiB, BIOSBootSizeMiB int

	mu    sync.Mutex
	uuids map[string]any
}

// Typed errors the conductor shows as last_error.
const (
	errDownload = "ImageDownloadError"
	errChecksum = "ImageChecksumError"
	errWrite    = "ImageWriteError"
	errInvalid  = "InvalidImage"
)

// Progress is where a deploy stands.
type Progress struct {
	Image                              string
	Downloaded, Size, Written, Skipped int64
	Rate                               float64       // bytes per second
	ETA                                time.Duration // negative when unknown
}

// Result is what a successful write reports.
type Result struct {
	Device   string
	RootUUID string
	ESPUUID  string
	Stats    disk.Stats
	Format   Format
}

// Message is IPA's prepare_image message, which Ironic stores and shows.
func (r *Result) Message(id string) string {
	m := fmt.Sprintf("image (%s) written to device %s root_uuid=%s", id, r.Device, r.RootUUID)
	if r.ESPUUID != "" {
		m += " efi_system_partition_uuid=" + r.ESPUUID
	}
	return m
}

// PartitionUUIDs returns what standby.get_partition_uuids answers.
func (d *Deployer) PartitionUUIDs() map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.uuids == nil {
		return map[string]any{}
	}
	return d.uuids
}

// MemoryLimit is the Go runtime's soft memory limit the agent runs with
// (cmd/goipa sets it unless GOMEMLIMIT does), and deployGCPercent the GOGC
// a deploy runs with. A deploy's live heap is its bounded buffers, 40-50
// MiB for a qcow2 image; what the collector must keep small is the garbage
// on top (a restarted download, an xz decoder's dictionaries), within the
// 64 MiB of peak RSS a deploy is budgeted. A GOGC of 25 lets garbage grow
// to a quarter of the live heap before a collection, and the limit caps it
// below the budget. The limit alone at 48 MiB sat under a qcow2 deploy's
// live heap, so the collector ran back to back, ~500 times in a 1 s
// deploy, which took 1.5 times as long; without either, an xz deploy
// peaked at 75 MiB. GOGC 25 for the whole agent slowed its boot to the
// first heartbeat from 2.8 to 6.1 s under TCG: the collector's smallest
// goal shrinks with GOGC too, to 1 MiB, and the boot allocates much.
const (
	MemoryLimit     = 60 << 20
	deployGCPercent = 25
)

// Write writes info's image to device, verifies it, and adds the config
// drive. It never succeeds for bytes it did not verify.
func (d *Deployer) Write(ctx context.Context, info *Info, device, configDrive string) (*Result, error) {
	defer debug.SetGCPercent(debug.SetGCPercent(deployGCPercent))
	if err := info.Validate(d.MD5Enabled); err != nil {
		return nil, errclass.Invalid("%v", err)
	}
	d.mu.Lock()
	d.uuids = nil
	d.mu.Unlock()

	opts := d.downloadOptions(info)
	verifier, err := download.ParseChecksum(ctx, download.ChecksumSpec{Checksum: info.Checksum, OSHashAlgo: info.OSHashAlgo,
		OSHashValue: info.OSHashValue, MD5Enabled: d.MD5Enabled, ImageURL: info.URLs[0]}, opts)
	if err != nil {
		return nil, errclass.New(errChecksum, "Error verifying image checksum", err)
	}
	if !info.WholeDisk() {
		return d.writePartitionImage(ctx, info, device, configDrive, verifier, opts)
	}
	dk, err := disk.Open(device, d.diskOptions())
	if err != nil {
		return nil, errclass.New(errWrite, "Error writing image to device", err)
	}
	defer dk.Close()
	res, err := d.writeVerified(ctx, dk, info, verifier, opts)
	if err != nil {
		return nil, err
	}

	if err := dk.FixGPT(); err != nil && !errors.Is(err, disk.ErrNoPartitionTable) {
		return nil, errclass.New(errWrite, "Error writing image to device", fmt.Errorf("fixing the GPT: %w", err))
	}
	if err := dk.RereadPartitions(); err != nil {
		d.Log.Warn("re-reading partitions", "device", device, "error", err)
	}
	if configDrive != "" {
		iso, err := d.fetchConfigDrive(ctx, configDrive, opts)
		if err != nil {
			return nil, errclass.New("InstanceDeployFailure", "Failed to deploy instance", fmt.Errorf("config drive: %w", err))
		}
		cd, err := dk.WriteConfigDrive(ctx, iso, disk.ConfigDriveOptions{Rebuild: d.ConfigDriveRebuild})
		if err != nil {
			return nil, errclass.New("InstanceDeployFailure", "Failed to deploy instance", fmt.Errorf("config drive: %w", err))
		}
		d.Log.Info("config drive written", "partition", cd.Partition.Device, "filesystem", cd.Filesystem, "created", cd.Created)
	}
	uuids, err := dk.PartitionUUIDs()
	if err != nil {
		return nil, errclass.New(errWrite, "Error writing image to device", fmt.Errorf("reading partition UUIDs: %w", err))
	}
	res.Device, res.RootUUID, res.ESPUUID = device, uuids.Root, uuids.ESP
	d.mu.Lock()
	d.uuids = uuids.Result()
	d.mu.Unlock()
	d.Log.Info("image written and verified", "image", info.ID, "device", device, "format", res.Format,
		"bytes", res.Stats.Image, "written", res.Stats.Written, "skipped_zero", res.Stats.Skipped,
		"duration", res.Stats.Duration, "MBps", mbps(res.Stats.Image, res.Stats.Duration))
	return res, nil
}

// writeVerified writes and verifies the image on target (the disk, or a
// partition image's root partition), once more after a checksum mismatch or
// a server that cannot resume. A target whose bytes did not verify is
// zeroed, or at least its edges, so it never boots.
func (d *Deployer) writeVerified(ctx context.Context, target *disk.Disk, info *Info, v *download.Verifier, opts download.Options) (*Result, error) {
	var res *Result
	var err error
	for attempt := 1; ; attempt++ {
		// Zero runs are skipped only on a device known to read zeros, so
		// every attempt starts from a freshly zeroed device (or writes
		// every byte).
		if zerr := target.PrepareZero(ctx); zerr != nil && attempt == 1 {
			d.Log.Info("zeros will be written: the device cannot be zeroed cheaply up front", "device", target.Path(), "error", zerr)
		}
		res, err = d.writeOnce(ctx, target, info, v, opts)
		if err == nil || attempt == 2 || !(errors.Is(err, download.ErrChecksumMismatch) || errors.Is(err, download.ErrRestart)) {
			break
		}
		d.Log.Warn("writing the image again from the start", "image", info.ID, "error", err)
	}
	if err != nil {
		if target.PrepareZero(ctx) != nil {
			if werr := target.WipeEdges(); werr != nil {
				d.Log.Error("wiping a partially written image", "device", target.Path(), "error", werr)
			}
		}
		return nil, classify(err)
	}
	return res, nil
}

// classify gives each failure IPA's error type.
func classify(err error) error {
	switch {
	case errclass.Of(err) != "":
		return err
	case errors.Is(err, download.ErrChecksumMismatch):
		return errclass.New(errChecksum, "Error verifying image checksum", err)
	case errors.Is(err, ErrFormat):
		return errclass.New(errInvalid, "Invalid image", err)
	case errors.Is(err, errWriteSide):
		return errclass.New(errWrite, "Error writing image to device", err)
	default:
		return errclass.New(errDownload, "Error downloading image", err)
	}
}

// errWriteSide marks failures of the disk rather than of the download.
var errWriteSide = errors.New("writing to the device")

func (d *Deployer) diskOptions() disk.Options {
	o := d.Disk
	if o.Logger == nil {
		o.Logger = d.Log
	}
	return o
}

func (d *Deployer) downloadOptions(info *Info) download.Options {
	o := d.Download
	o.URLs = info.URLs
	o.Proxies = download.Proxies{HTTP: info.Proxies["http"], HTTPS: info.Proxies["https"]}
	o.NoProxy = info.NoProxy
	if o.Logger == nil {
		o.Logger = d.Log
	}
	// IPA's precedence: image_request_authorization, then image_info's
	// basic auth, then the agent's configured credentials.
	switch {
	case info.ImageRequestAuthorization != "":
		o.Authorization, o.BasicUser, o.BasicPassword = info.Authorization(), "", ""
	case info.ImageServerAuthStrategy == "http_basic":
		o.BasicUser, o.BasicPassword = info.ImageServerUser, info.ImageServerPassword
	}
	if o.TLS == nil {
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return o
}

// writeOnce downloads and writes the image once, verifying it on the way.
func (d *Deployer) writeOnce(ctx context.Context, dk *disk.Disk, info *Info, v *download.Verifier, opts download.Options) (*Result, error) {
	if declared(info.DiskFormat) == string(QCOW2) {
		return d.writeQCOW2(ctx, dk, info, v, opts)
	}
	s, err := download.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	s.Hash(v.Hash())
	// A compressed image is decoded slower than one connection brings it:
	// parallel segments would only hold 8 × 4 MiB of it in memory.
	if head, err := s.Peek(8); err == nil {
		switch Sniff(head) {
		case GZIP, XZ, ZSTD:
			s.Serial()
		}
	}
	br := bufio.NewReaderSize(s, 1<<20)
	outer := sniff(br)
	if outer == QCOW2 && declared(info.DiskFormat) == "" {
		// Only disk_format tells the agent to use random access; an image
		// that turns out to be qcow2 takes that path instead.
		s.Close()
		return d.writeQCOW2(ctx, dk, info, v, opts)
	}
	src, inner, err := decompress(br, outer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	compressed := Format("")
	if inner != outer {
		compressed = outer
	}
	if err := d.checkFormat(inner, compressed, info); err != nil {
		return nil, err
	}
	var size int64
	if compressed == "" && s.Size() > 0 {
		size = s.Size()
	}
	w, err := dk.Writer(ctx, disk.WriterOptions{ImageSize: size})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errWriteSide, err)
	}
	stop := d.progress(ctx, info.ID, func() download.Progress { return s.Progress() }, w.Stats)
	_, cerr := copyImage(w, src)
	stats, ferr := w.Finish()
	stop()
	if cerr != nil {
		return nil, cerr
	}
	if ferr != nil {
		return nil, fmt.Errorf("%w: %w", errWriteSide, ferr)
	}
	// The digest covers every byte the server sent, including what a
	// decompressor did not need (trailers, padding).
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, err
	}
	sum, err := s.Sum()
	if err != nil {
		return nil, err
	}
	if err := v.Verify(sum); err != nil {
		return nil, err
	}
	return &Result{Stats: stats, Format: inner}, nil
}

func (d *Deployer) checkFormat(sniffed, compressed Format, info *Info) error {
	if d.DisableDeepInspection {
		return nil
	}
	return CheckFormat(sniffed, compressed, info.DiskFormat, d.PermittedFormats)
}

// sniff peeks at the start of the stream; a short image is fine.
func sniff(br *bufio.Reader) Format {
	head, _ := br.Peek(SniffLen)
	return Sniff(head)
}

// copyImage copies the (decompressed) image into the writer. Only io.EOF
// ends it cleanly: a decompressor's bare io.ErrUnexpectedEOF (a truncated
// gzip, say) fails the write like a truncated download does.
func copyImage(w *disk.Writer, src io.Reader) (int64, error) {
	tw := &tagWriter{w: w}
	n, err := io.CopyBuffer(tw, src, make([]byte, 4<<20))
	if tw.err != nil {
		return n, fmt.Errorf("%w: %w", errWriteSide, tw.err)
	}
	return n, err
}

// tagWriter remembers a write error, to tell it from a read error. It
// passes the download's buffers to the disk writer without a copy.
type tagWriter struct {
	w   *disk.Writer
	err error
}

func (t *tagWriter) WriteBlock(p []byte, done func()) error {
	err := t.w.WriteBlock(p, done)
	if err != nil {
		t.err = err
	}
	return err
}

func (t *tagWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil {
		t.err = err
	}
	return n, err
}

// progress logs and reports bytes, rate and ETA every few seconds until the
// returned func is called.
func (d *Deployer) progress(ctx context.Context, id string, dl func() download.Progress, written func() disk.Stats) func() {
	every := d.ProgressEvery
	if every == 0 {
		every = 5 * time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			p, st := dl(), written()
			eta := "unknown"
			if p.ETA >= 0 {
				eta = p.ETA.Round(time.Second).String()
			}
			d.Log.Info("writing image", "image", id, "downloaded", p.Bytes, "size", p.Size, "written", st.Written,
				"skipped_zero", st.Skipped, "MBps", fmt.Sprintf("%.1f", p.Rate/1e6), "eta", eta)
			if d.Report != nil {
				d.Report(ctx, Progress{Image: id, Downloaded: p.Bytes, Size: p.Size, Written: st.Written,
					Skipped: st.Skipped, Rate: p.Rate, ETA: p.ETA})
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

func mbps(n int64, d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", float64(n)/1e6/d.Seconds())
}
