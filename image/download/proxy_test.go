package download

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

func TestNoProxy(t *testing.T) {
	for _, tc := range []struct {
		noProxy, url string
		bypass       bool
	}{
		{"", "http://images.example.com/x", false},
		{"*", "http://images.example.com/x", true},
		{"example.com", "http://images.example.com/x", true},
		{".example.com", "http://images.example.com/x", true},
		{"*.example.com", "http://images.example.com/x", true},
		{"example.com", "http://example.com/x", true},
		{"example.com", "http://badexample.com/x", false},
		{"Images.Example.COM", "http://images.example.com/x", true},
		{"example.com:8080", "http://example.com:8080/x", true},
		{"example.com:8080", "http://example.com/x", false},
		{"example.com:443", "https://example.com/x", true},
		{"10.0.0.0/8", "http://10.1.2.3/x", true},
		{"10.0.0.0/8", "http://11.1.2.3/x", false},
		{"fd00::/8", "http://[fd00::1]:8080/x", true},
		{"::1", "http://[::1]/x", true},
		{" 192.0.2.1 , other", "http://192.0.2.1/x", true},
		{"192.0.2.1", "http://192.0.2.2/x", false},
	} {
		u, _ := url.Parse(tc.url)
		if got := parseNoProxy(tc.noProxy).bypass(u); got != tc.bypass {
			t.Errorf("no_proxy %q, %s: bypass = %v, want %v", tc.noProxy, tc.url, got, tc.bypass)
		}
	}
}

func TestRedact(t *testing.T) {
	got := redactString("https://user:pw@swift.example.com/v1/img?temp_url_sig=abc&temp_url_expires=1")
	if want := "https://swift.example.com/v1/img?..."; got != want {
		t.Errorf("redactString = %q, want %q", got, want)
	}
}

func TestErrorsRedactURL(t *testing.T) {
	opts, _ := testOptions(t, "http://127.0.0.1:1/img?temp_url_sig=SECRET")
	opts.Retries = 0
	_, err := Open(context.Background(), opts)
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("err = %v, want an error without the URL's query", err)
	}
}
