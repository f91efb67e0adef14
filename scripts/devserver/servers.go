package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/password"
)

// localServers are local-kms and dynalite, keeping their data in the state
// folder, on loopback (local-kms has no address setting: it listens on
// every interface; it is used through 127.0.0.1 only).
type localServers struct {
	kms, dynamo       *localapi.Process
	kmsURL, dynamoURL string
}

var (
	kmsStarted    = regexp.MustCompile(`Local KMS started on [0-9.:]*:([0-9]+)`)
	dynamoStarted = regexp.MustCompile(`dynalite listening on http://[0-9a-f.:\[\]]+:([0-9]+)`)
)

func startServers(ctx context.Context, root, stateDir string, kmsPort int, dynamoHost string, dynamoPort int) (*localServers, error) {
	kmsBin, err := toolPath(root, "local-kms")
	if err != nil {
		return nil, err
	}
	s := &localServers{}
	kmsCmd := exec.Command(kmsBin)
	kmsCmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", kmsPort), "KMS_REGION=us-east-1",
		"KMS_ACCOUNT_ID=000000000000", "KMS_DATA_PATH="+filepath.Join(stateDir, "kms"),
		"KMS_SEED_PATH="+filepath.Join(stateDir, "no-seed.yaml")) // no seed keys: ours are created below
	kmsLog := filepath.Join(stateDir, "logs", "local-kms.log")
	kmsPortCh, err := spawnServer(kmsCmd, kmsLog, kmsStarted, &s.kms)
	if err != nil {
		return nil, fmt.Errorf("start local-kms: %w", err)
	}
	dynCmd := exec.Command("node", filepath.Join(root, "infra", "local", "dynalite-server.js"))
	dynCmd.Env = append(os.Environ(), "DYNALITE_HOST="+dynamoHost, fmt.Sprintf("DYNALITE_PORT=%d", dynamoPort),
		"DYNALITE_PATH="+filepath.Join(stateDir, "dynamodb"))
	dynLog := filepath.Join(stateDir, "logs", "dynalite.log")
	dynPortCh, err := spawnServer(dynCmd, dynLog, dynamoStarted, &s.dynamo)
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	wait := func(name, logPath string, ch <-chan string, p *localapi.Process) (string, error) {
		select {
		case port := <-ch:
			return port, nil
		case <-p.Done():
			return "", fmt.Errorf("%s exited (port in use? see --kms-port, --dynamodb-port):\n%s", name, tail(logPath, 10))
		case <-time.After(30 * time.Second):
			return "", fmt.Errorf("%s did not start within 30s:\n%s", name, tail(logPath, 10))
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	kp, err := wait("local-kms", kmsLog, kmsPortCh, s.kms)
	if err != nil {
		s.stop()
		return nil, err
	}
	dp, err := wait("dynalite", dynLog, dynPortCh, s.dynamo)
	if err != nil {
		s.stop()
		return nil, err
	}
	s.kmsURL, s.dynamoURL = "http://127.0.0.1:"+kp, "http://127.0.0.1:"+dp
	return s, nil
}

// spawnServer starts cmd with its output in logPath and sends the port
// from the first line matching started.
func spawnServer(cmd *exec.Cmd, logPath string, started *regexp.Regexp, p **localapi.Process) (<-chan string, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	proc, err := localapi.Spawn(cmd)
	if err != nil {
		logFile.Close()
		return nil, err
	}
	*p = proc
	go func() {
		<-proc.Done()
		pw.Close()
	}()
	ch := make(chan string, 1)
	go func() {
		defer logFile.Close()
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if m := started.FindStringSubmatch(stripANSI(line)); m != nil && !sent {
				ch <- m[1]
				sent = true
			}
		}
		io.Copy(io.Discard, pr)
	}()
	return ch, nil
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func stripANSI(s string) string { return ansi.ReplaceAllString(s, "") }

func (s *localServers) stop() {
	for _, p := range []*localapi.Process{s.kms, s.dynamo} {
		if p != nil {
			p.Stop()
		}
	}
}

func (s *localServers) exited() <-chan error {
	ch := make(chan error, 2)
	for name, p := range map[string]*localapi.Process{"local-kms": s.kms, "dynalite": s.dynamo} {
		go func() {
			<-p.Done()
			ch <- fmt.Errorf("%s exited: %v", name, p.Err())
		}()
	}
	return ch
}

// localAWS is the SDK pointed at the local servers the standard way
// (AWS_ENDPOINT_URL_<SERVICE>), with dummy credentials and nothing of the
// user's own AWS configuration.
type localAWS struct {
	kms *kms.Client
	db  *dynamodb.Client
}

func newAWS(ctx context.Context, kmsURL, dynamoURL string) (*localAWS, error) {
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_KMS": kmsURL, "AWS_ENDPOINT_URL_DYNAMODB": dynamoURL,
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_CA_BUNDLE", "AWS_ENDPOINT_URL"} {
		os.Unsetenv(k)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &localAWS{kms: kms.NewFromConfig(cfg), db: dynamodb.NewFromConfig(cfg)}, nil
}

// ensureKey returns the ARN of the key behind localapi.KeyAlias, creating
// key and alias the first time.
func (a *localAWS) ensureKey(ctx context.Context, spec kmstypes.KeySpec) (string, error) {
	out, err := a.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(localapi.KeyAlias)})
	if err == nil {
		if got := out.KeyMetadata.KeySpec; got != spec {
			return "", fmt.Errorf("the local signing key is %s, the stack asks for %s: run scripts/dev --reset", got, spec)
		}
		return *out.KeyMetadata.Arn, nil
	}
	var nf *kmstypes.NotFoundException
	if !errors.As(err, &nf) {
		return "", fmt.Errorf("describe %s: %w", localapi.KeyAlias, err)
	}
	created, err := a.kms.CreateKey(ctx, &kms.CreateKeyInput{
		KeySpec: spec, KeyUsage: kmstypes.KeyUsageTypeSignVerify,
		Description: aws.String("lambda-auth local signing key (scripts/dev)"),
	})
	if err != nil {
		return "", fmt.Errorf("create signing key: %w", err)
	}
	if _, err := a.kms.CreateAlias(ctx, &kms.CreateAliasInput{
		AliasName: aws.String(localapi.KeyAlias), TargetKeyId: created.KeyMetadata.KeyId,
	}); err != nil {
		return "", fmt.Errorf("create alias %s: %w", localapi.KeyAlias, err)
	}
	return *created.KeyMetadata.Arn, nil
}

