package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/goipa/goipa/tstest/fakeironic"
)

// TestLookupOverIPv6: with an IPv6-literal ipa-api-url and no advertise
// host, the agent looks up and heartbeats over IPv6, advertises the source
// address of its route to Ironic in a bracketed callback URL, and serves
// its API there with a certificate for that address.
func TestLookupOverIPv6(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	s, err := fakeironic.New(fakeironic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), "[::1]:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	n := newNode(t, s)
	r := start(t, s.URL(), "--listen-host", "::1", "--advertise-host", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hb, err := s.WaitAgent(ctx, n.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("https://[::1]:%d", r.port); hb.Body.CallbackURL != want {
		t.Fatalf("callback_url = %q, want %q", hb.Body.CallbackURL, want)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(hb.Body.AgentVerifyCA))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(hb.Body.CallbackURL + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/status: %s", resp.Status)
	}
}
