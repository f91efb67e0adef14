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

// numberSize: leading and trailing zeroes trimmed, 1 byte per two
// significant digits (rounded up), plus 1.
func numberSize(s string) int {
	s = strings.TrimPrefix(s, "-")
	s = strings.Replace(s, ".", "", 1)
	s = strings.TrimLeft(s, "0")
	s = strings.TrimRight(s, "0")
	return (len(s)+1)/2 + 1
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
