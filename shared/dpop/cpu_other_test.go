//go:build !unix

package dpop_test

import "testing"

// reportCPU reports nothing where getrusage does not exist.
func reportCPU(*testing.B) func() { return func() {} }
