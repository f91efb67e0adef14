package localapi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// CORS is the HttpApi's CorsConfiguration as the template writes it; the
// stack's parameters decide it (CORSPolicy). Only what API Gateway's HTTP
// API CORS configuration has: allowOrigins, allowCredentials,
// allowHeaders, allowMethods, exposeHeaders, maxAge.
type CORS struct {
	Condition        string // the CorsConfiguration applies when this condition holds ("": always)
	AllowOrigins     Value  // a Join: literals, or one !Ref of a list (!Split [",", !Ref P])
	AllowCredentials bool
	AllowHeaders     []string
	AllowMethods     []string
	ExposeHeaders    []string
	MaxAge           Value
}

type rawCORS struct {
	AllowOrigins     yaml.Node `yaml:"AllowOrigins"`
	AllowCredentials bool      `yaml:"AllowCredentials"`
	AllowHeaders     []string  `yaml:"AllowHeaders"`
	AllowMethods     []string  `yaml:"AllowMethods"`
	ExposeHeaders    []string  `yaml:"ExposeHeaders"`
	MaxAge           yaml.Node `yaml:"MaxAge"`
}

// parseCORS reads a CorsConfiguration node: the mapping itself, or
// !If [Condition, mapping, !Ref AWS::NoValue].
func parseCORS(n yaml.Node) (*CORS, error) {
	if n.IsZero() {
		return nil, nil
	}
	var c CORS
	if n.Tag == "!If" {
		if n.Kind != yaml.SequenceNode || len(n.Content) != 3 || n.Content[0].Kind != yaml.ScalarNode ||
			n.Content[2].Tag != "!Ref" || n.Content[2].Value != "AWS::NoValue" {
			return nil, fmt.Errorf("CorsConfiguration: only !If [Condition, {...}, !Ref AWS::NoValue] is read locally (line %d)", n.Line)
		}
		c.Condition = n.Content[0].Value
		n = *n.Content[1]
	}
	var raw rawCORS
	if err := n.Decode(&raw); err != nil {
		return nil, fmt.Errorf("CorsConfiguration: %w", err)
	}
	c.AllowCredentials, c.AllowHeaders, c.AllowMethods, c.ExposeHeaders = raw.AllowCredentials, raw.AllowHeaders, raw.AllowMethods, raw.ExposeHeaders
	origins, err := listValue(raw.AllowOrigins)
	if err != nil {
		return nil, fmt.Errorf("CorsConfiguration.AllowOrigins: %w", err)
	}
	c.AllowOrigins = origins
	if !raw.MaxAge.IsZero() {
		if c.MaxAge, err = value(raw.MaxAge); err != nil {
			return nil, fmt.Errorf("CorsConfiguration.MaxAge: %w", err)
		}
	}
	return &c, nil
}

// listValue reads a list: a sequence of values, or !Split [Sep, !Ref P]
// (a Join of one list-like Ref, whose items resolve split on Sep).
func listValue(n yaml.Node) (Value, error) {
	if n.Tag == "!Split" {
		if n.Kind != yaml.SequenceNode || len(n.Content) != 2 || n.Content[0].Kind != yaml.ScalarNode {
			return Value{}, fmt.Errorf("!Split needs [separator, value] (line %d)", n.Line)
		}
		v, err := value(*n.Content[1])
		if err != nil {
			return Value{}, err
		}
		return Value{Join: &Join{Sep: n.Content[0].Value, Parts: []Value{v}}}, nil
	}
	if n.Kind != yaml.SequenceNode || cfnTag(n.Tag) {
		return Value{}, fmt.Errorf("want a list or !Split (line %d)", n.Line)
	}
	j := &Join{Sep: ","}
	for _, item := range n.Content {
		v, err := value(*item)
		if err != nil {
			return Value{}, err
		}
		j.Parts = append(j.Parts, v)
	}
	return Value{Join: j}, nil
}

// CORSPolicy is the CORS configuration of a local run, parameters
// resolved. nil: the API has none (no preflight answers, no headers).
type CORSPolicy struct {
	AllowOrigins     []string // exact origins, or "*"
	AllowCredentials bool
	AllowHeaders     []string
	AllowMethods     []string
	ExposeHeaders    []string
	MaxAge           int // seconds; 0: no Access-Control-Max-Age
}

