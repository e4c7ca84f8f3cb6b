package sfmc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimiterError(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	live := context.Background()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		is   []error
		not  []error
	}{
		{"cancelled ctx", cancelled, errors.New("x"), []error{context.Canceled}, []error{ErrClientRateLimited, ErrRateLimited}},
		{"expired ctx", expired, errors.New("x"), []error{context.DeadlineExceeded}, []error{ErrClientRateLimited}},
		{"would exceed deadline", live, errors.New("rate: Wait(n=1) would exceed context deadline"), []error{ErrClientRateLimited}, []error{ErrRateLimited, context.DeadlineExceeded}},
		{"limiter passes ctx error", live, fmt.Errorf("remote: %w", context.DeadlineExceeded), []error{context.DeadlineExceeded}, []error{ErrClientRateLimited}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := limiterError(tt.ctx, tt.err)
			for _, e := range tt.is {
				assert.ErrorIs(t, err, e)
			}
			for _, e := range tt.not {
				assert.NotErrorIs(t, err, e)
			}
		})
	}
}

func TestCooldown(t *testing.T) {
	t.Parallel()
	t.Run("no cool-down passes at once", func(t *testing.T) {
		t.Parallel()
		cd := NewCooldown()
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // even a done ctx passes when there is nothing to wait for
		require.NoError(t, cd.Wait(ctx))
		cd.Extend(time.Now().Add(-time.Second))
		require.NoError(t, cd.Wait(ctx), "a cool-down in the past does not hold")
	})
	t.Run("extend never shortens", func(t *testing.T) {
		t.Parallel()
		cd := NewCooldown().(*memCooldown)
		long := time.Now().Add(time.Hour)
		cd.Extend(long)
		cd.Extend(time.Now().Add(time.Second))
		assert.Equal(t, long.UnixNano(), cd.until.Load())
		later := long.Add(time.Minute)
		cd.Extend(later)
		assert.Equal(t, later.UnixNano(), cd.until.Load())
	})
	t.Run("concurrent extends keep the latest", func(t *testing.T) {
		t.Parallel()
		cd := NewCooldown().(*memCooldown)
		base := time.Now().Add(time.Hour)
		var wg sync.WaitGroup
		for i := range 64 {
			wg.Go(func() { cd.Extend(base.Add(time.Duration(i) * time.Millisecond)) })
		}
		wg.Wait()
		assert.Equal(t, base.Add(63*time.Millisecond).UnixNano(), cd.until.Load())
	})
	t.Run("wait holds until the end", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			cd := NewCooldown()
			start := time.Now()
			cd.Extend(start.Add(150 * time.Millisecond))
			require.NoError(t, cd.Wait(context.Background()))
			assert.Equal(t, 150*time.Millisecond, time.Since(start), "released exactly when the cool-down ended")
		})
	})
	t.Run("wait follows an extension made while waiting", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			cd := NewCooldown()
			start := time.Now()
			cd.Extend(start.Add(50 * time.Millisecond))
			go func() { time.Sleep(10 * time.Millisecond); cd.Extend(start.Add(250 * time.Millisecond)) }()
			require.NoError(t, cd.Wait(context.Background()))
			assert.Equal(t, 250*time.Millisecond, time.Since(start), "released at the extended end")
		})
	})
	t.Run("wait returns the ctx error", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			cd := NewCooldown()
			start := time.Now()
			cd.Extend(start.Add(time.Hour))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			require.ErrorIs(t, cd.Wait(ctx), context.DeadlineExceeded)
			assert.Equal(t, 20*time.Millisecond, time.Since(start), "at the context's deadline")
		})
	})
}
