package localapi

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Parameter is one entry of the template's Parameters: its default and
// the constraints CloudFormation checks a value against at deploy time.
type Parameter struct {
	Name                  string
	Type                  string // String, Number, CommaDelimitedList...
	Default               string // "" when none
	AllowedPattern        *regexp.Regexp
	AllowedValues         []string
	MinLength, MaxLength  *int     // String
	MinValue, MaxValue    *float64 // Number
	ConstraintDescription string
}

type rawParameter struct {
	Type                  string    `yaml:"Type"`
	Default               yaml.Node `yaml:"Default"`
	AllowedPattern        string    `yaml:"AllowedPattern"`
	AllowedValues         []string  `yaml:"AllowedValues"`
	MinLength             *int      `yaml:"MinLength"`
	MaxLength             *int      `yaml:"MaxLength"`
	MinValue              *float64  `yaml:"MinValue"`
	MaxValue              *float64  `yaml:"MaxValue"`
	ConstraintDescription string    `yaml:"ConstraintDescription"`
}

func (r rawParameter) parameter(name string) (*Parameter, error) {
	p := &Parameter{Name: name, Type: r.Type, Default: r.Default.Value, AllowedValues: r.AllowedValues,
		MinLength: r.MinLength, MaxLength: r.MaxLength, MinValue: r.MinValue, MaxValue: r.MaxValue,
		ConstraintDescription: strings.TrimSpace(r.ConstraintDescription)}
	if r.AllowedPattern != "" {
		// CloudFormation matches the whole value (Java's Pattern.matches).
		re, err := regexp.Compile(`^(?:` + r.AllowedPattern + `)$`)
		if err != nil {
			return nil, fmt.Errorf("AllowedPattern: %w", err)
		}
		p.AllowedPattern = re
	}
	return p, nil
}

// Check refuses a value CloudFormation would refuse for p: not matching
// AllowedPattern (each item of a CommaDelimitedList), not among
// AllowedValues, shorter than MinLength or longer than MaxLength (String),
// not a number or out of MinValue..MaxValue (Number). The error says so as
// CloudFormation does: in the ConstraintDescription's words when the
// template gives one.
func (p *Parameter) Check(value string) error {
	problem := p.problem(value)
	if problem == "" {
		return nil
	}
	if p.ConstraintDescription != "" {
		return fmt.Errorf("parameter %s=%q failed to satisfy constraint: %s", p.Name, value, p.ConstraintDescription)
	}
	return fmt.Errorf("parameter %s=%q %s", p.Name, value, problem)
}

// problem is what is wrong with value, in CloudFormation's words, or "".
func (p *Parameter) problem(value string) string {
	items := []string{value}
	if p.Type == "CommaDelimitedList" || strings.HasPrefix(p.Type, "List<") {
		items = strings.Split(value, ",")
	}
	for _, item := range items {
		if p.AllowedPattern != nil && !p.AllowedPattern.MatchString(item) {
			return "must match pattern " + strings.TrimSuffix(strings.TrimPrefix(p.AllowedPattern.String(), "^(?:"), ")$")
		}
		if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, item) {
			return "must be one of " + strings.Join(p.AllowedValues, ", ")
		}
	}
	n := utf8.RuneCountInString(value)
	if p.MinLength != nil && n < *p.MinLength {
		return fmt.Sprintf("must be at least %d characters long", *p.MinLength)
	}
	if p.MaxLength != nil && n > *p.MaxLength {
		return fmt.Sprintf("must be at most %d characters long", *p.MaxLength)
	}
	if p.Type == "Number" {
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return "must be a number"
		}
		if p.MinValue != nil && f < *p.MinValue {
			return fmt.Sprintf("must be at least %g", *p.MinValue)
		}
		if p.MaxValue != nil && f > *p.MaxValue {
			return fmt.Sprintf("must be at most %g", *p.MaxValue)
		}
	}
	return ""
}

// CheckParams checks values given for the template's parameters (scripts/dev
// --param Name=Value): each must name a parameter and satisfy its
// constraints. It reports every bad value, in name order.
func (t *Template) CheckParams(values map[string]string) error {
	var errs []string
	for _, name := range sortedKeys(values) {
		p, ok := t.Parameters[name]
		if !ok {
			errs = append(errs, fmt.Sprintf("template.yaml has no parameter %s (it has %s)", name, strings.Join(sortedKeys(t.Parameters), ", ")))
			continue
		}
		if err := p.Check(values[name]); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}
