package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/authkit/lambda-auth/shared/jsonscan"
)

// deep is the depth for comparisons with encoding/json, whose own limit is
// 10000.
const deep = 10000

var validityCases = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `-0.5e+10`, `1E5`, `true`, `false`, `null`,
	` { "a" : [ 1 , 2.5 , "x" , { } , [ ] , null ] } `,
	`{"a":{"b":{"c":[[[]]]}}}`,
	`"\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"`,
	"\"\xff\xfe\"", "\"é\"",
	// invalid
	``, ` `, `{`, `}`, `[`, `]`, `{]`, `[}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`,
	`{"a":1 "b":2}`, `[1 2]`, `{1:2}`, `{"a":1}}`, `[1]]`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`,
	`0x1`, `NaN`, `Infinity`, `tru`, `nul`, `True`, `"abc`, `"\x"`, `"\u12"`, `"\u12G4"`, "\"\x01\"",
	"\"\t\"", `"\'"`, `{} {}`, `1 2`, "\ufeff{}", `{"a":1}x`, `[1]"`,
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	for _, in := range validityCases {
		if got, want := jsonscan.Valid([]byte(in), deep), json.Valid([]byte(in)); got != want {
			t.Errorf("Valid(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	nest := func(n int) []byte {
		return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	if !jsonscan.Valid(nest(16), 16) {
		t.Error("16 levels refused at a limit of 16")
	}
	if jsonscan.Valid(nest(17), 16) {
		t.Error("17 levels accepted at a limit of 16")
	}
	if jsonscan.Valid([]byte(`{"a":{"b":{}}}`), 2) {
		t.Error("3 levels of objects accepted at a limit of 2")
	}
}

var stringCases = []string{
	`"plain"`, `""`, `"\u0065xp"`, `"\"\\\/\b\f\n\r\t"`, `"\u00e9\u20AC"`,
	`"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`, `"\ud83dA"`, `"\ud83d\u0041"`, `"\ud83d\ud83d\ude00"`,
	"\"\xff\"", "\"a\xc3\"", "\"\xed\xa0\x80\"", "\"é\"", "\"\xf4\x90\x80\x80\"",
}

// TestStringsDecodeAsEncodingJSON: escapes, surrogate pairs, lone surrogates
// and invalid UTF-8 decode to the same string as with encoding/json.
func TestStringsDecodeAsEncodingJSON(t *testing.T) {
	for _, in := range stringCases {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		s := jsonscan.New([]byte(in), 1)
		v := s.String()
		if err := s.Finish(); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := v.String(); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
		if !v.Is(want) {
			t.Errorf("%q: Is(%q) is false", in, want)
		}
		if got := string(v.Unquote([]byte("prefix:"))); got != "prefix:"+want {
			t.Errorf("%q: Unquote appended %q, want %q", in, got, "prefix:"+want)
		}
	}
}

// members reads every name of an object and its value's kind.
func TestObjectWalk(t *testing.T) {
	in := `{"a":"x","b":1.5e3,"c":[1,{"d":null}],"e":{"f":true},"g":false}`
	s := jsonscan.New([]byte(in), 4)
	var got []string
	if !s.BeginObject() {
		t.Fatal(s.Err())
	}
	for s.More() {
		name := s.Name().String()
		switch k := s.Peek(); k {
		case jsonscan.String:
			got = append(got, name+"=s:"+s.String().String())
		case jsonscan.Number:
			got = append(got, name+"=n:"+string(s.Number()))
		default:
			got = append(got, fmt.Sprintf("%s=kind%d", name, k))
			s.Skip()
		}
	}
	s.End()
	if err := s.Finish(); err != nil {
		t.Fatal(err)
	}
	want := []string{"a=s:x", "b=n:1.5e3", fmt.Sprintf("c=kind%d", jsonscan.Array), fmt.Sprintf("e=kind%d", jsonscan.Object),
		fmt.Sprintf("g=kind%d", jsonscan.Bool)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

var duplicateCases = map[string]bool{ // input: has a duplicate
	`{"exp":1,"iat":2}`:                     false,
	`{"exp":1,"exp":2}`:                     true,
	`{"\u0065xp":1,"exp":2}`:                true,
	`{"exp":1,"EXP":2}`:                     true,
	`{"sub":1,"ſub":2}`:                     true,
	`{"sub":1,"\u017fub":2}`:                true,
	`{"a":{"k":1,"K":2}}`:                   true,
	`{"a":{"k":1},"b":{"k":1}}`:             false,
	`{"a":[{"k":1},{"k":1}]}`:               false,
	`{"a":[{"k":1,"\u004b":1}]}`:            true,
	`{"a":{"b":{"c":1}},"c":1}`:             false,
	`{"a":{"b":{"c":1,"c":1}}}`:             true,
	"{\"\xff\":1,\"\xfe\":2}":               true,
	`{"\ud800":1,"\udc00":2}`:               true,
	`{"K":1,"k":2}`:                         true,
	`{"ab":1,"a":2,"b":3,"ba":4,"":5}`:      false,
	`{"":1,"":2}`:                           true,
	`{"a":{"x":1},"A":2}`:                   true,
	`{"x":{"y":1,"z":{"y":2}},"y":{"y":3}}`: false,
}

func TestRejectDuplicates(t *testing.T) {
	for in, dup := range duplicateCases {
		s := jsonscan.New([]byte(in), 8)
		s.RejectDuplicates()
		s.Skip()
		err := s.Finish()
		if got := errors.Is(err, jsonscan.ErrDuplicate); got != dup {
			t.Errorf("%s: duplicate %v (%v), want %v", in, got, err, dup)
		}
		if want := referenceDuplicate(t, []byte(in)); want != dup {
			t.Errorf("%s: the reference says duplicate %v", in, want)
		}
	}
}

// referenceDuplicate is the check the token verifier used before the
// scanner: encoding/json tokens, names folded with Fold, at every depth.
func referenceDuplicate(t testing.TB, b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	var walk func() (bool, error)
	walk = func() (bool, error) {
		tok, err := dec.Token()
		if err != nil {
			return false, err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return false, err
				}
				f := jsonscan.Fold(k.(string))
				if seen[f] {
					return true, nil
				}
				seen[f] = true
				if dup, err := walk(); dup || err != nil {
					return dup, err
				}
			}
			_, err = dec.Token()
			return false, err
		case json.Delim('['):
			for dec.More() {
				if dup, err := walk(); dup || err != nil {
					return dup, err
				}
			}
			_, err = dec.Token()
			return false, err
		}
		return false, nil
	}
	dup, err := walk()
	if err != nil && err != io.EOF {
		return false
	}
	return dup
}

// FuzzValid: the scanner accepts exactly what encoding/json accepts, and
// finds a duplicate exactly where the reference walk does.
func FuzzValid(f *testing.F) {
	for _, in := range validityCases {
		f.Add([]byte(in))
	}
	for in := range duplicateCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if got, want := jsonscan.Valid(in, deep), json.Valid(in); got != want {
			t.Fatalf("Valid(%q) = %v, want %v", in, got, want)
		}
		if !json.Valid(in) {
			return
		}
		s := jsonscan.New(in, deep)
		s.RejectDuplicates()
		s.Skip()
		err := s.Finish()
		if got, want := errors.Is(err, jsonscan.ErrDuplicate), referenceDuplicate(t, in); got != want {
			t.Fatalf("%q: duplicate %v (%v), want %v", in, got, err, want)
		}
	})
}

// FuzzString: any string token decodes as with encoding/json.
func FuzzString(f *testing.F) {
	for _, in := range stringCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !bytes.HasPrefix(bytes.TrimLeft(in, " \t\r\n"), []byte(`"`)) {
			return // null also unmarshals into a string
		}
		var want string
		wantErr := json.Unmarshal(in, &want)
		s := jsonscan.New(in, 1)
		v := s.String()
		err := s.Finish()
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, encoding/json %v", in, err, wantErr)
		}
		if err == nil && v.String() != want {
			t.Fatalf("%q: got %q, want %q", in, v.String(), want)
		}
	})
}
