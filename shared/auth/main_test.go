package auth_test

import (
	"os"
	"testing"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

// TestMain starts local KMS and DynamoDB for this package when no
// endpoint is given (a plain go test); scripts/test gives its own.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
