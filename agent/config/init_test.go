package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// The kernel lines below are what Ironic 21.4's templates render
// (ironic/drivers/modules/ipxe_config.template, pxe_config.template,
// ironic/common/isolinux_config.template and grub_conf.template) with the
// default [pxe] kernel_append_params "nofb nomodeset vga=normal" and the
// agent options deploy_utils.build_agent_options adds. args is what Linux 6.1
// hands /init for that line (init/main.c, unknown_bootoption): the words it
// does not know that have no "=", and every word after "--".
const agentOpts = "ipa-api-url=http://10.0.2.100:6385 ipa-global-request-id=req-4f1c coreos.configdrive=0"

func TestInitArgsOfIronicTemplates(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string
		args    []string
		bootIF  string
	}{
		{"ipxe", "deploy_kernel selinux=0 troubleshoot=0 text nofb nomodeset vga=normal " + agentOpts +
			" BOOTIF=52:54:00:12:34:56 initrd=deploy_ramdisk", []string{"text", "nofb"}, "52:54:00:12:34:56"},
		{"pxe", "initrd=/tftpboot/u/deploy_ramdisk selinux=0 troubleshoot=0 text nofb nomodeset vga=normal " + agentOpts +
			" BOOTIF=01-52-54-00-12-34-56", []string{"text", "nofb"}, "52:54:00:12:34:56"},
		{"pxe grub", "selinux=0 troubleshoot=0 text nofb nomodeset vga=normal " + agentOpts +
			" boot_server=10.0.2.2", []string{"text", "nofb"}, ""},
		{"isolinux virtual media", "initrd=/initrd text nofb nomodeset vga=normal " + agentOpts + " boot_method=vmedia --",
			[]string{"text", "nofb"}, ""},
		{"grub virtual media", "BOOT_IMAGE=/vmlinuz nofb nomodeset vga=normal " + agentOpts + " boot_method=vmedia --",
			[]string{"nofb"}, ""},
		// After "--" every word is /init's, flag-shaped or not: none may be
		// taken for goipa's own flags.
		{"words after --", "initrd=/initrd text " + agentOpts + " -- --api-url=http://elsewhere --debug single",
			[]string{"text", "--api-url=http://elsewhere", "--debug", "single"}, ""},
		{"only --", agentOpts + " --", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoadInit(t, env{cmdline: tc.cmdline + "\n"}, tc.args...)
			if want := []string{"http://10.0.2.100:6385"}; !slices.Equal(c.APIURL, want) {
				t.Errorf("api_url = %q, want %q", c.APIURL, want)
			}
			if c.GlobalRequestID != "req-4f1c" {
				t.Errorf("global_request_id = %q, want req-4f1c", c.GlobalRequestID)
			}
			if c.BootIF != tc.bootIF {
				t.Errorf("BOOTIF = %q, want %q", c.BootIF, tc.bootIF)
			}
			if c.Debug {
				t.Error("debug set by an init argument")
			}
			if !slices.Equal(c.InitArgs, tc.args) {
				t.Errorf("InitArgs = %q, want %q", c.InitArgs, tc.args)
			}
			if len(c.Problems) > 0 {
				t.Errorf("Problems = %v, want none", c.Problems)
			}
		})
	}
}

// On a dev host the same arguments are a usage error: there they can only
// be a typo in goipa's own command line.
func TestInitArgsStrictOffInit(t *testing.T) {
	_, _, err := env{cmdline: agentOpts}.load(t, "text")
	if err == nil || !strings.Contains(err.Error(), `unexpected argument "text"`) {
		t.Fatalf("err = %v, want unexpected argument", err)
	}
}

// As /init, an invalid setting is reported and left out; the others apply,
// so the agent still comes up and says what is wrong.
func TestInitProblems(t *testing.T) {
	c := mustLoadInit(t, env{
		cmdline: agentOpts + " ipa-advertise-port=nine ipa-insecure=maybe BOOTIF=01-zz ipa-debug=1\n",
		files: map[string]string{
			"etc/a.conf": "[DEFAULT]\nlookup_timeout = soon\nlisten_port = 9998\n",
			"etc/b.conf": "[DEFAULT\nbroken",
		},
	})
	if !slices.Equal(c.APIURL, []string{"http://10.0.2.100:6385"}) || !c.Debug || c.ListenPort != 9998 {
		t.Errorf("valid settings not applied: api_url %q debug %v listen_port %d", c.APIURL, c.Debug, c.ListenPort)
	}
	def := Default()
	if c.AdvertisePort != def.AdvertisePort || c.Insecure || c.BootIF != "" || c.LookupTimeout != def.LookupTimeout {
		t.Errorf("invalid settings not left at their defaults: advertise_port %d insecure %v BOOTIF %q lookup_timeout %v",
			c.AdvertisePort, c.Insecure, c.BootIF, c.LookupTimeout)
	}
	var text []string
	for _, p := range c.Problems {
		text = append(text, p.Error())
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{"ipa-advertise-port", "ipa-insecure", "BOOTIF", "lookup_timeout", "b.conf"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not name %s:\n%s", want, all)
		}
	}
	if !errors.Is(errors.Join(c.Problems...), ErrInvalidValue) || !errors.Is(errors.Join(c.Problems...), ErrSyntax) {
		t.Errorf("problems do not wrap ErrInvalidValue and ErrSyntax: %v", c.Problems)
	}
}

func mustLoadInit(t *testing.T, e env, args ...string) *Config {
	t.Helper()
	e.init = true
	return mustLoad(t, e, args...)
}

// Options this agent does not have are ignored, as oslo.config does, and
// listed so the agent can say so in its debug log.
func TestUnknownOptions(t *testing.T) {
	c := mustLoad(t, env{cmdline: "ipa-no-such-thing=1 nofb other=2\n",
		files: map[string]string{"etc/a.conf": "[DEFAULT]\nno_such_option = 1\n[mystery]\nkey = v\n"}})
	all := strings.Join(c.Unknown, "\n")
	for _, want := range []string{"ipa-no-such-thing", "[DEFAULT] no_such_option", "[mystery] key"} {
		if !strings.Contains(all, want) {
			t.Errorf("Unknown = %q, want %q listed", c.Unknown, want)
		}
	}
	if strings.Contains(all, "other") {
		t.Errorf("Unknown = %q lists a kernel parameter that is not ipa-*", c.Unknown)
	}
}
