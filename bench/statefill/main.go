// Command statefill measures a large --state file for bench/state.sh: with
// -fill it writes N records of the size the Upserter writes for a demo
// contact (six attribute fingerprints: 121 bytes) under the demo's keys
// through boltstore, as a push would; without it it opens the file, reads
// 10,000 keys at random and prints the open time, the lookups' time and the
// file size (it reads only the pages those lookups touch). Run it under /usr/bin/time -v for the RSS.
//
// Usage: statefill -file STATE [-fill N | -keys N]
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/sfmc-go/sfmc/boltstore"
)

func main() {
	file := flag.String("file", "", "the state file")
	fill := flag.Int("fill", 0, "write this many records, then exit")
	keys := flag.Int("keys", 1000000, "without -fill: look up keys 1..keys")
	flag.Parse()
	if *file == "" {
		fmt.Fprintln(os.Stderr, "usage: statefill -file STATE [-fill N]")
		os.Exit(2)
	}
	if err := run(*file, *fill, *keys); err != nil {
		fmt.Fprintln(os.Stderr, "statefill:", err)
		os.Exit(1)
	}
}

func key(i int) string { return fmt.Sprintf("DEMO-%07d", i) }

func run(file string, fill, keys int) error {
	ctx := context.Background()
	t0 := time.Now()
	s, err := boltstore.Open(file)
	if err != nil {
		return err
	}
	opened := time.Since(t0)
	if fill > 0 {
		rec := make([]byte, 1+6*20)
		for i := 1; i <= fill; i++ {
			rand.Read(rec[1:])
			rec[0] = 1
			if err := s.Put(ctx, key(i), rec); err != nil {
				return err
			}
		}
		if err := s.Close(); err != nil {
			return err
		}
		fmt.Printf("filled %d records in %v\n", fill, time.Since(t0).Round(time.Millisecond))
		return nil
	}
	n := keys
	t1 := time.Now()
	const lookups = 10000
	found := 0
	for range lookups {
		v, err := s.Get(ctx, key(1+mrand.IntN(max(1, n))))
		if err != nil {
			return err
		}
		if v != nil {
			found++
		}
	}
	per := time.Since(t1) / lookups
	size, err := s.Size()
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	fmt.Printf("records %d, open %v, %d lookups %v each (%d found), file %.1f MiB (%.0f bytes per record), %s\n",
		n, opened.Round(time.Microsecond), lookups, per, found, float64(size)/(1<<20), float64(size)/float64(max(1, n)), memory())
	return nil
}

// memory returns this process's resident memory from /proc/self/status:
// anonymous (its heap) apart from file-backed (the store's pages mapped
// from the page cache, which the kernel reclaims under pressure).
func memory() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "memory unknown"
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, k := range []string{"VmRSS:", "RssAnon:", "RssFile:"} {
			if strings.HasPrefix(l, k) {
				out = append(out, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	return strings.Join(out, ", ")
}
