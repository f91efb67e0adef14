// Command createuser is scripts/create-user: it adds, replaces, disables
// or enables a user in the users table. There is no sign-up route:
// accounts are created by an operator with this command.
//
//	scripts/create-user -username alice@example.com -scopes read,write
//	  (asks for the password without echo; or pipe it with -password-stdin)
//	scripts/create-user -username alice@example.com -disable
//
// -disable and -replace (a new password) also end every session of the user
// and every access token already issued, unless -keep-sessions is given:
// they invoke the deployed revoke function with {"user_id": ...}, so the
// cutoff is the function's clock, never this machine's (a laptop minutes
// behind would otherwise spare the sessions started in those minutes). The
// user record is changed first (no clock involved); a revocation that
// fails is an error, and running the command again completes it.
//
// Which stack: -table and -revoke-function, or USERS_TABLE and
// REVOKE_FUNCTION (the stack's RevokeFunctionName output), with the
// standard AWS SDK configuration (profile, region, AWS_ENDPOINT_URL_DYNAMODB,
// AWS_ENDPOINT_URL_LAMBDA); the caller needs lambda:InvokeFunction on the
// revoke function. Without a table, the local stack of the running
// scripts/dev, found in its endpoints file (.local/dev/endpoints.env, or
// -state DIR), with none of the caller's AWS configuration.
package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"golang.org/x/term"

	"github.com/authkit/lambda-auth/scripts/localaws"
	"github.com/authkit/lambda-auth/scripts/localaws/locallambda"
	"github.com/authkit/lambda-auth/shared/auth"
	"github.com/authkit/lambda-auth/shared/dynamo"
	"github.com/authkit/lambda-auth/shared/password"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return // the usage is printed already
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "create-user:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("create-user", flag.ContinueOnError)
	table := fs.String("table", getenv("USERS_TABLE"), "users table name (default $USERS_TABLE)")
	revokeFn := fs.String("revoke-function", getenv("REVOKE_FUNCTION"), "name of the stack's revoke function (default $REVOKE_FUNCTION; the RevokeFunctionName output)")
	keep := fs.Bool("keep-sessions", false, "with -disable or -replace: do not end the user's sessions")
	username := fs.String("username", "", "username (normalized: lower case, PRECIS)")
	scopes := fs.String("scopes", "", "comma-separated scopes (with -replace: default the user's current scopes)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	replace := fs.Bool("replace", false, "replace an existing user's password (id, scopes unless -scopes, disabled flag kept)")
	disable := fs.Bool("disable", false, "disable an existing user (no login, no refresh)")
	enable := fs.Bool("enable", false, "enable a disabled user")
	state := fs.String("state", "", "without -table and USERS_TABLE: the state folder of the running scripts/dev (default .local/dev in the repository)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *username == "" {
		return errors.New("-username is required")
	}
	name, err := auth.NormalizeUsername(*username)
	if err != nil {
		return fmt.Errorf("%q: %w (allowed after lower-casing: a-z 0-9 . _ - @ +, at most %d bytes)", *username, err, auth.MaxUsernameBytes)
	}
	var db *dynamodb.Client
	var fn *lambda.Client
	if *table == "" {
		vars, err := devStack(*state)
		if err != nil {
			return fmt.Errorf("no table given (-table or USERS_TABLE), and no local one: %w", err)
		}
		*table = vars["USERS_TABLE"]
		if *revokeFn == "" {
			*revokeFn = vars["REVOKE_FUNCTION"]
		}
		_, db = localaws.Clients(vars["AWS_ENDPOINT_URL_KMS"], vars["AWS_ENDPOINT_URL_DYNAMODB"])
		fn = locallambda.Client(vars["AWS_ENDPOINT_URL_LAMBDA"])
		fmt.Fprintf(stdout, "the local stack of scripts/dev: table %s, function %s\n", *table, *revokeFn)
	} else {
		cfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return err
		}
		db, fn = dynamodb.NewFromConfig(cfg), lambda.NewFromConfig(cfg)
	}
	endSessions := (*disable || *replace) && !*keep
	if endSessions && *revokeFn == "" {
		return errors.New("-disable and -replace end the user's sessions through the stack's revoke function: give -revoke-function (or REVOKE_FUNCTION), or -keep-sessions")
	}
	store := dynamo.New(db, dynamo.Tables{Users: *table})
	revokeUser := func(userID, reason string) error {
		if !endSessions || userID == "" {
			return nil
		}
		r, err := invokeRevoke(ctx, fn, *revokeFn, auth.RevokeRequest{UserID: userID, Reason: reason})
		if err != nil {
			return fmt.Errorf("end sessions of %s (the user record is changed; run the command again): %w", userID, err)
		}
		fmt.Fprintf(stdout, "ended every session of %s started at or before %s (the revoke function's clock)\n", userID, r.RevokedAt)
		return nil
	}

	if *disable || *enable {
		if err := store.SetUserDisabled(ctx, name, *disable); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s disabled=%t\n", name, *disable)
		if *disable {
			u, err := store.User(ctx, name)
			if err != nil {
				return err
			}
			if u == nil || u.ID == "" {
				return fmt.Errorf("user %s has no user_id: its sessions could not be ended", name)
			}
			return revokeUser(u.ID, "user disabled")
		}
		return nil
	}

	pw, err := readPassword(stdin, stdout, *fromStdin)
	if err != nil {
		return err
	}
	if len(pw) < 8 {
		return errors.New("password: at least 8 characters")
	}
	var scopeList []string
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			scopeList = append(scopeList, s)
		}
	}
	u, err := localaws.NewUser(localaws.User{Username: name, Password: pw, Scopes: scopeList})
	if err != nil {
		return err
	}
	if *replace {
		old, err := store.User(ctx, name)
		if err != nil {
			return err
		}
		if old != nil {
			u.ID, u.CreatedAt, u.Disabled = old.ID, old.CreatedAt, old.Disabled
			if *scopes == "" {
				u.Scopes = old.Scopes
			}
		}
	}
	if err := store.PutUser(ctx, u, *replace); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s id %s scopes %q\n", u.Username, u.ID, strings.Join(u.Scopes, " "))
	if *replace {
		return revokeUser(u.ID, "password replaced")
	}
	return nil
}

