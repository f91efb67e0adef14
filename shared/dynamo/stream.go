package dynamo

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/authkit/lambda-auth/shared/auth"
)

// The Revocations table's stream (NEW_AND_OLD_IMAGES) is the feed's
// source of truth: every INSERT or MODIFY of an entry whose revocation
// fields changed is put into the feed as the entry stands (its new image),
// whoever wrote it: the service, a script, an operator in the console.
// The service writes the same item itself a moment earlier (it holds the
// one-second bound); the entry's feed_sk names it, so the stream function
// writes it only when it is missing: one item per state in the normal
// case, and never none.
//
// Records are read as DynamoDB Streams deliver them to Lambda
// (events.DynamoDBEvent, [DynamoDB Streams and Lambda]); failures are
// reported per record (ReportBatchItemFailures, [partial batch response]),
// so Lambda retries from the first failed record and never drops one
// silently.
//
// [DynamoDB Streams and Lambda]: https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html
// [partial batch response]: https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html

// streamParallel bounds the records of one batch handled at once: each is
// one strongly consistent BatchGetItem and at most two PutItems.
const streamParallel = 8

// FeedStream puts the revocation changes of a batch of stream records into
// the feed and returns the sequence numbers of the records it could not
// write (Lambda's batchItemFailures). Records that change no revocation
// (REMOVE by TTL, a change of other attributes, an item that is no entry
// or cannot be read) are skipped and logged without their values.
func (s *Store) FeedStream(ctx context.Context, records []events.DynamoDBEventRecord, log *slog.Logger) []events.DynamoDBBatchItemFailure {
	var (
		mu     sync.Mutex
		failed = map[int]bool{}
		wg     sync.WaitGroup
		slots  = make(chan struct{}, streamParallel)
	)
	for i, rec := range records {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			if err := s.feedRecord(ctx, rec, log); err != nil {
				log.ErrorContext(ctx, "revocation stream: record not fed", "sequence", rec.Change.SequenceNumber,
					"event", rec.EventName, "err", err)
				mu.Lock()
				failed[i] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var out []events.DynamoDBBatchItemFailure
	for i, rec := range records { // in stream order: Lambda resumes at the first
		if failed[i] {
			out = append(out, events.DynamoDBBatchItemFailure{ItemIdentifier: rec.Change.SequenceNumber})
		}
	}
	return out
}

// feedRecord feeds one record, or says why it need not.
func (s *Store) feedRecord(ctx context.Context, rec events.DynamoDBEventRecord, log *slog.Logger) error {
	if rec.EventName != "INSERT" && rec.EventName != "MODIFY" {
		return nil // REMOVE: TTL expiry or a delete; nothing to revoke
	}
	newImage := streamItem(rec.Change.NewImage)
	r, ok := revocationFromItem(newImage)
	if !ok || r.Value == "" {
		// Not an entry (no kind of ours): only its key's shape is logged,
		// never values, which could be token material typed by mistake.
		kind, _, _ := strings.Cut(newImage.str("pk"), "#")
		log.WarnContext(ctx, "revocation stream: not a revocation entry, skipped", "sequence",
			rec.Change.SequenceNumber, "kind_len", len(kind))
		return nil
	}
	old, hadOld := revocationFromItem(streamItem(rec.Change.OldImage))
	if rec.EventName == "MODIFY" && hadOld && sameState(old, r) {
		return nil // its revocation fields did not change: fed already
	}
	sk := newImage.str("feed_sk")
	if sk != "" && rec.EventName == "MODIFY" && streamItem(rec.Change.OldImage).str("feed_sk") == sk {
		sk = "" // changed by someone who kept the service's stamp: not that state
	}
	return s.feedEntry(ctx, r, sk)
}

// feedEntry makes sure the feed holds r (an entry as it stands). With the
// key the service stamped for this state (sk), the item under it is read
// and written only if missing or incomplete, at the same key while its
// stamp is within FeedLateness of now (a reader cannot have passed it
// yet), else stamped anew. Without one, or when the item there holds
// another state, a new item is written.
func (s *Store) feedEntry(ctx context.Context, r auth.Revocation, sk string) error {
	if stamp, key, ok := feedKeyStamp(sk); ok && key == string(r.Kind)+"#"+r.Value {
		got, copies, err := s.feedItemCopies(ctx, sk, stamp)
		if err != nil {
			return err
		}
		same := 0
		for _, e := range got {
			if sameState(e, r) {
				same++
			}
		}
		fresh := s.now().Sub(stamp) <= FeedLateness
		switch {
		case same == copies && fresh:
			// The service's item, complete, and stamped recently enough
			// that it became visible within FeedLateness of its stamp: a
			// replica's overlap covers it. An older one may have become
			// visible late (a slow first write the service then failed
			// to rewrite): it is written again below, stamped now.
			return nil
		case same == len(got) && fresh:
			// Missing (the service's write failed, crashed or is still in
			// flight): the same key, so that whichever lands first stays.
			if err := s.putFeedItem(ctx, r, sk, stamp); err != nil {
				return err
			}
			if s.now().Sub(stamp) <= FeedLateness {
				s.countFeed()
				return nil
			}
		}
	}
	at := s.now()
	if err := s.putFeed(ctx, r, newFeedKey(r, at), at); err != nil {
		return err
	}
	s.countFeed()
	return nil
}

func (s *Store) countFeed() {
	if s.onFeed != nil {
		s.onFeed()
	}
}

// sameState reports whether two entries for one key revoke the same: the
// fields auth.Covers reads (the reason is not one).
func sameState(a, b auth.Revocation) bool {
	return a.Kind == b.Kind && a.Value == b.Value && a.RevokedAt.Equal(b.RevokedAt) &&
		a.AllUntil.Equal(b.AllUntil) && a.ExpiresAt.Equal(b.ExpiresAt)
}

// streamItem converts a stream image to the SDK's attribute values, as the
// table's own reads return them. Types an entry never holds (binary, sets,
// lists, maps) are left out: an attribute of the wrong type reads as
// missing either way.
func streamItem(image map[string]events.DynamoDBAttributeValue) item {
	it := item{}
	for k, v := range image {
		switch v.DataType() {
		case events.DataTypeString:
			it[k] = &types.AttributeValueMemberS{Value: v.String()}
		case events.DataTypeNumber:
			it[k] = &types.AttributeValueMemberN{Value: v.Number()}
		case events.DataTypeBoolean:
			it[k] = &types.AttributeValueMemberBOOL{Value: v.Boolean()}
		case events.DataTypeNull:
			it[k] = &types.AttributeValueMemberNULL{Value: true}
		}
	}
	return it
}
