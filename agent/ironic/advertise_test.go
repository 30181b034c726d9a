package ironic

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestAdvertiseIP(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts AdvertiseOptions
		want string
	}{
		{"advertise host IP wins", AdvertiseOptions{Host: "127.0.0.9", Interface: "lo", APIURLs: []string{"http://127.0.0.1:6385"}}, "127.0.0.9"},
		{"advertise host IPv6", AdvertiseOptions{Host: "::1"}, "::1"},
		{"advertise host name resolved", AdvertiseOptions{Host: "localhost"}, "loopback"},
		{"interface, IPv4 first", AdvertiseOptions{Interface: "lo", APIURLs: []string{"http://127.0.0.1:6385"}}, "127.0.0.1"},
		{"route to API", AdvertiseOptions{APIURLs: []string{"http://127.0.0.1:6385"}}, "127.0.0.1"},
		{"route to API, default https port", AdvertiseOptions{APIURLs: []string{"https://127.0.0.1/baremetal"}}, "127.0.0.1"},
		{"route to API by name", AdvertiseOptions{APIURLs: []string{"http://localhost:6385"}}, "loopback"},
		{"route to API over IPv6", AdvertiseOptions{APIURLs: []string{"http://[::1]:6385"}}, "::1"},
		{"first routable API", AdvertiseOptions{APIURLs: []string{"http://%zz", "http://127.0.0.1:6385"}}, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip, err := AdvertiseIP(context.Background(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "loopback" && ip.IsLoopback() {
				return
			}
			if ip.String() != tc.want {
				t.Errorf("AdvertiseIP = %v, want %s", ip, tc.want)
			}
		})
	}
}

func TestAdvertiseIPFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    AdvertiseOptions
		wantErr string
	}{
		{"missing interface", AdvertiseOptions{Interface: "goipa-none0", Attempts: 3, Wait: time.Millisecond}, "goipa-none0"},
		{"no API URL", AdvertiseOptions{Attempts: 2, Wait: time.Millisecond}, "no API URL"},
		{"bad API URL", AdvertiseOptions{APIURLs: []string{"http://%zz"}, Attempts: 2, Wait: time.Millisecond}, "invalid URL escape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := AdvertiseIP(context.Background(), tc.opts)
			if !errors.Is(err, ErrNoAdvertiseIP) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrNoAdvertiseIP mentioning %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), "after") {
				t.Errorf("err %q does not say it retried", err)
			}
			if d := time.Since(start); d < time.Duration(tc.opts.Attempts-1)*time.Millisecond {
				t.Errorf("returned after %v: did not wait between attempts", d)
			}
		})
	}
}

func TestAdvertiseIPCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := AdvertiseIP(ctx, AdvertiseOptions{Interface: "goipa-none0", Attempts: 6, Wait: time.Hour})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("err = %v after %v, want the context's deadline promptly", err, time.Since(start))
	}
}

func TestUsable(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"192.0.2.10", true},
		{"127.0.0.1", true},
		{"fd00::2", true},
		{"169.254.1.1", false},
		{"fe80::1", false},
		{"0.0.0.0", false},
		{"::", false},
	} {
		if got := usable(net.ParseIP(tc.ip)); got != tc.want {
			t.Errorf("usable(%s) = %v", tc.ip, got)
		}
	}
	if usable(nil) {
		t.Error("usable(nil)")
	}
}

func TestCallbackURL(t *testing.T) {
	for _, tc := range []struct {
		proto string
		ip    string
		port  int
		want  string
	}{
		{"http", "10.1.2.3", 9999, "http://10.1.2.3:9999"},
		{"https", "fd00::5", 9999, "https://[fd00::5]:9999"},
		{"https", "::ffff:10.0.0.1", 443, "https://10.0.0.1:443"},
	} {
		if got := CallbackURL(tc.proto, net.ParseIP(tc.ip), tc.port); got != tc.want {
			t.Errorf("CallbackURL(%s, %s, %d) = %q, want %q", tc.proto, tc.ip, tc.port, got, tc.want)
		}
	}
}