func readPassword(stdin io.Reader, stdout io.Writer, fromStdin bool) (string, error) {
	if f, ok := stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stdout, "password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stdout)
		return string(b), err
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, password.MaxBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// revokeResult is what the revoke function answers (shared/apigw's
// RevokeResult).
type revokeResult struct {
	Revoked   string `json:"revoked"`
	ID        string `json:"id"`
	RevokedAt string `json:"revoked_at"`
	ExpiresAt string `json:"expires_at"`
}

// invokeRevoke runs the stack's revoke function with req, synchronously.
func invokeRevoke(ctx context.Context, fn *lambda.Client, name string, req auth.RevokeRequest) (revokeResult, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return revokeResult{}, err
	}
	out, err := fn.Invoke(ctx, &lambda.InvokeInput{FunctionName: &name, Payload: payload})
	if err != nil {
		return revokeResult{}, fmt.Errorf("invoke %s: %w", name, err)
	}
	if out.FunctionError != nil {
		return revokeResult{}, fmt.Errorf("%s failed (%s): %s", name, *out.FunctionError, out.Payload)
	}
	var r revokeResult
	if err := json.Unmarshal(out.Payload, &r); err != nil || r.RevokedAt == "" || r.ID != cmp.Or(req.UserID, req.SessionID, req.JTI) {
		return revokeResult{}, fmt.Errorf("%s answered %q, not a revocation of %s", name, out.Payload, cmp.Or(req.UserID, req.SessionID, req.JTI))
	}
	return r, nil
}

// devStack reads the endpoints file of the scripts/dev running on state
// (default: .local/dev in the repository).
func devStack(state string) (map[string]string, error) {
	if state == "" {
		root, err := localaws.RepoRoot()
		if err != nil {
			return nil, err
		}
		state = filepath.Join(root, ".local", "dev")
	}
	return localaws.DevEndpoints(state)
}
