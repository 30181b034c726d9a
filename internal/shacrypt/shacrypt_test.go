package shacrypt

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// The vectors of Drepper's specification (those glibc's crypt also gives;
// libxcrypt refuses rounds below 1000 where the specification clamps).
var vectors = []struct{ setting, password, want string }{
	{"$5$saltstring", "Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
	{"$5$rounds=10000$saltstringsaltstring", "Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"},
	{"$5$rounds=5000$toolongsaltstring", "This is just a test", "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5"},
	{"$6$saltstring", "Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	{"$6$rounds=10000$saltstringsaltstring", "Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{"$6$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.",
		"$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"},
}

func TestSpecificationVectors(t *testing.T) {
	for _, v := range vectors {
		got, err := Crypt(v.password, v.setting)
		if err != nil || got != v.want {
			t.Errorf("Crypt(%q, %q) = %q, %v; want %q", v.password, v.setting, got, err, v.want)
		}
		if ok, err := Verify(v.want, v.password); !ok || err != nil {
			t.Errorf("Verify(%q, right password) = %v, %v", v.want, ok, err)
		}
		if ok, err := Verify(v.want, v.password+"x"); ok || err != nil {
			t.Errorf("Verify(%q, wrong password) = %v, %v", v.want, ok, err)
		}
	}
}

// Rounds below the minimum count as the minimum, and the output says so.
func TestRoundsClamped(t *testing.T) {
	got, err := Crypt("pw", "$6$rounds=10$salt")
	if err != nil || !strings.HasPrefix(got, "$6$rounds=1000$salt$") {
		t.Fatalf("got %q, %v", got, err)
	}
	if want, _ := Crypt("pw", "$6$rounds=1000$salt"); got != want {
		t.Errorf("rounds=10 gave %q, rounds=1000 %q", got, want)
	}
}

// openssl passwd is an independent implementation: hashes of New's salt and
// of passwords with every length class (under, at and over a digest's size,
// odd bytes) must agree.
func TestAgainstOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl")
	}
	for _, pw := range []string{"r", "rescue-P4ss!", strings.Repeat("ab", 16), strings.Repeat("x", 64) + "é", strings.Repeat("0123456789", 13)} {
		h, err := New(pw)
		if err != nil {
			t.Fatal(err)
		}
		salt := strings.Split(h, "$")[2]
		for _, m := range []struct{ flag, prefix string }{{"-6", "$6$"}, {"-5", "$5$"}} {
			out, err := exec.Command("openssl", "passwd", m.flag, "-salt", salt, pw).CombinedOutput()
			if err != nil {
				t.Fatalf("openssl: %v: %s", err, out)
			}
			want := strings.TrimSpace(string(out))
			got, _ := Crypt(pw, m.prefix+salt)
			if got != want {
				t.Errorf("password %q %s: goipa %q, openssl %q", pw, m.prefix, got, want)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		hash string
		want error
	}{
		{vectors[0].want, nil},
		{vectors[3].want, nil},
		{"$1$salt$abcdefghijklmnopqrstuv", ErrUnsupported},
		{"plaintext", ErrUnsupported},
		{"$6$saltstring", ErrMalformed},
		{"$6$saltstring$short", ErrMalformed},
		{"$6$rounds=x$salt$" + strings.Repeat("a", 86), ErrMalformed},
		{"$5$salt$" + strings.Repeat("!", 43), ErrMalformed},
	} {
		if err := Check(c.hash); !errors.Is(err, c.want) {
			t.Errorf("Check(%q) = %v, want %v", c.hash, err, c.want)
		}
	}
}

// TestIronicHashes: what Ironic 21.4's conductor makes of a rescue password
// (ironic.conductor.utils.hash_password, sha256 by default and sha512) is
// checked as glibc's crypt would.
func TestIronicHashes(t *testing.T) {
	const script = `
import sys
from ironic.conductor import utils
from ironic.conf import CONF
print(utils.hash_password(sys.argv[1]))
CONF.set_override("rescue_password_hash_algorithm", "sha512", "conductor")
print(utils.hash_password(sys.argv[1]))
`
	const password = "r3scue me, goipa"
	out, err := exec.Command("/usr/bin/python3", "-W", "ignore", "-c", script, password).Output()
	if err != nil {
		t.Skipf("Ironic's Python package: %v", err)
	}
	hashes := strings.Fields(string(out))
	if len(hashes) != 2 || !strings.HasPrefix(hashes[0], "$5$") || !strings.HasPrefix(hashes[1], "$6$") {
		t.Fatalf("Ironic hashed %q", out)
	}
	for _, h := range hashes {
		if ok, err := Verify(h, password); !ok || err != nil {
			t.Errorf("Verify(%q, password) = %v, %v", h, ok, err)
		}
		if ok, _ := Verify(h, password+" "); ok {
			t.Errorf("Verify(%q) takes a wrong password", h)
		}
	}
}
