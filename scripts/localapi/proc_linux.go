package localapi

import "syscall"

// childAttr puts a child in a process group of its own (so a Ctrl-C in the
// terminal reaches only the parent, which stops every child in order) and
// has the kernel kill it if the parent dies without cleaning up.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
