package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
)

// Sources says where Load looks; tests point it at temporary files.
type Sources struct {
	// Cmdline is the kernel command line file (flag --cmdline-file overrides).
	Cmdline string
	// ConfigDirs are searched for *.conf, in order, when no --config-file or
	// --config-dir flag is given; a missing directory is skipped.
	ConfigDirs []string
	// Params are key=value words merged over the kernel command line, as
	// IPA merges a virtual media floppy's parameters.txt (Ironic's
	// ir-vfd-dev) over /proc/cmdline.
	Params string
	// Output receives the -h text.
	Output io.Writer
	// Init says goipa is the ramdisk's /init. The kernel then passes /init
	// the words of its command line that it does not know and that have no
	// "=" (Ironic's boot templates put "text" and "nofb" there) and every
	// word after "--": they are init arguments, not goipa's flags, so they
	// are kept in Config.InitArgs unparsed. Settings come from the kernel
	// command line file and config files, as for IPA; an invalid value
	// there does not stop PID 1 but lands in Config.Problems, so the node
	// still comes up and can say what is wrong.
	Init bool
}

// DefaultSources are the paths IPA reads.
func DefaultSources() Sources {
	return Sources{
		Cmdline:    "/proc/cmdline",
		ConfigDirs: []string{"/etc/ironic-python-agent", "/etc/ironic-python-agent.d"},
		Output:     os.Stderr,
	}
}

// Load builds the configuration from args (without the program name), the
// kernel command line and config files at their usual places. With -h it
// prints the flags and returns flag.ErrHelp.
func Load(args []string) (*Config, error) {
	return LoadWith(args, DefaultSources())
}

// LoadWith is Load reading from src.
func LoadWith(args []string, src Sources) (*Config, error) {
	var initArgs []string
	if src.Init {
		initArgs, args = args, nil
	}
	fc := Default() // flags parse here; fs.Visit tells which were given
	fs := flag.NewFlagSet("goipa", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for i := range options {
		o := &options[i]
		fs.Var(o.value(fc), o.flagName(), o.usage())
	}
	cmdline := fs.String("cmdline-file", src.Cmdline, "Read kernel parameters from this file")
	var explicit []configSource
	fs.Func("config-file", "Read this config file; repeatable, replaces the default search", func(s string) error {
		explicit = append(explicit, configSource{path: s})
		return nil
	})
	fs.Func("config-dir", "Read *.conf in this directory; repeatable, replaces the default search", func(s string) error {
		explicit = append(explicit, configSource{path: s, dir: true})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(src.Output, fs)
			return nil, err
		}
		return nil, fmt.Errorf("command line: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("command line: unexpected argument %q", fs.Arg(0))
	}

	c := Default()
	c.InitArgs = initArgs
	// keep decides what an invalid source does: on a dev host it stops the
	// load; as /init it is recorded and the rest still applies.
	keep := func(err error) error {
		if err == nil || !src.Init {
			return err
		}
		c.Problems = append(c.Problems, err)
		return nil
	}
	files, err := configFiles(explicit, src.ConfigDirs)
	if err := keep(err); err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := keep(applyFile(c, f)); err != nil {
			return nil, err
		}
	}
	c.Files = files

	b, err := os.ReadFile(*cmdline)
	if err != nil {
		err = fmt.Errorf("kernel command line: %w", err)
	}
	if err := keep(err); err != nil {
		return nil, err
	}
	params := ParseCmdline(string(b))
	maps.Copy(params, ParseCmdline(src.Params))
	if err := keep(applyCmdline(c, params)); err != nil {
		return nil, err
	}

	fs.Visit(func(f *flag.Flag) {
		if o, ok := byFlag[f.Name]; ok {
			o.copy(c, fc)
		}
	})
	if err := keep(c.unsupported()); err != nil {
		return nil, err
	}
	return c, nil
}

// configSource is a --config-file or --config-dir argument.
type configSource struct {
	path string
	dir  bool
}

// configFiles lists the files to read in order: the explicit sources as
// given (missing ones are an error, as in oslo.config), else *.conf of the
// default directories that exist. A directory's files go in lexical order.
func configFiles(explicit []configSource, defaults []string) ([]string, error) {
	if len(explicit) == 0 {
		var files []string
		for _, d := range defaults {
			found, err := confFiles(d)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("config dir: %w", err)
			}
			files = append(files, found...)
		}
		return files, nil
	}
	var files []string
	for _, s := range explicit {
		if !s.dir {
			files = append(files, s.path)
			continue
		}
		found, err := confFiles(s.path)
		if err != nil {
			return nil, fmt.Errorf("config dir: %w", err)
		}
		files = append(files, found...)
	}
	return files, nil
}

func confFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".conf") && !e.IsDir() {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files, nil
}

// usage is the flag help: the option's help, where else it can be set, and
// (from the flag package) its default.
func (o *option) usage() string {
	where := "file: " + o.fileKey()
	if o.kernel != "" {
		where = "kernel: " + o.kernel + ", " + where
	}
	return o.help + " (" + where + ")"
}

// printUsage lists every flag with its argument kind ("" for booleans;
// loader flags, which have no kind, take a path) and its non-empty default.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, "Usage: goipa [flags]\n\nFlags override the kernel command line, which overrides config files.\n\n")
	fs.VisitAll(func(f *flag.Flag) { // sorted by name
		kind := "path"
		if k, ok := f.Value.(interface{ kind() string }); ok {
			kind = k.kind()
		}
		fmt.Fprintf(w, "  --%s", f.Name)
		if kind != "" {
			fmt.Fprintf(w, " %s", kind)
		}
		fmt.Fprintf(w, "\n    \t%s", f.Usage)
		if f.DefValue != "" && (kind != "" || f.DefValue == "true") {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}
