package redisstore_test

import (
	"context"
	"log"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sfmc-go/sfmc"
	"github.com/sfmc-go/sfmc/redisstore"
)

// Every pod gives its Upserter a SentStore of the same Redis and
// integration: a contact SFMC confirmed through one pod is skipped by all
// of them until a value changes. (Not run: it needs a Redis and a tenant.)
func ExampleNewSentStore() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	cfg := sfmc.Config{Subdomain: "mc-example", ClientID: "id", ClientSecret: "secret", AccountID: "100"}
	client, err := sfmc.NewClient(cfg)
	if err != nil {
		log.Fatal(err)
	}
	const ttl = 7 * 24 * time.Hour // the same for the store and the Upserter
	u, err := sfmc.NewUpserter(client, sfmc.UpserterConfig{
		SentStore: redisstore.NewSentStore(rdb, cfg, redisstore.WithSentTTL(ttl)),
		SentTTL:   ttl,
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = u.Add(context.Background(), sfmc.Contact{Key: "C-1", Attributes: []sfmc.AttributeValue{
		{Set: "Email Demographics", Name: "First Name", Value: "Ann"},
	}})
	_ = u.Close(context.Background())
}
