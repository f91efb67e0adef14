// Package localapi runs the HTTP API of template.yaml on a laptop: the
// functions' real bootstrap binaries under aws-lambda-rie, the routes and
// the Lambda authorizer as API Gateway (HTTP API, payload 2.0) applies them,
// and the tables created from the template's own definitions. scripts/dev
// and scripts/invoke are built on it.
package localapi

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"
)

// Template is what the local API needs of template.yaml and infra/Makefile.
// It is read with yaml.v3, which keeps CloudFormation's short tags (!Ref,
// !GetAtt) as node tags; goformation refuses the template (LoggingConfig)
// and does not merge Globals, so it is not used.
type Template struct {
	Parameters  map[string]*Parameter  // by name
	Functions   map[string]*Function   // by logical id
	Routes      []Route                // every HttpApi event, sorted by route key
	Authorizers map[string]*Authorizer // by name, from the HttpApi's Auth
	Tables      map[string]Table       // by logical id
	Streams     []StreamSource         // every DynamoDB stream event, by function
	CORS        *CORS                  // the HttpApi's CorsConfiguration; nil: none
	Conditions  map[string]yaml.Node   // the template's Conditions, for CORSPolicy
}

// Table is one AWS::DynamoDB::Table: its CreateTable input without a
// TableName (keys, indexes, on-demand billing, StreamSpecification) and
// its TimeToLiveSpecification, which CreateTable does not take.
type Table struct {
	dynamodb.CreateTableInput
	// TTLAttribute is TimeToLiveSpecification's AttributeName when Enabled;
	// empty: no TTL.
	TTLAttribute string
}

// Function is one AWS::Serverless::Function.
type Function struct {
	ID         string           // logical id, e.g. LoginFunction
	Folder     string           // functions/<Folder>, from infra/Makefile's build-<ID> target
	Env        map[string]Value // Environment.Variables, Globals merged
	Timeout    int              // seconds
	MemorySize int              // MB
	LogFormat  string           // LoggingConfig.LogFormat: JSON or Text
	LogLevel   Value            // LoggingConfig.ApplicationLogLevel
}

// Value is one environment variable's value as the template writes it:
// a literal, !Ref Name, !GetAtt Resource.Attribute or !Join of those.
type Value struct {
	Literal string
	Ref     string
	GetAtt  string
	Join    *Join
}

// Join is !Join [Sep, [values...]] or !Join [Sep, !Ref ListParameter].
type Join struct {
	Sep   string
	Parts []Value
}

// Route is one HttpApi event of a function.
type Route struct {
	Method     string // upper case, or ANY
	Path       string // /auth/login, /items/{id}, /files/{proxy+}
	Function   string // logical id
	Authorizer string // authorizer name; "" when the route has Authorizer: NONE or AWS_IAM
	IAM        bool   // Authorizer: AWS_IAM: callers sign with SigV4
}

// Key is the route key API Gateway puts in routeKey: "POST /auth/login".
func (r Route) Key() string { return r.Method + " " + r.Path }

// Authorizer is a Lambda authorizer of the HttpApi.
type Authorizer struct {
	Name            string
	Function        string   // logical id of the authorizer function
	IdentityHeaders []string // lower case; a request missing one gets 401 without a call
	SimpleResponses bool
}

type rawTemplate struct {
	Parameters map[string]rawParameter `yaml:"Parameters"`
	Conditions map[string]yaml.Node    `yaml:"Conditions"`
	Globals    struct {
		Function rawFunctionProps `yaml:"Function"`
		HttpApi  rawAPIProps      `yaml:"HttpApi"`
	} `yaml:"Globals"`
	Resources map[string]yaml.Node `yaml:"Resources"`
}

type rawResource struct {
	Type       string    `yaml:"Type"`
	Properties yaml.Node `yaml:"Properties"`
}

type rawFunctionProps struct {
	Timeout       int `yaml:"Timeout"`
	MemorySize    int `yaml:"MemorySize"`
	LoggingConfig struct {
		LogFormat           string    `yaml:"LogFormat"`
		ApplicationLogLevel yaml.Node `yaml:"ApplicationLogLevel"`
	} `yaml:"LoggingConfig"`
	Environment struct {
		Variables map[string]yaml.Node `yaml:"Variables"`
	} `yaml:"Environment"`
	Events map[string]struct {
		Type       string `yaml:"Type"`
		Properties struct {
			APIID                yaml.Node `yaml:"ApiId"`
			Method               string    `yaml:"Method"`
			Path                 string    `yaml:"Path"`
			PayloadFormatVersion string    `yaml:"PayloadFormatVersion"`
			Auth                 struct {
				Authorizer string `yaml:"Authorizer"`
			} `yaml:"Auth"`
			rawStreamEvent `yaml:",inline"` // Type: DynamoDB
		} `yaml:"Properties"`
	} `yaml:"Events"`
}

