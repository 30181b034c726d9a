package rescue

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// pty is the pseudo-terminal of a session whose client asked for one
// (ssh -t, an interactive login): the client's bytes go to master, the
// commands run on slave, the kernel's line discipline echoes and edits.
type pty struct {
	master, slave *os.File
}

// openPTY opens a pair from the ramdisk's devpts.
func openPTY() (*pty, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	var n uint32
	if err := control(m, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return err
		}
		n, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN)
		return err
	}); err != nil {
		m.Close()
		return nil, fmt.Errorf("unlocking a pty: %w", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, err
	}
	return &pty{master: m, slave: s}, nil
}

// resize sets the window size the client reported.
func (p *pty) resize(cols, rows uint32) error {
	return control(p.master, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(rows), Col: uint16(cols)})
	})
}

func (p *pty) Close() {
	p.slave.Close()
	p.master.Close()
}

// control runs fn on f's descriptor without taking it out of Go's poller
// (as Fd would), so reads stay interruptible.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
