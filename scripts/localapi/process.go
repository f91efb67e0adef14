package localapi

import (
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// Process is a child process in a process group of its own, stopped as a
// whole (an emulator and its bootstrap, a server and its workers).
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // why it ended, once done is closed
}

// Spawn starts cmd in a new process group. On Linux the kernel also kills
// it when this process dies without stopping it.
func Spawn(cmd *exec.Cmd) (*Process, error) {
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Stop sends SIGTERM to the group, then SIGKILL after 3 s, and waits.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	stopGroup(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		stopGroup(p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is why the process exited, once Done is closed; nil before.
func (p *Process) Err() error {
	select {
	case <-p.done:
		if p.err == nil {
			return errors.New("exited")
		}
		return p.err
	default:
		return nil
	}
}

// Signal sends sig to the whole process group, unless it has exited.
func (p *Process) Signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		stopGroup(p.cmd.Process.Pid, sig)
	}
}

// Pid is the process's id, which is also its process group's.
func (p *Process) Pid() int { return p.cmd.Process.Pid }
