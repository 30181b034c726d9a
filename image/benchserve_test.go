package image

import (
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// benchServer serves one image file to every contender, from the test
// process (its CPU is no agent's), each request with its own file and
// sendfile, and counts the requests and bytes it sent.
type benchServer struct {
	file string
	sent atomic.Int64
	reqs atomic.Int64
	srv  http.Server
}

func newBenchServer(file string) *benchServer {
	s := &benchServer{file: file}
	s.srv.Handler = http.HandlerFunc(s.serve)
	return s
}

// url has the server listen on ip too and returns the image's URL there.
func (s *benchServer) url(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	go s.srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/img"
}

func (s *benchServer) Close() { s.srv.Close() }

func (s *benchServer) serve(w http.ResponseWriter, r *http.Request) {
	s.reqs.Add(1)
	f, err := os.Open(s.file)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	defer f.Close()
	http.ServeContent(countingWriter{w, &s.sent}, r, "img", time.Unix(1700000000, 0), f)
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
