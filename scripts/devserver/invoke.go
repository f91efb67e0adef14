package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/authkit/lambda-auth/scripts/localapi"
	"github.com/authkit/lambda-auth/scripts/localaws"
)

// invoke is scripts/invoke: what `sam local invoke FUNCTION -e EVENT`
// does, without Docker: build the function, run it once under
// aws-lambda-rie with its template environment, print the response.
func invoke(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scripts/invoke", flag.ContinueOnError)
	state := fs.String("state", "", "state folder of the running scripts/dev (default: .local/dev in the repository)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: scripts/invoke [--state DIR] FUNCTION EVENT.json

FUNCTION is a folder under functions/ (login) or a logical id (LoginFunction).
EVENT.json is an event file (events/*.json), or - for stdin. Placeholders
REPLACE_WITH_ACCESS_TOKEN, REPLACE_WITH_REFRESH_TOKEN and REPLACE_WITH_SESSION_ID are replaced by
$ACCESS_TOKEN, $REFRESH_TOKEN and $SESSION_ID when set. Needs scripts/dev running (for
local KMS and DynamoDB). The response goes to stdout, the function's log to stderr.`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("want FUNCTION and EVENT.json")
	}
	root, err := localaws.RepoRoot()
	if err != nil {
		return err
	}
	tpl, err := localapi.Load(root)
	if err != nil {
		return err
	}
	f := findFunction(tpl, fs.Arg(0))
	if f == nil {
		var names []string
		for _, fn := range tpl.Functions {
			names = append(names, fn.Folder)
		}
		return fmt.Errorf("no function %q in template.yaml (functions: %s)", fs.Arg(0), strings.Join(names, ", "))
	}
	event, err := readEvent(fs.Arg(1))
	if err != nil {
		return err
	}

	stateDir := filepath.Join(root, ".local", "dev")
	if *state != "" {
		if stateDir, err = filepath.Abs(*state); err != nil {
			return err
		}
	}
	vars, err := localaws.DevEndpoints(stateDir)
	if err != nil {
		return err
	}
	params := map[string]string{}
	for k, v := range vars {
		if name, ok := strings.CutPrefix(k, "PARAM_"); ok {
			params[name] = v
		}
	}
	env, err := localapi.FunctionEnv(tpl, f, localapi.LocalParams(tpl, vars["API_URL"], params),
		localapi.LocalResources(tpl, vars["SIGNING_KEY_ID"], vars["MAC_KEY_ID"]),
		localapi.EndpointVariables(vars["AWS_ENDPOINT_URL_KMS"], vars["AWS_ENDPOINT_URL_DYNAMODB"]))
	if err != nil {
		return err
	}

	buildDir, err := os.MkdirTemp("", "lambda-auth-invoke-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(buildDir)
	bootstrap, err := buildOne(ctx, root, f.Folder, buildDir)
	if err != nil {
		return err
	}
	rie, err := localaws.ToolPath(root, "aws-lambda-rie")
	if err != nil {
		return err
	}
	l, err := localapi.StartLambda(ctx, localapi.LambdaConfig{RIE: rie, Bootstrap: bootstrap, Function: f, Env: env, Output: os.Stderr})
	if err != nil {
		return err
	}
	defer l.Stop()
	ictx, cancel := context.WithTimeout(ctx, time.Duration(f.Timeout+5)*time.Second)
	defer cancel()
	out, err := l.Invoke(ictx, event)
	var fe *localapi.FunctionError
	failed := errors.As(err, &fe)
	if failed {
		out, err = json.Marshal(fe) // Lambda's error answer, as sam local prints it
	}
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = pretty.Bytes()
	}
	if _, err := fmt.Fprintf(os.Stdout, "%s\n", out); err != nil {
		return err
	}
	if failed {
		return errFunctionFailed
	}
	return nil
}

// errFunctionFailed: the function answered with an error (printed); exit 1.
var errFunctionFailed = errors.New("the function returned an error")

func findFunction(t *localapi.Template, name string) *localapi.Function {
	for _, f := range t.Functions {
		if f.ID == name || f.Folder == name || f.Folder == strings.TrimPrefix(strings.TrimSuffix(name, "/"), "functions/") {
			return f
		}
	}
	return nil
}

func readEvent(path string) ([]byte, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	var pairs []string
	for placeholder, env := range map[string]string{"REPLACE_WITH_ACCESS_TOKEN": "ACCESS_TOKEN", "REPLACE_WITH_REFRESH_TOKEN": "REFRESH_TOKEN", "REPLACE_WITH_SESSION_ID": "SESSION_ID"} {
		if v := os.Getenv(env); v != "" {
			pairs = append(pairs, placeholder, v)
		}
	}
	s := strings.NewReplacer(pairs...).Replace(string(b))
	if !json.Valid([]byte(s)) {
		return nil, fmt.Errorf("%s is not JSON", path)
	}
	return []byte(s), nil
}

// envJSON prints infra/env.json as the template and scripts/dev define it.
func envJSON(w io.Writer) error {
	root, err := localaws.RepoRoot()
	if err != nil {
		return err
	}
	tpl, err := localapi.Load(root)
	if err != nil {
		return err
	}
	b, err := localapi.EnvJSON(tpl)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
