//go:build unix && !linux

package localapi

import "syscall"

// childAttr puts a child in a process group of its own, so a Ctrl-C in the
// terminal reaches only the parent, which stops every child in order.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
