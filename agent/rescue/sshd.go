package rescue

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/goipa/goipa/internal/shacrypt"
)

// ErrRefused is a login by another user or with a wrong password.
var ErrRefused = errors.New("login refused")

// Server is the rescued ramdisk's SSH server: password logins for User,
// checked against the hash finalize_rescue stored, each session running a
// command or a shell (session.go).
type Server struct {
	Hash string
	// Shell runs commands and interactive sessions when set (the debug
	// ramdisk's gosh); without one the built-in runner execs command lines.
	Shell string
	Log   *slog.Logger
}

// Serve accepts connections on ln until ctx ends, with a host key made for
// this run (its fingerprint goes to the console for the operator to check).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return err
	}
	cfg := &ssh.ServerConfig{
		PasswordCallback: s.checkPassword,
		ServerVersion:    "SSH-2.0-goipa",
	}
	cfg.AddHostKey(signer)
	s.Log.Warn("rescue SSH server listening", "address", ln.Addr().String(), "user", User,
		"host_key", ssh.FingerprintSHA256(signer.PublicKey()))

	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("rescue SSH: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(ctx, conn, cfg)
		}()
	}
}

func (s *Server) checkPassword(meta ssh.ConnMetadata, password []byte) (*ssh.Permissions, error) {
	ok, err := shacrypt.Verify(s.Hash, string(password))
	if err != nil || !ok || meta.User() != User {
		s.Log.Warn("rescue SSH: login refused", "user", meta.User(), "remote", meta.RemoteAddr().String())
		return nil, ErrRefused
	}
	s.Log.Info("rescue SSH: login", "user", meta.User(), "remote", meta.RemoteAddr().String())
	return nil, nil
}

// handle serves one connection's session channels; other channel types
// (port forwarding) are refused.
func (s *Server) handle(ctx context.Context, conn net.Conn, cfg *ssh.ServerConfig) {
	defer conn.Close()
	sc, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	stop := context.AfterFunc(ctx, func() { sc.Close() })
	defer stop()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.session(ctx, ch, chReqs)
	}
}
