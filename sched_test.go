package sfmc

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The flush tracker: a Flush waits for the Adds before it, in its epoch and
// every earlier one, and not for later ones.
func TestFlushTracker(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFlushTracker()
		a := f.add()
		b := f.add()
		first := f.seal()
		later := f.add()
		second := f.seal()
		done := make(chan error, 2)
		go func() { done <- f.wait(context.Background(), second) }()
		go func() { done <- f.wait(context.Background(), first) }()
		synctest.Wait()
		f.done(later)
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("a flush returned before an earlier Add had its outcome")
		default:
		}
		f.done(a)
		f.done(b)
		require.NoError(t, <-done)
		require.NoError(t, <-done)
		// An empty epoch is done at once; a cancelled wait returns its error.
		require.NoError(t, f.wait(context.Background(), f.seal()))
		pending := f.add()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		assert.ErrorIs(t, f.wait(ctx, f.seal()), context.Canceled)
		f.done(pending)
	})
}

// The scheduler bounds the attempts in flight by its limit and the
// contacts out by maxOut; a parked retry goes before new contacts; a
// fixed Workers count is the limit.
func TestSchedulerBounds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, err := NewClient(Config{Subdomain: "x", ClientID: "id", ClientSecret: "secret"})
		require.NoError(t, err)
		s := newScheduler(c, UpserterConfig{Workers: 2}, 2)
		for _, k := range []string{"A", "B", "C"} {
			s.add(Contact{Key: k}, ticket{})
		}
		a, first := s.next()
		require.True(t, first)
		b, _ := s.next()
		assert.Equal(t, []string{"A", "B"}, []string{a.contact.Key, b.contact.Key})
		got := make(chan *entry, 1)
		go func() {
			e, _ := s.next()
			got <- e
		}()
		synctest.Wait()
		select {
		case <-got:
			t.Fatal("a third attempt went out with a limit of 2")
		default:
		}
		// A retries in a second: its slot frees; C may not go (two contacts
		// are out, maxOut 2), so the waiting worker takes A when it is due.
		a.send = &sendState{}
		a.ready = time.Now().Add(time.Second)
		s.retry(a)
		start := time.Now()
		e := <-got
		assert.Same(t, a, e, "the parked retry, not a new contact")
		assert.Equal(t, time.Second, time.Since(start))
		s.finished(e)
		s.finished(b)
		c3, first := s.next()
		assert.Equal(t, "C", c3.contact.Key)
		assert.True(t, first)
		s.finished(c3)
		s.stop()
		e, _ = s.next()
		assert.Nil(t, e, "stopped and empty")
	})
}
