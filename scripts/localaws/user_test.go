package localaws_test

import (
	"regexp"
	"testing"

	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/shared/password"
)

// uuidV4 is the one format of user ids: RFC 9562 version 4, variant 10.
var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestNewUser: the one way users are made (scripts/createuser,
// scripts/dev, the tests): a normalized username, an argon2id hash of the
// password, a UUIDv4 id unless one is given; no server needed.
func TestNewUser(t *testing.T) {
	u, err := localaws.NewUser(localaws.User{Username: "Alice@Example.com", Password: "a long enough password", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	if u.Username != "alice@example.com" || !uuidV4.MatchString(u.ID) || len(u.Scopes) != 1 || u.CreatedAt.IsZero() {
		t.Fatalf("NewUser = %+v", u)
	}
	if ok, err := password.Verify(u.PasswordHash, "a long enough password"); !ok || err != nil {
		t.Fatalf("the stored hash does not verify the password: %v", err)
	}
	if ok, _ := password.Verify(u.PasswordHash, "another password"); ok {
		t.Fatal("the stored hash verifies another password")
	}
	other, err := localaws.NewUser(localaws.User{Username: "bob", Password: "a long enough password"})
	if err != nil || other.ID == u.ID || !uuidV4.MatchString(other.ID) {
		t.Fatalf("second user id %q (first %q): %v", other.ID, u.ID, err)
	}
	kept, err := localaws.NewUser(localaws.User{Username: "carol", Password: "a long enough password", ID: "given-id"})
	if err != nil || kept.ID != "given-id" {
		t.Fatalf("a given id is not kept: %+v %v", kept, err)
	}
	if _, err := localaws.NewUser(localaws.User{Username: "not a username!", Password: "pw"}); err == nil {
		t.Fatal("a username that cannot be normalized was accepted")
	}
}
