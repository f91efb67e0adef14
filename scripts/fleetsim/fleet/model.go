package fleet

import (
	"math"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB's charging rules, as documented, and the per-partition ceilings.
//
// Item size (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
// the sum of the attribute names' and values' lengths; a string is its
// UTF-8 bytes, a number about 1 byte per two significant digits plus 1, a
// binary its raw bytes, a Boolean or null 1 byte, a list or map 3 bytes
// plus 1 per element.
//
// Reads (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):
// one read unit is one strongly consistent read per second of up to 4 KB,
// an eventually consistent read half of that; a Query is charged on the
// total size of the items it reads, rounded up to the next 4 KB, at least
// one unit (one half for an eventually consistent one); a Query returns at
// most 1 MB per page, each page a request of its own.
//
// Writes (same page): one write unit per 1 KB of the item written, rounded
// up; a conditional PutItem is charged as a write.
//
// Ceilings (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html
// and burst-adaptive-capacity.html, in on-demand and provisioned mode
// alike): one partition serves at most 3,000 read units and 1,000 write
// units per second; a request beyond is refused with
// ProvisionedThroughputExceededException (throttling reason
// TableReadKeyRangeThroughputExceeded / TableWriteKeyRangeThroughputExceeded:
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/troubleshooting-throttling-diagnostics.html).
const (
	ReadUnitBytes     = 4096
	WriteUnitBytes    = 1024
	PageBytes         = 1 << 20
	PartitionReadCap  = 3000.0
	PartitionWriteCap = 1000.0
)

// On-demand prices, us-east-1, first tier, after the November 2024 price
// cut (scripts/benchmark/prices.go quotes the same figures with their
// sources): USD per read request unit and per write request unit. An
// on-demand read request unit is the same 4 KB strongly consistent read
// (half for eventually consistent) as a provisioned read capacity unit.
const (
	USDPerRRU = 0.125 / 1e6
	USDPerWRU = 0.625 / 1e6
)

// ItemSize is an item's size as DynamoDB counts it.
func ItemSize(it map[string]types.AttributeValue) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, e := range v.Value {
			n += numberSize(e)
		}
		return n
	}
	return 0
}

// numberSize is a number's stored size: its digits in base 100, aligned
// on the decimal point (the integer part padded to an even length on the
// left, the fraction on the right), zero pairs at either end dropped, one
// byte per pair, plus 1. "120" is 1|20: 3 bytes, not the 2 that "two
// significant digits per byte" gives; "1200" is 12|00: 2. Measured on
// DynamoDB Local 1.25.1 by PutItem's ConsumedCapacity at the 1 KB edge
// (TestChargingRules holds the values); the timestamps in feed items are
// such numbers, so a model off by a byte made TestCalibration's exact-1 KB
// item fail on some milliseconds and pass on others.
func numberSize(s string) int {
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if len(whole)%2 == 1 {
		whole = "0" + whole
	}
	if len(frac)%2 == 1 {
		frac += "0"
	}
	d := whole + frac
	for len(d) >= 2 && d[:2] == "00" {
		d = d[2:]
	}
	for len(d) >= 2 && d[len(d)-2:] == "00" {
		d = d[:len(d)-2]
	}
	return len(d)/2 + 1
}

// QueryUnits is what a Query reading bytes of items costs: per 1 MB page,
// the page's bytes rounded up to 4 KB, at least one unit; halved for an
// eventually consistent read. It also returns the page sizes' units one
// by one (each page is a request of its own, throttled on its own).
func QueryUnits(bytes int, eventual bool) (total float64, pages []float64) {
	for {
		page := min(bytes, PageBytes)
		u := math.Max(1, math.Ceil(float64(page)/ReadUnitBytes))
		if eventual {
			u /= 2
		}
		pages = append(pages, u)
		total += u
		bytes -= page
		if bytes <= 0 {
			return total, pages
		}
	}
}

// WriteUnits is what writing an item of size bytes costs.
func WriteUnits(size int) float64 {
	return math.Max(1, math.Ceil(float64(size)/WriteUnitBytes))
}
