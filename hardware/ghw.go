package hardware

import (
	"context"
	"log/slog"

	"github.com/jaypipes/ghw"
	"github.com/jaypipes/pcidb"
)

// ghw returns the context ghw reads r through. Every default ghw would take
// from elsewhere is replaced, so the inventory depends on r alone: no
// GHW_* environment variables, no ethtool, no pci.ids (the ramdisk has
// none, and IPA reports PCI ids, not names).
func (r Root) ghw() context.Context {
	paths := map[string]string{"/sys": r.sys(), "/proc": r.proc(), "/dev": r.dev()}
	if !r.live() {
		// A fake tree or a snapshot has its own /run and /var, if any:
		// not the host's udev database and syslog.
		paths["/run"], paths["/var"] = r.sys("run"), r.sys("var")
	}
	ctx := context.Background()
	for _, m := range []ghw.Modifier{
		ghw.WithChroot("/"),
		ghw.WithPathOverrides(paths),
		ghw.WithDisableTools(),
		ghw.WithPCIDB(&pcidb.PCIDB{}),
		ghw.WithLogger(slog.New(debugHandler{r.log().Handler()})),
	} {
		ctx = m(ctx)
	}
	return ctx
}

// debugHandler logs ghw's warnings at debug level: ghw warns about every
// attribute it cannot read, which the inventory reports as empty anyway.
type debugHandler struct{ slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h debugHandler) Handle(ctx context.Context, rec slog.Record) error {
	rec.Level = slog.LevelDebug
	return h.Handler.Handle(ctx, rec)
}

func (h debugHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return debugHandler{h.Handler.WithAttrs(as)}
}

func (h debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{h.Handler.WithGroup(name)}
}

// known maps ghw's placeholder for a value it could not read to "".
func known(s string) string {
	if s == "unknown" {
		return ""
	}
	return s
}