// CORSPolicy resolves the HttpApi's CorsConfiguration with the stack's
// parameters: nil when the template has none or its condition is false.
// AllowCredentials with the origin "*" is refused, as API Gateway refuses
// that configuration.
func (t *Template) CORSPolicy(params map[string]string) (*CORSPolicy, error) {
	c := t.CORS
	if c == nil {
		return nil, nil
	}
	if c.Condition != "" {
		on, err := t.condition(c.Condition, params, 0)
		if err != nil {
			return nil, fmt.Errorf("CorsConfiguration: %w", err)
		}
		if !on {
			return nil, nil
		}
	}
	origins, err := c.AllowOrigins.resolve(params, nil)
	if err != nil {
		return nil, fmt.Errorf("CorsConfiguration.AllowOrigins: %w", err)
	}
	p := &CORSPolicy{AllowOrigins: splitList(origins), AllowCredentials: c.AllowCredentials,
		AllowHeaders: c.AllowHeaders, AllowMethods: c.AllowMethods, ExposeHeaders: c.ExposeHeaders}
	if c.MaxAge != (Value{}) {
		s, err := c.MaxAge.resolve(params, nil)
		if err != nil {
			return nil, fmt.Errorf("CorsConfiguration.MaxAge: %w", err)
		}
		if p.MaxAge, err = strconv.Atoi(s); err != nil {
			return nil, fmt.Errorf("CorsConfiguration.MaxAge %q: %w", s, err)
		}
	}
	if p.AllowCredentials && slices.Contains(p.AllowOrigins, "*") {
		return nil, fmt.Errorf("CorsConfiguration: AllowCredentials is not supported with the origin * (API Gateway refuses it)")
	}
	return p, nil
}

// condition evaluates one of the template's Conditions: !Equals, !Not,
// !And, !Or and !Condition over literals, !Ref of parameters and !Join.
func (t *Template) condition(name string, params map[string]string, depth int) (bool, error) {
	n, ok := t.Conditions[name]
	if !ok {
		return false, fmt.Errorf("condition %s is not defined", name)
	}
	return t.evalCondition(n, params, depth)
}

func (t *Template) evalCondition(n yaml.Node, params map[string]string, depth int) (bool, error) {
	if depth > 20 {
		return false, fmt.Errorf("conditions nest too deep (line %d)", n.Line)
	}
	switch n.Tag {
	case "!Condition":
		return t.condition(n.Value, params, depth+1)
	case "!Equals":
		if n.Kind != yaml.SequenceNode || len(n.Content) != 2 {
			return false, fmt.Errorf("!Equals needs two values (line %d)", n.Line)
		}
		var vals [2]string
		for i, item := range n.Content {
			v, err := value(*item)
			if err != nil {
				return false, err
			}
			if vals[i], err = v.resolve(params, nil); err != nil {
				return false, err
			}
		}
		return vals[0] == vals[1], nil
	case "!Not", "!And", "!Or":
		if n.Kind != yaml.SequenceNode || len(n.Content) == 0 || (n.Tag == "!Not" && len(n.Content) != 1) {
			return false, fmt.Errorf("%s needs a list of conditions (line %d)", n.Tag, n.Line)
		}
		all, any := true, false
		for _, item := range n.Content {
			v, err := t.evalCondition(*item, params, depth+1)
			if err != nil {
				return false, err
			}
			all, any = all && v, any || v
		}
		switch n.Tag {
		case "!Not":
			return !all, nil
		case "!And":
			return all, nil
		}
		return any, nil
	}
	return false, fmt.Errorf("only !Equals, !Not, !And, !Or and !Condition are evaluated locally (line %d)", n.Line)
}

func (p *CORSPolicy) allows(origin string) bool {
	return origin != "" && (slices.Contains(p.AllowOrigins, "*") || slices.Contains(p.AllowOrigins, origin))
}

// preflight answers a CORS preflight as API Gateway does for an HTTP API
// with a CORS configuration: itself, before any route, authorizer or
// function, whether or not the path has a route. An allowed origin gets
// the configuration's headers; any other origin gets none, which the
// browser takes as a refusal.
func (p *CORSPolicy) preflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Add("Vary", "Origin")
	if p.allows(origin) {
		p.setOrigin(h, origin)
		if len(p.AllowMethods) > 0 {
			h.Set("Access-Control-Allow-Methods", strings.Join(p.AllowMethods, ","))
		}
		if len(p.AllowHeaders) > 0 {
			h.Set("Access-Control-Allow-Headers", strings.Join(p.AllowHeaders, ","))
		}
		if p.MaxAge > 0 {
			h.Set("Access-Control-Max-Age", strconv.Itoa(p.MaxAge))
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (p *CORSPolicy) setOrigin(h http.Header, origin string) {
	if slices.Contains(p.AllowOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	if p.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// isPreflight: a CORS preflight carries Origin and
// Access-Control-Request-Method (API Gateway answers only those).
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != ""
}

// corsWriter puts the configuration's headers on a response to an
// allowed origin, and removes any Access-Control-* header the function
// set, on every response: API Gateway ignores CORS headers from the
// integration when the API has a CORS configuration.
type corsWriter struct {
	http.ResponseWriter
	policy *CORSPolicy
	origin string
	done   bool
}

func (c *corsWriter) WriteHeader(code int) {
	if !c.done {
		c.done = true
		h := c.Header()
		for k := range h {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				delete(h, k)
			}
		}
		h.Add("Vary", "Origin")
		if c.policy.allows(c.origin) {
			c.policy.setOrigin(h, c.origin)
			if len(c.policy.ExposeHeaders) > 0 {
				h.Set("Access-Control-Expose-Headers", strings.Join(c.policy.ExposeHeaders, ","))
			}
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *corsWriter) Write(b []byte) (int, error) {
	if !c.done {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}
