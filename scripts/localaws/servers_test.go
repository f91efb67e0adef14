package localaws_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/password"
)

// start starts both servers for one test and stops them at its end.
func start(t *testing.T, cfg localaws.Config) *localaws.Servers {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = testenv.RepoRoot(t)
	}
	s, err := localaws.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// hold listens on addr for the test's duration, as another program would.
func hold(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	host, ok := strings.CutPrefix(rawURL, "http://")
	if !ok {
		t.Fatalf("endpoint %q is not http://", rawURL)
	}
	return host
}

// TestStartAndStop: on free ports, both servers answer their APIs through
// the SDK; Stop ends them, closes their ports and deletes the temp folder.
func TestStartAndStop(t *testing.T) {
	s := start(t, localaws.Config{})
	if !strings.HasPrefix(s.KMSURL, "http://127.0.0.1:") || !strings.HasPrefix(s.DynamoDBURL, "http://127.0.0.1:") {
		t.Fatalf("endpoints %s, %s: want loopback", s.KMSURL, s.DynamoDBURL)
	}
	k, db := localaws.Clients(s.KMSURL, s.DynamoDBURL)
	ctx := context.Background()
	if _, err := k.ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Errorf("KMS ListKeys: %v", err)
	}
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Errorf("DynamoDB ListTables: %v", err)
	}
	if _, err := os.Stat(s.Dir); err != nil {
		t.Fatalf("temp folder: %v", err)
	}
	s.Stop()
	s.Stop() // a second Stop is harmless
	for _, u := range []string{s.KMSURL, s.DynamoDBURL} {
		if answers(hostOf(t, u)) {
			t.Errorf("%s still answers after Stop", u)
		}
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("temp folder %s left after Stop: %v", s.Dir, err)
	}
	select {
	case err := <-s.Exited():
		if !strings.Contains(err.Error(), "exited") {
			t.Errorf("Exited: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Exited reported nothing after Stop")
	}
}

// TestGivenPorts: given free ports are the ones used. They are taken
// below the range the OS hands out for outgoing connections (as the
// defaults of scripts/dev are), so that no client's source port takes
// one between the choice and the bind.
func TestGivenPorts(t *testing.T) {
	lowest := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		fmt.Sscan(string(b), &lowest)
	}
	free := func() int {
		for range 100 {
			p := 10000 + rand.IntN(lowest-10000)
			if localaws.CheckPort("test", "", p) == nil {
				return p
			}
		}
		t.Fatal("no free port below the ephemeral range")
		return 0
	}
	kp, dp := free(), free()
	s := start(t, localaws.Config{KMSPort: kp, DynamoDBPort: dp})
	if want := "http://127.0.0.1:" + strconv.Itoa(kp); s.KMSURL != want {
		t.Errorf("KMS at %s, want %s", s.KMSURL, want)
	}
	if want := "http://127.0.0.1:" + strconv.Itoa(dp); s.DynamoDBURL != want {
		t.Errorf("DynamoDB at %s, want %s", s.DynamoDBURL, want)
	}
}

// TestBusyPortRefusedBeforeStart: a given port another program holds, on
// any interface (both servers listen on all of them), is a *PortInUseError
// before either server starts: nothing is written in the data folder.
func TestBusyPortRefusedBeforeStart(t *testing.T) {
	for _, c := range []struct {
		name, addr string
		server     string
	}{
		{"KMS port held on every interface", ":0", "local KMS"},
		{"KMS port held on loopback only", "127.0.0.1:0", "local KMS"},
		{"DynamoDB port held on every interface", ":0", "local DynamoDB"},
		{"DynamoDB port held on loopback only", "127.0.0.1:0", "local DynamoDB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			port := hold(t, c.addr)
			cfg := localaws.Config{Root: testenv.RepoRoot(t), DataDir: t.TempDir()}
			if c.server == "local KMS" {
				cfg.KMSPort = port
			} else {
				cfg.DynamoDBPort = port
			}
			s, err := localaws.Start(context.Background(), cfg)
			if s != nil {
				s.Stop()
			}
			var inUse *localaws.PortInUseError
			if !errors.As(err, &inUse) || inUse.Port != port || inUse.Server != c.server {
				t.Fatalf("Start with a busy port: %v, want a PortInUseError for %s port %d", err, c.server, port)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(port)) || !strings.Contains(err.Error(), "in use") {
				t.Errorf("message %q does not say which port is in use", err)
			}
			if entries, _ := os.ReadDir(cfg.DataDir); len(entries) != 0 {
				t.Errorf("something started: the data folder holds %v", entries)
			}
		})
	}
}