type rawAPIProps struct {
	CorsConfiguration yaml.Node `yaml:"CorsConfiguration"`
	Auth              struct {
		DefaultAuthorizer   string `yaml:"DefaultAuthorizer"`
		EnableIamAuthorizer bool   `yaml:"EnableIamAuthorizer"`
		Authorizers         map[string]struct {
			FunctionArn                    yaml.Node `yaml:"FunctionArn"`
			AuthorizerPayloadFormatVersion string    `yaml:"AuthorizerPayloadFormatVersion"`
			EnableSimpleResponses          bool      `yaml:"EnableSimpleResponses"`
			Identity                       struct {
				Headers        []string `yaml:"Headers"`
				QueryStrings   []string `yaml:"QueryStrings"`
				Context        []string `yaml:"Context"`
				StageVariables []string `yaml:"StageVariables"`
			} `yaml:"Identity"`
		} `yaml:"Authorizers"`
	} `yaml:"Auth"`
}

type rawTable struct {
	AttributeDefinitions []struct {
		AttributeName string `yaml:"AttributeName"`
		AttributeType string `yaml:"AttributeType"`
	} `yaml:"AttributeDefinitions"`
	KeySchema              []rawKey `yaml:"KeySchema"`
	GlobalSecondaryIndexes []struct {
		IndexName  string   `yaml:"IndexName"`
		KeySchema  []rawKey `yaml:"KeySchema"`
		Projection struct {
			ProjectionType   string   `yaml:"ProjectionType"`
			NonKeyAttributes []string `yaml:"NonKeyAttributes"`
		} `yaml:"Projection"`
	} `yaml:"GlobalSecondaryIndexes"`
	StreamSpecification *struct {
		StreamViewType string `yaml:"StreamViewType"`
	} `yaml:"StreamSpecification"`
	TimeToLiveSpecification *struct {
		AttributeName string `yaml:"AttributeName"`
		Enabled       bool   `yaml:"Enabled"`
	} `yaml:"TimeToLiveSpecification"`
}

type rawKey struct {
	AttributeName string `yaml:"AttributeName"`
	KeyType       string `yaml:"KeyType"`
}

// implicitAPI is the logical id SAM gives the HttpApi of events without ApiId.
const implicitAPI = "ServerlessHttpApi"

var makeTarget = regexp.MustCompile(`(?m)^build-(\w+):\s*\n\t\$\(call go_build,([\w-]+)\)`)

// Load reads root/template.yaml and root/infra/Makefile.
func Load(root string) (*Template, error) {
	b, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		return nil, err
	}
	mk, err := os.ReadFile(filepath.Join(root, "infra", "Makefile"))
	if err != nil {
		return nil, err
	}
	return Parse(b, mk)
}

