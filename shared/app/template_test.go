package app_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/authkit/lambda-auth/scripts/testenv"
	"github.com/authkit/lambda-auth/shared/app"
	"github.com/authkit/lambda-auth/shared/app/passkeyapp"
)

// wirings are the functions as the template names them.
var wirings = map[string]func(context.Context, func(string) string, ...app.Option) (any, error){
	"LoginFunction":              adapt(app.Login),
	"RefreshFunction":            adapt(app.Refresh),
	"LogoutFunction":             adapt(app.Logout),
	"LogoutAllFunction":          adapt(app.LogoutAll),
	"AuthorizerFunction":         adapt(app.Authorizer),
	"RevokeFunction":             adapt(app.Revoke),
	"RevocationFeedFunction":     adapt(app.RevocationFeed),
	"JWKSFunction":               adapt(app.JWKS),
	"MeFunction":                 adapt(app.Me),
	"DiscoveryFunction":          adapt(app.Discovery),
	"TokenRevocationFunction":    adapt(app.TokenRevocation),
	"TokenIntrospectionFunction": adapt(app.TokenIntrospection),
	"SessionsFunction":           adapt(app.Sessions),
	"EndSessionFunction":         adapt(app.EndSession),
	"TotpFunction":               adapt(app.TOTP),
	"RevocationSnapshotFunction": adapt(app.RevocationSnapshot),
	"PasskeysFunction":           adapt(passkeyapp.Passkeys),
	"PasskeyLoginFunction":       adapt(passkeyapp.PasskeySignIn),
}

func adapt[H any](f func(context.Context, func(string) string, ...app.Option) (H, error)) func(context.Context, func(string) string, ...app.Option) (any, error) {
	return func(ctx context.Context, getenv func(string) string, opts ...app.Option) (any, error) {
		return f(ctx, getenv, opts...)
	}
}

// TestTemplateMatchesTheCode: every function folder is a template function
// built by infra/Makefile from that folder, and each function starts with
// only the environment variables the template gives it.
func TestTemplateMatchesTheCode(t *testing.T) {
	root := testenv.RepoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Type     string `yaml:"Type"`
			Metadata struct {
				BuildMethod string `yaml:"BuildMethod"`
				ContextPath string `yaml:"ContextPath"`
			} `yaml:"Metadata"`
			Properties struct {
				Environment struct {
					Variables map[string]yaml.Node `yaml:"Variables"`
				} `yaml:"Environment"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "infra", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	target := regexp.MustCompile(`(?m)^build-(\w+):\s*\n\t\$\(call go_build,([\w-]+)\)`)
	folderOf := map[string]string{}
	for _, m := range target.FindAllStringSubmatch(string(makefile), -1) {
		folderOf[m[1]] = m[2]
	}

	env := testenv.New(t)
	var ids []string
	for id, r := range tpl.Resources {
		if r.Type == "AWS::Serverless::Function" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	built := map[string]bool{}
	for _, id := range ids {
		r := tpl.Resources[id]
		t.Run(id, func(t *testing.T) {
			if r.Metadata.BuildMethod != "makefile" || r.Metadata.ContextPath != "infra" {
				t.Errorf("Metadata %+v, want BuildMethod makefile, ContextPath infra", r.Metadata)
			}
			folder := folderOf[id]
			if _, err := os.Stat(filepath.Join(root, "functions", folder, "main.go")); folder == "" || err != nil {
				t.Fatalf("infra/Makefile has no build-%s target building a functions/ folder", id)
			}
			built[folder] = true
			wire, ok := wirings[id]
			if !ok {
				t.Fatalf("no wiring known for %s", id)
			}
			given := r.Properties.Environment.Variables
			getenv := func(k string) string {
				if _, ok := given[k]; !ok {
					return ""
				}
				return env.Getenv(k) // the deployed value's stand-in
			}
			if _, err := wire(context.Background(), getenv); err != nil {
				t.Errorf("starts with the template's variables %v only: %v", keys(given), err)
			}
		})
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	for _, d := range dirs {
		if folder := filepath.Base(filepath.Dir(d)); !built[folder] {
			t.Errorf("functions/%s is not a function of template.yaml", folder)
		}
	}
}

func keys(m map[string]yaml.Node) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestExamplesImportExportedOutputs: every Fn::ImportValue of the
// templates in infra/examples names an output template.yaml exports as
// "<stack name>-<output>", so the snippet of infra/OPERATIONS.md keeps working when an
// output is renamed.
func TestExamplesImportExportedOutputs(t *testing.T) {
	root := testenv.RepoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Outputs map[string]struct {
			Export struct {
				Name yaml.Node `yaml:"Name"`
			} `yaml:"Export"`
		} `yaml:"Outputs"`
	}
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for name, o := range tpl.Outputs {
		if o.Export.Name.Value == "${AWS::StackName}-"+name {
			exported[name] = true
		}
	}
	for _, want := range []string{"AuthorizerFunctionArn", "HttpApiId", "ApiUrl", "JwksUrl", "DiscoveryUrl", "RevocationsTableName", "Issuer", "IntrospectionInvokeArn"} {
		if !exported[want] {
			t.Errorf("output %s is not exported as ${AWS::StackName}-%s", want, want)
		}
	}
	examples, _ := filepath.Glob(filepath.Join(root, "infra", "examples", "*.yaml"))
	if len(examples) == 0 {
		t.Fatal("no templates in infra/examples")
	}
	imports := regexp.MustCompile(`Fn::ImportValue: !Sub "\$\{AuthStackName\}-(\w+)"`)
	for _, ex := range examples {
		b, err := os.ReadFile(ex)
		if err != nil {
			t.Fatal(err)
		}
		found := imports.FindAllStringSubmatch(string(b), -1)
		if len(found) == 0 {
			t.Errorf("%s imports nothing", filepath.Base(ex))
		}
		for _, m := range found {
			if !exported[m[1]] {
				t.Errorf("%s imports %s, which template.yaml does not export", filepath.Base(ex), m[1])
			}
		}
	}
}