// ensureTables creates the template's tables that do not exist yet.
func (a *localAWS) ensureTables(ctx context.Context, t *localapi.Template) error {
	for id, def := range t.Tables {
		in := def
		in.TableName = aws.String(localapi.TableName(id))
		_, err := a.db.CreateTable(ctx, &in)
		var inUse *ddbtypes.ResourceInUseException
		if errors.As(err, &inUse) {
			err = a.sameShape(ctx, in)
		}
		if err != nil {
			return fmt.Errorf("table %s: %w", *in.TableName, err)
		}
		w := dynamodb.NewTableExistsWaiter(a.db, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay, o.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
		})
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, 30*time.Second); err != nil {
			return fmt.Errorf("table %s not active: %w", *in.TableName, err)
		}
	}
	return nil
}

// sameShape checks that an existing table has the keys and indexes the
// template defines now.
func (a *localAWS) sameShape(ctx context.Context, want dynamodb.CreateTableInput) error {
	out, err := a.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: want.TableName})
	if err != nil {
		return err
	}
	shape := func(keys []ddbtypes.KeySchemaElement, gsis []string) string {
		var parts []string
		for _, k := range keys {
			parts = append(parts, *k.AttributeName+"/"+string(k.KeyType))
		}
		sort.Strings(gsis)
		return strings.Join(parts, ",") + " gsi:" + strings.Join(gsis, ",")
	}
	var wantGSI, gotGSI []string
	for _, g := range want.GlobalSecondaryIndexes {
		wantGSI = append(wantGSI, *g.IndexName)
	}
	for _, g := range out.Table.GlobalSecondaryIndexes {
		gotGSI = append(gotGSI, *g.IndexName)
	}
	if w, g := shape(want.KeySchema, wantGSI), shape(out.Table.KeySchema, gotGSI); w != g {
		return fmt.Errorf("exists as %s, template.yaml defines %s: run scripts/dev --reset", g, w)
	}
	return nil
}

// ensureDemoUser adds the demo user unless it exists.
func (a *localAWS) ensureDemoUser(ctx context.Context, table string) error {
	store := dynamo.New(a.db, dynamo.Tables{Users: table})
	name, err := password.NormalizeUsername(localapi.DemoUsername)
	if err != nil {
		return err
	}
	if u, err := store.User(ctx, name); err != nil {
		return err
	} else if u != nil {
		return nil
	}
	hash, err := password.Hash(localapi.DemoPassword, password.Default)
	if err != nil {
		return err
	}
	u := &auth.User{Username: name, ID: localapi.DemoUserID, PasswordHash: hash, CreatedAt: time.Now()}
	if err := store.PutUser(ctx, u, false); err != nil && !errors.Is(err, dynamo.ErrUserExists) {
		return err
	}
	return nil
}

// buildAll builds every function as SAM does (CGO off, -tags lambda.norpc,
// -trimpath, stripped) for this machine, laid out as dir/current/<folder>/
// bootstrap. It uses go install into dir/bin, which relinks only binaries
// whose sources changed (go build -o would relink all eight every start).
func buildAll(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "bin")
	cmd := exec.CommandContext(ctx, "go", "install", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w", "./functions/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install ./functions/...: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "current")
	if err := os.RemoveAll(out); err != nil {
		return "", err
	}
	mains, _ := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	for _, m := range mains {
		name := filepath.Base(filepath.Dir(m))
		if err := os.MkdirAll(filepath.Join(out, name), 0o755); err != nil {
			return "", err
		}
		// A link, not a copy: the emulator runs the file go install wrote.
		if err := os.Link(filepath.Join(bin, name), filepath.Join(out, name, "bootstrap")); err != nil {
			return "", err
		}
	}
	return out, nil
}

// buildOne builds one function folder into dir/<folder>/bootstrap.
func buildOne(ctx context.Context, root, folder, dir string) (string, error) {
	out := filepath.Join(dir, folder, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w", "-o", out, "./functions/"+folder)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./functions/%s: %v\n%s", folder, err, b)
	}
	return out, nil
}

// repoRoot is the repository: $LAMBDA_AUTH_ROOT (set by scripts/dev and
// scripts/invoke, so they work from any folder), else the folder holding
// go.mod and template.yaml from the working directory up.
func repoRoot() (string, error) {
	if root := os.Getenv("LAMBDA_AUTH_ROOT"); root != "" {
		return root, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "template.yaml")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from the repository (no go.mod and template.yaml above the working directory)")
		}
		dir = parent
	}
}

// toolPath finds a tool scripts/install-tools installed.
func toolPath(root, name string) (string, error) {
	p := filepath.Join(root, ".local", "bin", name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s is not installed: run scripts/install-tools", name)
}
