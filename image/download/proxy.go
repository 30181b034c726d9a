package download

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// proxyFunc returns the Transport.Proxy for o. Unlike the environment-based
// proxy of net/http it does not exempt loopback hosts: IPA applies the
// proxies of image_info to every host not in no_proxy.
func (o Options) proxyFunc() (func(*http.Request) (*url.URL, error), error) {
	var hp, sp *url.URL
	var err error
	if hp, err = parseProxy(o.Proxies.HTTP); err != nil {
		return nil, err
	}
	if sp, err = parseProxy(o.Proxies.HTTPS); err != nil {
		return nil, err
	}
	if hp == nil && sp == nil {
		return nil, nil
	}
	np := parseNoProxy(o.NoProxy)
	return func(r *http.Request) (*url.URL, error) {
		p := hp
		if r.URL.Scheme == "https" {
			p = sp
		}
		if p == nil || np.bypass(r.URL) {
			return nil, nil
		}
		return p, nil
	}, nil
}

func parseProxy(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("image download: bad proxy %q", redactString(s))
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
		return u, nil
	}
	return nil, fmt.Errorf("image download: unsupported proxy scheme %q", u.Scheme)
}

// noProxy is a parsed no_proxy list.
type noProxy struct {
	all     bool
	entries []noProxyEntry
}

type noProxyEntry struct {
	host string // lower case, no leading dot; empty for a CIDR
	ip   net.IP
	nets *net.IPNet
	port string // empty: any port
}

func parseNoProxy(s string) noProxy {
	var np noProxy
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if f == "*" {
			np.all = true
			continue
		}
		if _, n, err := net.ParseCIDR(f); err == nil {
			np.entries = append(np.entries, noProxyEntry{nets: n})
			continue
		}
		var e noProxyEntry
		if h, p, err := net.SplitHostPort(f); err == nil {
			f, e.port = h, p
		}
		f = strings.TrimPrefix(strings.TrimPrefix(f, "*"), ".")
		f = strings.Trim(f, "[]")
		if ip := net.ParseIP(f); ip != nil {
			e.ip = ip
		} else {
			e.host = f
		}
		np.entries = append(np.entries, e)
	}
	return np
}

func (np noProxy) bypass(u *url.URL) bool {
	if np.all {
		return true
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	ip := net.ParseIP(host)
	for _, e := range np.entries {
		if e.port != "" && e.port != port {
			continue
		}
		switch {
		case e.nets != nil:
			if ip != nil && e.nets.Contains(ip) {
				return true
			}
		case e.ip != nil:
			if ip != nil && e.ip.Equal(ip) {
				return true
			}
		case host == e.host || strings.HasSuffix(host, "."+e.host):
			return true
		}
	}
	return false
}

func parseHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("image download: not an http(s) URL: %q", redactString(s))
	}
	return u, nil
}

// redactString drops credentials and the query (which may hold a signed
// temporary URL's signature) from a URL for logs and errors.
func redactString(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable URL>"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "..."
	}
	u.Fragment = ""
	return u.String()
}