// Parse reads a SAM template and the Makefile that builds its functions.
func Parse(template, makefile []byte) (*Template, error) {
	var raw rawTemplate
	if err := yaml.Unmarshal(template, &raw); err != nil {
		return nil, fmt.Errorf("template.yaml: %w", err)
	}
	folders := map[string]string{}
	for _, m := range makeTarget.FindAllStringSubmatch(string(makefile), -1) {
		folders[m[1]] = m[2]
	}
	t := &Template{
		Parameters:  map[string]*Parameter{},
		Functions:   map[string]*Function{},
		Authorizers: map[string]*Authorizer{},
		Tables:      map[string]Table{},
		Conditions:  raw.Conditions,
	}
	for name, p := range raw.Parameters {
		param, err := p.parameter(name)
		if err != nil {
			return nil, fmt.Errorf("template.yaml: parameter %s: %w", name, err)
		}
		t.Parameters[name] = param
	}

	apis := map[string]rawAPIProps{}
	for _, id := range sortedKeys(raw.Resources) {
		node := raw.Resources[id]
		var r rawResource
		if err := node.Decode(&r); err != nil {
			return nil, fmt.Errorf("template.yaml: resource %s: %w", id, err)
		}
		switch r.Type {
		case "AWS::Serverless::HttpApi":
			api := raw.Globals.HttpApi
			if err := r.Properties.Decode(&api); err != nil {
				return nil, fmt.Errorf("template.yaml: %s: %w", id, err)
			}
			apis[id] = api
		case "AWS::DynamoDB::Table":
			var tbl rawTable
			if err := r.Properties.Decode(&tbl); err != nil {
				return nil, fmt.Errorf("template.yaml: %s: %w", id, err)
			}
			t.Tables[id] = tbl.table()
		}
	}

	var events []struct {
		api   string
		route Route
		auth  string
	}
	for _, id := range sortedKeys(raw.Resources) {
		node := raw.Resources[id]
		var r rawResource
		var err error
		if err = node.Decode(&r); err != nil || r.Type != "AWS::Serverless::Function" {
			continue
		}
		props := raw.Globals.Function
		props.Events = nil
		env := map[string]yaml.Node{}
		for k, v := range raw.Globals.Function.Environment.Variables {
			env[k] = v
		}
		props.Environment.Variables = nil
		if err = r.Properties.Decode(&props); err != nil {
			return nil, fmt.Errorf("template.yaml: %s: %w", id, err)
		}
		for k, v := range props.Environment.Variables {
			env[k] = v // the function's own value wins over Globals, as in SAM
		}
		f := &Function{ID: id, Folder: folders[id], Env: map[string]Value{}, Timeout: props.Timeout,
			MemorySize: props.MemorySize, LogFormat: props.LoggingConfig.LogFormat}
		if lvl := props.LoggingConfig.ApplicationLogLevel; !lvl.IsZero() {
			if f.LogLevel, err = value(lvl); err != nil {
				return nil, fmt.Errorf("template.yaml: %s: LoggingConfig.ApplicationLogLevel: %w", id, err)
			}
		}
		if f.Folder == "" {
			return nil, fmt.Errorf("infra/Makefile has no build-%s target: the local API builds what SAM builds", id)
		}
		for k, v := range env {
			val, err := value(v)
			if err != nil {
				return nil, fmt.Errorf("template.yaml: %s: Environment.Variables.%s: %w", id, k, err)
			}
			f.Env[k] = val
		}
		t.Functions[id] = f

		for _, name := range sortedKeys(props.Events) {
			e := props.Events[name]
			if e.Type == "DynamoDB" {
				src, err := e.Properties.rawStreamEvent.source(id)
				if err != nil {
					return nil, fmt.Errorf("template.yaml: %s event %s: %w", id, name, err)
				}
				t.Streams = append(t.Streams, src)
				continue
			}
			if e.Type != "HttpApi" {
				continue
			}
			p := e.Properties
			if v := p.PayloadFormatVersion; v != "" && v != "2.0" {
				return nil, fmt.Errorf("template.yaml: %s event %s: payload format %s: the local API serves 2.0 only", id, name, v)
			}
			api := implicitAPI
			if p.APIID.Tag == "!Ref" {
				api = p.APIID.Value
			} else if !p.APIID.IsZero() {
				return nil, fmt.Errorf("template.yaml: %s event %s: ApiId must be !Ref of an HttpApi", id, name)
			}
			method := strings.ToUpper(p.Method)
			if method == "" || method == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
				method = "ANY"
			}
			path := p.Path
			if path == "" {
				path = "$default"
			}
			events = append(events, struct {
				api   string
				route Route
				auth  string
			}{api, Route{Method: method, Path: path, Function: id}, p.Auth.Authorizer})
		}
	}

	if _, ok := apis[implicitAPI]; !ok {
		apis[implicitAPI] = raw.Globals.HttpApi
	}
	seen := map[string]bool{}
	corsOf := ""
	for _, e := range events {
		if api := apis[e.api]; !api.CorsConfiguration.IsZero() && corsOf != e.api {
			if corsOf != "" {
				return nil, fmt.Errorf("template.yaml: HttpApis %s and %s both have a CorsConfiguration: the local API serves every route on one port, with one", corsOf, e.api)
			}
			corsOf = e.api
			c, err := parseCORS(api.CorsConfiguration)
			if err != nil {
				return nil, fmt.Errorf("template.yaml: %s: %w", e.api, err)
			}
			t.CORS = c
		}
		api, ok := apis[e.api]
		if !ok {
			return nil, fmt.Errorf("template.yaml: route %s: ApiId %s is not an AWS::Serverless::HttpApi", e.route.Key(), e.api)
		}
		if seen[e.route.Key()] {
			return nil, fmt.Errorf("template.yaml: route %s is defined twice (the local API serves every HttpApi on one port)", e.route.Key())
		}
		seen[e.route.Key()] = true
		name := e.auth
		if name == "" {
			name = api.Auth.DefaultAuthorizer
		}
		if name == "AWS_IAM" {
			// SAM knows AWS_IAM only with the API's EnableIamAuthorizer.
			if !api.Auth.EnableIamAuthorizer {
				return nil, fmt.Errorf("template.yaml: route %s: Authorizer AWS_IAM needs EnableIamAuthorizer: true on its HttpApi", e.route.Key())
			}
			e.route.IAM = true
		} else if name != "NONE" && name != "" {
			a, ok := api.Auth.Authorizers[name]
			if !ok {
				return nil, fmt.Errorf("template.yaml: route %s: authorizer %s is not defined", e.route.Key(), name)
			}
			if _, done := t.Authorizers[name]; !done {
				fn, err := getAttFunction(a.FunctionArn)
				if err != nil {
					return nil, fmt.Errorf("template.yaml: authorizer %s: %w", name, err)
				}
				if a.AuthorizerPayloadFormatVersion != "2.0" {
					return nil, fmt.Errorf("template.yaml: authorizer %s: payload format %q: the local API runs 2.0 authorizers only", name, a.AuthorizerPayloadFormatVersion)
				}
				// $context.routeKey is always there (it only keys API Gateway's
				// cache, which the local API does not keep); other sources are not
				// read here.
				if id := a.Identity; len(id.QueryStrings)+len(id.StageVariables) > 0 || slices.ContainsFunc(id.Context, func(c string) bool { return c != "routeKey" }) {
					return nil, fmt.Errorf("template.yaml: authorizer %s: the local API reads identity sources from headers (and $context.routeKey) only", name)
				}
				var headers []string
				for _, h := range a.Identity.Headers {
					headers = append(headers, strings.ToLower(h))
				}
				t.Authorizers[name] = &Authorizer{Name: name, Function: fn, IdentityHeaders: headers, SimpleResponses: a.EnableSimpleResponses}
			}
			e.route.Authorizer = name
		}
		t.Routes = append(t.Routes, e.route)
	}
	sort.Slice(t.Routes, func(i, j int) bool { return t.Routes[i].Key() < t.Routes[j].Key() })
	for _, r := range t.Routes {
		if _, ok := t.Functions[r.Function]; !ok {
			return nil, fmt.Errorf("route %s: no function %s", r.Key(), r.Function)
		}
	}
	for _, a := range t.Authorizers {
		if _, ok := t.Functions[a.Function]; !ok {
			return nil, fmt.Errorf("authorizer %s: %s is not a function of the template", a.Name, a.Function)
		}
	}
	return t, nil
}

