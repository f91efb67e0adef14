package dynamo

import (
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Items are mapped by hand: four small item shapes do not need a reflection
// based marshaller, and the attribute names stay in one readable place.

func str(v string) types.AttributeValue   { return &types.AttributeValueMemberS{Value: v} }
func bin(v []byte) types.AttributeValue   { return &types.AttributeValueMemberB{Value: v} }
func boolean(v bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: v} }
func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func millis(t time.Time) types.AttributeValue { return num(t.UnixMilli()) }
func seconds(t time.Time) types.AttributeValue {
	return num(t.Unix())
}

type item map[string]types.AttributeValue

func (it item) str(k string) string {
	if v, ok := it[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func (it item) bin(k string) []byte {
	if v, ok := it[k].(*types.AttributeValueMemberB); ok {
		return v.Value
	}
	return nil
}

func (it item) binSet(k string) [][]byte {
	if v, ok := it[k].(*types.AttributeValueMemberBS); ok {
		return v.Value
	}
	return nil
}

// flag reads a flag that must fail closed, such as "disabled": any
// value but an explicit false (BOOL false, N 0, or the string "false" typed
// by hand) counts as set. A missing attribute is not set.
func (it item) flag(k string) bool {
	switch v := it[k].(type) {
	case nil:
		return false
	case *types.AttributeValueMemberBOOL:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value != "0"
	case *types.AttributeValueMemberS:
		return !strings.EqualFold(strings.TrimSpace(v.Value), "false")
	case *types.AttributeValueMemberNULL:
		return false
	}
	return true
}

func (it item) strings(k string) []string {
	switch v := it[k].(type) {
	case *types.AttributeValueMemberSS:
		return v.Value
	case *types.AttributeValueMemberL:
		var out []string
		for _, e := range v.Value {
			if s, ok := e.(*types.AttributeValueMemberS); ok {
				out = append(out, s.Value)
			}
		}
		return out
	}
	return nil
}

func (it item) num(k string) (int64, bool) {
	v, ok := it[k].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(v.Value, 64)
		if ferr != nil {
			return 0, false
		}
		n = int64(f)
	}
	return n, true
}

// Values below this are read as seconds, above as milliseconds: 1e11 ms is
// 1973, 1e11 s is the year 5138. Entries typed by hand in the console then
// work in either unit.
const unitSplit = 100_000_000_000

// instant reads an epoch time attribute written in milliseconds (or seconds).
func (it item) instant(k string) time.Time {
	n, ok := it.num(k)
	if !ok || n <= 0 {
		return time.Time{}
	}
	if n < unitSplit {
		return time.Unix(n, 0)
	}
	return time.UnixMilli(n)
}

// cutoff reads an epoch time that ends a range, such as a user revocation's
// revoked_at: in milliseconds, or typed by hand in seconds, which is read as
// the last millisecond of that second, so that a session started later in
// the same second is still covered (the conservative reading).
func (it item) cutoff(k string) time.Time {
	t := it.instant(k)
	if n, _ := it.num(k); n > 0 && n < unitSplit {
		t = t.Add(time.Second - time.Millisecond)
	}
	return t
}
