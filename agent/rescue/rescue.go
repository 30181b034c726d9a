// Package rescue is IPA's rescue extension: rescue.finalize_rescue stores
// the rescue user's crypt hash and marks the ramdisk rescued, after which
// the agent stops its API and serves SSH for that user (Server).
package rescue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/goipa/goipa/internal/shacrypt"
	"github.com/goipa/goipa/ipa"
)

// User is the one account that can log in to a rescued ramdisk.
const User = "rescue"

// ErrNotRescued is Load's answer for a ramdisk that finalize_rescue has not
// run on.
var ErrNotRescued = errors.New("not rescued")

// Store is where IPA's rescue extension leaves its state, under Dir ("/etc"
// in the ramdisk): the password file its ramdisks' units read, and the
// marker IPA checks at start.
type Store struct {
	Dir string
}

func (s Store) passwordFile() string {
	return filepath.Join(s.Dir, "ipa-rescue-config", "ipa-rescue-password")
}

func (s Store) marker() string { return filepath.Join(s.Dir, ".rescued") }

// Load returns the rescue user's hash when the ramdisk was rescued before
// (an agent started again must not serve its API, as IPA's).
func (s Store) Load() (string, error) {
	if _, err := os.Stat(s.marker()); err != nil {
		return "", ErrNotRescued
	}
	b, err := os.ReadFile(s.passwordFile())
	if err != nil {
		return "", fmt.Errorf("rescued without a password: %w", err)
	}
	hash := string(b)
	return hash, shacrypt.Check(hash)
}

func (s Store) save(hash string) error {
	if err := os.MkdirAll(filepath.Dir(s.passwordFile()), 0o700); err != nil {
		return err
	}
	return os.WriteFile(s.passwordFile(), []byte(hash), 0o600)
}

type params struct {
	RescuePassword string `json:"rescue_password"`
	// Hashed says RescuePassword is a crypt hash (Ironic ≥ 15.1 sends one).
	Hashed bool `json:"hashed"`
}

func (p *params) Validate() error {
	if strings.TrimSpace(p.RescuePassword) == "" {
		return errors.New("rescue_password must not be empty")
	}
	if p.Hashed {
		// A hash the SSH server cannot check would leave a node nobody can
		// log in to; refused, Ironic's conductor retries with the password.
		return shacrypt.Check(p.RescuePassword)
	}
	return nil
}

// Register adds rescue.finalize_rescue. rescued is called with the hash once
// it is stored and must have the SSH server listening when it returns, so
// that the node Ironic then calls rescued can be logged in to; its error
// fails the command. The agent stops its API after the answer.
func Register(r *ipa.Runner, s Store, log *slog.Logger, rescued func(hash string) error) {
	r.Register("rescue", "finalize_rescue", ipa.Sync(func(_ context.Context, p params) (any, error) {
		hash := p.RescuePassword
		if !p.Hashed {
			var err error
			if hash, err = shacrypt.New(p.RescuePassword); err != nil {
				return nil, err
			}
		}
		if err := s.save(hash); err != nil {
			return nil, fmt.Errorf("writing the rescue password: %w", err)
		}
		if err := rescued(hash); err != nil {
			return nil, err
		}
		if f, err := os.Create(s.marker()); err != nil {
			log.Warn("creating the rescued marker", "error", err)
		} else {
			f.Close()
		}
		log.Warn("rescue: the API stops after this answer; SSH serves the rescue user", "user", User)
		return nil, nil
	}))
}
