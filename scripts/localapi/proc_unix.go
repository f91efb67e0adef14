//go:build unix

package localapi

import "syscall"

// stopGroup signals a child's whole process group (the emulator and the
// bootstrap it started, or a server and its workers).
func stopGroup(pid int, sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }
