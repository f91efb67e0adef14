package apigw

import (
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/scripts/testenv"
)

func BenchmarkDecodeEvent(b *testing.B) {
	ev := testenv.Event(b, "authorizer", "REPLACE_WITH_ACCESS_TOKEN", strings.Repeat("eyJhbGciOiJFUzI1NiJ9", 30))
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := scanEvent(ev); !ok {
			b.Fatal("not scanned")
		}
	}
}