// value reads a scalar, !Ref X or !GetAtt X.Attr (both spellings).
func value(n yaml.Node) (Value, error) {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!Ref":
		return Value{Ref: n.Value}, nil
	case n.Kind == yaml.ScalarNode && n.Tag == "!GetAtt":
		return Value{GetAtt: n.Value}, nil
	case n.Kind == yaml.ScalarNode && !cfnTag(n.Tag):
		return Value{Literal: n.Value}, nil
	case n.Kind == yaml.SequenceNode && n.Tag == "!Join" && len(n.Content) == 2 && n.Content[0].Kind == yaml.ScalarNode:
		j := &Join{Sep: n.Content[0].Value}
		list := n.Content[1]
		if list.Kind == yaml.SequenceNode && !cfnTag(list.Tag) {
			for _, item := range list.Content {
				v, err := value(*item)
				if err != nil {
					return Value{}, err
				}
				j.Parts = append(j.Parts, v)
			}
		} else {
			v, err := value(*list) // !Ref of a CommaDelimitedList parameter
			if err != nil {
				return Value{}, err
			}
			j.Parts = []Value{v}
		}
		return Value{Join: j}, nil
	case n.Kind == yaml.MappingNode && len(n.Content) == 2:
		k, v := n.Content[0].Value, n.Content[1]
		switch {
		case k == "Ref" && v.Kind == yaml.ScalarNode:
			return Value{Ref: v.Value}, nil
		case k == "Fn::GetAtt" && v.Kind == yaml.ScalarNode:
			return Value{GetAtt: v.Value}, nil
		case k == "Fn::GetAtt" && v.Kind == yaml.SequenceNode && len(v.Content) == 2:
			return Value{GetAtt: v.Content[0].Value + "." + v.Content[1].Value}, nil
		}
	}
	return Value{}, fmt.Errorf("only literals, !Ref, !GetAtt and !Join are resolved locally (line %d)", n.Line)
}