// fakeRoot is a repository whose local-kms is script, with the real
// DynamoDB Local.
func fakeRoot(t *testing.T, script string) string {
	t.Helper()
	root := t.TempDir()
	bin := filepath.Join(root, ".local", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "local-kms"), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(testenv.RepoRoot(t), ".local", "dynamodb-local"), filepath.Join(root, ".local", "dynamodb-local")); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestStartFailures: a server that dies, or never says it listens, fails
// Start with what happened and the end of each server's log; nothing is
// left running and the temp folder is gone.
func TestStartFailures(t *testing.T) {
	for _, c := range []struct {
		name, script string
		want         []string
	}{
		{"exits", `echo "panic: runtime error: invalid memory address"; exit 2`,
			[]string{"local-kms exited before it was listening", "panic: runtime error", "last lines of local-kms log", "last lines of dynamodb-local log"}},
		{"never listens", `echo "starting..."; exec sleep 30`,
			[]string{"local-kms did not start listening within 500ms", "starting...", "last lines of local-kms log"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := localaws.Start(context.Background(), localaws.Config{Root: fakeRoot(t, c.script), Timeout: 500 * time.Millisecond})
			if err == nil {
				s.Stop()
				t.Fatal("Start succeeded with a broken local-kms")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			m := regexp.MustCompile(`\((\S+)/local-kms\.log\)`).FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("no log path in the error:\n%v", err)
			}
			if _, statErr := os.Stat(m[1]); !os.IsNotExist(statErr) {
				t.Errorf("temp folder %s left after a failed Start: %v", m[1], statErr)
			}
		})
	}
}

// TestDataDirSurvivesARestart: with a data folder, the key (by its alias),
// the tables and the users are there after a restart; EnsureKey,
// EnsureTables and EnsureUser then change nothing.
func TestDataDirSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	root := testenv.RepoRoot(t)
	defs, err := localaws.TableDefinitions(root)
	if err != nil {
		t.Fatal(err)
	}
	name := func(id string) string { return "restart-" + id }
	ctx := context.Background()
	first := start(t, localaws.Config{DataDir: dir})
	k, db := localaws.Clients(first.KMSURL, first.DynamoDBURL)
	arn, err := localaws.EnsureKey(ctx, k, "alias/restart-test", "ECC_NIST_P256", "restart test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := localaws.EnsureTables(ctx, db, defs, name); err != nil {
		t.Fatal(err)
	}
	u := localaws.User{Username: "Restart@Example.com", Password: "a long enough password", ID: "usr_restart"}
	if err := localaws.EnsureUser(ctx, dynamoUsers(db, name("UsersTable")), u); err != nil {
		t.Fatal(err)
	}
	first.Stop()
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("Stop deleted the data folder: %v", err)
	}

	second := start(t, localaws.Config{DataDir: dir})
	k, db = localaws.Clients(second.KMSURL, second.DynamoDBURL)
	again, err := localaws.EnsureKey(ctx, k, "alias/restart-test", "ECC_NIST_P256", "restart test")
	if err != nil || again != arn {
		t.Errorf("key after a restart: %s %v, want %s", again, err, arn)
	}
	names, err := localaws.EnsureTables(ctx, db, defs, name)
	if err != nil || len(names) != len(defs) {
		t.Errorf("tables after a restart: %v %v", names, err)
	}
	users := dynamoUsers(db, name("UsersTable"))
	u.Password = "another password" // not applied: the user exists
	if err := localaws.EnsureUser(ctx, users, u); err != nil {
		t.Fatal(err)
	}
	got, err := users.User(ctx, "restart@example.com")
	if err != nil || got == nil || got.ID != "usr_restart" {
		t.Fatalf("user after a restart: %+v %v", got, err)
	}
	if ok, _ := verify(got.PasswordHash, "a long enough password"); !ok {
		t.Error("EnsureUser replaced an existing user's password")
	}

	// What no longer matches the template is refused, never changed.
	if _, err := localaws.EnsureKey(ctx, k, "alias/restart-test", "RSA_2048", "restart test"); !errors.Is(err, localaws.ErrMismatch) {
		t.Errorf("EnsureKey with another spec: %v, want ErrMismatch", err)
	}
	changed := map[string]localapi.Table{"UsersTable": {CreateTableInput: dynamodb.CreateTableInput{
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("another_key"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("another_key"), KeyType: ddbtypes.KeyTypeHash}},
	}}}
	if _, err := localaws.EnsureTables(ctx, db, changed, name); !errors.Is(err, localaws.ErrMismatch) {
		t.Errorf("EnsureTables with another key: %v, want ErrMismatch", err)
	}
}

