// Package peakmem measures a process tree's peak memory for the benchmarks:
// the resident pages of the process and all its descendants, plus what
// they keep in given tmpfs directories (a ramdisk has no other place to put
// a file), sampled every few milliseconds.
package peakmem

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Watch samples the tree rooted at pid until stop is called, which returns
// the highest sum seen, in bytes. tmpfs paths may name mount points seen
// through /proc/PID/root, where the tree's private mounts are.
func Watch(pid int, tmpfs ...string) (stop func() int64) {
	return Tree{Pid: pid, Tmpfs: tmpfs}.Watch()
}

// Tree is a process tree to watch.
type Tree struct {
	Pid   int
	Tmpfs []string
	// Skip names processes (by /proc/PID/comm) not to count: the bench's
	// own stand-ins for a tool, which weigh more than the tool.
	Skip string
}

// Watch is the package's Watch for the tree t.
func (t Tree) Watch() (stop func() int64) {
	var (
		mu   sync.Mutex
		peak int64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			n := treeRSS(t.Pid, t.Skip)
			for _, d := range t.Tmpfs {
				n += used(d)
			}
			mu.Lock()
			peak = max(peak, n)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// used is how many bytes the file system at dir holds, 0 once it is gone.
func used(dir string) int64 {
	var s syscall.Statfs_t
	if syscall.Statfs(dir, &s) != nil {
		return 0
	}
	return int64(s.Blocks-s.Bfree) * s.Bsize
}

// treeRSS sums VmRSS over pid and its descendants but those named skip.
func treeRSS(pid int, skip string) int64 {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp := ppid(p); pp > 0 {
			children[pp] = append(children[pp], p)
		}
	}
	var sum int64
	for todo := []int{pid}; len(todo) > 0; {
		p := todo[len(todo)-1]
		todo = append(todo[:len(todo)-1], children[p]...)
		if skip == "" || comm(p) != skip {
			sum += rss(p)
		}
	}
	return sum
}

func ppid(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name in parentheses may hold spaces: fields start after it.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:])) // state ppid …
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func comm(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	return strings.TrimSpace(string(b))
}

func rss(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
