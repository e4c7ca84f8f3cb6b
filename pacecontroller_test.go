package sfmc_test

import (
	"math"
	"testing"
	"time"

	"github.com/sfmc-go/sfmc"
	"github.com/stretchr/testify/assert"
)

// cleanRound feeds p a saturated round of clean answers from t to t+d and
// returns the rate after it.
func cleanRound(p *sfmc.PaceController, t time.Time, d time.Duration) float64 {
	ok := sfmc.Answer{Signal: sfmc.SignalSuccess, RTT: time.Millisecond}
	p.Saturated()
	for i := range 4 {
		p.Observe(t.Add(time.Duration(i)*time.Millisecond), ok)
	}
	r, _ := p.Observe(t.Add(d), ok)
	return r
}

// TestPaceControllerSharedState: the accessors a shared pace uses to keep
// processes' controllers in step (redisstore.Limiter): the slow-start
// threshold, the remembered peak and the round's start.
func TestPaceControllerSharedState(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)

	t.Run("threshold", func(t *testing.T) {
		t.Parallel()
		p := sfmc.NewPaceController(math.Inf(1))
		assert.True(t, math.IsInf(p.Threshold(), 1), "slow start until the first cut")
		p.SetThreshold(0)
		p.SetThreshold(math.NaN())
		assert.True(t, math.IsInf(p.Threshold(), 1), "bad values ignored")
		p.SetThreshold(30)
		assert.Equal(t, 30.0, p.Threshold())
		assert.Equal(t, 30.0, cleanRound(p, t0, 200*time.Millisecond), "doubling stops at the threshold")
		r := cleanRound(p, t0.Add(time.Second), 200*time.Millisecond)
		assert.Greater(t, r, 30.0)
		assert.Less(t, r, 40.0, "then grows by a step, not by doubling")
		assert.Equal(t, 100.0, sfmc.NewPaceController(100).Threshold(), "a ceiling is where slow start ends")
	})

	t.Run("peak", func(t *testing.T) {
		t.Parallel()
		p := sfmc.NewPaceController(math.Inf(1))
		assert.Equal(t, 20.0, p.Peak())
		p.SetRate(80)
		assert.Equal(t, 80.0, p.Peak(), "SetRate above the peak raises it")
		p.SetRate(40)
		p.SetPeak(10)
		assert.Equal(t, 40.0, p.Peak(), "never below the rate")
		p.SetPeak(math.NaN())
		p.SetPeak(-1)
		assert.Equal(t, 40.0, p.Peak())
		p.SetPeak(60)
		assert.Equal(t, 60.0, p.Peak())
	})

	t.Run("round start", func(t *testing.T) {
		t.Parallel()
		p := sfmc.NewPaceController(math.Inf(1))
		assert.True(t, p.RoundStart().IsZero())
		p.Observe(t0, sfmc.Answer{Signal: sfmc.SignalSuccess})
		assert.Equal(t, t0, p.RoundStart())
		cleanRound(p, t0, 150*time.Millisecond)
		assert.Equal(t, t0.Add(150*time.Millisecond), p.RoundStart(), "a new round began where the last ended")
	})
}
