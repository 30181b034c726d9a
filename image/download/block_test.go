package download

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"testing"
)

// TestStreamNext reads images block by block while holding several blocks,
// as a qcow2 reader does: the bytes and the digest are the image's, a held
// block does not change until released, and every buffer goes back to the
// Stream exactly once, with as many buffers as HoldBlocks promises.
func TestStreamNext(t *testing.T) {
	const held = 3
	for _, tc := range []struct {
		name    string
		streams int
		faults  []fault
		setup   func(*imageServer)
	}{
		{name: "parallel", streams: 3},
		{name: "parallel, a segment dropped", streams: 3, faults: []fault{serve, drop}},
		{name: "parallel, server ignores Range", streams: 3, setup: func(s *imageServer) { s.ignoreRange = true }},
		{name: "one connection", streams: 1},
		{name: "one connection, dropped and resumed", streams: 1, faults: []fault{drop}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := testData(10*testSegment + 999)
			srv := newImageServer(t, data, tc.faults...)
			opts := parallelOptions(t, srv.url())
			opts.Streams = tc.streams
			s, err := Open(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if tc.setup != nil {
				srv.mu.Lock()
				tc.setup(srv)
				srv.mu.Unlock()
			}
			s.Hash(sha256.New())
			s.HoldBlocks(held)

			type heldAt struct {
				off int
				b   Block
			}
			var (
				out  []byte
				kept []heldAt
				par  *parallel
			)
			release := func(h heldAt) {
				if want := data[h.off : h.off+len(h.b.Data)]; !bytes.Equal(h.b.Data, want) {
					t.Fatalf("block at %d changed while held", h.off)
				}
				h.b.Release()
				h.b.Release() // a second Release does nothing
			}
			for {
				if len(kept) == held {
					release(kept[0])
					kept = kept[1:]
				}
				b, err := s.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Next after %d bytes: %v", len(out), err)
				}
				if par == nil && s.par != nil {
					par = s.par
				}
				kept = append(kept, heldAt{len(out), b})
				out = append(out, b.Data...)
			}
			for _, h := range kept {
				release(h)
			}
			if !bytes.Equal(out, data) {
				t.Fatalf("Next returned %d bytes that differ from the %d-byte image", len(out), len(data))
			}
			sum, err := s.Sum()
			if err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256(data); !bytes.Equal(sum, want[:]) {
				t.Errorf("Sum() = %x, want %x", sum, want)
			}

			// Every buffer is back in its pool once: none missing, none twice.
			var pool chan []byte
			var want int
			switch {
			case par == nil:
				t.Fatal("no fetch ahead of Next")
			default:
				pool, want = par.free, tc.streams+4+held
				if cap(pool) != want {
					t.Errorf("parallel fetch has %d buffers, want %d", cap(pool), want)
				}
			}
			if s.bufs != nil {
				// One connection, or the rest of the image after the
				// parallel fetch stopped.
				if s.nbufs > held+hashPipeChunks {
					t.Errorf("Next allocated %d buffers for one connection, want at most %d", s.nbufs, held+hashPipeChunks)
				}
				checkPool(t, s.bufs, s.nbufs)
			}
			if pool != nil && s.bufs == nil {
				checkPool(t, pool, want)
			} else if pool != nil {
				// A stopped parallel fetch drops the segments it had not
				// delivered; those it had are back.
				checkPool(t, pool, len(pool))
			}
		})
	}
}

// checkPool checks that pool holds n distinct buffers.
func checkPool(t *testing.T, pool chan []byte, n int) {
	t.Helper()
	if len(pool) != n {
		t.Fatalf("%d of %d buffers returned", len(pool), n)
	}
	seen := map[*byte]bool{}
	for range n {
		b := <-pool
		if seen[&b[:1][0]] {
			t.Fatal("a buffer was returned twice")
		}
		seen[&b[:1][0]] = true
	}
}
