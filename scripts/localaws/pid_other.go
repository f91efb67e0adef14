//go:build !linux

package localaws

import "errors"

// ListenerPID needs /proc (Linux).
func ListenerPID(port int) (int, error) {
	return 0, errors.New("ListenerPID reads /proc: Linux only")
}