func dynamoUsers(db *dynamodb.Client, table string) *dynamo.Store {
	return dynamo.New(db, dynamo.Tables{Users: table})
}

func verify(hash, pw string) (bool, error) { return password.Verify(hash, pw) }

// javaWithDBPath tells whether a process runs with dir as its -dbPath
// (DynamoDB Local on that data folder), from /proc (Linux).
func javaWithDBPath(t *testing.T, dir string) bool {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil || len(cmdlines) == 0 {
		t.Fatalf("this test reads /proc (Linux): %v", err)
	}
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), "-dbPath\x00"+dir+"\x00") {
			return true
		}
	}
	return false
}

// TestKMSReadyWaitedFor: with KMSReady (scripts/dev builds local-kms while
// DynamoDB Local's JVM starts), DynamoDB Local is running before local-kms
// exists, and local-kms is looked for only once KMSReady returns. An error
// from KMSReady is Start's, with DynamoDB Local stopped.
func TestKMSReadyWaitedFor(t *testing.T) {
	kmsBin, err := localaws.ToolPath(testenv.RepoRoot(t), "local-kms")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ready", func(t *testing.T) {
		root := fakeRoot(t, "exit 9")
		os.Remove(filepath.Join(root, ".local", "bin", "local-kms")) // not built yet
		data := t.TempDir()
		called := false
		s, err := localaws.Start(context.Background(), localaws.Config{Root: root, DataDir: data,
			KMSReady: func(context.Context) error {
				called = true
				if !javaWithDBPath(t, filepath.Join(data, "dynamodb")) {
					t.Error("DynamoDB Local is not running while local-kms is awaited")
				}
				return os.Symlink(kmsBin, filepath.Join(root, ".local", "bin", "local-kms")) // built now
			}})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		defer s.Stop()
		if !called {
			t.Fatal("KMSReady was not called")
		}
		k, db := localaws.Clients(s.KMSURL, s.DynamoDBURL)
		if _, err := k.ListKeys(context.Background(), &kms.ListKeysInput{}); err != nil {
			t.Errorf("KMS ListKeys: %v", err)
		}
		if _, err := db.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
			t.Errorf("DynamoDB ListTables: %v", err)
		}
	})
	t.Run("failed", func(t *testing.T) {
		root := fakeRoot(t, "exit 9")
		data := t.TempDir()
		broken := errors.New("go install local-kms failed")
		s, err := localaws.Start(context.Background(), localaws.Config{Root: root, DataDir: data,
			KMSReady: func(context.Context) error { return broken }})
		if err == nil {
			s.Stop()
			t.Fatal("Start succeeded though local-kms could not be installed")
		}
		if !errors.Is(err, broken) {
			t.Errorf("Start: %v, want KMSReady's error", err)
		}
		if javaWithDBPath(t, filepath.Join(data, "dynamodb")) {
			t.Error("DynamoDB Local still runs after the failed Start")
		}
	})
}
