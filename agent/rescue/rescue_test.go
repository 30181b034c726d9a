package rescue

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goipa/goipa/internal/shacrypt"
	"github.com/goipa/goipa/ipa"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A hash from Ironic 21.4's default [conductor]rescue_password_hash_algorithm.
const hash256 = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5" // "Hello world!"

func TestFinalizeRescue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params string
		// password logs in with the stored hash; "" when refused.
		password string
		code     int
	}{
		{"hashed as Ironic sends it", `{"rescue_password": "` + hash256 + `", "hashed": true}`, "Hello world!", 0},
		{"plain, from an old conductor", `{"rescue_password": "P4ss word"}`, "P4ss word", 0},
		{"empty", `{"rescue_password": " "}`, "", 400},
		{"hash nobody can check", `{"rescue_password": "$1$salt$abcdefghijklmnopqrstuv", "hashed": true}`, "", 400},
		{"hashed but a password", `{"rescue_password": "secret", "hashed": true}`, "", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Store{Dir: t.TempDir()}
			r := ipa.NewRunner(context.Background(), discard())
			var got []string
			Register(r, s, discard(), func(h string) error {
				got = append(got, h)
				return nil
			})

			res, err := r.Execute("rescue.finalize_rescue", json.RawMessage(tc.params))
			if tc.code != 0 {
				var e *ipa.Error
				if !errors.As(err, &e) || e.Code != tc.code {
					t.Fatalf("err %v, want code %d", err, tc.code)
				}
				if _, err := s.Load(); !errors.Is(err, ErrNotRescued) || len(got) != 0 {
					t.Errorf("refused, yet rescued: %v %v", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(res)
			var body map[string]any
			_ = json.Unmarshal(b, &body)
			if body["command_status"] != ipa.StatusSucceeded || body["command_name"] != "finalize_rescue" ||
				body["command_result"] != nil || body["command_error"] != nil {
				t.Errorf("result %s", b)
			}
			stored, err := s.Load()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != stored {
				t.Errorf("rescued with %q, stored %q", got, stored)
			}
			if ok, err := shacrypt.Verify(stored, tc.password); !ok || err != nil {
				t.Errorf("stored %q does not take the password: %v", stored, err)
			}
			if !strings.Contains(tc.params, `"hashed": true`) && !strings.HasPrefix(stored, "$6$") {
				t.Errorf("plain password stored as %q, want SHA-512 crypt", stored)
			}
			fi, err := os.Stat(filepath.Join(s.Dir, "ipa-rescue-config", "ipa-rescue-password"))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("password file: %v %v", fi, err)
			}
		})
	}
}

// A rescue whose SSH server cannot start fails, and leaves the ramdisk as
// it was: the conductor fails the rescue instead of reporting a node nobody
// can log in to.
func TestFinalizeRescueWithoutSSH(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	r := ipa.NewRunner(context.Background(), discard())
	errBusy := errors.New("port 22 taken")
	Register(r, s, discard(), func(string) error { return errBusy })
	res, err := r.Execute("rescue.finalize_rescue", json.RawMessage(`{"rescue_password": "pw"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status() != ipa.StatusFailed || !strings.Contains(res.Err().Error(), "port 22 taken") {
		t.Errorf("result %s, %v", res.Status(), res.Err())
	}
	if _, err := s.Load(); !errors.Is(err, ErrNotRescued) {
		t.Errorf("Load after a failed rescue: %v", err)
	}
}

func TestLoadNotRescued(t *testing.T) {
	if _, err := (Store{Dir: t.TempDir()}).Load(); !errors.Is(err, ErrNotRescued) {
		t.Errorf("Load on a fresh ramdisk: %v", err)
	}
}
