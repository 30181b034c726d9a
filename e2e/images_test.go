package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type servedImage struct {
	URL    string
	SHA256 string
}

// serveFile serves data on 127.0.0.1 the way an image server would (HEAD,
// Range, Content-Length), for Ironic's URL check and the agent's download.
func serveFile(t *testing.T, data []byte) servedImage {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "image.raw", time.Unix(1700000000, 0), bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	sum := sha256.Sum256(data)
	return servedImage{URL: srv.URL + "/image.raw", SHA256: hex.EncodeToString(sum[:])}
}
