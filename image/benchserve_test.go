package image

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"time"
)

// benchServer serves file to every contender of a row from the test
// process (its CPU is no agent's), each request with its own file and
// sendfile, and counts the bytes it sent.
type benchServer struct {
	*httptest.Server
	sent atomic.Int64
}

func newBenchServer(file string) *benchServer {
	s := &benchServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(file)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer f.Close()
		http.ServeContent(countingWriter{w, &s.sent}, r, "img", time.Unix(1700000000, 0), f)
	}))
	return s
}

// countingWriter counts a response's body bytes; its ReadFrom keeps the
// server's sendfile path.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c countingWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := c.ResponseWriter.(io.ReaderFrom).ReadFrom(r)
	c.n.Add(n)
	return n, err
}
