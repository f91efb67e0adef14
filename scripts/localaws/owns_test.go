//go:build linux

package localaws

import (
	"errors"
	"net"
	"os/exec"
	"testing"

	"github.com/authkit/lambda-auth/scripts/localapi"
)

// TestOwnsRefusesAnotherListener: a port that another program took before
// DynamoDB Local could (which then waits without a word) is errNotOurs,
// so that Start chooses another port instead of using someone else's
// server.
func TestOwnsRefusesAnotherListener(t *testing.T) {
	ln, err := net.Listen("tcp", ":0") // this test process plays the other program
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p, err := localapi.Spawn(exec.Command("sleep", "30"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	srv := &server{name: "dynamodb-local", proc: p}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := srv.owns(port); !errors.Is(err, errNotOurs) {
		t.Errorf("owns(%d) with the port held by another process: %v, want errNotOurs", port, err)
	}
	ln.Close()
	if err := srv.owns(port); err == nil || errors.Is(err, errNotOurs) {
		t.Errorf("owns(%d) with nothing listening: %v, want another error", port, err)
	}
}
