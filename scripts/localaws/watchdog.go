package localaws

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// watchdog ends the servers' process groups, and deletes the temp folder,
// when this process dies without Stop (a SIGKILL runs no deferred code).
// It is a shell in a session of its own (a Ctrl-C in the terminal does not
// reach it) that reads a pipe only this process holds open: the kernel
// closes it when this process dies, however it dies, and the read ends.
type watchdog struct {
	cmd  *exec.Cmd
	pipe *os.File // the write end; never written
	done chan struct{}
}

// watchdogScript: $1 is the folder to delete ("" for none), the other
// arguments are the process groups (-pgid).
const watchdogScript = `dir=$1; shift
read -r _ || :
kill -TERM -- "$@" 2>/dev/null
for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- "$@" 2>/dev/null || break; sleep 0.2; done
kill -KILL -- "$@" 2>/dev/null
if [ -n "$dir" ]; then rm -rf -- "$dir"; fi`

func startWatchdog(s *Servers) (*watchdog, error) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe() // close-on-exec: no other child inherits the write end
	if err != nil {
		return nil, err
	}
	defer r.Close()
	dir := ""
	if s.temp {
		dir = s.Dir
	}
	args := []string{"-c", watchdogScript, "lambda-auth-watchdog", dir}
	for _, srv := range s.list {
		args = append(args, "-"+strconv.Itoa(srv.proc.Pid()))
	}
	cmd := exec.Command(bash, args...)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, err
	}
	wd := &watchdog{cmd: cmd, pipe: w, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(wd.done)
	}()
	return wd, nil
}

// stop ends the watchdog (and a sleep of its, if any) without letting it
// act: its session is one process group.
func (wd *watchdog) stop() {
	if wd == nil {
		return
	}
	syscall.Kill(-wd.cmd.Process.Pid, syscall.SIGKILL)
	<-wd.done
	wd.pipe.Close()
}