// cfnTag tells a CloudFormation short form (!Ref, !Sub...) from YAML's own
// tags (!!str, !!int...).
func cfnTag(tag string) bool { return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") }

func getAttFunction(n yaml.Node) (string, error) {
	v, err := value(n)
	if err != nil || !strings.HasSuffix(v.GetAtt, ".Arn") {
		return "", fmt.Errorf("FunctionArn must be !GetAtt <Function>.Arn")
	}
	return strings.TrimSuffix(v.GetAtt, ".Arn"), nil
}

func (tbl rawTable) table() Table {
	in := dynamodb.CreateTableInput{BillingMode: ddbtypes.BillingModePayPerRequest}
	// AWS::DynamoDB::Table StreamSpecification: a StreamViewType turns the
	// stream on (CloudFormation has no StreamEnabled).
	if st := tbl.StreamSpecification; st != nil && st.StreamViewType != "" {
		in.StreamSpecification = &ddbtypes.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewType(st.StreamViewType)}
	}
	for _, a := range tbl.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, ddbtypes.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName), AttributeType: ddbtypes.ScalarAttributeType(a.AttributeType)})
	}
	in.KeySchema = keySchema(tbl.KeySchema)
	for _, g := range tbl.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, ddbtypes.GlobalSecondaryIndex{
			IndexName: aws.String(g.IndexName),
			KeySchema: keySchema(g.KeySchema),
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionType(g.Projection.ProjectionType),
				NonKeyAttributes: g.Projection.NonKeyAttributes},
		})
	}
	t := Table{CreateTableInput: in}
	if ttl := tbl.TimeToLiveSpecification; ttl != nil && ttl.Enabled {
		t.TTLAttribute = ttl.AttributeName
	}
	return t
}

func keySchema(keys []rawKey) []ddbtypes.KeySchemaElement {
	var out []ddbtypes.KeySchemaElement
	for _, k := range keys {
		out = append(out, ddbtypes.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: ddbtypes.KeyType(k.KeyType)})
	}
	return out
}

// Resolve gives every variable of f its local value: literals as written,
// !Ref of a parameter from params (the local stand-in of a deploy's
// parameter values; a CommaDelimitedList as its comma-separated text), !Ref
// and !GetAtt of a resource from resources ("SessionsTable" -> the local
// table name, "SigningKey.Arn" -> the local key's ARN). A reference it
// cannot resolve is an error: a function must not start locally without a
// variable it would have on AWS.
func (f *Function) Resolve(params, resources map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range sortedKeys(f.Env) {
		v, err := f.Env[k].resolve(params, resources)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", f.ID, k, err)
		}
		out[k] = v
	}
	return out, nil
}

func (v Value) resolve(params, resources map[string]string) (string, error) {
	switch {
	case v.Ref != "":
		if p, ok := params[v.Ref]; ok {
			return p, nil
		}
		if r, ok := resources[v.Ref]; ok {
			return r, nil
		}
		return "", fmt.Errorf("!Ref %s has no local value", v.Ref)
	case v.GetAtt != "":
		if r, ok := resources[v.GetAtt]; ok {
			return r, nil
		}
		return "", fmt.Errorf("!GetAtt %s has no local value", v.GetAtt)
	case v.Join != nil:
		var parts []string
		for _, p := range v.Join.Parts {
			s, err := p.resolve(params, resources)
			if err != nil {
				return "", err
			}
			if len(v.Join.Parts) == 1 { // a list parameter: its items, joined by Sep
				return strings.Join(splitList(s), v.Join.Sep), nil
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, v.Join.Sep), nil
	}
	return v.Literal, nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Timeouts as Lambda applies them: the template's, else 3 s.
func (f *Function) timeoutSeconds() string {
	if f.Timeout <= 0 {
		return "3"
	}
	return strconv.Itoa(f.Timeout)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
